//! The usernames port's checks ([`UsernameStore`]).

use super::sample_session;
use crate::{StoreBackend, TenantId, UsernameStore};

/// Usernames are per tenant; set, overwrite, clear.
pub async fn username_per_tenant<S: UsernameStore + ?Sized>(store: &S) {
    let (a, b): (TenantId, TenantId) = ("a".into(), "b".into());
    assert!(
        store.username(&a).await.expect("username").is_none(),
        "no username"
    );
    store.set_username(&a, Some("alice".into())).await.expect("set");
    store.set_username(&b, Some("bob".into())).await.expect("set");
    assert_eq!(store.username(&a).await.expect("get").as_deref(), Some("alice"));
    store.set_username(&a, Some("alice2".into())).await.expect("set");
    assert_eq!(store.username(&a).await.expect("get").as_deref(), Some("alice2"));
    store.set_username(&a, None).await.expect("clear");
    assert_eq!(store.username(&a).await.expect("get"), None);
    store.set_username(&a, None).await.expect("clear twice");
    assert_eq!(
        store.username(&b).await.expect("get").as_deref(),
        Some("bob"),
        "other tenant kept"
    );
}

/// Tenant names with quotes, wildcards, separators and non-ASCII are plain data.
pub async fn unusual_username_tenants<S: UsernameStore + ?Sized>(store: &S) {
    let names = ["it's", "100%", "a_b", "x/y", "Ω≈ç√", "semi;colon\"--", " spaced "];
    for name in names {
        store
            .set_username(&name.into(), Some(name.to_owned()))
            .await
            .expect("username");
    }
    for name in names {
        assert_eq!(
            store.username(&name.into()).await.expect("username").as_deref(),
            Some(name)
        );
    }
}

/// A backend keeping both jobs: removing a tenant's sessions keeps its username.
pub async fn remove_tenant_keeps_the_username<S: StoreBackend + ?Sized>(store: &S) {
    store.put(&sample_session("two", "a", 7)).await.expect("put");
    store
        .set_username(&"two".into(), Some("bob".into()))
        .await
        .expect("username");
    assert_eq!(
        store.remove_tenant(&"two".into()).await.expect("remove_tenant"),
        1
    );
    assert_eq!(
        store.username(&"two".into()).await.expect("username").as_deref(),
        Some("bob")
    );
}
