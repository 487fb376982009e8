//! The `fanvue-revenue` audit: seed 002's money invariants over a live database, read-only, in
//! one snapshot — each creator's `revenue_total` equals the sum of its stored transactions
//! (`revenue-total-matches`, judged by the simulator's own function), and no provider id is
//! stored twice (`no-duplicate-transactions`). Table and column names come from a mapping file
//! (`[models]` and `[transactions]`, defaults: seed 002's schema; tables may name their schema).
//!
//! What it does not do: the cross-checks against Fanvue's ledger (no export format for it yet,
//! so `--provider-export` is refused), or the cursor invariant (it needs the provider's rows).

use serde::Deserialize;

use crate::check::mapping::{self as mapping_file, Ident, TableName};
use crate::error::Error;
use crate::store::{Backend, SqlError};
use crate::systems::fanvue_revenue::invariants::{ModelRow, revenue_total_mismatch};

use super::session::in_snapshot;
use super::{Options, Report};

pub use crate::systems::fanvue_revenue::NAME;

/// The invariants this audit checks.
pub const INVARIANTS: &[&str] = &["revenue-total-matches", "no-duplicate-transactions"];

/// Where seed 002's data lives in a shop's schema.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mapping {
    pub models: Models,
    pub transactions: Transactions,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Models {
    pub table: TableName,
    pub id: Ident,
    pub name: Ident,
    pub revenue_total: Ident,
    /// Where the next sync starts reading, in Unix epoch milliseconds (seed 002's
    /// `last_transaction_sync`); optional. Read by `settle drive`'s `cursor-never-past-unstored`,
    /// which has the provider's rows; the audit has none and does not read it.
    pub cursor: Option<Ident>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Transactions {
    pub table: TableName,
    pub model_id: Ident,
    pub provider_id: Ident,
    pub amount: Ident,
}

impl Default for Models {
    fn default() -> Self {
        Models {
            table: TableName::lit("models"),
            id: Ident::lit("id"),
            name: Ident::lit("name"),
            revenue_total: Ident::lit("revenue_total"),
            cursor: None,
        }
    }
}

impl Default for Transactions {
    fn default() -> Self {
        Transactions {
            table: TableName::lit("fanvue_transactions"),
            model_id: Ident::lit("model_id"),
            provider_id: Ident::lit("fanvue_id"),
            amount: Ident::lit("amount"),
        }
    }
}

/// Reads the options' mapping, then audits (a [`super::AuditFn`]).
pub fn audit(url: &str, opts: &Options) -> Result<Report, Error> {
    if let Some(p) = &opts.provider_export {
        return Err(Error::Usage(format!(
            "--provider-export {}: the fanvue-revenue audit has no provider export format yet; \
             it checks the database's own invariants",
            p.display()
        )));
    }
    let mapping: Mapping = match opts.mapping.as_deref() {
        Some(path) => {
            let (text, shown) = mapping_file::read(path)?;
            mapping_file::parse(&text, &shown)?
        }
        None => Mapping::default(),
    };
    in_snapshot(url, |db, shown| {
        let mut r = Report::new(NAME, shown, "model", INVARIANTS, None);
        r.as_of = opts.as_of.unwrap_or(0);
        run(db, &mapping, &mut r).map_err(|e| Error::Infrastructure(format!("{shown}: {e}")))?;
        Ok(r)
    })
}

/// One pass: a row per model with its stored sum and counts (the database aggregates, so memory
/// is one row per model).
pub fn run(db: &mut dyn Backend, m: &Mapping, r: &mut Report) -> Result<(), SqlError> {
    let (md, t) = (&m.models, &m.transactions);
    let sql = format!(
        "SELECT m.{mid}, m.{name}, m.{total}, \
         (SELECT SUM(t.{amount}) FROM {tt} t WHERE t.{fk} = m.{mid}), \
         (SELECT COUNT(*) FROM {tt} t WHERE t.{fk} = m.{mid}), \
         (SELECT COUNT(DISTINCT t.{pid}) FROM {tt} t WHERE t.{fk} = m.{mid}) \
         FROM {mt} m ORDER BY m.{mid}",
        mid = md.id,
        name = md.name,
        total = md.revenue_total,
        mt = md.table,
        amount = t.amount,
        tt = t.table,
        fk = t.model_id,
        pid = t.provider_id,
    );
    for row in db.query(&sql, &[])? {
        let model = ModelRow {
            id: row.int(0)?,
            name: row.text(1)?,
            revenue_total: row.int(2)?,
            cursor: None,
            stored_sum: row.opt_int(3)?.unwrap_or(0),
            stored_rows: row.int(4)?,
            distinct_ids: row.int(5)?,
            distinct_behind: 0,
        };
        r.checked += 1;
        let key = format!("model {} ({})", model.id, model.name);
        r.add("revenue-total-matches", &key, revenue_total_mismatch(&model));
        let dups = model.stored_rows - model.distinct_ids;
        r.add(
            "no-duplicate-transactions",
            &key,
            (dups > 0).then(|| format!("{}: {dups} transaction row(s) repeat a provider id", model.name)),
        );
    }
    Ok(())
}
