//! The conformance suite for [`VaultStore`] backends: one behaviour for the
//! memory, SQLite and Postgres vault stores, and for any third-party one.
//!
//! A backend's tests call [`run_all`] with a function making two handles on
//! one fresh, empty backend ([`VaultHandles`]: two connections to one
//! database, two opens of one file, or one in-memory store twice), or the
//! single checks one by one. The first checks hold the port to its contract
//! (revisions, isolation, the time mark); the later ones run two
//! [`OfflineVault`](crate::OfflineVault)s, one per handle, like two
//! instances sharing the store, and force the interleavings that must not
//! let both pass a failure check or let a stale re-wrap win (see
//! `instances.rs`). The checks use a `ManualClock` and never sleep.
//!
//! The checks panic with a message naming the failed expectation, like
//! `assert!`; they are test code.

use std::future::Future;
use std::sync::Arc;

use authresult_core::{TenantId, UserId};
use futures::future::join_all;

use crate::VaultStore;

mod instances;
mod pause;

pub use instances::{
    a_clock_set_back_on_another_instance_extends_nothing, a_stale_lock_out_never_replaces_a_new_enrollment,
    a_stale_rewrap_does_not_replace_a_newer_one, a_stale_rewrap_does_not_undo_a_disable,
    failures_and_lock_out_are_shared_and_survive, the_last_attempt_is_taken_once,
    two_instances_never_pass_one_failure_check,
};

use authresult_core::testing::T0;

/// Two handles on one fresh, empty backend. For a backend with connections
/// or files, two separate ones (as two processes or instances would have);
/// for an in-memory one, the same store twice ([`VaultHandles::one`]).
#[derive(Clone)]
pub struct VaultHandles {
    /// The first handle (the only one the single-handle checks use).
    pub a: Arc<dyn VaultStore>,
    /// The second handle, onto the same records.
    pub b: Arc<dyn VaultStore>,
}

impl std::fmt::Debug for VaultHandles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultHandles").finish_non_exhaustive()
    }
}

impl VaultHandles {
    /// Two separate handles onto one backend.
    pub fn new(a: Arc<dyn VaultStore>, b: Arc<dyn VaultStore>) -> Self {
        VaultHandles { a, b }
    }

    /// One store used as both handles (an in-memory backend).
    pub fn one(store: Arc<dyn VaultStore>) -> Self {
        VaultHandles {
            a: Arc::clone(&store),
            b: store,
        }
    }
}

/// Runs every check, each on fresh handles from `make`.
pub async fn run_all<F, Fut>(mut make: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = VaultHandles>,
{
    missing_record(&make().await).await;
    create_once(&make().await).await;
    replace_needs_the_current_revision(&make().await).await;
    remove_then_create_again(&make().await).await;
    records_are_per_tenant_and_user(&make().await).await;
    record_text_round_trips(&make().await).await;
    handles_share_records(&make().await).await;
    concurrent_creates_have_one_winner(&make().await).await;
    concurrent_replaces_have_one_winner(&make().await).await;
    failures_and_lock_out_are_shared_and_survive(&make().await).await;
    a_clock_set_back_on_another_instance_extends_nothing(&make().await).await;
    two_instances_never_pass_one_failure_check(&make().await).await;
    the_last_attempt_is_taken_once(&make().await).await;
    a_stale_rewrap_does_not_replace_a_newer_one(&make().await).await;
    a_stale_rewrap_does_not_undo_a_disable(&make().await).await;
    a_stale_lock_out_never_replaces_a_new_enrollment(&make().await).await;
}

fn tenant(name: &str) -> TenantId {
    name.into()
}

fn user(name: &str) -> UserId {
    name.into()
}

/// The record and revision stored for `name` of tenant `t`.
async fn stored(store: &dyn VaultStore, t: &str, name: &str) -> Option<(String, u64)> {
    store
        .vault_record(&tenant(t), &user(name))
        .await
        .expect("vault_record")
}

async fn put(store: &dyn VaultStore, t: &str, name: &str, record: &str, expected: u64) -> bool {
    store
        .put_vault_record(&tenant(t), &user(name), record, expected)
        .await
        .expect("put_vault_record")
}

/// Nothing stored: no record, nothing to remove.
pub async fn missing_record(stores: &VaultHandles) {
    let store = &*stores.a;
    assert_eq!(stored(store, "t", "amina").await, None, "no record yet");
    assert!(
        !store
            .remove_vault_record(&tenant("t"), &user("amina"))
            .await
            .expect("remove_vault_record"),
        "removing a missing record answers false"
    );
}

/// A record is created over revision 0 once, at revision 1, as written.
pub async fn create_once(stores: &VaultHandles) {
    let store = &*stores.a;
    assert!(put(store, "t", "amina", "first", 0).await, "created over 0");
    assert_eq!(stored(store, "t", "amina").await, Some(("first".into(), 1)));
    assert!(
        !put(store, "t", "amina", "second", 0).await,
        "a second creation is refused"
    );
    assert_eq!(
        stored(store, "t", "amina").await,
        Some(("first".into(), 1)),
        "the refused creation changed nothing"
    );
}

/// A record is replaced only over the revision stored, which then rises by one.
pub async fn replace_needs_the_current_revision(stores: &VaultHandles) {
    let store = &*stores.a;
    assert!(put(store, "t", "amina", "r1", 0).await);
    assert!(put(store, "t", "amina", "r2", 1).await, "replaced over 1");
    assert_eq!(stored(store, "t", "amina").await, Some(("r2".into(), 2)));
    for stale in [0, 1, 3, u64::from(u32::MAX)] {
        assert!(
            !put(store, "t", "amina", "stale", stale).await,
            "a write over revision {stale} is refused when 2 is stored"
        );
    }
    assert_eq!(stored(store, "t", "amina").await, Some(("r2".into(), 2)));
    assert!(put(store, "t", "amina", "r3", 2).await);
    assert_eq!(stored(store, "t", "amina").await, Some(("r3".into(), 3)));
}

/// A removed record is gone; a new one starts again at revision 1, and a
/// write over the removed one's revision is refused.
pub async fn remove_then_create_again(stores: &VaultHandles) {
    let store = &*stores.a;
    assert!(put(store, "t", "amina", "r1", 0).await);
    assert!(put(store, "t", "amina", "r2", 1).await);
    assert!(
        store
            .remove_vault_record(&tenant("t"), &user("amina"))
            .await
            .expect("remove_vault_record")
    );
    assert_eq!(stored(store, "t", "amina").await, None);
    assert!(
        !put(store, "t", "amina", "stale", 2).await,
        "no write over a removed record's revision"
    );
    assert!(put(store, "t", "amina", "again", 0).await);
    assert_eq!(stored(store, "t", "amina").await, Some(("again".into(), 1)));
}

/// Records are kept per tenant and user, names compared exactly (quotes,
/// SQL wildcards, non-ASCII, spaces, the default user's empty name).
pub async fn records_are_per_tenant_and_user(stores: &VaultHandles) {
    let store = &*stores.a;
    let names = [
        "",
        "amina",
        "Amina",
        "it's",
        "100%",
        "a_b",
        "x/y",
        "Ω≈ç√",
        " spaced ",
    ];
    for t in ["t", "other"] {
        for name in names {
            assert!(
                put(store, t, name, &format!("{t}|{name}"), 0).await,
                "{t}/{name:?}"
            );
        }
    }
    for t in ["t", "other"] {
        for name in names {
            assert_eq!(
                stored(store, t, name).await,
                Some((format!("{t}|{name}"), 1)),
                "{t}/{name:?} holds its own record"
            );
        }
    }
    assert!(
        store
            .remove_vault_record(&tenant("t"), &user("100%"))
            .await
            .expect("remove_vault_record")
    );
    assert!(
        !store
            .remove_vault_record(&tenant("t"), &user("a%"))
            .await
            .expect("remove_vault_record"),
        "no pattern matching"
    );
    assert_eq!(stored(store, "t", "100%").await, None);
    assert_eq!(
        stored(store, "other", "100%").await,
        Some(("other|100%".into(), 1))
    );
    assert_eq!(stored(store, "t", "a_b").await, Some(("t|a_b".into(), 1)));
}

/// The record text comes back byte for byte, large and non-ASCII included.
pub async fn record_text_round_trips(stores: &VaultHandles) {
    let store = &*stores.a;
    let text: String = (0..4096)
        .map(|i| format!("{{\"n\":{i},\"s\":\"Ω'\\\" \\\\ %_\"}}"))
        .collect();
    assert!(put(store, "t", "amina", &text, 0).await);
    let (back, rev) = stored(store, "t", "amina").await.expect("the record");
    assert_eq!(rev, 1);
    assert!(back == text, "the record text changed on the way");
}

/// What one handle writes, the other reads and writes over.
pub async fn handles_share_records(stores: &VaultHandles) {
    let (a, b) = (&*stores.a, &*stores.b);
    assert!(put(a, "t", "amina", "from-a", 0).await);
    assert_eq!(stored(b, "t", "amina").await, Some(("from-a".into(), 1)));
    assert!(!put(b, "t", "amina", "from-b", 0).await, "b sees a's record");
    assert!(put(b, "t", "amina", "from-b", 1).await);
    assert!(!put(a, "t", "amina", "stale-a", 1).await, "a's revision is stale");
    assert_eq!(stored(a, "t", "amina").await, Some(("from-b".into(), 2)));
}

/// Creations racing on both handles: exactly one wins.
pub async fn concurrent_creates_have_one_winner(stores: &VaultHandles) {
    let writes = (0..8).map(|n| {
        let store = if n % 2 == 0 { &stores.a } else { &stores.b };
        let text = format!("writer-{n}");
        async move { (put(&**store, "t", "amina", &text, 0).await, text) }
    });
    let results = join_all(writes).await;
    let winners: Vec<&String> = results.iter().filter(|(won, _)| *won).map(|(_, t)| t).collect();
    assert_eq!(winners.len(), 1, "exactly one creation wins: {winners:?}");
    assert_eq!(
        stored(&*stores.a, "t", "amina").await,
        Some((winners[0].clone(), 1))
    );
}

/// Replacements over one revision racing on both handles: exactly one wins.
pub async fn concurrent_replaces_have_one_winner(stores: &VaultHandles) {
    assert!(put(&*stores.a, "t", "amina", "base", 0).await);
    let writes = (0..8).map(|n| {
        let store = if n % 2 == 0 { &stores.a } else { &stores.b };
        let text = format!("writer-{n}");
        async move { (put(&**store, "t", "amina", &text, 1).await, text) }
    });
    let results = join_all(writes).await;
    let winners: Vec<&String> = results.iter().filter(|(won, _)| *won).map(|(_, t)| t).collect();
    assert_eq!(winners.len(), 1, "exactly one replacement wins: {winners:?}");
    assert_eq!(
        stored(&*stores.b, "t", "amina").await,
        Some((winners[0].clone(), 2))
    );
}
