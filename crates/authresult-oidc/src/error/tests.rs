//! Unit tests of `OidcError`: classification and safe messages.

use super::*;

#[test]
fn oauth_codes_are_classified() {
    let kind = |code: &str| OidcError::server_error(Endpoint::Token, code, None).kind();
    assert_eq!(kind("invalid_grant"), FailureKind::Terminal);
    assert_eq!(kind("invalid_client"), FailureKind::Terminal);
    assert_eq!(kind("temporarily_unavailable"), FailureKind::Transient);
    assert_eq!(kind("invalid_scope"), FailureKind::Configuration);
    assert_eq!(kind("something_odd"), FailureKind::Protocol);
    let denied = OidcError::AuthorizationDenied {
        error: "something_odd".into(),
        description: None,
    };
    assert_eq!(denied.kind(), FailureKind::Terminal);
}

#[test]
fn statuses_are_classified() {
    let status = |status: u16| {
        OidcError::HttpStatus {
            endpoint: Endpoint::Token,
            url: "https://id.example.org/token".into(),
            status,
            retry_after: None,
        }
        .kind()
    };
    assert_eq!(status(500), FailureKind::Transient);
    assert_eq!(status(503), FailureKind::Transient);
    assert_eq!(status(429), FailureKind::Transient);
    assert_eq!(status(404), FailureKind::Protocol);
}

#[test]
fn a_token_endpoint_refusal_without_an_error_document_is_terminal() {
    let status = |endpoint: Endpoint, status: u16| {
        OidcError::HttpStatus {
            endpoint,
            url: "https://id.example.org/token".into(),
            status,
            retry_after: None,
        }
        .kind()
    };
    assert_eq!(status(Endpoint::Token, 400), FailureKind::Terminal);
    assert_eq!(status(Endpoint::Token, 401), FailureKind::Terminal);
    assert_eq!(status(Endpoint::Token, 403), FailureKind::Protocol);
    assert_eq!(status(Endpoint::Token, 500), FailureKind::Transient);
    assert_eq!(status(Endpoint::Userinfo, 400), FailureKind::Protocol);
    assert_eq!(status(Endpoint::Discovery, 401), FailureKind::Protocol);
}

#[test]
fn messages_name_the_endpoint_and_are_lower_case() {
    let error = OidcError::MissingField {
        endpoint: Endpoint::Token,
        field: "access_token".into(),
    };
    assert_eq!(
        error.to_string(),
        "the token endpoint answered without the required field `access_token`"
    );
    let converted: authresult_core::Error = error.into();
    assert_eq!(converted.kind(), FailureKind::Protocol);
}

#[test]
fn token_like_descriptions_are_dropped() {
    let error = OidcError::server_error(
        Endpoint::Token,
        "invalid_grant",
        Some("refresh token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.sig is revoked"),
    );
    assert_eq!(
        error.to_string(),
        "the token endpoint answered error `invalid_grant`"
    );
    let error = OidcError::server_error(Endpoint::Token, "invalid_grant", Some("grant request is invalid"));
    assert_eq!(
        error.to_string(),
        "the token endpoint answered error `invalid_grant`: grant request is invalid"
    );
    assert_eq!(sanitize_code("bad\ncode <script>"), "badcodescript");
}
