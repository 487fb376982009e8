//! The drive scenario file (TOML): which service to run and how, the checkout request that
//! starts a customer, the service's job hooks, where its database and mapping are, and the
//! seeded plan (customers, races, time scale).
//!
//! ```toml
//! [service]
//! command = ["python3", "shop.py"]    # or: url = "http://127.0.0.1:8000" (already listening)
//! cwd = "."                          # relative to this file
//! env = { SHOP_BUG = "1" }
//! health = "/health"                 # GET, 2xx when ready
//! webhook = "/webhooks/midtrans"     # where the provider's notifications go
//!
//! [checkout]                         # one request per customer; placeholders below
//! method = "POST"
//! path = "/checkout"
//! body = '{"order_id": "{order_id}", "amount": {amount}}'
//!
//! [[hooks]]                          # the service's jobs, run at simulated intervals
//! name = "reconcile"
//! every = "5m"
//! request = "POST /jobs/reconcile"   # or: command = ["python3", "shop.py", "reconcile"]
//!
//! [check]
//! mapping = "mapping.toml"           # the `settle audit` mapping format
//! database_url = "postgres://postgres@127.0.0.1:5432/settle_drive"
//! every = "1m"                       # Midtrans: `always` also read this often (simulated)
//!
//! [run]
//! provider = "midtrans"              # or "fanvue" (no [checkout]; see super::fanvue for [fanvue])
//! seeds = 1
//! hold_only = [2]                    # of the held messages, hold only customer 2's (--shrink)
//!
//! [faults]                           # on notifications, safety phase only
//! drop = 0.1
//! duplicate = 0.1
//! delay = { min = "0ms", max = "30s" }
//!
//! [midtrans.api]                     # the model's status-API faults
//! server_error = 0.1
//!
//! [database]                         # the database proxy (see super::proxy)
//! latency = { min = "0ms", max = "2s" }
//! lost_commit = 0.1
//! hold_commit = 1.0
//!
//! [crashes]                          # the crash plan (see super::crash)
//! every = { min = "1m", max = "4m" }
//! count = 2
//! ```
//!
//! Placeholders of the checkout template: `{order_id}`, `{amount}` (whole rupiah),
//! `{customer}` (1-based), `{seed}`. Every error names the file and, where known, line and column.
//! [`parse`] takes the text (kept in [`Drive::text`] for `--shrink`), [`load`] reads it first.
//!
//! What it does not do: start anything (see [`super::service`]) or read the mapping's database.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_spanned::Spanned;

use crate::Error;
use crate::sim::Millis;

/// A parsed drive scenario.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriveFile {
    pub service: ServiceSpec,
    /// Midtrans only (a Fanvue service has no checkout: its creators' fans pay at Fanvue).
    #[serde(default = "no_checkout")]
    pub checkout: Spanned<CheckoutSpec>,
    #[serde(default)]
    pub hooks: Vec<Spanned<HookSpec>>,
    pub check: CheckSpec,
    #[serde(default)]
    pub run: RunSpec,
    /// The Midtrans model's own settings (retry schedule, duplicates, reversals, `[midtrans.api]`
    /// faults of the status API: `server_error`, `timeout`, `stale_read`, …), as in `settle run`.
    #[serde(default)]
    pub midtrans: crate::providers::midtrans::ProviderConfig,
    #[serde(default)]
    pub faults: WebhookFaults,
    /// Fanvue's load and model (`provider = "fanvue"`), see [`super::fanvue`].
    #[serde(default)]
    pub fanvue: super::fanvue::FanvueSpec,
    /// The database proxy and its faults ([`super::proxy::DatabaseSpec`]); no proxy without it.
    pub database: Option<Spanned<super::proxy::DatabaseSpec>>,
    /// The crash plan ([`super::crash::CrashSpec`]).
    pub crashes: Option<Spanned<super::crash::CrashSpec>>,
}

/// The absent `[checkout]`: an empty path, refused for Midtrans by [`load`].
fn no_checkout() -> Spanned<CheckoutSpec> {
    Spanned::new(
        0..0,
        CheckoutSpec { method: default_method(), path: String::new(), body: "{}".into(), order_id: default_order_id() },
    )
}

/// Seeded faults on the provider's notifications to the service (safety phase only).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookFaults {
    /// Attempts lost before reaching the service (Midtrans sees a timeout and retries).
    pub drop: crate::sim::Rate,
    /// Attempts delivered twice.
    pub duplicate: crate::sim::Rate,
    /// Attempts held this long (simulated) before they leave, so later ones overtake them.
    pub delay: Option<crate::sim::Range>,
}

/// How to reach the service: a command settle starts, or a base URL where it already listens.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    pub command: Option<Spanned<Vec<String>>>,
    pub cwd: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub url: Option<Spanned<String>>,
    pub health: String,
    /// Where the provider's notifications go (Midtrans; Fanvue sends none).
    #[serde(default)]
    pub webhook: String,
    /// Real time the service has to answer its health URL.
    #[serde(default = "default_start_timeout")]
    pub start_timeout: Millis,
}

fn default_start_timeout() -> Millis {
    Millis::s(30)
}

/// The request that starts one customer's checkout at the service.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutSpec {
    #[serde(default = "default_method")]
    pub method: String,
    pub path: String,
    pub body: String,
    /// The order id settle asks for (placeholders `{seed}`, `{customer}`, `{run}`).
    #[serde(default = "default_order_id")]
    pub order_id: String,
}

fn default_method() -> String {
    "POST".into()
}

fn default_order_id() -> String {
    "ORD-{seed}-{run}-{customer}".into()
}

/// One of the service's jobs, run by settle every `every` of simulated time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookSpec {
    pub name: String,
    pub every: Millis,
    /// `"METHOD /path"` on the service.
    pub request: Option<String>,
    pub command: Option<Vec<String>>,
}

/// Where the checks read the service's database.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    pub mapping: String,
    pub database_url: String,
    /// Midtrans runs: besides after each checkout, the `always` invariants are read this often
    /// (simulated), once the service is quiet (Fanvue's period is `[fanvue] check_every`).
    #[serde(default = "check_every_default")]
    pub every: Millis,
}

fn check_every_default() -> Millis {
    Millis::min(1)
}

/// The seeded plan.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSpec {
    pub provider: Spanned<String>,
    /// Seeds 1..=seeds (or `seed` alone).
    pub seeds: u64,
    pub seed: Option<u64>,
    /// Times each seed is run ("failed k of n").
    pub runs: u32,
    /// Simulated milliseconds per real millisecond.
    pub time_scale: u64,
    pub customers: u32,
    /// Share (0..=1) of paying customers whose Snap answer settle holds until the provider's
    /// final notification for that order has been answered: seed 001's race, on purpose.
    pub race: f64,
    /// Share of customers who pay.
    pub pay: f64,
    /// Of the customers the seed would hold (Snap/charge answer or checkout COMMIT), hold only
    /// these (1-based customer numbers). The seed draws as without it, so the kept customers'
    /// story is the same; `settle drive --shrink` writes it.
    pub hold_only: Option<Vec<u32>>,
    /// Simulated time after the load for retries and hooks to converge (the liveness phase).
    pub settle_for: Millis,
}

impl Default for RunSpec {
    fn default() -> Self {
        RunSpec {
            provider: Spanned::new(0..0, "midtrans".into()),
            seeds: 1,
            seed: None,
            runs: 1,
            time_scale: 60,
            customers: 8,
            race: 0.5,
            pay: 0.8,
            settle_for: Millis::min(30),
            hold_only: None,
        }
    }
}

/// A drive scenario with its paths resolved against the file's directory.
#[derive(Debug)]
pub struct Drive {
    pub file: DriveFile,
    pub path: String,
    pub dir: PathBuf,
    /// The file's text as read (`--shrink` edits it, keeping comments and layout).
    pub text: String,
}

impl Drive {
    pub fn mapping_path(&self) -> PathBuf {
        self.dir.join(&self.file.check.mapping)
    }

    pub fn cwd(&self) -> PathBuf {
        self.file.service.cwd.as_ref().map_or_else(|| self.dir.clone(), |c| self.dir.join(c))
    }

    /// The seeds to run, in order.
    pub fn seeds(&self) -> Vec<u64> {
        match self.file.run.seed {
            Some(s) => vec![s],
            None => (1..=self.file.run.seeds).collect(),
        }
    }
}

/// Reads and validates the drive scenario at `path`.
pub fn load(path: &Path) -> Result<Drive, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Scenario {
        location: path.display().to_string(),
        message: format!("cannot read the drive file: {e}"),
    })?;
    parse(text, path)
}

/// Validates the drive scenario `text`, read from (or standing for) `path`: relative paths in it
/// resolve against `path`'s folder, and errors name `path`.
pub fn parse(text: String, path: &Path) -> Result<Drive, Error> {
    let shown = path.display().to_string();
    let file: DriveFile = toml::from_str(&text).map_err(|e| match e.span() {
        Some(span) => crate::scenario::file::at(&shown, &text, span, e.message().to_string()),
        None => Error::Scenario { location: shown.clone(), message: e.message().to_string() },
    })?;
    let at = |span: std::ops::Range<usize>, m: String| crate::scenario::file::at(&shown, &text, span, m);
    let s = &file.service;
    match (&s.command, &s.url) {
        (Some(c), Some(_)) => return Err(at(c.span(), "[service] has both `command` and `url`; give one".into())),
        (None, None) => {
            return Err(Error::Scenario {
                location: shown,
                message: "[service] needs `command` (settle starts it) or `url` (it already listens)".into(),
            });
        }
        (Some(c), None) if c.get_ref().is_empty() => return Err(at(c.span(), "`command` is empty".into())),
        (None, Some(u)) if !u.get_ref().starts_with("http://") => {
            return Err(at(u.span(), format!("`url` {:?} must be http://HOST:PORT", u.get_ref())));
        }
        _ => {}
    }
    let p = &file.run.provider;
    match p.get_ref().as_str() {
        "midtrans" => {
            if file.checkout.get_ref().path.is_empty() {
                return Err(Error::Scenario {
                    location: shown,
                    message: "provider \"midtrans\" needs a [checkout] section (the request that starts a customer)"
                        .into(),
                });
            }
            if file.service.webhook.is_empty() {
                return Err(Error::Scenario {
                    location: shown,
                    message: "provider \"midtrans\" needs [service] webhook (where notifications go)".into(),
                });
            }
        }
        "fanvue" => {
            if let Err(m) = file.fanvue.validate() {
                return Err(Error::Scenario { location: shown, message: m });
            }
            // `hold_commit` holds a checkout's COMMIT until Midtrans's final notification was
            // answered: Fanvue has neither checkouts nor notifications, so it would do nothing.
            if let Some(d) = file.database.as_ref().filter(|d| d.get_ref().hold_commit > 0.0) {
                return Err(at(
                    d.span(),
                    "[database] hold_commit holds a checkout's COMMIT until Midtrans's notification; \
                     provider \"fanvue\" has no checkout (leave it out or set it to 0)"
                        .into(),
                ));
            }
        }
        other => {
            return Err(at(
                p.span(),
                format!("provider {other:?} is not served over HTTP yet; \"midtrans\" and \"fanvue\" are"),
            ));
        }
    }
    let c = &file.checkout;
    if let Err(m) = render(&c.get_ref().body, &Fill::sample()).and_then(|b| {
        serde_json::from_str::<serde_json::Value>(&b).map(drop).map_err(|e| format!("is not JSON once filled in: {e}"))
    }) {
        return Err(at(c.span(), format!("[checkout] body {m}")));
    }
    if http::Method::from_bytes(c.get_ref().method.as_bytes()).is_err() {
        return Err(at(c.span(), format!("[checkout] method {:?} is not an HTTP method", c.get_ref().method)));
    }
    for h in &file.hooks {
        let hook = h.get_ref();
        match (&hook.request, &hook.command) {
            (Some(r), None) if parse_request_line(r).is_none() => {
                return Err(at(h.span(), format!("hook {:?}: request {r:?} must be \"METHOD /path\"", hook.name)));
            }
            (Some(_), None) => {}
            (None, Some(c)) if !c.is_empty() => {}
            _ => return Err(at(h.span(), format!("hook {:?} needs one of `request` or `command`", hook.name))),
        }
        if hook.every.0 == 0 {
            return Err(at(h.span(), format!("hook {:?}: `every` must be more than 0", hook.name)));
        }
    }
    if file.check.every.0 == 0 {
        return Err(Error::Scenario { location: shown.clone(), message: "[check] every must be more than 0".into() });
    }
    if let Some(d) = &file.database {
        if let Some(m) = d.get_ref().problem() {
            return Err(at(d.span(), m));
        }
        if let Err(m) = super::proxy::upstream_of(&file.check.database_url) {
            return Err(at(d.span(), format!("[database] needs a PostgreSQL or MySQL [check] database_url: {m}")));
        }
    }
    if let Some(c) = &file.crashes {
        if let Some(m) = c.get_ref().problem() {
            return Err(at(c.span(), m));
        }
        if file.service.url.is_some() {
            return Err(at(c.span(), "[crashes] needs a service settle starts (`command`), not `url`".into()));
        }
    }
    let r = &file.run;
    if r.time_scale == 0 || !(0.0..=1.0).contains(&r.race) || !(0.0..=1.0).contains(&r.pay) || r.runs == 0 {
        return Err(Error::Scenario {
            location: shown,
            message: "[run]: time_scale and runs must be at least 1, race and pay between 0 and 1".into(),
        });
    }
    if let Some(m) = hold_only_problem(r) {
        return Err(Error::Scenario { location: shown, message: m });
    }
    // A bare file name's parent is "", which is no directory to start a service in.
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    Ok(Drive { file, path: shown, dir, text })
}

/// What is wrong with `[run] hold_only`, if anything: a customer number must be one of the run's.
fn hold_only_problem(r: &RunSpec) -> Option<String> {
    let list = r.hold_only.as_ref()?;
    if r.provider.get_ref() != "midtrans" {
        return Some("[run] hold_only: only provider \"midtrans\" holds messages (leave it out)".into());
    }
    list.iter()
        .find(|&&k| k == 0 || k > r.customers)
        .map(|k| format!("[run] hold_only: customer {k} is not one of the run's customers 1..={}", r.customers))
}

/// `"POST /jobs/reconcile"` → method and path.
pub fn parse_request_line(line: &str) -> Option<(http::Method, String)> {
    let (m, p) = line.trim().split_once(' ')?;
    let p = p.trim();
    (p.starts_with('/')).then_some(())?;
    Some((http::Method::from_bytes(m.as_bytes()).ok()?, p.to_string()))
}

/// The values of a template's placeholders.
pub struct Fill {
    pub order_id: String,
    pub amount: i64,
    pub customer: u32,
    pub seed: u64,
    pub run: u32,
}

impl Fill {
    fn sample() -> Fill {
        Fill { order_id: "ORD-1-1-1".into(), amount: 10_000, customer: 1, seed: 1, run: 1 }
    }
}

/// Fills `{name}` placeholders; an unknown name or an unclosed brace is an error naming it.
/// JSON's own braces pass through: only `{` followed by a name and `}` is a placeholder.
pub fn render(template: &str, f: &Fill) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let name_len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len());
        if name_len == 0 || !after[name_len..].starts_with('}') {
            out.push('{');
            rest = after;
            continue;
        }
        let name = &after[..name_len];
        match name {
            "order_id" => out.push_str(&f.order_id),
            "amount" => out.push_str(&f.amount.to_string()),
            "customer" => out.push_str(&f.customer.to_string()),
            "seed" => out.push_str(&f.seed.to_string()),
            "run" => out.push_str(&f.run.to_string()),
            other => {
                return Err(format!(
                    "has an unknown placeholder {{{other}}}; known: {{order_id}} {{amount}} {{customer}} {{seed}} {{run}}"
                ));
            }
        }
        rest = &after[name_len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_fill_and_json_braces_pass() {
        let f = Fill::sample();
        assert_eq!(render(r#"{"a": {amount}, "o": "{order_id}"}"#, &f).unwrap(), r#"{"a": 10000, "o": "ORD-1-1-1"}"#);
        assert!(render("{nope}", &f).unwrap_err().contains("{nope}"));
    }

    fn parsed(run: &str) -> Result<Drive, Error> {
        let text = format!(
            "[service]\nurl = \"http://127.0.0.1:9\"\nhealth = \"/\"\nwebhook = \"/w\"\n\
             [checkout]\npath = \"/c\"\nbody = '{{}}'\n[check]\nmapping = \"m.toml\"\n\
             database_url = \"sqlite://x.db\"\n[run]\n{run}\n"
        );
        parse(text, Path::new("d/drive.toml"))
    }

    #[test]
    fn hold_only_names_customers_of_the_run() {
        let d = parsed("customers = 3\nhold_only = [1, 3]").unwrap();
        assert_eq!(d.file.run.hold_only, Some(vec![1, 3]));
        assert!(d.text.contains("hold_only = [1, 3]"));
        assert_eq!(parsed("customers = 3").unwrap().file.run.hold_only, None);
        for bad in ["hold_only = [0]", "hold_only = [4]"] {
            let e = parsed(&format!("customers = 3\n{bad}")).unwrap_err().to_string();
            assert!(e.contains("[run] hold_only") && e.contains("1..=3"), "{e}");
            assert!(e.contains("d/drive.toml"), "{e}");
        }
        let e = parsed("hold_only = [\"one\"]").unwrap_err().to_string();
        assert!(e.contains("d/drive.toml:"), "{e}");
    }

    #[test]
    fn the_check_period_defaults_to_a_minute_and_must_be_positive() {
        assert_eq!(parsed("").unwrap().file.check.every, Millis::min(1));
        let every = |v: &str| {
            let text = format!(
                "[service]\nurl = \"http://127.0.0.1:9\"\nhealth = \"/\"\nwebhook = \"/w\"\n\
                 [checkout]\npath = \"/c\"\nbody = '{{}}'\n[check]\nmapping = \"m.toml\"\n\
                 database_url = \"sqlite://x.db\"\nevery = \"{v}\"\n"
            );
            parse(text, Path::new("d/drive.toml"))
        };
        assert_eq!(every("30s").unwrap().file.check.every, Millis::s(30));
        let e = every("0s").unwrap_err().to_string();
        assert!(e.contains("d/drive.toml") && e.contains("[check] every must be more than 0"), "{e}");
        let e = every("soon").unwrap_err().to_string();
        assert!(e.contains("d/drive.toml:"), "{e}");
    }

    #[test]
    fn request_lines_parse() {
        assert_eq!(parse_request_line("POST /jobs/x"), Some((http::Method::POST, "/jobs/x".into())));
        assert_eq!(parse_request_line("POST jobs"), None);
    }
}
