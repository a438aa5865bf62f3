//! Tracing against the real provider: a capturing subscriber at TRACE sees
//! the login, refresh (with its lease), validation (accepted and refused),
//! vault (lock, a wrong passcode, unlock), back-channel (a refused logout
//! token) and logout flows, names each by its stable `event` field, and
//! never records a token, code, verifier, password, passcode or key.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authresult_core::{AuthManager, LoginFlow, ManualClock, MemoryStore, TenantId, Timestamp, UserId};
use authresult_jwt::{BackchannelLogout, IssuerConfig, RevocationList, TokenValidator};
use authresult_store::{KdfParams, KeySource, OfflinePolicy, OfflineVault, SqliteStore, VaultedStore};
use serde_json::json;
use url::Url;

use crate::support::{authorization_url, fast_options, idp, issuer, provider_from};

const API: &str = "urn:authresult:api";
const PASSCODE: &str = "582931";
const WRONG_PASSCODE: &str = "104729";
const PASSWORD: &str = "alice-password";

/// Every event's and span's fields, as text, one entry each.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        let _ = write!(self.0, "{}={value} ", field.name());
    }
}

impl Capture {
    fn push(&self, text: String) {
        self.0.lock().unwrap().push(text);
    }
    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut fields = Fields(format!(
            "SPAN {} {} ",
            span.metadata().target(),
            span.metadata().name()
        ));
        span.record(&mut fields);
        self.push(fields.0);
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut fields = Fields("RECORD ".to_owned());
        values.record(&mut fields);
        self.push(fields.0);
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let meta = event.metadata();
        let mut fields = Fields(format!("{} {} ", meta.level(), meta.target()));
        event.record(&mut fields);
        self.push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// The secret itself and each long piece of it (a JWT's signature, one
/// value of a JSON secret), so a partial leak is caught too.
fn needles(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_owned()];
    out.extend(
        secret
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .filter(|piece| piece.len() >= 16)
            .map(str::to_owned),
    );
    out
}

#[tokio::test(flavor = "current_thread")]
async fn the_flows_are_traced_by_name_and_no_secret_reaches_a_trace() {
    let capture = Capture::default();
    let guard = tracing::subscriber::set_default(capture.clone());
    let issuer = issuer("plain");

    // A tablet: SQLite sealed per user by the offline vault.
    let dir = tempfile::tempdir().unwrap();
    let raw = Arc::new(SqliteStore::open(&dir.path().join("sessions.db")).await.unwrap());
    let mut policy = OfflinePolicy::default();
    // Cheap derivations: this test is about what is traced, not the cost.
    policy.kdf = KdfParams {
        memory_kib: 8 * 1024,
        iterations: 1,
        lanes: 1,
    };
    let clock = ManualClock::new(Timestamp::now());
    let vault = Arc::new(OfflineVault::new(raw.clone(), policy).with_clock(Arc::new(clock.clone())));
    let source = KeySource::PerUser {
        store_key: None,
        vault: vault.clone(),
    };
    let provider = provider_from(
        json!({"type": "oidc", "fields": {
            "issuer": issuer.as_str(), "client_id": "native-app", "resource": API,
        }}),
        fast_options(),
    );
    let manager = AuthManager::builder("field-app", source.protect(raw.clone()))
        .provider("p", Arc::new(provider))
        .clock(Arc::new(clock.clone()))
        .build();
    let tenant = TenantId::new("field-app");
    let user = UserId::from("alice");

    // Login (authorization code), then the passcode enrolled.
    vault
        .prepare_login(&tenant, &user, Some(PASSCODE.as_bytes()))
        .await
        .unwrap();
    let alice = manager.for_user("alice");
    let redirect = Url::parse("http://127.0.0.1:9/callback").unwrap();
    let pending = alice
        .begin_login_with("p", LoginFlow::AuthorizationCode, Some(redirect), BTreeMap::new())
        .await
        .unwrap();
    let callback = idp()
        .login_via_form(&authorization_url(&pending), "alice", PASSWORD)
        .await
        .unwrap();
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let login = alice.handle_callback(&callback).await.unwrap();
    VaultedStore::new(raw.clone(), vault.clone())
        .enroll(&tenant, &user, PASSCODE.as_bytes())
        .await
        .unwrap();

    // Refresh (under the store's lease).
    let refreshed = alice.refresh("p").await.unwrap();

    // Validation: the access token accepted, the ID token refused.
    let validator = TokenValidator::builder()
        .issuer(
            IssuerConfig::new(issuer.as_str())
                .audience(API)
                .allow_insecure_http(true),
        )
        .build()
        .unwrap();
    let access = refreshed.auth.access_token.secret().to_owned();
    validator.validate(&access).await.unwrap();
    let id_token = login.auth.id_token.clone().unwrap();
    validator.validate(id_token.secret()).await.unwrap_err();

    // Vault: locked, a wrong passcode, the right one.
    vault.lock(&tenant, &user);
    vault
        .unlock(&tenant, &user, WRONG_PASSCODE.as_bytes())
        .await
        .unwrap_err();
    // Past the delay a failed attempt sets.
    clock.advance(Duration::from_secs(60));
    vault.unlock(&tenant, &user, PASSCODE.as_bytes()).await.unwrap();

    // Back-channel: an ID token posted as a logout token is refused.
    let list = RevocationList::builder(Arc::new(MemoryStore::new()))
        .start()
        .await
        .unwrap();
    let receiver =
        BackchannelLogout::builder(validator.key_set(issuer.as_str()).unwrap(), "native-app", list).build();
    receiver.receive(id_token.secret()).await.unwrap_err();

    // Logout (revokes at the provider).
    alice.logout("p").await.unwrap();
    drop(guard);

    let lines = capture.lines();
    let text = lines.join("\n");
    let mut secrets = vec![
        login.auth.access_token.secret().to_owned(),
        login.auth.refresh_token.clone().unwrap().secret().to_owned(),
        id_token.secret().to_owned(),
        access.clone(),
        refreshed.auth.refresh_token.clone().unwrap().secret().to_owned(),
        code,
        pending.secret.secret().to_owned(),
        PASSWORD.to_owned(),
        PASSCODE.to_owned(),
        WRONG_PASSCODE.to_owned(),
    ];
    if let Some(id) = &refreshed.auth.id_token {
        secrets.push(id.secret().to_owned());
    }
    for secret in &secrets {
        for needle in needles(secret) {
            assert!(
                !text.contains(&needle),
                "a secret reached a trace: {needle}\n{text}"
            );
        }
    }

    let seen = |event: &str, also: &[&str]| {
        let name = format!("event={event} ");
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&name) && also.iter().all(|a| l.contains(a))),
            "no `{event}` event with {also:?} in:\n{text}"
        );
    };
    seen("login.begin", &["flow=authorization_code", "provider=p"]);
    seen("login", &["INFO", "flow=authorization_code", "outcome=ok"]);
    seen("lease.acquire", &["provider=p"]);
    seen("lease.release", &["released=true"]);
    seen("refresh", &["INFO", "provider=p", "outcome=ok", "duration_ms="]);
    seen("keys.fetch", &["reason=initial", "outcome=ok", issuer.as_str()]);
    seen("validation.accepted", &["TRACE"]);
    seen(
        "validation.refused",
        &["DEBUG", "reason=wrong_token_type", issuer.as_str()],
    );
    seen("vault.lock", &["held=true"]);
    seen("vault.unlock", &["outcome=wrong_secret", "attempts_left="]);
    seen("vault.unlock", &["outcome=unlocked"]);
    seen("logout.backchannel", &["DEBUG", "outcome=refused"]);
    seen("logout", &["INFO", "provider=p", "outcome=ok"]);
}
