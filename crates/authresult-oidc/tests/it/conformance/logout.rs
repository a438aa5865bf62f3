//! The OpenID Foundation's RP-Initiated Logout RP plan
//! (`oidcc-client-rp-initiated-logout-certification-test-plan`, code): the
//! client ends its session and sends the browser to the end-session
//! endpoint. Its `-other-state` and `-no-state` tests do not apply: the
//! client sends no `state` there (the plan skips them then).

use super::flow::Rp;
use super::op::{CLIENT_ID, HostileOp, Twist};

/// `oidcc-client-test-rp-init-logout`: login, then logout: the session is
/// gone and the end-session URL carries `id_token_hint`, `client_id` and
/// the registered `post_logout_redirect_uri`, which the provider takes.
#[tokio::test]
async fn oidcc_client_test_rp_init_logout() {
    let op = HostileOp::start(Twist::default()).await;
    let rp = Rp::of(&op);
    let session = rp.code_login().await.unwrap();
    let id_token = session.auth.id_token.as_ref().unwrap().secret().to_owned();
    let report = rp.manager.logout("p").await.unwrap();
    assert!(report.removed);
    assert!(rp.session().await.is_none());
    let url = report.end_session_url.unwrap();
    assert!(url.as_str().starts_with(&format!("{}/logout", op.issuer())));
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert!(query.contains(&("id_token_hint".into(), id_token)));
    assert!(query.contains(&("client_id".into(), CLIENT_ID.into())));
    assert!(query.contains(&(
        "post_logout_redirect_uri".into(),
        "http://127.0.0.1:53998/logged-out".into()
    )));
    assert!(!query.iter().any(|(k, _)| k == "state"));
    assert_eq!(reqwest::get(url).await.unwrap().status().as_u16(), 200);
    assert_eq!(op.seen(|s| s.end_sessions.len()), 1);
}
