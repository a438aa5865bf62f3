//! Resource headers: bound or bearer, the nonce kept per origin, a lost or
//! unreadable key ends the session (never a bearer fall-back).
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use url::Url;

use crate::testing::FakeProvider;
use crate::{
    AccessToken, AuthManager, AuthResult, DpopBinding, DpopPrivateKey, Error, ManualClock, MemoryStore,
    NonceStore as _, ProofRequest, ProofSigner, SessionKey, SessionStore as _, Timestamp,
};

const T0: u64 = 1_700_000_000;

/// Writes what it was asked to sign, so the test sees every input.
#[derive(Debug, Default)]
struct RecordingSigner {
    seen: Mutex<Vec<String>>,
}

impl ProofSigner for RecordingSigner {
    fn sign_proof(&self, key: &DpopBinding, request: &ProofRequest<'_>) -> Result<String, Error> {
        if key.key.secret() == "unreadable" {
            return Err(Error::DpopKeyUnusable {
                provider: String::new(),
                reason: "the key does not read as pkcs#8",
            });
        }
        let line = format!(
            "{} {} nonce={:?} ath={:?} iat={}",
            request.method,
            request.url,
            request.nonce,
            request.access_token,
            request.now.as_secs()
        );
        self.seen.lock().unwrap().push(line.clone());
        Ok(format!("proof:{line}"))
    }
}

struct Fixture {
    store: Arc<MemoryStore>,
    signer: Arc<RecordingSigner>,
    manager: AuthManager,
}

fn fixture() -> Fixture {
    let store = Arc::new(MemoryStore::new());
    let signer = Arc::new(RecordingSigner::default());
    let clock = ManualClock::new(Timestamp::from_secs(T0));
    let manager = AuthManager::builder("tenant-a", store.clone())
        .provider("kc", Arc::new(FakeProvider::new()))
        .clock(Arc::new(clock.clone()))
        .sleeper(Arc::new(clock))
        .margin(Duration::from_secs(30))
        .proof_signer(signer.clone())
        .build();
    Fixture {
        store,
        signer,
        manager,
    }
}

fn binding(key: &str, bound: bool) -> DpopBinding {
    DpopBinding {
        alg: "ES256".into(),
        key: DpopPrivateKey::new(key),
        bound,
    }
}

fn auth(token: &str, dpop: Option<DpopBinding>) -> AuthResult {
    let mut auth = AuthResult::new(AccessToken::new(token), 3600);
    auth.dpop = dpop;
    auth
}

/// A JWT-shaped token (unsigned: only peeked) with `cnf.jkt`.
fn bound_jwt() -> String {
    let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    format!(
        "{}.{}.sig",
        b64(r#"{"alg":"ES256"}"#),
        b64(r#"{"sub":"u","cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}"#)
    )
}

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

#[tokio::test]
async fn a_bound_session_gets_dpop_headers_with_the_token_hash_input() {
    let f = fixture();
    f.manager
        .import("kc", auth("at-1", Some(binding("k", true))))
        .await
        .unwrap();
    let headers = f
        .manager
        .resource_headers("kc", "POST", &url("https://api.example.org/sync?x=1"))
        .await
        .unwrap();
    assert_eq!(headers.authorization, "DPoP at-1");
    assert!(headers.is_bound());
    let seen = f.signer.seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [format!(
            "POST https://api.example.org/sync?x=1 nonce=None ath=Some(\"at-1\") iat={T0}"
        )]
    );
    let debug = format!("{headers:?}");
    assert!(!debug.contains("at-1") && !debug.contains("proof:"), "{debug}");
}

#[tokio::test]
async fn an_unbound_session_is_bearer_even_with_a_key() {
    let f = fixture();
    // DPoP was on, the provider answered a bearer token: the key is kept, unused.
    f.manager
        .import("kc", auth("at-1", Some(binding("k", false))))
        .await
        .unwrap();
    let headers = f
        .manager
        .resource_headers("kc", "GET", &url("https://api.example.org/"))
        .await
        .unwrap();
    assert_eq!(headers.authorization, "Bearer at-1");
    assert!(headers.dpop.is_none());
    assert!(f.signer.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_recorded_nonce_goes_into_the_next_proof_of_that_origin_only() {
    let f = fixture();
    f.manager
        .import("kc", auth("at-1", Some(binding("k", true))))
        .await
        .unwrap();
    let api = url("https://api.example.org/records");
    f.manager.record_dpop_nonce(&api, "n-42").await.unwrap();
    // Kept in the store, per origin: another process of the app sees it.
    assert_eq!(
        f.store
            .dpop_nonce(&"tenant-a".into(), "https://api.example.org")
            .await
            .unwrap()
            .as_deref(),
        Some("n-42")
    );
    f.manager.resource_headers("kc", "GET", &api).await.unwrap();
    f.manager
        .resource_headers("kc", "GET", &url("https://other.example.org/x"))
        .await
        .unwrap();
    let seen = f.signer.seen.lock().unwrap().clone();
    assert!(seen[0].contains("nonce=Some(\"n-42\")"), "{seen:?}");
    assert!(seen[1].contains("nonce=None"), "{seen:?}");
}

#[tokio::test]
async fn a_nonce_that_is_not_one_is_refused_and_not_kept() {
    let f = fixture();
    let api = url("https://api.example.org/");
    for bad in ["", "has space", "quote\"", &"x".repeat(2000)] {
        let err = f.manager.record_dpop_nonce(&api, bad).await.unwrap_err();
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
    }
    assert!(
        f.store
            .dpop_nonce(&"tenant-a".into(), "https://api.example.org")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn an_unreadable_key_ends_the_session_never_bearer() {
    let f = fixture();
    f.manager
        .import("kc", auth("at-1", Some(binding("unreadable", true))))
        .await
        .unwrap();
    let err = f
        .manager
        .resource_headers("kc", "GET", &url("https://api.example.org/"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DpopKeyUnusable { .. }), "{err:?}");
    assert!(err.is_terminal());
    assert!(
        f.store
            .get(&SessionKey::new("tenant-a", "kc"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_bound_token_without_its_key_ends_the_session_never_bearer() {
    let f = fixture();
    // The key was lost (a row edited, a key dropped): the token names one.
    f.manager.import("kc", auth(&bound_jwt(), None)).await.unwrap();
    let err = f
        .manager
        .resource_headers("kc", "GET", &url("https://api.example.org/"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DpopKeyUnusable { .. }), "{err:?}");
    assert!(
        f.store
            .get(&SessionKey::new("tenant-a", "kc"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_bound_session_without_a_signer_is_a_configuration_error() {
    let store = Arc::new(MemoryStore::new());
    let manager = AuthManager::builder("tenant-a", store)
        .provider("kc", Arc::new(FakeProvider::new()))
        .build();
    manager
        .import("kc", auth("at-1", Some(binding("k", true))))
        .await
        .unwrap();
    let err = manager
        .resource_headers("kc", "GET", &url("https://api.example.org/"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig { .. }), "{err:?}");
}

/// The provider answered `token_type: Bearer` (or `bound` was flipped in
/// the store) but the token names a key (`cnf.jkt`) and the session holds
/// one: the token goes out with a proof by that key, not as bearer, and
/// the login is not thrown away as if the key were lost.
#[tokio::test]
async fn a_token_naming_a_key_goes_out_bound_with_the_key_the_session_holds() {
    let f = fixture();
    f.manager
        .import("kc", auth(&bound_jwt(), Some(binding("k", false))))
        .await
        .unwrap();
    let headers = f
        .manager
        .resource_headers("kc", "GET", &url("https://api.example.org/"))
        .await
        .unwrap();
    assert!(headers.is_bound());
    assert!(headers.authorization.starts_with("DPoP "));
    assert!(
        f.store
            .get(&SessionKey::new("tenant-a", "kc"))
            .await
            .unwrap()
            .is_some()
    );
}
