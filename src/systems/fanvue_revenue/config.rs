//! The `[fanvue]` section of a scenario file: how many creators, what their ledgers hold, the
//! app's timing (page size, heartbeat, lookback) and the provider's behaviour, with validation
//! of what serde cannot check.
//!
//! What it does not hold: network, database and crash faults (the scenario's own sections).

use serde::{Deserialize, Serialize};

use super::start::Start;
use crate::providers::fanvue::{self, ProviderConfig};
use crate::sim::{Millis, Range, Rate, count_at_most};

/// The `[fanvue]` section of a scenario: creators, their ledgers, the app's timing, the provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Connected creators (rows of `models`), each with its own ledger and token.
    pub creators: u32,
    /// Rows already on each ledger before the run: up to this many, dated within `history_span`.
    pub history_rows_max: u32,
    pub history_span: Millis,
    /// Sales per creator during the safety phase, drawn from `sales_min..=sales_max`.
    pub sales_min: u32,
    pub sales_max: u32,
    /// When sales happen (uniform), from the start of the run.
    pub arrival: Range,
    /// Sale amounts in USD cents.
    pub amount_min: i64,
    pub amount_max: i64,
    /// The share of sales refunded, and (of the rest) charged back, after `reversal_delay`.
    pub refund: Rate,
    pub chargeback: Rate,
    pub reversal_delay: Range,
    /// `size` of each earnings request (1–50).
    pub page_size: u32,
    /// The revenue heartbeat cron.
    pub heartbeat_every: Millis,
    /// How far behind the newest row read the cursor is left, so late rows are read again.
    pub lookback: Millis,
    /// How long a row may sit unstored behind the cursor before `cursor-never-past-unstored`
    /// calls it lost (longer than a unit of work takes, shorter than a heartbeat).
    pub grace: Millis,
    /// How the database looks when the run begins: `clean`, or `cursor-past-unstored` (an
    /// older sync's damage, see [`super::start`]).
    pub start: Start,
    /// The owner presses "Force Sync Revenue" at least this many times per run…
    pub force_syncs_min: u32,
    /// …and up to this many…
    pub force_syncs_max: u32,
    /// …and, this often, presses it again a few seconds later.
    pub double_click: Rate,
    /// The owner presses again, a minute later, after every answer but 200 (an error, a
    /// timeout, a refused connection) until the force-sync succeeds. Off by default: one press.
    pub force_sync_until_ok: bool,
    /// Dashboard loads during the safety phase (one more always comes at the end of the run).
    pub dashboard_loads_max: u32,
    /// Retries of one earnings request after a 5xx, a timeout or a refused connection.
    pub request_retries: u32,
    pub request_timeout: Millis,
    pub provider: ProviderConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            creators: 3,
            history_rows_max: 40,
            history_span: Millis::h(24 * 30),
            sales_min: 5,
            sales_max: 20,
            arrival: Range::new(Millis(0), Millis::min(55)),
            amount_min: 300,
            amount_max: 10_000,
            refund: Rate(50_000),
            chargeback: Rate(10_000),
            reversal_delay: Range::new(Millis::min(1), Millis::min(20)),
            page_size: 20,
            heartbeat_every: Millis::min(10),
            lookback: Millis::min(5),
            grace: Millis::min(1),
            start: Start::Clean,
            force_syncs_min: 0,
            force_syncs_max: 2,
            double_click: Rate(300_000),
            force_sync_until_ok: false,
            dashboard_loads_max: 2,
            request_retries: 3,
            request_timeout: Millis::s(10),
            provider: ProviderConfig::default(),
        }
    }
}

impl Config {
    /// Checks what serde cannot; each message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.creators == 0 || self.creators > 1_000 {
            return Err(format!("fanvue.creators: {} is not between 1 and 1000", self.creators));
        }
        if self.history_rows_max > 100_000 || self.sales_max > 100_000 {
            return Err("fanvue.history_rows_max/sales_max: at most 100000 rows per creator".into());
        }
        if self.sales_min > self.sales_max {
            return Err(format!(
                "fanvue.sales_min/sales_max: sales_min {} is greater than sales_max {}",
                self.sales_min, self.sales_max
            ));
        }
        if self.amount_min <= 0 || self.amount_min > self.amount_max || self.amount_max > 100_000_000 {
            return Err(format!(
                "fanvue.amount_min/amount_max: need 0 < amount_min ≤ amount_max ≤ 100000000 cents, found {} and {}",
                self.amount_min, self.amount_max
            ));
        }
        if !(fanvue::wire::SIZE_MIN..=fanvue::wire::SIZE_MAX).contains(&self.page_size) {
            return Err(format!("fanvue.page_size: {} is not between 1 and 50 (Fanvue's bounds)", self.page_size));
        }
        if self.heartbeat_every.0 < 1_000 {
            return Err("fanvue.heartbeat_every: must be at least 1s".into());
        }
        if self.history_span.0 > Millis::h(24 * 3_650).0 {
            return Err("fanvue.history_span: at most 3650d".into());
        }
        if self.request_timeout.0 == 0 || self.request_retries > 20 {
            return Err("fanvue.request_timeout/request_retries: need a timeout above 0 and at most 20 retries".into());
        }
        count_at_most("fanvue.force_syncs_max", self.force_syncs_max)?;
        count_at_most("fanvue.dashboard_loads_max", self.dashboard_loads_max)?;
        if self.force_syncs_min > self.force_syncs_max {
            return Err(format!(
                "fanvue.force_syncs_min/force_syncs_max: force_syncs_min {} is greater than force_syncs_max {}",
                self.force_syncs_min, self.force_syncs_max
            ));
        }
        let p = &self.provider;
        if p.rate_limit == 0 || p.rate_window.0 == 0 {
            return Err("fanvue.provider.rate_limit/rate_window: both must be above 0".into());
        }
        if p.api_version.is_empty() || p.retired_versions.contains(&p.api_version) {
            return Err("fanvue.provider.api_version: must be set, and not be one of retired_versions".into());
        }
        Ok(())
    }
}
