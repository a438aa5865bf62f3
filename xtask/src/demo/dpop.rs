//! The demo's DPoP step (RFC 9449): a device login as `dpop-app` (the
//! provider binds its tokens to the session's key and asks for nonces),
//! `example-resource-server --dpop-origin` accepting the manager's
//! `resource_headers`; then the access and refresh token copied out of the
//! store file through a second handle, as another process would, and used
//! without the key: the resource server refuses the access token (as
//! `Bearer`, and as `DPoP` with a proof of another key) and the provider
//! refuses the refresh; the owner, with the key, still gets both.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use authresult_core::{
    AccessToken, AuthManager, AuthResult, LoginFlow, LoginPrompt, LoginResponse, ProviderConfig, SessionKey,
    SessionStore as _,
};
use authresult_oidc::jwt::{DpopKey, DpopSigner, JwsAlgorithm};
use authresult_oidc::{DpopNonces, OidcOptions, build_provider};
use authresult_store::SqliteStore;
use authresult_test_support::Idp;
use tokio::runtime::Runtime;
use url::Url;

use super::{API, Demo, KillOnDrop};

const TENANT: &str = "demo";
const PROVIDER: &str = "dpop";

/// A manager over `store` with `dpop-app` registered with `"dpop": mode`.
fn dpop_manager(issuer: &str, store: &Arc<SqliteStore>, mode: &str) -> Result<AuthManager> {
    let config = serde_json::json!({"type": "oidc", "fields": {
        "issuer": issuer, "client_id": "dpop-app", "dpop": mode, "resource": API,
    }});
    let config = ProviderConfig::from_json_str(&config.to_string())?;
    let mut options = OidcOptions::default();
    options.device_interval_override = Some(Duration::from_millis(200));
    options.dpop_nonces = Some(DpopNonces::new(TENANT, store.clone()));
    Ok(AuthManager::builder(TENANT, store.clone())
        .provider(PROVIDER, build_provider(&config, options)?)
        .proof_signer(Arc::new(DpopSigner::new()))
        .build())
}

/// `GET url` with `headers`: its status and `WWW-Authenticate`.
async fn get(url: &Url, headers: &[(&str, &str)]) -> Result<(u16, String)> {
    let mut request = reqwest::Client::new().get(url.clone());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await?;
    let challenge = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Ok((response.status().as_u16(), challenge))
}

/// The owner's request: the manager's headers (`DPoP <token>` + a proof).
async fn owners_request(manager: &AuthManager, url: &Url) -> Result<(u16, String)> {
    let headers = manager.resource_headers(PROVIDER, "GET", url).await?;
    ensure!(
        headers.authorization.starts_with("DPoP "),
        "the session should be DPoP-bound"
    );
    let proof = headers.dpop.clone().context("no DPoP proof")?;
    get(
        url,
        &[("authorization", &headers.authorization), ("dpop", &proof)],
    )
    .await
}

/// A port free now, for a server that must know its own URL before it starts.
fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub(super) fn stolen_tokens(demo: &mut Demo, runtime: &Runtime, idp: &Idp, work: &Path) -> Result<()> {
    demo.step("DPoP (RFC 9449): tokens bound to the session's key, worthless when copied without it");
    let path = work.join("dpop.sqlite");
    let store = Arc::new(runtime.block_on(SqliteStore::open(&path))?);
    let manager = dpop_manager(&demo.issuer, &store, "required")?;
    let session = runtime.block_on(async {
        let pending = manager.begin_login(PROVIDER, LoginFlow::DeviceCode).await?;
        let LoginPrompt::DeviceCode {
            user_code,
            verification_uri,
            ..
        } = &pending.prompt
        else {
            anyhow::bail!("no device prompt");
        };
        println!("  device login as dpop-app (DPoP required); xtask approves {user_code} as alice");
        let approve = idp.approve_device(verification_uri, Some(user_code), "alice", "alice-password", true);
        let (session, approved) = tokio::join!(
            manager.complete_login(&pending, LoginResponse::DevicePoll),
            approve
        );
        approved.context("approving the device code failed")?;
        anyhow::Ok(session?)
    })?;
    let binding = session.auth.dpop.clone().context("the session has no DPoP key")?;
    ensure!(binding.bound, "the provider answered a bearer token");
    println!(
        "    | logged in: token_type DPoP, key {} (thumbprint {}), kept with the session in the store",
        binding.alg,
        DpopKey::from_binding(&binding)?.thumbprint()
    );

    let port = free_port()?;
    let origin = format!("http://127.0.0.1:{port}");
    let mut server = Command::new(demo.bin.join("example-resource-server"));
    server
        .args(["--issuer", &demo.issuer, "--audience", API])
        .args(["--listen", &format!("127.0.0.1:{port}"), "--dpop-origin", &origin])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut server = KillOnDrop(server.spawn().context("cannot start example-resource-server")?);
    let mut first = String::new();
    BufReader::new(server.0.stdout.take().context("no stdout")?).read_line(&mut first)?;
    println!(
        "    | example-resource-server --dpop-origin {origin}: {}",
        first.trim()
    );
    let api = Url::parse(&format!("{origin}/api/sync"))?;

    runtime.block_on(async {
        let (status, _) = owners_request(&manager, &api).await?;
        println!("    | the owner: GET /api/sync with DPoP <token> + a proof of the key -> {status}");
        ensure!(status == 200, "the resource server refused the owner");

        // Another process: its own handle on the store file; it carries
        // off the two token strings, not the key.
        let other = SqliteStore::open(&path).await?;
        let copied = other
            .get(&SessionKey::new(TENANT, PROVIDER))
            .await?
            .context("no stored session")?;
        let access = copied.auth.access_token.secret().to_owned();
        let refresh = copied.auth.refresh_token.clone().context("no refresh token")?;
        drop(other);
        println!(
            "  a thief copies the access and refresh token out of {} (not the key)",
            path.display()
        );

        let (status, challenge) = get(&api, &[("authorization", &format!("Bearer {access}"))]).await?;
        println!("    | stolen access token as Bearer -> {status} {challenge}");
        ensure!(
            status == 401 && challenge.contains("invalid_token"),
            "a bound token was accepted as a bearer token"
        );
        let thief_key = DpopKey::generate(JwsAlgorithm::Es256)?;
        let proof = thief_key.proof("GET", &api, None, Some(&access))?;
        let (status, challenge) = get(
            &api,
            &[("authorization", &format!("DPoP {access}")), ("dpop", &proof)],
        )
        .await?;
        println!("    | stolen access token as DPoP, proof by the thief's key -> {status} {challenge}");
        ensure!(
            status == 401 && challenge.contains("invalid_dpop_proof"),
            "another key's proof was accepted"
        );

        // The thief's own app refreshes the copy: with no key (DPoP off),
        // then signing with a key of its own.
        for (mode, key) in [("off", None), ("on", Some(thief_key.to_binding(true)))] {
            let mut copy = AuthResult::new(AccessToken::new(access.clone()), 60);
            copy.refresh_token = Some(refresh.clone());
            copy.dpop = key;
            let thief_store = Arc::new(SqliteStore::open(work.join(format!("thief-{mode}.sqlite"))).await?);
            let thief = dpop_manager(&demo.issuer, &thief_store, mode)?;
            thief.import(PROVIDER, copy).await?;
            let how = if mode == "off" {
                "without a proof"
            } else {
                "with a proof by the thief's key"
            };
            match thief.refresh(PROVIDER).await {
                Ok(_) => anyhow::bail!("the provider refreshed a stolen DPoP-bound refresh token {how}"),
                Err(error) => {
                    println!(
                        "    | stolen refresh token at the provider {how} -> refused: {:#}",
                        anyhow::Error::from(error)
                    )
                }
            }
        }

        let refreshed = manager.refresh(PROVIDER).await?;
        ensure!(
            refreshed.auth.access_token.secret() != access,
            "the owner's refresh gave the same token"
        );
        let (status, _) = owners_request(&manager, &api).await?;
        println!("    | the owner, with the key: refresh ok, GET /api/sync with the new token -> {status}");
        ensure!(status == 200, "the owner's refreshed token was refused");
        anyhow::Ok(())
    })?;
    drop(server);
    Ok(())
}
