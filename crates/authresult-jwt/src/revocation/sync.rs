//! The task keeping a [`RevocationList`](super::RevocationList)'s index in
//! step with its shared [`LogoutList`](authresult_core::LogoutList): the
//! feed's notices as they come, a reload each time the feed is (re)opened
//! (so nothing recorded while it was down is missed), a periodic reload in
//! any case, and, while the feed cannot be opened, a reload at each retry.

use std::sync::Weak;
use std::time::Duration;

use futures::StreamExt;

use super::Shared;

pub(super) fn spawn(shared: Weak<Shared>, reload: Duration, resubscribe: Duration) {
    tokio::spawn(run(shared, reload, resubscribe));
}

async fn run(weak: Weak<Shared>, reload: Duration, resubscribe: Duration) {
    loop {
        let Some(shared) = weak.upgrade() else { return };
        let feed = shared.list.subscribe().await;
        // Read the list after the feed opened: what was recorded before is
        // in the list, what comes after is in the feed.
        reload_now(&shared).await;
        let Ok(mut feed) = feed else {
            tracing::warn!(
                event = "revocation.subscribe",
                outcome = "failed",
                "logout notifications unavailable; reloading"
            );
            drop(shared);
            tokio::time::sleep(resubscribe).await;
            continue;
        };
        drop(shared);
        let mut tick = tokio::time::interval(reload);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                notice = feed.next() => {
                    let Some(shared) = weak.upgrade() else { return };
                    match notice {
                        Some(logout) => {
                            tracing::debug!(event = "revocation.notice", "logout notice received");
                            shared.index.apply(&logout, shared.clock.now());
                        }
                        // The feed is lost: open a new one (and reload).
                        None => {
                            tracing::warn!(event = "revocation.subscribe", outcome = "lost", "logout notifications lost; resubscribing");
                            break;
                        }
                    }
                }
                _ = tick.tick() => {
                    let Some(shared) = weak.upgrade() else { return };
                    reload_now(&shared).await;
                }
            }
        }
        tokio::time::sleep(resubscribe).await;
    }
}

/// Reads the whole list and purges the expired entries; a failed read keeps
/// what the index holds.
async fn reload_now(shared: &Shared) {
    let now = shared.clock.now();
    match shared.list.load(now).await {
        Ok(logouts) => {
            tracing::debug!(
                event = "revocation.reload",
                outcome = "ok",
                entries = logouts.len(),
                "logout list reloaded"
            );
            shared.index.replace(logouts, now);
        }
        Err(e) => {
            tracing::warn!(event = "revocation.reload", outcome = "failed", error = %e, "logout list reload failed")
        }
    }
    // Any instance may purge; a failure only leaves expired rows to the next.
    let _ = shared.list.purge(now).await;
}
