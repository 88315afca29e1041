//! The exchange's periodic chores (`callex serve` runs them): each one runs
//! at a fixed interval until aborted, and a run that fails is logged and
//! tried again at the next tick.

use std::future::Future;
use std::time::Duration;

use store::now_millis;
use store::prelude::*;
use tokio::task::JoinHandle;

/// Runs `job` now and then every `every` until the task is aborted; a
/// failure is logged as "`what` failed".
pub fn every<F, Fut>(every: Duration, what: &'static str, mut job: F) -> JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), StoreError>> + Send,
{
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(err) = job().await {
                tracing::warn!(error = %err, "{what} failed; the next run tries again");
            }
        }
    })
}

/// How often ended portal sessions are deleted.
pub const SESSION_PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// Deletes ended portal sessions every `interval`. (They are refused as
/// soon as they end; this only keeps the table small.)
pub fn purge_sessions(store: Store, interval: Duration) -> JoinHandle<()> {
    every(interval, "deleting ended portal sessions", move || {
        let store = store.clone();
        async move {
            let purged = store.purge_sessions(now_millis()).await?;
            if purged > 0 {
                tracing::debug!(purged, "ended portal sessions deleted");
            }
            Ok(())
        }
    })
}
