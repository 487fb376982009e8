//! The database a run starts from: empty (`start = "clean"`, the default), or as an older,
//! buggy sync left it (`start = "cursor-past-unstored"`) — seed 002's real situation when the
//! team deploys the fixed sync and presses "Force Sync Revenue".
//!
//! The damaged start gives each creator an older block of ledger rows, dated before the whole
//! drawn history: [`INHERITED_STORED`] rows the old sync stored, and between 0 and
//! [`SKIPPED_MAX`] rows in their middle (drawn per creator) that it skipped, as a lost page
//! does. Its cursor stands just past the newest of them and `revenue_total` is the sum of what
//! it stored, so the database is consistent with itself and only the skipped rows are wrong. A
//! sync that reads from the cursor never sees them again: only a cursor reset (the force-sync
//! endpoint's) can bring them back.
//!
//! The skipped rows are the scenario's given, not something the design under test did:
//! [`Inherited`] tells `cursor-never-past-unstored` to leave them out until it first sees the
//! model's cursor reset to before them, and judges them as any other row from then on. The
//! end-of-run checks (`every-row-stored-once`, `revenue-matches-provider`) demand them whatever
//! happened.
//!
//! What it does not do: damage the history drawn for the run, or rows after the cursor.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::units::{self, Stats, TxRow};
use super::{Env, ModelInfo};
use crate::providers::fanvue::Source;
use crate::sim::world::lock;
use crate::sim::{Kind, Sim};

/// How the database looks when a run begins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Start {
    /// No transactions stored, no cursor: the first sync reads every row.
    #[default]
    Clean,
    /// An older sync's damage: a cursor past rows it never stored (see the module doc).
    CursorPastUnstored,
}

/// Rows of each creator's inherited block that the old sync stored.
pub const INHERITED_STORED: u32 = 10;
/// At most this many rows of the block, in its middle, that it skipped (drawn per creator).
pub const SKIPPED_MAX: u32 = 5;
/// The inherited rows are this far apart, the newest a day before the history span begins.
const SPACING_MS: i64 = 3_600_000;
const GAP_MS: i64 = 86_400_000;

/// The rows each model was given unstored behind its cursor: model name → (oldest date, ids).
/// Emptied for a model once its cursor is seen reset to before them.
pub type Inherited = Arc<Mutex<BTreeMap<String, (i64, BTreeSet<String>)>>>;

/// Builds the damaged start, when the configuration asks for it: draws each creator's skipped
/// count and amounts, appends the inherited block to its ledger (before the history, which is
/// newer), and writes what the old sync left in the database. Draws nothing on a clean start.
pub fn damage(sim: &Sim, env: &Env) {
    if env.cfg.start != Start::CursorPastUnstored {
        return;
    }
    let (cfg, provider) = (&env.cfg, &env.provider);
    let epoch = i64::try_from(sim.config().epoch_ms).unwrap_or(0);
    let newest = epoch - i64::try_from(cfg.history_span.0).unwrap_or(0) - GAP_MS;
    for m in env.models.iter() {
        let (skipped, amounts): (u32, Vec<i64>) = sim.choose(|o| {
            let skipped = o.below(u64::from(SKIPPED_MAX) + 1) as u32;
            let amounts = (0..INHERITED_STORED + skipped).map(|_| super::actors::amount(o, cfg)).collect();
            (skipped, amounts)
        });
        let total = INHERITED_STORED + skipped;
        let first_skipped = INHERITED_STORED / 2;
        let (mut stored, mut lost) = (Vec::new(), BTreeSet::new());
        for (i, gross) in amounts.into_iter().enumerate() {
            let i = i as u32;
            let date = newest - i64::from(total - 1 - i) * SPACING_MS;
            let source = Source::SALES[i as usize % Source::SALES.len()];
            let Some(id) = provider.add_history(&m.creator, date, gross, source, &format!("fan-{:03}", 900 + i)) else {
                continue;
            };
            if (first_skipped..first_skipped + skipped).contains(&i) {
                lost.insert(id);
            } else if let Some(row) = provider.with_ledger(&m.creator, |l| l.get(&id).cloned()).flatten() {
                stored.push(TxRow {
                    fanvue_id: row.id,
                    date_ms: row.date_ms,
                    amount: row.gross,
                    net: row.net,
                    source: row.source.as_str().to_string(),
                    related: None,
                });
            }
        }
        write(sim, env, m, &stored, newest + 1, epoch);
        if !lost.is_empty() {
            let oldest = newest - i64::from(total - 1 - first_skipped) * SPACING_MS;
            lock(&env.inherited).insert(m.name.clone(), (oldest, lost));
        }
        sim.record(Kind::State, super::actors::FANS, None, || {
            format!(
                "{}: the old sync left {} row(s) stored and {skipped} skipped behind its cursor {}",
                m.name,
                stored.len(),
                env.at(newest + 1)
            )
        });
    }
}

/// Writes what the old sync left for `m`: its stored rows, its cursor, its `revenue_total`.
fn write(sim: &Sim, env: &Env, m: &ModelInfo, stored: &[TxRow], cursor: i64, now: i64) {
    let written = env.db.given(|tx| units::store_page(tx, m.id, stored, true, Some(cursor), Stats::Recompute, now));
    if let Err(e) = written {
        // The given state could not be written: say so in the trace; the run's checks will
        // then judge a database that does not hold it.
        sim.record(Kind::State, super::actors::FANS, None, || format!("{}: the damaged start failed: {e}", m.name));
    }
}
