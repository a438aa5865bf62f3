//! The revocation queue's checks ([`RevocationQueue`], through the rules of
//! [`RevocationQueueExt`]).

use std::time::Duration;

use super::{T0, sample_revocation};
use crate::{
    AccessToken, Exposed, MAX_PENDING_REVOCATIONS, PendingRevocation, Retention, RevocableToken,
    RevocationQueue, RevocationQueueExt as _, TenantId, Timestamp,
};

/// Pending revocations come back whole (token included), oldest first and
/// per tenant; writing the same id replaces; removing is once.
pub async fn revocations_round_trip<S: RevocationQueue + ?Sized>(store: &S) {
    let tenant: TenantId = "t".into();
    let later = T0.saturating_add(Duration::from_secs(1));
    let refresh = sample_revocation("t", "p", "b", false, T0);
    let access = sample_revocation("t", "q", "a", true, later);
    store.put_pending_revocation(&access).await.expect("put");
    store.put_pending_revocation(&refresh).await.expect("put");
    store
        .put_pending_revocation(&sample_revocation("other", "p", "c", false, T0))
        .await
        .expect("put");
    let found = store.pending_revocations(&tenant, T0).await.expect("list");
    assert_eq!(ids(&found), ["b", "a"], "oldest first, this tenant only");
    assert!(
        revocation_json(&found[0]) == revocation_json(&refresh)
            && revocation_json(&found[1]) == revocation_json(&access),
        "a pending revocation differs from what was written"
    );
    // The same id again replaces it.
    let mut replaced = sample_revocation("t", "p", "b", true, T0);
    replaced.token = RevocableToken::Access(AccessToken::new("replacement"));
    store.put_pending_revocation(&replaced).await.expect("put");
    let found = store.pending_revocations(&tenant, T0).await.expect("list");
    assert_eq!(found.len(), 2, "replaced, not added");
    assert_eq!(found[0].token.secret(), "replacement");
    // Expired ones are not listed.
    let after_refresh = refresh.expires_at;
    assert_eq!(
        ids(&store
            .pending_revocations(&tenant, after_refresh)
            .await
            .expect("list")),
        ["a"]
    );
    assert!(store.remove_revocation(&tenant, "b").await.expect("remove"));
    assert!(!store.remove_revocation(&tenant, "b").await.expect("remove"));
    assert!(
        !store
            .remove_revocation(&"other".into(), "a")
            .await
            .expect("remove")
    );
    assert_eq!(
        ids(&store.pending_revocations(&tenant, T0).await.expect("list")),
        ["a"]
    );
    assert_eq!(
        ids(&store
            .pending_revocations(&"other".into(), T0)
            .await
            .expect("list")),
        ["c"]
    );
}

/// A tenant keeps at most `MAX_PENDING_REVOCATIONS`: a write drops the
/// expired ones, then the oldest; other tenants are untouched.
pub async fn revocations_are_bounded<S: RevocationQueue + ?Sized>(store: &S) {
    let tenant: TenantId = "t".into();
    store
        .put_pending_revocation(&sample_revocation("other", "p", "keep", false, T0))
        .await
        .expect("put");
    let total = MAX_PENDING_REVOCATIONS + 3;
    for n in 0..total {
        let at = T0.saturating_add(Duration::from_secs(n as u64));
        store
            .put_pending_revocation(&sample_revocation("t", "p", &format!("{n:03}"), n % 2 == 0, at))
            .await
            .expect("put");
    }
    let found = store.pending_revocations(&tenant, T0).await.expect("list");
    assert_eq!(found.len(), MAX_PENDING_REVOCATIONS, "capped");
    assert_eq!(found[0].id, "003", "the oldest went first");
    assert_eq!(
        found.last().map(|r| r.id.as_str()),
        Some(format!("{:03}", total - 1).as_str())
    );
    // Written two hours later: the ones expired by then are dropped from the store.
    let late = T0.saturating_add(Duration::from_secs(7200));
    store
        .put_pending_revocation(&sample_revocation("t", "p", "late", false, late))
        .await
        .expect("put");
    assert_eq!(
        ids(&store
            .pending_revocations(&tenant, Timestamp::EPOCH)
            .await
            .expect("list")),
        ["late"],
        "expired ones are dropped by the next write"
    );
    assert_eq!(
        store
            .pending_revocations(&"other".into(), Timestamp::EPOCH)
            .await
            .expect("list")
            .len(),
        1,
        "other tenants untouched"
    );
}

fn revocation_json(revocation: &PendingRevocation) -> serde_json::Value {
    serde_json::to_value(Exposed(revocation)).expect("a pending revocation serializes")
}

fn ids(revocations: &[PendingRevocation]) -> Vec<&str> {
    revocations.iter().map(|r| r.id.as_str()).collect()
}

/// The ids of the tenant's stored entries, sorted.
async fn stored_ids<S: RevocationQueue + ?Sized>(store: &S, tenant: &TenantId) -> Vec<String> {
    let mut ids: Vec<String> = store
        .revocations(tenant)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.id)
        .collect();
    ids.sort();
    ids
}

/// The storage operation applies the [`Retention`] it is given, whatever
/// it is: expired entries first, then all but the newest `keep`.
pub async fn revocations_keep_what_they_are_told<S: RevocationQueue + ?Sized>(store: &S) {
    let tenant: TenantId = "t".into();
    let at = |secs: u64| T0.saturating_add(Duration::from_secs(secs));
    let keep_two = |expired_at| Retention { expired_at, keep: 2 };
    for (n, id) in ["a", "b", "c"].into_iter().enumerate() {
        let written = sample_revocation("t", "p", id, false, at(n as u64));
        store.push_revocation(&written, keep_two(T0)).await.expect("push");
    }
    assert_eq!(
        stored_ids(store, &tenant).await,
        ["b", "c"],
        "the newest two kept"
    );
    // The same created_at as "b": the greater id is the newer.
    store
        .push_revocation(&sample_revocation("t", "p", "d", false, at(1)), keep_two(T0))
        .await
        .expect("push");
    assert_eq!(stored_ids(store, &tenant).await, ["c", "d"], "ties broken by id");
    // Expired at the given instant: dropped before counting.
    let late = sample_revocation("t", "p", "e", false, at(7200));
    store
        .push_revocation(&late, keep_two(at(7200)))
        .await
        .expect("push");
    assert_eq!(stored_ids(store, &tenant).await, ["e"], "expired ones dropped");
}
