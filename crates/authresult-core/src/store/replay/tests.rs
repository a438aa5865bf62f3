//! Unit tests of the memory replay cache: the port contract and its bound.

#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use super::*;
use crate::testing::run_replay;

fn t(secs: u64) -> Timestamp {
    Timestamp::from_secs(1_700_000_000 + secs)
}

#[tokio::test]
async fn memory_cache_keeps_the_port_contract() {
    run_replay(|| async { MemoryReplayCache::new(64) }).await;
}

#[tokio::test]
async fn a_full_cache_refuses_rather_than_forgets_a_live_value() {
    let cache = MemoryReplayCache::new(2);
    assert!(cache.first_use("a", t(60), t(0)).await.unwrap());
    assert!(cache.first_use("b", t(60), t(0)).await.unwrap());
    let full = cache.first_use("c", t(60), t(1)).await.unwrap_err();
    assert!(full.is_transient(), "full is try-again-later: {full}");
    // Nothing live was forgotten to make room.
    assert!(!cache.first_use("a", t(60), t(2)).await.unwrap());
    assert!(!cache.first_use("b", t(60), t(2)).await.unwrap());
}

#[tokio::test]
async fn a_full_cache_makes_room_from_expired_values_first() {
    let cache = MemoryReplayCache::new(2);
    assert!(cache.first_use("short", t(10), t(0)).await.unwrap());
    assert!(cache.first_use("long", t(100), t(0)).await.unwrap());
    assert!(cache.first_use("new", t(100), t(20)).await.unwrap());
    assert_eq!(cache.len(), 2);
    assert!(
        !cache.first_use("long", t(100), t(21)).await.unwrap(),
        "the live value stays"
    );
}

#[tokio::test]
async fn expired_values_behind_a_live_one_are_swept_when_full() {
    let cache = MemoryReplayCache::new(2);
    assert!(cache.first_use("long", t(100), t(0)).await.unwrap());
    assert!(cache.first_use("short", t(10), t(0)).await.unwrap());
    // "short" expired but sits behind "long" in the order.
    assert!(cache.first_use("new", t(100), t(20)).await.unwrap());
    assert!(!cache.first_use("long", t(100), t(21)).await.unwrap());
}
