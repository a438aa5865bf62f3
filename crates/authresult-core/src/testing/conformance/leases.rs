//! The refresh lease port's checks ([`LeaseStore`]).

use std::time::Duration;

use super::{T0, key};
use crate::{LeaseStore, Timestamp};

/// Only one holder at a time; the holder may take it again (extending it).
pub async fn lease_has_one_holder<S: LeaseStore + ?Sized>(store: &S) {
    let k = key("t", "p");
    let ttl = Duration::from_secs(30);
    assert!(
        store.try_acquire_lease(&k, "one", T0, ttl).await.expect("lease"),
        "free lease taken"
    );
    assert!(
        !store.try_acquire_lease(&k, "two", T0, ttl).await.expect("lease"),
        "held lease refused"
    );
    let later = T0.saturating_add_secs(20);
    assert!(
        store
            .try_acquire_lease(&k, "one", later, ttl)
            .await
            .expect("lease"),
        "holder renews"
    );
    // Renewed at T0+20 for 30 s: still held at T0+40.
    let t40 = T0.saturating_add_secs(40);
    assert!(
        !store.try_acquire_lease(&k, "two", t40, ttl).await.expect("lease"),
        "renewed lease held"
    );
}

/// The lease of a holder that died (never released) expires after its TTL
/// (here zero, so the check holds whichever clock the backend measures it by).
pub async fn lease_of_dead_holder_expires<S: LeaseStore + ?Sized>(store: &S) {
    let k = key("t", "p");
    let ttl = Duration::from_secs(30);
    assert!(
        store
            .try_acquire_lease(&k, "dead", T0, Duration::ZERO)
            .await
            .expect("lease")
    );
    assert!(
        store.try_acquire_lease(&k, "next", T0, ttl).await.expect("lease"),
        "expired at its end"
    );
    assert!(
        !store.try_acquire_lease(&k, "dead", T0, ttl).await.expect("lease"),
        "old holder lost it"
    );
}

/// For backends that measure leases with the caller's `now` (memory,
/// SQLite: one machine): a lease expires exactly at `now + ttl`.
pub async fn lease_expires_on_the_callers_clock<S: LeaseStore + ?Sized>(store: &S) {
    let k = key("t", "p");
    let ttl = Duration::from_secs(30);
    assert!(store.try_acquire_lease(&k, "dead", T0, ttl).await.expect("lease"));
    let before = T0.saturating_add(Duration::from_millis(29_999));
    assert!(
        !store
            .try_acquire_lease(&k, "next", before, ttl)
            .await
            .expect("lease"),
        "not yet expired"
    );
    let at = T0.saturating_add(ttl);
    assert!(
        store.try_acquire_lease(&k, "next", at, ttl).await.expect("lease"),
        "expired at its end"
    );
    assert!(
        !store.try_acquire_lease(&k, "dead", at, ttl).await.expect("lease"),
        "old holder lost it"
    );
}

/// For backends shared by machines (Postgres), which measure leases with
/// their own clock: an instance whose clock is far ahead (or behind) cannot
/// take a live lease, and a live lease is not made to expire by a holder's
/// clock being behind. Assumes the check runs in much less than an hour.
pub async fn lease_ignores_the_callers_clock<S: LeaseStore + ?Sized>(store: &S) {
    let k = key("t", "p");
    let hour = Duration::from_secs(3600);
    let now = Timestamp::now();
    assert!(
        store
            .try_acquire_lease(&k, "one", now, hour)
            .await
            .expect("lease")
    );
    let far_ahead = now.saturating_add(Duration::from_secs(365 * 24 * 3600));
    assert!(
        !store
            .try_acquire_lease(&k, "fast", far_ahead, hour)
            .await
            .expect("lease"),
        "an instance with a fast clock took a live lease"
    );
    // A holder whose clock is far behind renews for a real hour, not one
    // that ended long ago.
    assert!(
        store
            .try_acquire_lease(&k, "one", Timestamp::EPOCH, hour)
            .await
            .expect("lease"),
        "holder renews"
    );
    assert!(
        !store
            .try_acquire_lease(&k, "fast", far_ahead, hour)
            .await
            .expect("lease"),
        "a lease renewed by a slow clock expired for a fast one"
    );
}

/// Only the holder releases; a released lease is free at once.
pub async fn lease_release<S: LeaseStore + ?Sized>(store: &S) {
    let k = key("t", "p");
    let ttl = Duration::from_secs(30);
    assert!(store.try_acquire_lease(&k, "one", T0, ttl).await.expect("lease"));
    store
        .release_lease(&k, "two")
        .await
        .expect("release by non-holder");
    assert!(
        !store.try_acquire_lease(&k, "two", T0, ttl).await.expect("lease"),
        "still held"
    );
    store.release_lease(&k, "one").await.expect("release");
    assert!(
        store.try_acquire_lease(&k, "two", T0, ttl).await.expect("lease"),
        "free after release"
    );
    store
        .release_lease(&key("t", "none"), "x")
        .await
        .expect("release of no lease");
}

/// Leases of different sessions (provider or tenant) are independent.
pub async fn lease_is_per_session<S: LeaseStore + ?Sized>(store: &S) {
    let ttl = Duration::from_secs(30);
    assert!(
        store
            .try_acquire_lease(&key("t", "a"), "one", T0, ttl)
            .await
            .expect("lease")
    );
    assert!(
        store
            .try_acquire_lease(&key("t", "b"), "two", T0, ttl)
            .await
            .expect("lease")
    );
    assert!(
        store
            .try_acquire_lease(&key("u", "a"), "three", T0, ttl)
            .await
            .expect("lease")
    );
}

/// "Forever" leases work and do not overflow.
pub async fn lease_extreme_times<S: LeaseStore + ?Sized>(store: &S) {
    let k = key("t", "p");
    assert!(
        store
            .try_acquire_lease(&k, "one", T0, Duration::MAX)
            .await
            .expect("lease")
    );
    let far = Timestamp::from_millis(u64::MAX / 4);
    assert!(
        !store
            .try_acquire_lease(&k, "two", far, Duration::MAX)
            .await
            .expect("lease")
    );
}
