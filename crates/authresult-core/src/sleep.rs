//! Waiting without an async runtime: used only while another process holds
//! the refresh lease.

use std::fmt::Debug;
use std::time::Duration;

use futures::FutureExt as _;
use futures::channel::oneshot;
use futures::future::BoxFuture;

use crate::time::ManualClock;

/// Something that can wait, injected so tests never sleep.
pub trait Sleeper: Send + Sync + Debug {
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// Sleeps on a short-lived helper thread, so it works under any executor.
/// Lease waits are rare (another process refreshing the same session), so a
/// thread per wait is cheap enough and keeps the core free of a runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadSleeper;

impl Sleeper for ThreadSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        let (tx, rx) = oneshot::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("authresult-sleep".into())
            .spawn(move || {
                std::thread::sleep(duration);
                let _ = tx.send(());
            });
        match spawned {
            Ok(_) => rx.map(|_| ()).boxed(),
            // No thread to be had: return at once; the caller's loop is bounded.
            Err(_) => futures::future::ready(()).boxed(),
        }
    }
}

impl Sleeper for ManualClock {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.advance(duration);
        futures::future::ready(()).boxed()
    }
}
