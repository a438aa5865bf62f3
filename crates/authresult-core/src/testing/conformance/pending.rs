//! The pending logins port's checks ([`PendingLoginStore`]).

use super::{T0, assert_same_pending, sample_pending};
use crate::{PendingLoginStore, Timestamp};

/// A pending login is taken once, whole (secret included).
pub async fn pending_is_single_use<S: PendingLoginStore + ?Sized>(store: &S) {
    let pending = sample_pending("t", "p", "state-1", T0.saturating_add_secs(600));
    store.put_pending(&pending).await.expect("put_pending");
    let now = T0.saturating_add_secs(1);
    let taken = store
        .take_pending(&"t".into(), "state-1", now)
        .await
        .expect("take");
    assert_same_pending(&taken.expect("pending login"), &pending);
    assert!(
        store
            .take_pending(&"t".into(), "state-1", now)
            .await
            .expect("take")
            .is_none(),
        "a state is taken once"
    );
    assert!(
        store
            .take_pending(&"t".into(), "unknown", now)
            .await
            .expect("take")
            .is_none()
    );
}

/// A pending login expired at `now` (expiry == now included) is refused.
pub async fn pending_expires<S: PendingLoginStore + ?Sized>(store: &S) {
    let expires = T0.saturating_add_secs(600);
    store
        .put_pending(&sample_pending("t", "p", "late", expires))
        .await
        .expect("put");
    store
        .put_pending(&sample_pending("t", "p", "edge", expires))
        .await
        .expect("put");
    store
        .put_pending(&sample_pending("t", "p", "early", expires))
        .await
        .expect("put");
    let taken = store
        .take_pending(&"t".into(), "late", expires.saturating_add_secs(1))
        .await
        .expect("take");
    assert!(taken.is_none(), "expired pending login refused");
    assert!(
        store
            .take_pending(&"t".into(), "edge", expires)
            .await
            .expect("take")
            .is_none(),
        "a pending login has expired at its expiry"
    );
    let just_before = Timestamp::from_millis(expires.as_millis() - 1);
    assert!(
        store
            .take_pending(&"t".into(), "early", just_before)
            .await
            .expect("take")
            .is_some(),
        "valid until its expiry"
    );
}

/// `purge_pending` drops exactly the expired pending logins.
pub async fn pending_purge<S: PendingLoginStore + ?Sized>(store: &S) {
    for (state, secs) in [("a", 10), ("b", 20), ("c", 30), ("d", 40)] {
        let pending = sample_pending("t", "p", state, T0.saturating_add_secs(secs));
        store.put_pending(&pending).await.expect("put");
    }
    store
        .put_pending(&sample_pending("u", "p", "e", T0.saturating_add_secs(15)))
        .await
        .expect("put");
    assert_eq!(
        store.purge_pending(T0).await.expect("purge"),
        0,
        "nothing expired yet"
    );
    assert_eq!(
        store
            .purge_pending(T0.saturating_add_secs(20))
            .await
            .expect("purge"),
        3
    );
    assert_eq!(
        store
            .purge_pending(T0.saturating_add_secs(20))
            .await
            .expect("purge"),
        0
    );
    let now = T0.saturating_add_secs(21);
    assert!(
        store
            .take_pending(&"t".into(), "a", now)
            .await
            .expect("take")
            .is_none()
    );
    assert!(
        store
            .take_pending(&"t".into(), "c", now)
            .await
            .expect("take")
            .is_some()
    );
    assert!(
        store
            .take_pending(&"t".into(), "d", now)
            .await
            .expect("take")
            .is_some()
    );
}

/// A pending login belongs to its tenant; another tenant cannot take it.
pub async fn pending_is_per_tenant<S: PendingLoginStore + ?Sized>(store: &S) {
    let expires = T0.saturating_add_secs(600);
    store
        .put_pending(&sample_pending("a", "p", "same", expires))
        .await
        .expect("put");
    store
        .put_pending(&sample_pending("b", "p", "same", expires))
        .await
        .expect("put");
    let taken = store
        .take_pending(&"b".into(), "same", T0)
        .await
        .expect("take")
        .expect("b's login");
    assert_eq!(taken.key.tenant.as_str(), "b");
    assert!(
        store
            .take_pending(&"c".into(), "same", T0)
            .await
            .expect("take")
            .is_none()
    );
    let taken = store
        .take_pending(&"a".into(), "same", T0)
        .await
        .expect("take")
        .expect("a's login");
    assert_eq!(taken.key.tenant.as_str(), "a");
}

/// A pending login that never expires is kept by a purge far in the future.
pub async fn pending_extreme_times<S: PendingLoginStore + ?Sized>(store: &S) {
    let far = Timestamp::from_millis(u64::MAX / 4);
    store
        .put_pending(&sample_pending("t", "p", "forever", Timestamp::MAX))
        .await
        .expect("put");
    assert_eq!(store.purge_pending(far).await.expect("purge"), 0);
    assert!(
        store
            .take_pending(&"t".into(), "forever", far)
            .await
            .expect("take")
            .is_some()
    );
}
