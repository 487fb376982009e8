//! Per-run namespaces: creating and dropping `settle_<pid>_<n>`, applying a migration set,
//! and planning the script that empties (on SQLite, drops) what the set created.
//! It never drops what this backend did not create, and sends every statement through the bridge.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use super::sql::{my_ident, pg_ident, quote_ident, sql_text};
use super::{Cmd, SqlxBackend};
use crate::store::{Backend, BackendKind, Migration, SqlError};

/// Numbers the namespaces this process creates, so two backends never share one.
static NAMESPACE_SEQ: AtomicU64 = AtomicU64::new(0);

/// What a reset with the same migration set runs, and what a different set must remove first.
pub(super) struct Applied {
    pub(super) set: String,
    /// One script: restart identity counters, then delete every row, children before parents.
    pub(super) clear_sql: String,
    /// SQLite only (there is no namespace to drop): `DROP` statements for what the migrations
    /// created, in an order that foreign keys allow.
    drop_sql: String,
}

impl SqlxBackend {
    /// Drops the namespace this backend created. Never anything else.
    pub(super) fn drop_namespace(&mut self) -> Result<(), SqlError> {
        let Some(ns) = self.namespace.take() else {
            return Ok(());
        };
        let sql = match self.kind {
            BackendKind::Postgres => format!("DROP SCHEMA IF EXISTS {} CASCADE", pg_ident(&ns)),
            BackendKind::Mysql => format!("DROP DATABASE IF EXISTS {}", my_ident(&ns)),
            BackendKind::Sqlite => return Ok(()),
        };
        let result = self.script(sql);
        if result.is_err() {
            // Keep the name so that `Drop` tries again.
            self.namespace = Some(ns);
        }
        result
    }

    /// Creates a fresh namespace and makes it the connection's default.
    fn create_namespace(&mut self) -> Result<(), SqlError> {
        let (create, enter) = match self.kind {
            BackendKind::Postgres => ("CREATE SCHEMA", "SET search_path TO"),
            BackendKind::Mysql => ("CREATE DATABASE", "USE"),
            BackendKind::Sqlite => return Ok(()),
        };
        let seq = NAMESPACE_SEQ.fetch_add(1, Ordering::Relaxed);
        let ns = format!("settle_{}_{seq}", std::process::id());
        let quoted = quote_ident(self.kind, &ns);
        self.script(format!("{create} {quoted}"))?;
        // Recorded before entering it, so a failure below still has it dropped.
        self.namespace = Some(ns);
        self.script(format!("{enter} {quoted}"))
    }

    /// SQLite objects (`type`, `name`) in creation order, without SQLite's own.
    fn sqlite_objects(&mut self) -> Result<Vec<(String, String)>, SqlError> {
        self.pairs(
            "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'view') \
             AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
        )
    }

    /// Reads the catalog after the migrations ran and builds the scripts that empty (and, on
    /// SQLite, drop) what they created. `before` lists SQLite objects that existed already.
    fn plan_clear(&mut self, before: &[(String, String)]) -> Result<(String, String), SqlError> {
        let kind = self.kind;
        // `restart` runs first and resets identity counters; it empties the `truncated` tables.
        let (tables, edges, restart, truncated, views) = match kind {
            BackendKind::Postgres => {
                let tables = self.texts(
                    "SELECT c.relname FROM pg_class c \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
                     ORDER BY c.oid",
                )?;
                let edges = self.pairs(
                    "SELECT c.relname, p.relname FROM pg_constraint k \
                     JOIN pg_class c ON c.oid = k.conrelid \
                     JOIN pg_class p ON p.oid = k.confrelid \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE k.contype = 'f' AND n.nspname = current_schema()",
                )?;
                let ns = self.namespace.clone().unwrap_or_default();
                let restart = self
                    .query(
                        "SELECT sequencename, start_value FROM pg_sequences \
                         WHERE schemaname = current_schema() ORDER BY sequencename",
                        &[],
                    )?
                    .iter()
                    .map(|r| {
                        let seq = format!("{}.{}", pg_ident(&ns), pg_ident(&r.text(0)?));
                        Ok(format!("SELECT setval({}, {}, false);", sql_text(&seq), r.int(1)?))
                    })
                    .collect::<Result<String, SqlError>>()?;
                (tables, edges, restart, Vec::new(), Vec::new())
            }
            BackendKind::Mysql => {
                let tables = self.texts(
                    "SELECT TABLE_NAME FROM information_schema.TABLES \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' \
                     ORDER BY TABLE_NAME",
                )?;
                let edges = self.pairs(
                    "SELECT TABLE_NAME, REFERENCED_TABLE_NAME \
                     FROM information_schema.REFERENTIAL_CONSTRAINTS \
                     WHERE CONSTRAINT_SCHEMA = DATABASE()",
                )?;
                // Only DDL restarts AUTO_INCREMENT. TRUNCATE (1.3 ms a table here) beats DELETE
                // plus ALTER TABLE … AUTO_INCREMENT = 1 (3.4 ms); it needs foreign-key checks off
                // for this session, turned back on at once (and by `reset` if the script fails).
                let truncated = self.texts(
                    "SELECT DISTINCT TABLE_NAME FROM information_schema.COLUMNS \
                     WHERE TABLE_SCHEMA = DATABASE() AND EXTRA LIKE '%auto_increment%' \
                     ORDER BY TABLE_NAME",
                )?;
                let mut restart = String::new();
                if !truncated.is_empty() {
                    restart.push_str("SET FOREIGN_KEY_CHECKS = 0;");
                    restart.extend(truncated.iter().map(|t| format!("TRUNCATE TABLE {};", self.qualified(t))));
                    restart.push_str("SET FOREIGN_KEY_CHECKS = 1;");
                }
                (tables, edges, restart, truncated, Vec::new())
            }
            BackendKind::Sqlite => {
                let created: Vec<(String, String)> =
                    self.sqlite_objects()?.into_iter().filter(|o| !before.contains(o)).collect();
                let of =
                    |ty: &str| -> Vec<String> { created.iter().filter(|o| o.0 == ty).map(|o| o.1.clone()).collect() };
                let (tables, views) = (of("table"), of("view"));
                let edges = self
                    .pairs(
                        "SELECT m.name, f.\"table\" FROM sqlite_master m, \
                         pragma_foreign_key_list(m.name) f WHERE m.type = 'table'",
                    )?
                    .into_iter()
                    .filter(|(child, _)| tables.contains(child))
                    .collect();
                let sequence = self.texts(
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                     AND name = 'sqlite_sequence'",
                )?;
                let restart = if sequence.is_empty() || tables.is_empty() {
                    String::new()
                } else {
                    let names: Vec<String> = tables.iter().map(|t| sql_text(t)).collect();
                    format!("DELETE FROM sqlite_sequence WHERE name IN ({});", names.join(", "))
                };
                (tables, edges, restart, Vec::new(), views)
            }
        };
        let order = delete_order(&tables, &edges);
        let mut clear = restart;
        for t in order.iter().filter(|t| !truncated.contains(t)) {
            let _ = write!(clear, "DELETE FROM {};", self.qualified(t));
        }
        let mut drop: String = views.iter().map(|v| format!("DROP VIEW IF EXISTS {};", self.qualified(v))).collect();
        drop.extend(order.iter().map(|t| format!("DROP TABLE IF EXISTS {};", self.qualified(t))));
        Ok((clear, drop))
    }

    /// `name` inside this backend's namespace, quoted.
    fn qualified(&self, name: &str) -> String {
        match &self.namespace {
            Some(ns) => format!("{}.{}", quote_ident(self.kind, ns), quote_ident(self.kind, name)),
            None => quote_ident(self.kind, name),
        }
    }

    pub(super) fn apply(&mut self, set: &str, migrations: &[Migration]) -> Result<(), SqlError> {
        // A different set (or a failed earlier reset): start over in a new namespace.
        if let Some(old) = self.applied.take()
            && !old.drop_sql.is_empty()
            && let Err(e) = self.script(old.drop_sql.clone())
        {
            // Its tables are still there, and still emptied by a reset with its name.
            self.applied = Some(old);
            return Err(e);
        }
        self.drop_namespace()?;
        self.create_namespace()?;
        // Statements prepared against the old tables must not be reused.
        self.call(Cmd::ClearCache)?;
        let before = match self.kind {
            BackendKind::Sqlite => self.sqlite_objects()?,
            _ => Vec::new(),
        };
        for m in migrations {
            if let Err(e) = self.script(m.sql_for(self.kind).to_string()) {
                if self.kind == BackendKind::Sqlite {
                    // No namespace to drop next time: remove what the set created so far now.
                    let _ = self.plan_clear(&before).and_then(|(_, drop_sql)| self.script(drop_sql));
                }
                return Err(SqlError::Other(format!("migration {}: {}", m.version, error_text(&e))));
            }
        }
        let (clear_sql, drop_sql) = self.plan_clear(&before)?;
        self.applied = Some(Applied { set: set.to_string(), clear_sql, drop_sql });
        Ok(())
    }
}

/// The order to empty `tables` (given in creation order) so that no row is deleted while a row
/// of another table still references it: children first, otherwise newest first. `edges` are
/// (child, parent) foreign keys. A cycle falls back to newest first for what remains.
pub(super) fn delete_order(tables: &[String], edges: &[(String, String)]) -> Vec<String> {
    let mut left: Vec<&String> = tables.iter().rev().collect();
    let mut out = Vec::with_capacity(tables.len());
    while !left.is_empty() {
        let free = left.iter().position(|t| {
            !edges.iter().any(|(child, parent)| parent == *t && child != parent && left.contains(&child))
        });
        match free {
            Some(k) => out.push(left.remove(k).clone()),
            None => out.extend(left.drain(..).cloned()),
        }
    }
    out
}

/// The text of an error without its kind's prefix, to wrap in another.
fn error_text(e: &SqlError) -> String {
    match e {
        SqlError::Constraint(s) | SqlError::Decode(s) | SqlError::Connect(s) | SqlError::Other(s) => s.clone(),
    }
}
