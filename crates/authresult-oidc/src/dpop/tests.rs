//! When a login makes a key, and which answers keep it.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use super::*;

fn algs(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn the_mode_and_discovery_decide_the_key() {
    let es = JwsAlgorithm::Es256;
    let advertised = algs(&["ES256", "EdDSA"]);
    assert_eq!(
        login_algorithm(DpopMode::Off, es, Some(&advertised)).unwrap(),
        None
    );
    assert_eq!(
        login_algorithm(DpopMode::On, es, Some(&advertised)).unwrap(),
        Some(es)
    );
    assert_eq!(
        login_algorithm(DpopMode::On, es, None).unwrap(),
        None,
        "on: bearer when not advertised"
    );
    assert_eq!(
        login_algorithm(DpopMode::Required, es, Some(&advertised)).unwrap(),
        Some(es)
    );
    assert!(matches!(
        login_algorithm(DpopMode::Required, es, None),
        Err(OidcError::DpopUnsupported { .. })
    ));
    let only_ps = algs(&["PS256"]);
    assert!(login_algorithm(DpopMode::Required, es, Some(&only_ps)).is_err());
    assert_eq!(login_algorithm(DpopMode::On, es, Some(&only_ps)).unwrap(), None);
}

#[test]
fn the_dpop_token_type_is_case_insensitive() {
    assert!(is_dpop_type("DPoP") && is_dpop_type("dpop"));
    assert!(!is_dpop_type("Bearer") && !is_dpop_type(""));
}

#[test]
fn an_unreadable_session_key_is_a_terminal_error() {
    let mut auth = AuthResult::new(authresult_core::AccessToken::new("a"), 1);
    assert!(session_key(&auth).unwrap().is_none());
    auth.dpop = Some(authresult_core::DpopBinding {
        alg: "ES256".into(),
        key: authresult_core::DpopPrivateKey::new("AAAA"),
        bound: true,
    });
    let error = session_key(&auth).unwrap_err();
    assert!(matches!(error, OidcError::DpopKeyUnusable { .. }));
    assert_eq!(error.kind(), authresult_core::FailureKind::Terminal);
}
