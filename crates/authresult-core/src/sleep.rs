//! Waiting without an async runtime: used only while another process holds
//! the refresh lease.

use std::fmt::Debug;
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::BoxFuture;

use crate::time::ManualClock;

/// Something that can wait, injected so tests never sleep.
pub trait Sleeper: Send + Sync + Debug {
    /// A future that completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// Sleeps on one timer thread shared by the whole process (`futures-timer`),
/// so it works under any executor and keeps the core free of a runtime.
///
/// Every wait of every manager is an entry in that thread's timer heap, not a
/// thread of its own: a refresh storm of thousands of sessions (each renewing
/// its lease while the provider answers) costs one thread, and a wait that is
/// dropped (its refresh finished first) is removed from the heap at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct ThreadSleeper;

impl Sleeper for ThreadSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        futures_timer::Delay::new(duration).boxed()
    }
}

impl Sleeper for ManualClock {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.advance(duration);
        futures::future::ready(()).boxed()
    }
}

#[cfg(test)]
mod tests;
