//! The exchange's periodic chores (`callex serve` runs them): each one runs
//! at a fixed interval until aborted, and a run that fails is logged and
//! tried again at the next tick.

use std::future::Future;
use std::time::Duration;

use store::prelude::*;
use store::{now_millis, Provisioning};
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

/// How often ended portal sessions and expired provisioning links are
/// deleted.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// Deletes ended portal sessions and expired provisioning links (with
/// their sealed SIP passwords) every `interval`. Both are refused as soon
/// as they end; this keeps no secret longer than it serves.
pub fn purge_expired(store: Store, interval: Duration) -> JoinHandle<()> {
    every(interval, "deleting ended sessions and links", move || {
        let store = store.clone();
        async move {
            let now = now_millis();
            let sessions = store.purge_sessions(now).await?;
            let links = store.purge_links(now).await?;
            if sessions + links > 0 {
                tracing::debug!(sessions, links, "ended sessions and expired links deleted");
            }
            Ok(())
        }
    })
}
