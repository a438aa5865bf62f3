//! Unit tests of `AccessGate`: open, close, idle, a clock set back, listeners.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::AtomicUsize;

use super::*;

struct Counter(AtomicUsize);

impl GateListener for Counter {
    fn gate_closed(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn t(secs: u64) -> Timestamp {
    Timestamp::from_secs(secs)
}

#[test]
fn a_new_gate_is_closed_and_opens_on_unlock() {
    let gate = AccessGate::new(None);
    assert_eq!(gate.pass(t(10)), None);
    gate.open(t(10));
    let epoch = gate.pass(t(11)).expect("open");
    assert!(gate.still_open_since(epoch));
    gate.close();
    assert_eq!(gate.pass(t(12)), None);
    assert!(!gate.still_open_since(epoch));
}

#[test]
fn idle_closes_it_and_use_keeps_it_open() {
    let gate = AccessGate::new(Some(Duration::from_secs(60)));
    gate.open(t(0));
    assert!(gate.pass(t(50)).is_some());
    assert!(gate.pass(t(100)).is_some(), "used at 50 s: not idle at 100 s");
    assert_eq!(gate.pass(t(161)), None, "idle for 61 s");
    assert!(!gate.is_open());
}

#[test]
fn a_clock_set_back_closes_it() {
    let gate = AccessGate::new(None);
    gate.open(t(100));
    assert_eq!(gate.pass(t(99)), None);
    assert!(
        !gate.is_open(),
        "a clock set back closes the gate, not only refuses once"
    );
    assert_eq!(gate.pass(t(101)), None, "and it stays closed");
}

#[test]
fn closing_tells_live_listeners_once() {
    let gate = AccessGate::new(None);
    let counter = Arc::new(Counter(AtomicUsize::new(0)));
    let weak: Weak<dyn GateListener> = Arc::downgrade(&(counter.clone() as Arc<dyn GateListener>));
    gate.listen(weak);
    gate.close();
    assert_eq!(
        counter.0.load(Ordering::SeqCst),
        0,
        "a closed gate closing again tells nobody"
    );
    gate.open(t(1));
    gate.close();
    gate.close();
    assert_eq!(counter.0.load(Ordering::SeqCst), 1);
    // A listener dropped is forgotten: only live ones stay listed.
    drop(counter);
    assert_eq!(
        gate.state.listeners.lock().unwrap().len(),
        1,
        "still listed until the next pass"
    );
    gate.open(t(2));
    gate.close();
    assert!(
        gate.state.listeners.lock().unwrap().is_empty(),
        "a dropped listener is forgotten"
    );
}
