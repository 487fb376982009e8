//! The simulated clock as actors read it: the paused runtime's instant, read once per instant.
//!
//! A run's runtime is paused, so its clock moves only when the runtime parks with every task
//! waiting and jumps to the next timer. Between two parks every read of the clock gives the same
//! instant, yet asking tokio costs a lock and two instant subtractions each time (1.25 % of a
//! `midtrans_hour` seed's instructions: it reads the clock some 1,800 times, and the clock moves
//! about 780 times). [`SimClock`] keeps the last reading and
//! reads again only after the runtime has unparked: the runtime's unpark hook raises a flag
//! ([`SimClock::unpark_hook`]), and the next [`SimClock::now_ms`] clears it and reads.
//!
//! Why that is exact: in a current-thread runtime the clock advances only inside `park` (when
//! the run queue is empty), which calls the unpark hook before any task runs again; the other
//! driver poll, `park_yield`, parks for zero time and so advances it by nothing. Nothing in a
//! run calls `tokio::time::advance`. A test below checks the cache against a fresh reading
//! through sleeps, yields, timers of tokio's own and wakes from other tasks.
//!
//! What it does not do: keep time itself, or work outside a paused runtime built with the hook
//! ([`SimClock::read`] is the plain reading for those cases).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::time::Instant;

/// The run's clock: milliseconds since `start` on the runtime's (paused) clock.
pub(crate) struct SimClock {
    start: Instant,
    /// Raised by the runtime's unpark hook: the clock may have moved since `ms` was read.
    moved: Arc<AtomicBool>,
    ms: AtomicU64,
}

impl SimClock {
    /// A clock starting now; `moved` is the flag the runtime's hook raises (see
    /// [`SimClock::unpark_hook`]).
    pub(crate) fn new(moved: Arc<AtomicBool>) -> SimClock {
        moved.store(true, Ordering::Relaxed);
        SimClock { start: Instant::now(), moved, ms: AtomicU64::new(0) }
    }

    /// The flag to share with a runtime, and the hook that raises it, for
    /// `Builder::on_thread_unpark`.
    pub(crate) fn unpark_hook() -> (Arc<AtomicBool>, impl Fn() + Send + Sync + 'static) {
        let moved = Arc::new(AtomicBool::new(true));
        let flag = moved.clone();
        (moved, move || flag.store(true, Ordering::Relaxed))
    }

    /// The instant the run started on.
    pub(crate) fn start(&self) -> Instant {
        self.start
    }

    /// Simulated milliseconds since the start, read from the runtime only when it has unparked
    /// since the last read.
    pub(crate) fn now_ms(&self) -> u64 {
        if self.moved.swap(false, Ordering::Relaxed) {
            let ms = self.read();
            self.ms.store(ms, Ordering::Relaxed);
            return ms;
        }
        self.ms.load(Ordering::Relaxed)
    }

    /// A fresh reading, without the cache.
    pub(crate) fn read(&self) -> u64 {
        Instant::now().saturating_duration_since(self.start).as_millis() as u64
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::sync::Notify;

    use super::SimClock;

    /// Every way a task of a run waits: its own timers, tokio's, yields, zero sleeps, and wakes
    /// from another task at a later instant. After each, the cached reading is the fresh one.
    #[test]
    fn the_cached_reading_is_the_fresh_one_after_every_kind_of_wait() {
        let (moved, hook) = SimClock::unpark_hook();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .on_thread_unpark(hook)
            .build()
            .unwrap();
        let checks = rt.block_on(async move {
            let clock = Arc::new(SimClock::new(moved));
            let notify = Arc::new(Notify::new());
            let mut tasks = Vec::new();
            for i in 0..8u64 {
                let (clock, notify) = (clock.clone(), notify.clone());
                tasks.push(tokio::spawn(async move {
                    let mut checks = 0;
                    let mut check = |clock: &SimClock| {
                        assert_eq!(clock.now_ms(), clock.read(), "task {i} after {checks} waits");
                        checks += 1;
                    };
                    for step in 0..50u64 {
                        match (i + step) % 6 {
                            0 => tokio::time::sleep(Duration::from_millis(1 + (i * 7 + step) % 13)).await,
                            1 => tokio::task::yield_now().await,
                            2 => tokio::time::sleep(Duration::ZERO).await,
                            3 => tokio::time::sleep_until(clock.start() + Duration::from_millis(step * 10)).await,
                            4 if i == 0 => notify.notify_waiters(),
                            4 => {
                                let _ = tokio::time::timeout(Duration::from_millis(17), notify.notified()).await;
                            }
                            _ => tokio::time::sleep(Duration::from_micros(300 + i)).await,
                        }
                        check(&clock);
                    }
                    checks
                }));
            }
            let mut checks = 0;
            for t in tasks {
                checks += t.await.unwrap();
            }
            assert!(clock.now_ms() > 100, "the clock moved: {} ms", clock.now_ms());
            checks
        });
        assert_eq!(checks, 400);
    }
}
