//! Plan `fapi2-security-profile-final-client-test-plan` (the FAPI 2.0
//! Security Profile's relying-party tests, plain FAPI, `private_key_jwt`,
//! DPoP, unsigned pushed requests, plain response mode): the client is
//! configured as a FAPI 2.0 client (DPoP required, PAR, `private_key_jwt`,
//! PKCE S256, PS256/ES256/EdDSA only) and runs against the hostile provider
//! as a FAPI 2.0 server (`op/fapi.rs`), which refuses any request that
//! breaks the profile. The resource request is the app's: the manager's
//! DPoP headers, one retry with the resource server's nonce.

use std::sync::Arc;
use std::time::Duration;

use authresult_core::{AuthManager, Error, FailureKind, LoginFlow, MemoryStore, Session};
use authresult_oidc::jwt::DpopSigner;
use authresult_oidc::{DpopNonces, LoopbackListener, OidcError};
use serde_json::{Value, json};
use url::Url;

use super::flow::{Rp, id_token_refused, refused};
use super::op::{CLIENT_ID, Callback, HostileOp, KeySet, SUBJECT, Signing, Twist};
use crate::support::{ClaimsExt as _, authorization_url, fast_options, now};

const TENANT: &str = "field-app";

/// A FAPI 2.0 provider (ES256 ID tokens) misbehaving as `twist` says.
fn fapi(twist: Twist) -> Twist {
    Twist {
        fapi: true,
        signing: Signing::Es256,
        keys: KeySet::RsaAndEc,
        ..twist
    }
}

async fn start(twist: Twist) -> HostileOp {
    HostileOp::start(fapi(twist)).await
}

/// The FAPI 2.0 client of `op`, behind a manager that signs DPoP proofs
/// for resource requests; nonces kept in the app's store.
fn fapi_rp(op: &HostileOp) -> Rp {
    let store = Arc::new(MemoryStore::new());
    let mut options = fast_options();
    options.dpop_nonces = Some(DpopNonces::new(TENANT, store.clone()));
    let provider = op.fapi_provider(options);
    let manager = AuthManager::builder(TENANT, store)
        .provider("p", Arc::new(provider.clone()))
        .proof_signer(Arc::new(DpopSigner::new()))
        .build();
    Rp { manager, provider }
}

/// The app's resource request (`GET /me`) with the manager's DPoP headers;
/// a `401` asking for a nonce (`WWW-Authenticate` scheme `DPoP` in any
/// case, RFC 9110 §11.1) is retried once with it. Answers the status and
/// whether a nonce was asked for.
async fn resource_get(rp: &Rp, op: &HostileOp) -> (u16, bool) {
    let url = Url::parse(&format!("{}/me", op.issuer())).unwrap();
    let client = reqwest::Client::new();
    let mut asked = false;
    for _attempt in 0..2 {
        let headers = rp.manager.resource_headers("p", "GET", &url).await.unwrap();
        assert!(
            headers.authorization.starts_with("DPoP "),
            "a bound token is never bearer"
        );
        let response = client
            .get(url.clone())
            .header("authorization", &headers.authorization)
            .header("dpop", headers.dpop.clone().expect("a proof"))
            .send()
            .await
            .unwrap();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let nonce = response.headers().get("dpop-nonce").and_then(|v| v.to_str().ok());
        let wants_nonce = challenge.split_once(' ').is_some_and(|(scheme, rest)| {
            scheme.eq_ignore_ascii_case("dpop") && rest.contains("use_dpop_nonce")
        });
        if response.status() == 401
            && wants_nonce
            && !asked
            && let Some(nonce) = nonce
        {
            rp.manager.record_dpop_nonce(&url, nonce).await.unwrap();
            asked = true;
            continue;
        }
        return (response.status().as_u16(), asked);
    }
    panic!("the resource server asked for a nonce twice");
}

/// A login that must succeed with a DPoP-bound token the resource server
/// accepts; answers the session.
async fn login_bound(op: &HostileOp) -> (Rp, Session) {
    let rp = fapi_rp(op);
    let session = rp.code_login().await.expect("the FAPI 2.0 login succeeds");
    assert_eq!(session.subject.as_deref(), Some(SUBJECT));
    let binding = session.auth.dpop.clone().expect("a DPoP key");
    assert!(binding.bound, "the provider bound the token to the key");
    assert_eq!(
        resource_get(&rp, op).await.0,
        200,
        "the resource server accepts the token"
    );
    assert!(op.seen(|s| s.resource_answers) >= 1);
    (rp, session)
}

/// A FAPI 2.0 login whose ID token is refused for the reason naming `word`.
async fn id_token_twist_refused(twist: Twist, word: &str) {
    let op = start(twist).await;
    id_token_refused(&fapi_rp(&op), word).await;
}

/// A login refused at the authorization response (`InvalidCallback`
/// naming `word`) before any token request.
async fn callback_refused(rp: &Rp, op: &HostileOp, word: &str) {
    let result = rp.code_login().await;
    refused(
        &result,
        |e| matches!(e, OidcError::InvalidCallback { .. }),
        FailureKind::Protocol,
        word,
    );
    assert!(rp.session().await.is_none(), "no session is kept");
    assert_eq!(op.seen(|s| s.token_requests.len()), 0, "no token request");
}

/// `fapi2-security-profile-final-client-test-happy-path`: the whole flow
/// as the profile wants it; the provider asks for DPoP nonces at the token
/// and resource endpoints.
#[tokio::test]
async fn fapi2_security_profile_final_client_test_happy_path() {
    let op = start(Twist::default()).await;
    let (_rp, session) = login_bound(&op).await;
    op.seen(|s| {
        // The request was pushed, authenticated, with PKCE S256; the browser
        // saw only `client_id` and `request_uri`.
        assert_eq!(s.pushed_requests.len(), 1);
        let pushed = &s.pushed_requests[0];
        assert_eq!(
            pushed.get("code_challenge_method").map(String::as_str),
            Some("S256")
        );
        assert!(pushed.contains_key("client_assertion") && !pushed.contains_key("client_secret"));
        let names: Vec<String> = s.authorizations[0]
            .query_pairs()
            .map(|(k, _)| k.into_owned())
            .collect();
        assert_eq!(names, ["client_id", "request_uri"]);
        // The token endpoint asked for a nonce once; the retry carried it.
        assert!(
            s.refusals.iter().all(|r| r == "use_dpop_nonce"),
            "{:?}",
            s.refusals
        );
        assert_eq!(s.token_requests.len(), 2);
        assert!(s.token_requests.iter().all(|(basic, form)| basic.is_none()
            && form.contains_key("client_assertion")
            && !form.contains_key("client_secret")));
    });
    assert!(session.auth.access_token.secret().starts_with("at-"));
}

/// `fapi2-security-profile-final-client-test-discovery-issuer-mismatch`.
#[tokio::test]
async fn fapi2_security_profile_final_client_test_discovery_issuer_mismatch() {
    let op = start(Twist {
        discovery_issuer: Some("https://op.attacker.example"),
        ..Twist::default()
    })
    .await;
    let rp = fapi_rp(&op);
    let result = rp.code_login().await;
    refused(
        &result,
        |e| matches!(e, OidcError::IssuerMismatch { .. }),
        FailureKind::Configuration,
        "not the configured",
    );
    assert!(rp.session().await.is_none());
    assert_eq!(op.seen(|s| s.pushed_requests.len() + s.authorizations.len()), 0);
}

/// `fapi2-security-profile-final-client-test-invalid-iss`.
#[tokio::test]
async fn fapi2_security_profile_final_client_test_invalid_iss() {
    let twist = Twist {
        login_claims: Some(|c| c.with("iss", "https://op.attacker.example")),
        ..Twist::default()
    };
    id_token_twist_refused(twist, "`iss` claim names another issuer").await;
}

/// `fapi2-security-profile-final-client-test-invalid-aud`.
#[tokio::test]
async fn fapi2_security_profile_final_client_test_invalid_aud() {
    let twist = Twist {
        login_claims: Some(|c| c.with("aud", "another-client")),
        ..Twist::default()
    };
    id_token_twist_refused(twist, "does not name this client").await;
}

/// `fapi2-security-profile-final-client-test-invalid-secondary-aud`: `aud`
/// lists this client and an untrusted one (with `azp`, so the refusal is
/// the audience's).
#[tokio::test]
async fn fapi2_security_profile_final_client_test_invalid_secondary_aud() {
    let twist = Twist {
        login_claims: Some(|c| {
            c.with("aud", json!([CLIENT_ID, "untrusted-client"]))
                .with("azp", CLIENT_ID)
        }),
        ..Twist::default()
    };
    id_token_twist_refused(twist, "names an untrusted audience").await;
}

/// `fapi2-security-profile-final-client-test-invalid-null-alg`.
#[tokio::test]
async fn fapi2_security_profile_final_client_test_invalid_null_alg() {
    let op = HostileOp::start(Twist {
        signing: Signing::AlgNone,
        ..fapi(Twist::default())
    })
    .await;
    id_token_refused(&fapi_rp(&op), "`none` is not allowed").await;
}

/// `fapi2-security-profile-final-client-test-invalid-alternate-alg`: the ID
/// token is signed RS256 by a published key; FAPI 2.0 allows PS256, ES256
/// and EdDSA only.
#[tokio::test]
async fn fapi2_security_profile_final_client_test_invalid_alternate_alg() {
    let op = HostileOp::start(Twist {
        signing: Signing::Good,
        ..fapi(Twist::default())
    })
    .await;
    id_token_refused(&fapi_rp(&op), "signature algorithm `rs256` is not allowed").await;
}

/// `fapi2-security-profile-final-client-test-invalid-expired-exp`.
#[tokio::test]
async fn fapi2_security_profile_final_client_test_invalid_expired_exp() {
    let twist = Twist {
        login_claims: Some(|c| c.with("exp", now() - 600).with("iat", now() - 900)),
        ..Twist::default()
    };
    id_token_twist_refused(twist, "the id token expired").await;
}

/// `fapi2-security-profile-final-client-test-invalid-missing-exp`.
#[tokio::test]
async fn fapi2_security_profile_final_client_test_invalid_missing_exp() {
    let twist = Twist {
        login_claims: Some(|c| c.without("exp")),
        ..Twist::default()
    };
    id_token_twist_refused(twist, "`exp` claim is missing").await;
}

/// `fapi2-security-profile-final-client-test-invalid-missing-aud`.
#[tokio::test]
async fn fapi2_security_profile_final_client_test_invalid_missing_aud() {
    let twist = Twist {
        login_claims: Some(|c| c.without("aud")),
        ..Twist::default()
    };
    id_token_twist_refused(twist, "`aud` claim (audience) is missing").await;
}

/// `fapi2-security-profile-final-client-test-invalid-missing-iss`.
#[tokio::test]
async fn fapi2_security_profile_final_client_test_invalid_missing_iss() {
    let twist = Twist {
        login_claims: Some(|c| c.without("iss")),
        ..Twist::default()
    };
    id_token_twist_refused(twist, "`iss` claim (issuer) is missing").await;
}

/// `fapi2-security-profile-final-client-test-valid-aud-as-array`: `aud` is
/// `[client_id]`; the login succeeds.
#[tokio::test]
async fn fapi2_security_profile_final_client_test_valid_aud_as_array() {
    let op = start(Twist {
        login_claims: Some(|c| c.with("aud", json!([CLIENT_ID]))),
        ..Twist::default()
    })
    .await;
    login_bound(&op).await;
}

/// `fapi2-security-profile-final-client-test-invalid-nonce`.
#[tokio::test]
async fn fapi2_security_profile_final_client_test_invalid_nonce() {
    let twist = Twist {
        login_claims: Some(|c| c.with("nonce", "not-the-nonce-sent")),
        ..Twist::default()
    };
    id_token_twist_refused(twist, "`nonce` claim does not match").await;
}

/// `fapi2-security-profile-final-client-test-invalid-missing-nonce`: the
/// client sent a nonce (the pushed request carries it); the ID token has
/// none.
#[tokio::test]
async fn fapi2_security_profile_final_client_test_invalid_missing_nonce() {
    let twist = Twist {
        login_claims: Some(|c| c.without("nonce")),
        ..Twist::default()
    };
    id_token_twist_refused(twist, "`nonce` claim is missing").await;
}

/// `fapi2-security-profile-final-client-test-invalid-authorization-response-iss`.
#[tokio::test]
async fn fapi2_security_profile_final_client_test_invalid_authorization_response_iss() {
    let op = start(Twist {
        callback: Callback::OtherIss,
        ..Twist::default()
    })
    .await;
    callback_refused(&fapi_rp(&op), &op, "names another issuer (RFC 9207)").await;
}

/// `fapi2-security-profile-final-client-test-remove-authorization-response-iss`.
#[tokio::test]
async fn fapi2_security_profile_final_client_test_remove_authorization_response_iss() {
    let op = start(Twist {
        callback: Callback::NoIss,
        ..Twist::default()
    })
    .await;
    callback_refused(&fapi_rp(&op), &op, "`iss` parameter is missing").await;
}

/// The browser brings back the provider's redirect; the loopback listener
/// must not take it for the login's, and the manager, handed it anyway,
/// must refuse it (no pending login for another `state`; a missing `state`
/// named), before any token request.
async fn state_refused(callback: Callback) {
    let op = start(Twist {
        callback,
        ..Twist::default()
    })
    .await;
    let rp = fapi_rp(&op);
    let listener = LoopbackListener::bind("/callback").await.unwrap();
    let pending = rp
        .manager
        .begin_login_with(
            "p",
            LoginFlow::AuthorizationCode,
            Some(listener.redirect_uri().clone()),
            Default::default(),
        )
        .await
        .unwrap();
    let state = pending.state.clone();
    let waiting =
        tokio::spawn(async move { listener.wait_for_callback(&state, Duration::from_secs(2)).await });
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = browser.get(authorization_url(&pending)).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 302);
    let location = Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap();
    let landed = browser.get(location.clone()).send().await.unwrap();
    assert_ne!(landed.status().as_u16(), 200, "the listener refuses the redirect");
    assert!(
        waiting.await.unwrap().is_err(),
        "the listener answers no callback"
    );
    let error = rp.manager.handle_callback(&location).await.unwrap_err();
    match callback {
        // Another login's `state`: no pending login is found for it.
        Callback::OtherState => assert!(matches!(error, Error::UnknownLoginState), "{error:?}"),
        _ => assert!(
            matches!(&error, Error::InvalidCallback { reason } if reason.contains("`state` parameter is missing")),
            "{error:?}"
        ),
    }
    assert_eq!(error.kind(), FailureKind::Protocol);
    assert!(rp.session().await.is_none(), "no session is kept");
    assert_eq!(op.seen(|s| s.token_requests.len()), 0, "no token request");
}

/// `fapi2-security-profile-final-client-test-ensure-authorization-response-with-invalid-state-fails`.
#[tokio::test]
async fn fapi2_security_profile_final_client_test_ensure_authorization_response_with_invalid_state_fails() {
    state_refused(Callback::OtherState).await;
}

/// `fapi2-security-profile-final-client-test-ensure-authorization-response-with-invalid-missing-state-fails`.
#[tokio::test]
async fn fapi2_security_profile_final_client_test_ensure_authorization_response_with_invalid_missing_state_fails()
 {
    state_refused(Callback::NoState).await;
}

/// `fapi2-security-profile-final-client-test-token-endpoint-response-without-expires_in`:
/// the login succeeds without a lifetime.
#[tokio::test]
async fn fapi2_security_profile_final_client_test_token_endpoint_response_without_expires_in() {
    let op = start(Twist {
        token_response: Some(|t| t.without("expires_in")),
        ..Twist::default()
    })
    .await;
    let (_rp, session) = login_bound(&op).await;
    assert_eq!(session.auth.expires_in, 0, "no lifetime is invented");
}

/// `fapi2-security-profile-final-client-test-token-type-case-insensitivity`:
/// `token_type` `dPoP` is DPoP (RFC 6749 §5.1: case-insensitive).
#[tokio::test]
async fn fapi2_security_profile_final_client_test_token_type_case_insensitivity() {
    let op = start(Twist {
        token_response: Some(|t| t.with("token_type", "dPoP")),
        ..Twist::default()
    })
    .await;
    login_bound(&op).await;
}

/// `fapi2-security-profile-final-client-test-rs-dpop-auth-scheme-case-insensitivity`:
/// the resource server asks for a nonce under the scheme `dPoP`; the app
/// records it through the manager and the retry is accepted.
#[tokio::test]
async fn fapi2_security_profile_final_client_test_rs_dpop_auth_scheme_case_insensitivity() {
    let op = start(Twist {
        rs_nonce_scheme: Some("dPoP"),
        ..Twist::default()
    })
    .await;
    let rp = fapi_rp(&op);
    rp.code_login().await.unwrap();
    assert_eq!(resource_get(&rp, &op).await, (200, true));
}

/// `fapi2-security-profile-final-client-test-happy-path-no-dpop-nonce`: no
/// server asks for a nonce; the first token request is accepted and no
/// proof carries one.
#[tokio::test]
async fn fapi2_security_profile_final_client_test_happy_path_no_dpop_nonce() {
    let op = start(Twist {
        no_dpop_nonce: true,
        ..Twist::default()
    })
    .await;
    let (rp, _session) = login_bound(&op).await;
    assert_eq!(resource_get(&rp, &op).await, (200, false));
    op.seen(|s| {
        assert!(s.refusals.is_empty(), "{:?}", s.refusals);
        assert_eq!(s.token_requests.len(), 1);
        let proof = s.token_proofs[0].as_deref().unwrap();
        let claims = proof.split('.').nth(1).unwrap();
        let claims: Value = serde_json::from_slice(&base64_url(claims)).unwrap();
        assert!(claims.get("nonce").is_none(), "{claims}");
    });
}

fn base64_url(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

/// `fapi2-security-profile-final-client-refresh-token-test`: a refresh with
/// a DPoP proof by the session's key and `private_key_jwt`; the new token
/// is bound to the same key and accepted by the resource server.
#[tokio::test]
async fn fapi2_security_profile_final_client_refresh_token_test() {
    let op = start(Twist::default()).await;
    let (rp, session) = login_bound(&op).await;
    let refreshed = rp.manager.refresh("p").await.unwrap();
    assert_ne!(
        refreshed.auth.access_token.secret(),
        session.auth.access_token.secret()
    );
    let binding = refreshed.auth.dpop.clone().unwrap();
    assert!(binding.bound && binding.same_key(session.auth.dpop.as_ref().unwrap()));
    assert_eq!(resource_get(&rp, &op).await.0, 200);
    op.seen(|s| {
        let (basic, form) = s.token_requests.last().unwrap();
        assert_eq!(form.get("grant_type").map(String::as_str), Some("refresh_token"));
        assert!(basic.is_none() && form.contains_key("client_assertion"));
    });
}
