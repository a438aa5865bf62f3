//! Tests of DataCollect's artifact, header scheme and stored-token shapes.
#![allow(clippy::unwrap_used)] // Tests fail loudly on purpose.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::{
    AppArtifact, ArtifactWarning, Error, MAX_ARTIFACT_BYTES, MAX_STORED_TOKEN_BYTES, ProviderConfig,
    StoredToken, Timestamp, datacollect_scheme,
};

const SECRET: &str = "s3cr3t-client-secret-value";
const NOW: Timestamp = Timestamp::from_secs(1_700_000_000);

/// An artifact as DataCollect's server publishes it (`generatePublicArtifacts`):
/// the whole app config, `syncServerUrl` set, every provider type.
fn artifact() -> Value {
    json!({
        "id": "household-survey",
        "artifactId": "9f0c1d2e3a4b5c6d7e8f90a1b2c3d4e5",
        "name": "Household survey",
        "description": "Registration of households",
        "version": "1.2.0",
        "url": "https://sync.example.org/api/apps/household-survey",
        "entityForms": [{"name": "household", "title": "Household", "formio": {"components": []}}],
        "entityData": [],
        "externalSync": {"type": "mock-sync-server", "url": "http://localhost:5000", "extraFields": []},
        "authConfigs": [
            {"type": "keycloak", "fields": {
                "authority": "https://kc.example.org/realms/field",
                "client_id": "collect-app",
                "redirect_uri": "https://app.example.org/callback",
                "post_logout_redirect_uri": "https://app.example.org/",
                "response_type": "code",
                "scope": "openid profile email offline_access",
                "kc_idp_hint": "google"}},
            {"type": "auth0", "fields": {
                "authority": "https://tenant.eu.auth0.com",
                "client_id": "auth0-client",
                "client_secret": SECRET,
                "audience": "https://sync-api",
                "organization": "org_abc"}},
            {"type": "oidc", "fields": {"issuer": "https://id.example.org", "client_id": "generic"}}
        ],
        "createdAt": "2025-01-01T00:00:00.000Z",
        "somethingNew": {"nested": [1, 2, 3]},
        "syncServerUrl": "https://sync.example.org"
    })
}

fn parse(value: &Value) -> Result<AppArtifact, Error> {
    AppArtifact::from_json_str(&value.to_string(), false)
}

fn config_field(err: Error) -> String {
    match err {
        Error::InvalidConfig { field, .. } => field,
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
}

fn jwt(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{payload}.c2lnbmF0dXJl")
}

#[test]
fn artifact_loads_every_provider_type_and_the_default_login_from_sync_server_url() {
    let artifact = parse(&artifact()).unwrap();
    assert_eq!(artifact.id, "household-survey");
    assert_eq!(artifact.name.as_deref(), Some("Household survey"));
    let names: Vec<_> = artifact.providers.iter().map(|p| p.name().to_string()).collect();
    assert_eq!(names, ["keycloak", "auth0", "oidc", "default"]);
    assert_eq!(
        artifact.sync_server_url.as_ref().unwrap().as_str(),
        "https://sync.example.org/"
    );
    match &artifact.providers[0].config {
        ProviderConfig::Keycloak(kc) => {
            assert_eq!(kc.client.issuer.as_str(), "https://kc.example.org/realms/field");
            assert_eq!(kc.client.client_id, "collect-app");
            // Unknown fields follow the `{type, fields}` rule: extra authorization parameters.
            assert_eq!(
                kc.client.extra_params.get("kc_idp_hint").map(String::as_str),
                Some("google")
            );
        }
        other => panic!("expected keycloak, got {other:?}"),
    }
    match &artifact.providers[1].config {
        ProviderConfig::Auth0(a0) => {
            assert_eq!(a0.client.issuer.as_str(), "https://tenant.eu.auth0.com/");
            assert_eq!(a0.organization.as_deref(), Some("org_abc"));
            assert!(a0.client.client_secret.is_some());
        }
        other => panic!("expected auth0, got {other:?}"),
    }
    match &artifact.providers[3].config {
        ProviderConfig::SyncServer(s) => assert_eq!(s.url.as_str(), "https://sync.example.org/"),
        other => panic!("expected the sync server, got {other:?}"),
    }
}

#[test]
fn artifact_schemes_are_what_datacollects_client_sends() {
    let artifact = parse(&artifact()).unwrap();
    assert_eq!(artifact.scheme_of("keycloak"), Some("keycloak"));
    assert_eq!(artifact.scheme_of("auth0"), Some("auth0"));
    assert_eq!(artifact.scheme_of("default"), Some("Bearer"));
    assert_eq!(artifact.scheme_of("nothing"), None);
    assert_eq!(datacollect_scheme("default"), "Bearer");
    assert_eq!(datacollect_scheme("keycloak"), "keycloak");
    assert_eq!(datacollect_scheme("auth0"), "auth0");
}

#[test]
fn artifact_client_secret_is_warned_about_without_the_secret() {
    let artifact = parse(&artifact()).unwrap();
    let warning = artifact
        .warnings
        .iter()
        .find(|w| matches!(w, ArtifactWarning::ClientSecretPublished { .. }))
        .unwrap();
    assert_eq!(
        warning,
        &ArtifactWarning::ClientSecretPublished {
            provider_type: "auth0".into(),
            field: "client_secret"
        }
    );
    assert_eq!(artifact.warnings.len(), 1, "{:?}", artifact.warnings);
    let shown = format!("{warning} {warning:?} {artifact:?}");
    assert!(!shown.contains(SECRET), "{shown}");
}

#[test]
fn artifact_skips_unsupported_types_and_default_entries_with_warnings() {
    let mut value = artifact();
    value["authConfigs"] = json!([
        {"type": "", "fields": {}},
        {"type": "google", "fields": {"client_id": "x"}},
        {"type": "default", "fields": {"url": "https://other.example.org"}},
        {"type": "keycloak", "fields": {"authority": "https://kc.example.org/realms/a", "client_id": "first"}},
        {"type": "keycloak", "fields": {"authority": "https://kc.example.org/realms/b", "client_id": "second"}}
    ]);
    let artifact = parse(&value).unwrap();
    let names: Vec<_> = artifact.providers.iter().map(|p| p.name().to_string()).collect();
    assert_eq!(names, ["keycloak", "default"]);
    // As in DataCollect, the later entry of a type wins.
    assert_eq!(
        artifact.providers[0].config.oidc_client().unwrap().client_id,
        "second"
    );
    match &artifact.providers[1].config {
        ProviderConfig::SyncServer(s) => assert_eq!(s.url.as_str(), "https://sync.example.org/"),
        other => panic!("expected the sync server, got {other:?}"),
    }
    assert_eq!(
        artifact.warnings,
        [
            ArtifactWarning::UnsupportedType {
                index: 0,
                provider_type: String::new()
            },
            ArtifactWarning::UnsupportedType {
                index: 1,
                provider_type: "google".into()
            },
            ArtifactWarning::DefaultEntryIgnored { index: 2 },
            ArtifactWarning::DuplicateType {
                provider_type: "keycloak".into()
            },
        ]
    );
}

#[test]
fn artifact_without_sync_server_url_has_no_default_login_and_says_so() {
    let mut value = artifact();
    value.as_object_mut().unwrap().remove("syncServerUrl");
    let artifact = parse(&value).unwrap();
    assert!(artifact.sync_server_url.is_none());
    assert!(artifact.providers.iter().all(|p| p.provider_type != "default"));
    assert!(artifact.warnings.contains(&ArtifactWarning::NoSyncServerUrl));
}

#[test]
fn artifact_sync_server_url_without_scheme_is_https_and_plain_http_needs_loopback_or_opt_in() {
    let mut value = artifact();
    value["syncServerUrl"] = json!("sync.example.org:3000");
    let artifact = parse(&value).unwrap();
    assert_eq!(
        artifact.sync_server_url.unwrap().as_str(),
        "https://sync.example.org:3000/"
    );

    value["syncServerUrl"] = json!("http://192.168.1.20:3000");
    assert_eq!(config_field(parse(&value).unwrap_err()), "syncServerUrl");
    let allowed = AppArtifact::from_json_str(&value.to_string(), true).unwrap();
    assert_eq!(
        allowed.sync_server_url.unwrap().as_str(),
        "http://192.168.1.20:3000/"
    );

    value["syncServerUrl"] = json!("http://localhost:3000");
    assert!(parse(&value).is_ok());
}

/// Issue #22 item 2: the malicious artifact cannot turn the app's security
/// switches, nor set the parameters that protect a login.
#[test]
fn artifact_security_switches_and_reserved_parameters_are_ignored_with_warnings() {
    // `allow_insecure_http` in an entry does not open plain http to the network.
    let mut value = artifact();
    value["authConfigs"][2]["fields"] = json!({"issuer": "http://id.example.org", "client_id": "generic",
        "allow_insecure_http": true});
    assert_eq!(config_field(parse(&value).unwrap_err()), "authConfigs[2].issuer");
    value["authConfigs"][2]["fields"]["allow_insecure_http"] = json!("true");
    assert_eq!(config_field(parse(&value).unwrap_err()), "authConfigs[2].issuer");
    // Only the app's own setting does.
    let allowed = AppArtifact::from_json_str(&value.to_string(), true).unwrap();
    assert_eq!(
        allowed.providers[2].config.oidc_client().unwrap().issuer.as_str(),
        "http://id.example.org/"
    );

    // Over https the entry loads, and every app-only field is ignored and named.
    value["authConfigs"][2]["fields"] = json!({"issuer": "https://id.example.org", "client_id": "generic",
        "allow_insecure_http": "true", "allowInsecureHttp": true,
        "request_uri": "https://evil.example/request.jwt", "response_mode": "fragment",
        "code_challenge_method": "plain", "ui_locales": "fr",
        "extraQueryParams": "{\"request\":\"eyJhbGciOiJub25lIn0.e30.\",\"nonce\":\"n\",\"prompt\":\"login\"}"});
    let artifact = parse(&value).unwrap();
    let mut ignored: Vec<String> = artifact
        .warnings
        .iter()
        .filter_map(|w| match w {
            ArtifactWarning::AppSettingIgnored { provider_type, field } => {
                assert_eq!(provider_type, "oidc");
                assert!(w.to_string().contains("only the app may set"), "{w}");
                Some(field.clone())
            }
            _ => None,
        })
        .collect();
    ignored.sort();
    assert_eq!(
        ignored,
        [
            "allowInsecureHttp",
            "allow_insecure_http",
            "code_challenge_method",
            "extraQueryParams.nonce",
            "extraQueryParams.request",
            "request_uri",
            "response_mode",
        ]
    );
    let extra = &artifact.providers[2].config.oidc_client().unwrap().extra_params;
    let names: Vec<&str> = extra.keys().map(String::as_str).collect();
    assert_eq!(names, ["prompt", "ui_locales"], "{extra:?}");
}

#[test]
fn artifact_bad_input_is_a_typed_error_naming_the_place() {
    let mut missing_client = artifact();
    missing_client["authConfigs"][1]["fields"]
        .as_object_mut()
        .unwrap()
        .remove("client_id");
    assert_eq!(
        config_field(parse(&missing_client).unwrap_err()),
        "authConfigs[1].client_id"
    );

    let mut wrong_field_type = artifact();
    wrong_field_type["authConfigs"][0]["fields"]["client_id"] = json!(42);
    assert_eq!(
        config_field(parse(&wrong_field_type).unwrap_err()),
        "authConfigs[0].client_id"
    );

    let cases: Vec<(Value, &str)> = vec![
        (json!([1, 2]), "(document)"),
        (json!({"name": "no id"}), "id"),
        (json!({"id": 7}), "id"),
        (
            json!({"id": "a", "authConfigs": {"type": "keycloak"}}),
            "authConfigs",
        ),
        (json!({"id": "a", "authConfigs": ["keycloak"]}), "authConfigs[0]"),
        (
            json!({"id": "a", "authConfigs": [{"type": 1}]}),
            "authConfigs[0].type",
        ),
        (
            json!({"id": "a", "authConfigs": [{"type": "auth0", "fields": []}]}),
            "authConfigs[0].fields",
        ),
        (json!({"id": "a", "syncServerUrl": 3000}), "syncServerUrl"),
        (
            json!({"id": "a", "syncServerUrl": "ftp://sync.example.org"}),
            "syncServerUrl",
        ),
    ];
    for (value, field) in cases {
        assert_eq!(config_field(parse(&value).unwrap_err()), field, "{value}");
    }
    assert_eq!(
        config_field(AppArtifact::from_json_str("{\"id\": \"a\",", false).unwrap_err()),
        "(document)"
    );
    let huge = format!("{{\"id\":\"a\",\"pad\":\"{}\"}}", "x".repeat(MAX_ARTIFACT_BYTES));
    assert_eq!(
        config_field(AppArtifact::from_json_str(&huge, false).unwrap_err()),
        "(document)"
    );
}

fn stored_field(err: Error) -> String {
    match err {
        Error::InvalidStoredToken { field, .. } => field,
        other => panic!("expected InvalidStoredToken, got {other:?}"),
    }
}

#[test]
fn indexeddb_record_of_a_provider_token_imports_with_its_jwt_expiry() {
    let token = jwt(&json!({"sub": "alice", "exp": NOW.as_secs() + 600}));
    let record = json!({"id": "keycloak", "token": token, "timestamp": "2025-01-01T00:00:00.000Z", "x": 1});
    let stored = StoredToken::from_indexeddb_record(&record.to_string(), NOW).unwrap();
    assert_eq!(stored.provider.as_str(), "keycloak");
    assert_eq!(stored.auth.access_token.secret(), token);
    assert_eq!(stored.auth.expires_in, 0, "the lifetime comes from the JWT `exp`");
    assert!(stored.auth.refresh_token.is_none());
}

#[test]
fn indexeddb_record_of_the_sync_server_token_gives_its_id_and_email() {
    // DataCollect's own token: HS256 `{id, email, iat}`, no `exp`, no `sub`.
    let token = jwt(&json!({"id": 42, "email": "alice@example.org", "iat": NOW.as_secs()}));
    let record = json!({"id": "default", "token": token, "timestamp": "2025-01-01T00:00:00.000Z"});
    let stored = StoredToken::from_indexeddb_record(&record.to_string(), NOW).unwrap();
    assert_eq!(stored.provider.as_str(), "default");
    let profile = stored.auth.profile.unwrap();
    assert_eq!(profile["sub"], "42");
    assert_eq!(profile["email"], "alice@example.org");
}

#[test]
fn indexeddb_record_hostile_or_expired_input_is_a_typed_error_without_the_token() {
    let token = "opaque-secret-token-text";
    let cases: Vec<(String, &str)> = vec![
        ("not json".into(), "(document)"),
        ("[]".into(), "(document)"),
        (json!({"token": token}).to_string(), "id"),
        (json!({"id": 1, "token": token}).to_string(), "id"),
        (json!({"id": "", "token": token}).to_string(), "id"),
        (json!({"id": "key cloak", "token": token}).to_string(), "id"),
        (json!({"id": "username", "username": "alice"}).to_string(), "id"),
        (json!({"id": "keycloak"}).to_string(), "token"),
        (json!({"id": "keycloak", "token": 12}).to_string(), "token"),
        (json!({"id": "keycloak", "token": ""}).to_string(), "token"),
        (
            json!({"id": "keycloak", "token": format!("{token}\r\nX-Evil: 1")}).to_string(),
            "token",
        ),
        (
            json!({"id": "keycloak", "token": "x".repeat(MAX_STORED_TOKEN_BYTES)}).to_string(),
            "(document)",
        ),
    ];
    for (json, field) in cases {
        let err = StoredToken::from_indexeddb_record(&json, NOW).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(token), "{shown}");
        assert_eq!(stored_field(err), field, "{json}");
    }
    let expired = jwt(&json!({"sub": "alice", "exp": NOW.as_secs() - 1}));
    let err = StoredToken::from_indexeddb_record(&json!({"id": "auth0", "token": expired}).to_string(), NOW)
        .unwrap_err();
    assert!(!format!("{err} {err:?}").contains(&expired));
    assert!(
        matches!(&err, Error::StoredTokenExpired { provider, .. } if provider == "auth0"),
        "{err:?}"
    );
    assert!(err.is_terminal());
}

#[test]
fn local_storage_entry_is_read_for_its_app_and_provider() {
    let token = jwt(&json!({"sub": "bob", "exp": NOW.as_secs() + 60}));
    // App ids may hold underscores: the app is given, the rest is the provider.
    let stored =
        StoredToken::from_local_storage("auth_token_app_my_app_auth0", &token, "my_app", NOW).unwrap();
    assert_eq!(stored.provider.as_str(), "auth0");
    assert_eq!(stored.auth.access_token.secret(), token);

    for key in [
        "auth_token_app_other_auth0",
        "auth_token_app_my_app_",
        "auth_token_auth0",
        "syncServerToken_sync.example.org",
    ] {
        let err = StoredToken::from_local_storage(key, &token, "my_app", NOW).unwrap_err();
        assert!(!format!("{err} {err:?}").contains(&token));
        assert_eq!(stored_field(err), "key", "{key}");
    }
    let err = StoredToken::from_local_storage("auth_token_app_my_app_auth0", "", "my_app", NOW).unwrap_err();
    assert_eq!(stored_field(err), "token");
    let huge = "y".repeat(MAX_STORED_TOKEN_BYTES + 1);
    let err =
        StoredToken::from_local_storage("auth_token_app_my_app_auth0", &huge, "my_app", NOW).unwrap_err();
    assert_eq!(stored_field(err), "(document)");
}

fn oidc_user(expires_at: Value) -> Value {
    json!({
        "id_token": jwt(&json!({"sub": "carol"})),
        "session_state": "abc",
        "access_token": "opaque-access-token",
        "refresh_token": "opaque-refresh-token",
        "token_type": "Bearer",
        "scope": "openid profile email offline_access",
        "profile": {"sub": "carol", "email_verified": true, "auth_time": 1700000000,
                    "address": {"country": "FR"}, "name": "Carol"},
        "expires_at": expires_at
    })
}

#[test]
fn oidc_user_absolute_expires_at_becomes_expires_in_from_the_injected_now() {
    let user = oidc_user(json!(NOW.as_secs() + 300));
    let stored = StoredToken::from_oidc_user("keycloak", &user.to_string(), NOW).unwrap();
    assert_eq!(stored.provider.as_str(), "keycloak");
    assert_eq!(stored.auth.expires_in, 300);
    assert_eq!(stored.auth.access_token.secret(), "opaque-access-token");
    assert_eq!(
        stored.auth.refresh_token.as_ref().unwrap().secret(),
        "opaque-refresh-token"
    );
    assert!(stored.auth.id_token.is_some());
    // Non-string profile values are kept as their JSON text: the profile is a string map.
    let profile = stored.auth.profile.unwrap();
    assert_eq!(profile["email_verified"], "true");
    assert_eq!(profile["auth_time"], "1700000000");
    assert_eq!(profile["address"], r#"{"country":"FR"}"#);
    assert_eq!(profile["name"], "Carol");

    // Part of a second left counts as a second: never 0, which means "unknown".
    let later = Timestamp::from_millis(NOW.as_millis() + 299_500);
    let stored = StoredToken::from_oidc_user("keycloak", &user.to_string(), later).unwrap();
    assert_eq!(stored.auth.expires_in, 1);
    let fractional = oidc_user(json!(NOW.as_secs() as f64 + 10.5));
    let stored = StoredToken::from_oidc_user("keycloak", &fractional.to_string(), NOW).unwrap();
    assert_eq!(stored.auth.expires_in, 11);
}

#[test]
fn oidc_user_past_expires_at_is_imported_due_for_refresh_only_with_a_refresh_token() {
    let user = oidc_user(json!(NOW.as_secs() - 10));
    let stored = StoredToken::from_oidc_user("auth0", &user.to_string(), NOW).unwrap();
    assert_eq!(stored.auth.expires_in, 1);

    let mut no_refresh = user.clone();
    no_refresh.as_object_mut().unwrap().remove("refresh_token");
    let err = StoredToken::from_oidc_user("auth0", &no_refresh.to_string(), NOW).unwrap_err();
    assert!(matches!(err, Error::StoredTokenExpired { .. }), "{err:?}");

    // Without `expires_at`, an expired JWT access token without refresh token is refused too.
    let mut jwt_only = no_refresh;
    jwt_only.as_object_mut().unwrap().remove("expires_at");
    jwt_only["access_token"] = json!(jwt(&json!({"sub": "carol", "exp": NOW.as_secs() - 1})));
    let err = StoredToken::from_oidc_user("auth0", &jwt_only.to_string(), NOW).unwrap_err();
    assert!(matches!(err, Error::StoredTokenExpired { .. }), "{err:?}");
}

#[test]
fn oidc_user_wrong_types_are_typed_errors_without_tokens() {
    let base = oidc_user(json!(NOW.as_secs() + 300));
    let cases: Vec<(&str, Value, &str)> = vec![
        ("expires_at", json!("soon"), "expires_at"),
        ("expires_at", json!(-5), "expires_at"),
        ("access_token", json!(12), "access_token"),
        ("access_token", Value::Null, "access_token"),
        ("access_token", json!(""), "access_token"),
        ("refresh_token", json!(["x"]), "refresh_token"),
        ("profile", json!(["sub"]), "profile"),
    ];
    for (member, value, field) in cases {
        let mut user = base.clone();
        user[member] = value;
        let err = StoredToken::from_oidc_user("keycloak", &user.to_string(), NOW).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains("opaque-access-token") && !shown.contains("opaque-refresh-token"),
            "{shown}"
        );
        assert_eq!(stored_field(err), field, "{member}");
    }
    let mut no_access = base.clone();
    no_access.as_object_mut().unwrap().remove("access_token");
    let err = StoredToken::from_oidc_user("keycloak", &no_access.to_string(), NOW).unwrap_err();
    assert_eq!(stored_field(err), "access_token");
    let err = StoredToken::from_oidc_user("keycloak", "{\"access_token\":", NOW).unwrap_err();
    assert_eq!(stored_field(err), "(document)");
    let huge = format!("{{\"access_token\":\"{}\"}}", "z".repeat(MAX_STORED_TOKEN_BYTES));
    let err = StoredToken::from_oidc_user("keycloak", &huge, NOW).unwrap_err();
    assert_eq!(stored_field(err), "(document)");
}

#[test]
fn a_stored_token_with_a_member_given_twice_is_refused_not_read_last_wins() {
    // Two `access_token`s: a parser taking the last would import a token
    // the app never stored as the session's.
    let user = oidc_user(json!(NOW.as_secs() + 300)).to_string();
    let doubled = user.replacen('{', "{\"access_token\":\"planted-token\",", 1);
    let err = StoredToken::from_oidc_user("keycloak", &doubled, NOW).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(
        shown.contains("duplicate member") && !shown.contains("planted-token"),
        "{shown}"
    );
    assert_eq!(stored_field(err), "(document)");
    let record = json!({"id": "auth0", "token": "opaque-access-token"}).to_string();
    let doubled = record.replacen('{', "{\"token\":\"planted-token\",", 1);
    let err = StoredToken::from_indexeddb_record(&doubled, NOW).unwrap_err();
    assert_eq!(stored_field(err), "(document)");
}

#[test]
fn an_artifact_naming_a_top_level_member_twice_is_refused() {
    // A second `syncServerUrl` (or `id`) would otherwise win unseen.
    let text = artifact().to_string();
    let doubled = text.replacen('{', r#"{"syncServerUrl":"https://evil.example","#, 1);
    let err = AppArtifact::from_json_str(&doubled, false).unwrap_err();
    assert!(format!("{err}").contains("duplicate member"), "{err}");
    assert_eq!(config_field(err), "(document)");
    assert!(AppArtifact::from_json_str(&text, false).is_ok());
}
