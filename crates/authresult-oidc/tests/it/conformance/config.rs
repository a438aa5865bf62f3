//! The OpenID Foundation's Config RP plan (`oidcc-client-config-certification-test-plan`,
//! response type `code`): discovery, the key set it names, an issuer that
//! does not match, and signing-key rotation. Its `oidcc-client-test-idtoken-sig-none`
//! is the Basic plan's test (`basic.rs`).

use authresult_core::FailureKind;
use authresult_oidc::OidcError;

use super::flow::{Rp, refused};
use super::op::{HostileOp, Rotation, SUBJECT, Twist};

/// `oidcc-client-test-discovery-openid-config`: the client reads the
/// provider's configuration and uses the endpoints it lists.
#[tokio::test]
async fn oidcc_client_test_discovery_openid_config() {
    let op = HostileOp::start(Twist::default()).await;
    let rp = Rp::of(&op);
    let endpoints = rp.provider.discover().await.unwrap();
    assert_eq!(
        endpoints.authorization_endpoint.as_str(),
        format!("{}/auth", op.issuer())
    );
    let session = rp.code_login().await.unwrap();
    assert_eq!(session.subject.as_deref(), Some(SUBJECT));
    assert_eq!(op.seen(|s| s.authorizations.len()), 1);
    assert_eq!(op.seen(|s| s.token_requests.len()), 1);
}

/// `oidcc-client-test-discovery-jwks-uri-keys`: the key set is fetched
/// from the `jwks_uri` discovery names (a path new for every provider, so
/// only discovery can give it).
#[tokio::test]
async fn oidcc_client_test_discovery_jwks_uri_keys() {
    let op = HostileOp::start(Twist::default()).await;
    let rp = Rp::of(&op);
    rp.code_login().await.unwrap();
    assert_eq!(op.seen(|s| s.jwks_fetches), 1);
}

/// `oidcc-client-test-discovery-issuer-mismatch`: discovery reports an
/// issuer other than the configured one; the client stops before sending
/// the user anywhere.
#[tokio::test]
async fn oidcc_client_test_discovery_issuer_mismatch() {
    let op = HostileOp::start(Twist {
        discovery_issuer: Some("https://op.attacker.example"),
        ..Twist::default()
    })
    .await;
    let rp = Rp::of(&op);
    let result = rp.code_login().await;
    refused(
        &result,
        |e| matches!(e, OidcError::IssuerMismatch { .. }),
        FailureKind::Configuration,
        "not the configured",
    );
    assert!(rp.session().await.is_none());
    assert_eq!(op.seen(|s| s.authorizations.len()), 0);
}

/// Two logins; the provider rotates its key as `rotation` says. Both pass,
/// the second after one refetch of the key set (an unknown `kid`).
async fn two_logins_across_a_rotation(rotation: Rotation) {
    let op = HostileOp::start(Twist {
        rotation,
        ..Twist::default()
    })
    .await;
    let rp = Rp::of(&op);
    rp.code_login().await.unwrap();
    assert_eq!(op.seen(|s| s.jwks_fetches), 1);
    let second = rp.code_login().await.unwrap();
    assert_eq!(second.subject.as_deref(), Some(SUBJECT));
    assert!(op.seen(|s| s.rotated));
    assert_eq!(op.seen(|s| s.jwks_fetches), 2, "one refetch for the new kid");
}

/// `oidcc-client-test-signing-key-rotation-just-before-signing`: the key
/// rotates right before the second ID token is signed.
#[tokio::test]
async fn oidcc_client_test_signing_key_rotation_just_before_signing() {
    two_logins_across_a_rotation(Rotation::BeforeSecondIdToken).await;
}

/// `oidcc-client-test-signing-key-rotation`: the key rotates after the
/// first ID token is issued.
#[tokio::test]
async fn oidcc_client_test_signing_key_rotation() {
    two_logins_across_a_rotation(Rotation::AfterFirstIdToken).await;
}
