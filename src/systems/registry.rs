//! The registry: every system a program knows, by the name scenario files give it.
//!
//! `settle list`, scenario parsing and validation, `replay --keep-db`, the audit's choice of
//! pass and the diagrams' lanes all read it. settle's own binary has [`Registry::builtin`]; a
//! team's own binary (see [`crate::cli::App`]) and the `#[test]` runner
//! ([`crate::testing`]) add their systems to it with [`Registry::add`], as a [`Variant`] of a
//! family: a name and what it changes of the family's reference design.
//!
//! What it does not do: parse whole scenario files (the scenario layer does, asking each entry
//! for its own table), or run anything.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_spanned::Spanned;

use super::family::Family;
use super::harness::Harness;
use super::{
    FlawKind, FlawSet, System, SystemInfo, fanvue_revenue, midtrans_orders, paystack_bookings, stripe_barbers,
};

/// A problem with a system's table or flaws, at a byte range of the scenario text when known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableError {
    pub span: Option<std::ops::Range<usize>>,
    pub message: String,
}

type BuildFn = dyn Fn(Option<&toml::Value>, &[String]) -> Result<Box<dyn System>, TableError> + Send + Sync;
type TableFn = fn(&str) -> Result<Option<toml::Value>, TableError>;

/// One system a program knows.
#[derive(Clone)]
pub struct Entry {
    name: String,
    family: &'static str,
    table: &'static str,
    /// Every flaw name of the family, for validation.
    flaws: Vec<&'static str>,
    build: Arc<BuildFn>,
    parse_table: TableFn,
}

impl Entry {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The family it varies (the name of settle's system it is built from).
    pub fn family(&self) -> &'static str {
        self.family
    }

    /// Its scenario table (`midtrans` for `[midtrans]`).
    pub fn table(&self) -> &'static str {
        self.table
    }

    pub fn flaw_names(&self) -> &[&'static str] {
        &self.flaws
    }

    /// Reads and validates this system's table from a whole scenario text, with the byte range of
    /// any error; `None` when the file has no such table (the defaults apply).
    pub fn parse_table(&self, text: &str) -> Result<Option<toml::Value>, TableError> {
        (self.parse_table)(text)
    }

    /// Builds the system from its (already read) table and flaw names.
    pub fn build(&self, table: Option<&toml::Value>, flaws: &[String]) -> Result<Box<dyn System>, TableError> {
        (self.build)(table, flaws)
    }

    /// What the system offers with its default configuration and no flaw.
    pub fn info(&self) -> SystemInfo {
        match self.build(None, &[]) {
            Ok(s) => s.info(),
            // A family whose defaults do not validate is a bug in the family, not the user's.
            Err(e) => panic!("system {}: its default configuration is invalid: {}", self.name, e.message),
        }
    }
}

/// A family's reference design, changed by `customize` and called `name`: how a user's own
/// logic is registered.
pub struct Variant<F: Family> {
    name: String,
    customize: Arc<dyn Fn(Harness<F>) -> Harness<F> + Send + Sync>,
}

impl<F: Family> Clone for Variant<F> {
    fn clone(&self) -> Self {
        Variant { name: self.name.clone(), customize: self.customize.clone() }
    }
}

impl<F: Family> Variant<F> {
    /// The family's reference design, under its own name.
    pub fn reference() -> Self {
        Variant { name: F::NAME.to_string(), customize: Arc::new(|h| h) }
    }

    /// The reference design changed by `customize` (replace the app, add a job, an invariant, a
    /// schema…), under `name`.
    pub fn new(name: &str, customize: impl Fn(Harness<F>) -> Harness<F> + Send + Sync + 'static) -> Self {
        Variant { name: name.to_string(), customize: Arc::new(customize) }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// This variant for a configuration and flaws.
    pub fn harness(&self, cfg: F::Config, flaws: FlawSet<F::Flaw>) -> Harness<F> {
        (self.customize)(Harness::new(cfg, flaws)).named(&self.name)
    }

    /// This variant for the configuration in `table` (a `[midtrans]` table, say; `None`: the
    /// defaults) and the flaws named.
    pub fn from_table(&self, table: Option<&toml::Value>, flaws: &[String]) -> Result<Harness<F>, TableError> {
        let cfg = match table {
            Some(v) => config_from_value::<F>(v)?,
            None => F::Config::default(),
        };
        let mut set = FlawSet::default();
        for name in flaws {
            let f = F::Flaw::parse(name).ok_or_else(|| TableError { span: None, message: unknown_flaw::<F>(name) })?;
            set.insert(f);
        }
        Ok(self.harness(cfg, set))
    }

    fn entry(self) -> Entry {
        let me = self.clone();
        Entry {
            name: self.name,
            family: F::NAME,
            table: F::TABLE,
            flaws: F::Flaw::ALL.iter().map(|f| f.name()).collect(),
            build: Arc::new(move |table, flaws| Ok(Box::new(me.from_table(table, flaws)?) as Box<dyn System>)),
            parse_table: parse_table::<F>,
        }
    }
}

fn unknown_flaw<F: Family>(name: &str) -> String {
    let known: Vec<&str> = F::Flaw::ALL.iter().map(|f| f.name()).collect();
    format!("unknown flaw {name:?} for {}, expected one of: {}", F::NAME, known.join(", "))
}

fn config_from_value<F: Family>(v: &toml::Value) -> Result<F::Config, TableError> {
    let cfg: F::Config = v
        .clone()
        .try_into()
        .map_err(|e: toml::de::Error| TableError { span: None, message: format!("[{}]: {}", F::TABLE, e.message()) })?;
    F::validate(&cfg).map_err(|m| TableError { span: None, message: m })?;
    Ok(cfg)
}

/// Reads `[F::TABLE]` from a whole document, keeping spans for errors, then validates it.
fn parse_table<F: Family>(text: &str) -> Result<Option<toml::Value>, TableError> {
    let picked = pick_table::<F::Config>(text, F::TABLE)
        .map_err(|e| TableError { span: e.span(), message: e.message().trim_end().to_string() })?;
    let Some(spanned) = picked else { return Ok(None) };
    F::validate(spanned.get_ref()).map_err(|m| TableError { span: Some(spanned.span()), message: m })?;
    toml::Value::try_from(spanned.get_ref())
        .map(Some)
        .map_err(|e| TableError { span: Some(spanned.span()), message: format!("[{}]: {e}", F::TABLE) })
}

/// Deserializes the value of top-level key `key` of the TOML document `text` as `T`, directly from
/// the document (so error spans point into it); `None` when the key is absent.
pub fn pick_table<T: DeserializeOwned>(text: &str, key: &str) -> Result<Option<Spanned<T>>, toml::de::Error> {
    use serde::Deserializer;
    use serde::de::{IgnoredAny, MapAccess, Visitor};

    struct Pick<'k, T>(&'k str, std::marker::PhantomData<T>);
    impl<'de, T: DeserializeOwned> Visitor<'de> for Pick<'_, T> {
        type Value = Option<Spanned<T>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a TOML document")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = None;
            while let Some(k) = map.next_key::<String>()? {
                if k == self.0 {
                    out = Some(map.next_value::<Spanned<T>>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(out)
        }
    }
    toml::Deserializer::parse(text)?.deserialize_map(Pick(key, std::marker::PhantomData))
}

/// The systems a program knows.
#[derive(Clone, Default)]
pub struct Registry {
    entries: Vec<Entry>,
}

impl Registry {
    /// settle's own systems.
    pub fn builtin() -> Self {
        let mut r = Registry::default();
        r.add(Variant::<midtrans_orders::Orders>::reference());
        r.add(Variant::<fanvue_revenue::Revenue>::reference());
        r.add(Variant::<stripe_barbers::Barbers>::reference());
        r.add(Variant::<paystack_bookings::Bookings>::reference());
        r
    }

    /// Adds a system; one of the same name is replaced (a team's variant may take a built-in
    /// name on purpose, and then that name means theirs in their program).
    pub fn add<F: Family>(&mut self, variant: Variant<F>) -> &mut Self {
        let name = variant.name().to_string();
        self.add_under(&name, variant)
    }

    /// Adds `variant` under another `name` (e.g. its family's, so that scenario files written for
    /// the reference system run yours); the system it builds keeps its own name.
    pub fn add_under<F: Family>(&mut self, name: &str, variant: Variant<F>) -> &mut Self {
        let mut entry = variant.entry();
        entry.name = name.to_string();
        match self.entries.iter_mut().find(|e| e.name == entry.name) {
            Some(slot) => *slot = entry,
            None => self.entries.push(entry),
        }
        self
    }

    /// The same registry with `variant` added.
    pub fn with<F: Family>(mut self, variant: Variant<F>) -> Self {
        self.add(variant);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }

    /// Every system's catalogue entry, for `settle list`.
    pub fn catalog(&self) -> Vec<SystemInfo> {
        self.entries.iter().map(Entry::info).collect()
    }

    /// Every scenario table a known system reads (to tell a misplaced table from a typo).
    pub fn tables(&self) -> Vec<(&'static str, &str)> {
        self.entries.iter().map(|e| (e.table, e.family)).collect()
    }
}
