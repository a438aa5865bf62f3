//! The default sleeper: many waits share one thread; waits complete.

use std::time::Duration;

use futures::FutureExt as _;

use super::{Sleeper as _, ThreadSleeper};

/// Threads of this process (Linux: the entries of `/proc/self/task`).
#[cfg(target_os = "linux")]
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
}

#[cfg(target_os = "linux")]
#[test]
fn thousands_of_pending_waits_share_one_timer_thread() {
    let before = threads();
    let mut waits: Vec<_> = (0..2_000)
        .map(|_| ThreadSleeper.sleep(Duration::from_secs(60)))
        .collect();
    // Poll each once, as an executor would: this is when a wait registers.
    for wait in &mut waits {
        assert!(wait.now_or_never_ref().is_none(), "a 60 s wait ended at once");
    }
    let during = threads();
    // Other tests of this binary run in parallel and have their own threads,
    // so allow a few; a thread per wait would add 2,000.
    assert!(
        during <= before + 8,
        "2,000 pending waits took {} threads",
        during.saturating_sub(before)
    );
    drop(waits);
}

#[test]
fn a_wait_completes_after_its_duration() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let started = std::time::Instant::now();
    runtime.block_on(ThreadSleeper.sleep(Duration::from_millis(20)));
    assert!(
        started.elapsed() >= Duration::from_millis(20),
        "the wait ended early"
    );
}

/// Polls a boxed future once without consuming it.
trait PollOnce {
    fn now_or_never_ref(&mut self) -> Option<()>;
}

impl PollOnce for futures::future::BoxFuture<'static, ()> {
    fn now_or_never_ref(&mut self) -> Option<()> {
        self.as_mut().now_or_never()
    }
}
