//! The nonces port's checks ([`NonceStore`]), and the DPoP key of a stored
//! session ([`dpop_key_round_trips`]).

use super::{assert_same_session, sample_session};
use crate::{DpopBinding, DpopPrivateKey, NonceStore, SessionStore, TenantId};

/// Nonces are per tenant and origin; a new one replaces the last.
pub async fn nonces_per_tenant_and_origin<S: NonceStore + ?Sized>(store: &S) {
    let (a, b): (TenantId, TenantId) = ("a".into(), "b".into());
    let idp = "https://idp.example.org";
    let api = "https://api.example.org:8443";
    assert_eq!(
        store.dpop_nonce(&a, idp).await.expect("nonce"),
        None,
        "no nonce yet"
    );
    store.set_dpop_nonce(&a, idp, "n-1").await.expect("set");
    store.set_dpop_nonce(&a, api, "api-1").await.expect("set");
    store.set_dpop_nonce(&b, idp, "other-tenant").await.expect("set");
    assert_eq!(
        store.dpop_nonce(&a, idp).await.expect("get").as_deref(),
        Some("n-1")
    );
    store.set_dpop_nonce(&a, idp, "n-2").await.expect("replace");
    assert_eq!(
        store.dpop_nonce(&a, idp).await.expect("get").as_deref(),
        Some("n-2"),
        "the last nonce wins"
    );
    assert_eq!(
        store.dpop_nonce(&a, api).await.expect("get").as_deref(),
        Some("api-1")
    );
    assert_eq!(
        store.dpop_nonce(&b, idp).await.expect("get").as_deref(),
        Some("other-tenant"),
        "tenants do not share nonces"
    );
}

/// Origins and nonces with quotes, wildcards and the longest allowed nonce
/// are plain data.
pub async fn unusual_nonces<S: NonceStore + ?Sized>(store: &S) {
    let tenant: TenantId = "it's 100%".into();
    let long = "x".repeat(crate::MAX_DPOP_NONCE_LEN);
    let cases = [
        ("https://a_b.example", "a'b;--%_"),
        ("http://[::1]:8080", "!#$&()*+,-./:;<=>?@[]^_`{|}~"),
        ("https://long.example", long.as_str()),
    ];
    for (origin, nonce) in cases {
        store.set_dpop_nonce(&tenant, origin, nonce).await.expect("set");
    }
    for (origin, nonce) in cases {
        assert_eq!(
            store.dpop_nonce(&tenant, origin).await.expect("get").as_deref(),
            Some(nonce)
        );
    }
}

/// A session's DPoP key reads back as it was written, and a session
/// without one reads back without one.
pub async fn dpop_key_round_trips<S: SessionStore + ?Sized>(store: &S) {
    let mut session = sample_session("t", "bound", 1);
    session.auth.dpop = Some(DpopBinding {
        alg: "ES256".into(),
        key: DpopPrivateKey::new("MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg-sample-key"),
        bound: true,
    });
    store.put(&session).await.expect("put");
    let stored = store.get(&session.key).await.expect("get").expect("session");
    assert_same_session(&stored, &session);
    let kept = stored.auth.dpop.as_ref().expect("the DPoP key is kept");
    assert!(
        kept.bound && kept.same_key(session.auth.dpop.as_ref().expect("written")),
        "the same key, still bound"
    );
    let plain = sample_session("t", "plain", 2);
    store.put(&plain).await.expect("put");
    let stored = store.get(&plain.key).await.expect("get").expect("session");
    assert!(stored.auth.dpop.is_none(), "no key appears");
}
