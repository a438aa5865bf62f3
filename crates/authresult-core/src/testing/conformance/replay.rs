//! The replay port's checks ([`ReplayCache`]).

use std::sync::Arc;

use super::T0;
use crate::{ReplayCache, Timestamp};

fn later(secs: u64) -> Timestamp {
    T0.saturating_add_secs(secs)
}

/// A value is a first use once; used again within its window, it is not.
pub async fn replay_first_use_once<S: ReplayCache + ?Sized>(store: &S) {
    assert!(
        store.first_use("jti-a", later(60), T0).await.expect("replay"),
        "a new value is a first use"
    );
    assert!(
        !store
            .first_use("jti-a", later(60), later(1))
            .await
            .expect("replay"),
        "the same value again is a replay"
    );
    assert!(
        !store
            .first_use("jti-a", later(120), later(59))
            .await
            .expect("replay"),
        "a replay just before expiry is a replay"
    );
    assert!(
        store
            .first_use("jti-b", later(60), later(1))
            .await
            .expect("replay"),
        "another value is a first use"
    );
}

/// Keys differing only by case or by a trailing character are distinct.
pub async fn replay_keys_are_exact<S: ReplayCache + ?Sized>(store: &S) {
    for key in ["Key", "key", "key ", "kéy", "k'ey\"; --"] {
        assert!(
            store.first_use(key, later(60), T0).await.expect("replay"),
            "{key:?} is its own value"
        );
    }
}

/// Of many concurrent first uses of one value, exactly one wins.
pub async fn replay_concurrent_first_use<S: ReplayCache + 'static>(store: Arc<S>) {
    let attempts = (0..16).map(|_| {
        let store = Arc::clone(&store);
        async move { store.first_use("raced", later(60), T0).await.expect("replay") }
    });
    let wins = futures::future::join_all(attempts)
        .await
        .into_iter()
        .filter(|won| *won)
        .count();
    assert_eq!(wins, 1, "one first use among concurrent ones");
}

/// An expired record no longer counts: the value is a first use again.
pub async fn replay_expires<S: ReplayCache + ?Sized>(store: &S) {
    assert!(store.first_use("old", later(10), T0).await.expect("replay"));
    assert!(
        store
            .first_use("old", later(30), later(10))
            .await
            .expect("replay"),
        "expired at its end"
    );
    assert!(
        !store
            .first_use("old", later(30), later(11))
            .await
            .expect("replay"),
        "the new record counts"
    );
}
