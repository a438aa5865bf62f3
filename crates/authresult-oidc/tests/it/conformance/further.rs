//! The other OpenID Foundation RP test modules that apply to a native
//! client on the code flow (they belong to the implicit, hybrid, form-post
//! and dynamic plans), and the further hostile answers the suite plays
//! beyond the plans (ids `authresult-...`): an expired or week-old ID
//! token, a key not in the set, an unknown `kid` after a refetch, the
//! RFC 9207 `iss` of the authorization response, and the device grant.

use authresult_core::FailureKind;
use authresult_oidc::OidcError;

use super::flow::{Rp, id_token_refused, refused};
use super::op::{Callback, HostileOp, KeySet, Signing, Twist};
use crate::support::{ClaimsExt as _, fast_options, now};

async fn refused_with(twist: Twist, word: &str) -> HostileOp {
    let op = HostileOp::start(twist).await;
    id_token_refused(&Rp::of(&op), word).await;
    op
}

/// `oidcc-client-test-invalid-athash`: `at_hash` does not match the access token.
#[tokio::test]
async fn oidcc_client_test_invalid_athash() {
    let twist = Twist {
        login_claims: Some(|c| c.with("at_hash", "AAAAAAAAAAAAAAAAAAAAAA")),
        ..Twist::default()
    };
    refused_with(twist, "`at_hash` claim does not match").await;
}

/// `oidcc-client-test-missing-aud`: the ID token has no `aud`.
#[tokio::test]
async fn oidcc_client_test_missing_aud() {
    let twist = Twist {
        login_claims: Some(|c| c.without("aud")),
        ..Twist::default()
    };
    refused_with(twist, "`aud` claim (audience) is missing").await;
}

/// `oidcc-client-test-invalid-sig-es256`: the ES256 signature is invalid.
#[tokio::test]
async fn oidcc_client_test_invalid_sig_es256() {
    let twist = Twist {
        signing: Signing::TamperedEs256,
        keys: KeySet::RsaAndEc,
        ..Twist::default()
    };
    refused_with(twist, "invalid token signature").await;
}

/// `oidcc-client-test-invalid-sig-hs256`: HS256 keyed by the client secret
/// (published key sets never yield symmetric keys; HMAC is not allowed).
#[tokio::test]
async fn oidcc_client_test_invalid_sig_hs256() {
    let twist = Twist {
        signing: Signing::ClientSecretHs256,
        ..Twist::default()
    };
    refused_with(twist, "`hs256` is not allowed").await;
}

/// `oidcc-client-test-nonce-unless-code-flow`: the client sends a nonce
/// (on the code flow too) and requires it back.
#[tokio::test]
async fn oidcc_client_test_nonce_unless_code_flow() {
    let op = refused_with(
        Twist {
            login_claims: Some(|c| c.without("nonce")),
            ..Twist::default()
        },
        "`nonce` claim is missing",
    )
    .await;
    let sent = op.seen(|s| s.authorizations[0].clone());
    assert!(sent.query_pairs().any(|(k, v)| k == "nonce" && v.len() >= 22));
}

/// `oidcc-client-test-userinfo-bearer-header`: the access token goes to
/// userinfo in the `Authorization: Bearer` header only.
#[tokio::test]
async fn oidcc_client_test_userinfo_bearer_header() {
    let op = HostileOp::start(Twist::default()).await;
    let mut options = fast_options();
    options.fetch_userinfo = true;
    Rp::with_options(&op, options).code_login().await.unwrap();
    let (header, query) = op.seen(|s| s.userinfo_requests[0].clone());
    assert_eq!(header.as_deref(), Some("Bearer at-1"));
    assert_eq!(query, None, "no token in the query");
}

/// `oidcc-client-test-form-post-error`, in the response mode a native
/// client uses (query): the authorization response carries an error; it
/// is refused with the provider's code, no token request, no session.
#[tokio::test]
async fn oidcc_client_test_form_post_error() {
    let op = HostileOp::start(Twist {
        callback: Callback::Error,
        ..Twist::default()
    })
    .await;
    let rp = Rp::of(&op);
    let result = rp.code_login().await;
    refused(
        &result,
        |e| matches!(e, OidcError::AuthorizationDenied { .. }),
        result.as_ref().err().map_or(FailureKind::Protocol, |e| e.kind()),
        "access_denied",
    );
    assert!(rp.session().await.is_none());
    assert_eq!(op.seen(|s| s.token_requests.len()), 0);
}

/// `authresult-expired-exp`: the ID token expired.
#[tokio::test]
async fn authresult_expired_exp() {
    let twist = Twist {
        login_claims: Some(|c| c.with("exp", now() - 600).with("iat", now() - 900)),
        ..Twist::default()
    };
    refused_with(twist, "the id token expired").await;
}

/// `authresult-iat-far-past`: `iat` a week ago (`exp` still ahead).
#[tokio::test]
async fn authresult_iat_far_past() {
    let twist = Twist {
        login_claims: Some(|c| c.with("iat", now() - 7 * 24 * 3600)),
        ..Twist::default()
    };
    refused_with(twist, "issued too long ago").await;
}

/// `authresult-key-not-in-set`: signed by a key the set does not hold,
/// under the `kid` of one it does.
#[tokio::test]
async fn authresult_key_not_in_set() {
    let twist = Twist {
        signing: Signing::KeyNotInSet,
        ..Twist::default()
    };
    refused_with(twist, "invalid token signature").await;
}

/// `authresult-unknown-kid`: after a good login (the keys cached), an ID
/// token under a `kid` the set never has: one refetch, then refused.
#[tokio::test]
async fn authresult_unknown_kid() {
    let op = HostileOp::start(Twist {
        signing: Signing::UnknownKidAfterFirst,
        ..Twist::default()
    })
    .await;
    let rp = Rp::of(&op);
    let first = rp.code_login().await.unwrap();
    assert_eq!(op.seen(|s| s.jwks_fetches), 1);
    let result = rp.code_login().await;
    refused(
        &result,
        |e| matches!(e, OidcError::InvalidIdToken { .. }),
        FailureKind::Protocol,
        "no key of the issuer matches",
    );
    assert_eq!(op.seen(|s| s.jwks_fetches), 2, "one refetch, then refused");
    let kept = rp.session().await.unwrap();
    assert!(kept.same_login(&first), "the first login's session stays");
}

/// `authresult-authorization-response-other-iss`: the authorization
/// response's `iss` names another issuer (RFC 9207, mix-up): refused before
/// the code is exchanged.
#[tokio::test]
async fn authresult_authorization_response_other_iss() {
    let op = HostileOp::start(Twist {
        callback: Callback::OtherIss,
        ..Twist::default()
    })
    .await;
    let rp = Rp::of(&op);
    let result = rp.code_login().await;
    refused(
        &result,
        |e| matches!(e, OidcError::InvalidCallback { .. }),
        FailureKind::Protocol,
        "names another issuer (RFC 9207)",
    );
    assert!(rp.session().await.is_none());
    assert_eq!(op.seen(|s| s.token_requests.len()), 0);
}

/// `authresult-authorization-response-no-iss`: no `iss` although the
/// provider advertises it (RFC 9207): refused before the exchange.
#[tokio::test]
async fn authresult_authorization_response_no_iss() {
    let op = HostileOp::start(Twist {
        callback: Callback::NoIss,
        ..Twist::default()
    })
    .await;
    let rp = Rp::of(&op);
    let result = rp.code_login().await;
    refused(
        &result,
        |e| matches!(e, OidcError::InvalidCallback { .. }),
        FailureKind::Protocol,
        "`iss` parameter is missing",
    );
    assert!(rp.session().await.is_none());
    assert_eq!(op.seen(|s| s.token_requests.len()), 0);
}

/// `authresult-device-grant`: the device grant (RFC 8628): pending, then
/// approved; the ID token verified like a code login's.
#[tokio::test]
async fn authresult_device_grant() {
    let op = HostileOp::start(Twist::default()).await;
    let rp = Rp::of(&op);
    let session = rp.device_login().await.unwrap();
    assert_eq!(session.subject.as_deref(), Some(super::op::SUBJECT));
    assert_eq!(op.seen(|s| s.device_authorizations), 1);
    assert_eq!(
        op.seen(|s| s.token_requests.len()),
        2,
        "one pending poll, one approved"
    );
    assert!(rp.session().await.is_some());
}

/// `authresult-device-grant-invalid-aud`: the device grant's ID token is
/// for another client: refused, no session.
#[tokio::test]
async fn authresult_device_grant_invalid_aud() {
    let op = HostileOp::start(Twist {
        login_claims: Some(|c| c.with("aud", "another-client")),
        ..Twist::default()
    })
    .await;
    let rp = Rp::of(&op);
    let result = rp.device_login().await;
    refused(
        &result,
        |e| matches!(e, OidcError::InvalidIdToken { .. }),
        FailureKind::Protocol,
        "does not name this client",
    );
    assert!(rp.session().await.is_none(), "no session is kept");
}
