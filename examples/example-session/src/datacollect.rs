//! The DataCollect subcommands: load an app-config artifact (`from-artifact`)
//! and import the tokens DataCollect's client stored (`import-datacollect`).

use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use authresult_oidc::{DataCollectApp, OidcOptions};
use clap::{Args, ValueEnum};
use example_common::{Settings, fingerprint};

/// Where the artifact comes from.
#[derive(Debug, Args)]
pub(crate) struct ArtifactSource {
    /// The artifact: its URL (the text of the app's QR code,
    /// `https://<server>/artifacts/<artifactId>.json`) or a file path.
    pub(crate) artifact: String,
}

/// `from-artifact` arguments: the artifact, and what to do as the app it
/// sets up would, so its reach can be seen from outside.
#[derive(Debug, Args)]
pub(crate) struct FromArtifactArgs {
    #[command(flatten)]
    pub(crate) source: ArtifactSource,
    /// The artifact's login to use (`keycloak`, `auth0`, `oidc`,
    /// `default`); needed by `--header`, `--refresh` and `--logout`.
    #[arg(long, value_name = "PROVIDER")]
    pub(crate) login: Option<String>,
    /// Print the `Authorization` header the app would send: its scheme and a
    /// fingerprint of the token (never the token).
    #[arg(long, requires = "login")]
    pub(crate) header: bool,
    /// Refresh the provider's session now, then print the new fingerprint.
    #[arg(long, requires = "login")]
    pub(crate) refresh: bool,
    /// Log out of the provider (revoke, remove the session).
    #[arg(long, requires = "login")]
    pub(crate) logout: bool,
}

/// `Authorization: <scheme> <fingerprint>` of a header value.
fn shown_header(value: &http::HeaderValue) -> Result<String> {
    let text = value.to_str().context("the Authorization header is not text")?;
    let (scheme, token) = text
        .split_once(' ')
        .context("the Authorization header has no scheme")?;
    Ok(format!(
        "Authorization: {scheme} <token sha256:{}>",
        fingerprint(token)
    ))
}

/// Which stored shape stdin holds.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Shape {
    /// One IndexedDB `authStore_{tenant}` record: `{"id","token","timestamp"}`.
    IndexeddbRecord,
    /// A mobile localStorage value (the raw token); give its key with `--key`.
    LocalStorage,
    /// An oidc-client-ts `User` JSON; give its provider with `--provider-type`.
    OidcUser,
}

/// `import-datacollect` arguments.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    #[command(flatten)]
    pub(crate) source: ArtifactSource,
    /// The shape read from stdin (tokens are never taken from the command line).
    #[arg(long, value_enum)]
    pub(crate) shape: Shape,
    /// The localStorage key, `auth_token_app_<configId>_<provider>`.
    #[arg(long, required_if_eq("shape", "local-storage"))]
    pub(crate) key: Option<String>,
    /// The provider of an oidc-client-ts user (`keycloak`, `auth0`).
    #[arg(long, required_if_eq("shape", "oidc-user"))]
    pub(crate) provider_type: Option<String>,
}

async fn load(settings: &Settings, source: &ArtifactSource) -> Result<DataCollectApp> {
    let store = Arc::new(settings.open_store().await?);
    let text = source.artifact.trim();
    let app = if text.starts_with("https://") || text.starts_with("http://") {
        DataCollectApp::from_url(text, store, OidcOptions::default()).await
    } else {
        DataCollectApp::from_file(Path::new(text), store, OidcOptions::default())
    };
    let app = app.with_context(|| format!("cannot load the app-config artifact {text}"))?;
    for warning in app.warnings() {
        eprintln!("warning: {warning}");
    }
    Ok(app)
}

/// `from-artifact`: what the artifact sets up, and the sessions it already
/// has; with `--login`, the header, refresh and logout of that login.
pub(crate) async fn from_artifact(settings: &Settings, args: &FromArtifactArgs) -> Result<()> {
    let app = load(settings, &args.source).await?;
    println!(
        "App {} (configId, and the tenant of its sessions)",
        app.config_id()
    );
    println!("PROVIDER     SCHEME       SESSION");
    for provider in &app.artifact().providers {
        let name = provider.name();
        let shown = match app.manager().session(name.as_str()).await {
            Ok(session) => session.as_ref().map_or("-".to_owned(), |s| {
                s.subject.clone().unwrap_or_else(|| "(stored)".into())
            }),
            // Another app's (another origin's) session: not this app's to show.
            Err(authresult_core::Error::OriginMismatch { .. }) => "(another origin's)".to_owned(),
            Err(e) => return Err(e.into()),
        };
        println!("{:<12} {:<12} {}", name.as_str(), provider.scheme(), shown);
    }
    let Some(provider) = &args.login else {
        return Ok(());
    };
    if args.header {
        let header = app
            .authorization_header(provider)
            .await
            .with_context(|| format!("no Authorization header for `{provider}`"))?;
        println!("{}", shown_header(&header)?);
    }
    if args.refresh {
        let before = app.manager().session(provider).await?;
        let session = app
            .manager()
            .refresh(provider)
            .await
            .with_context(|| format!("cannot refresh `{provider}`"))?;
        let kept = before
            .as_ref()
            .is_some_and(|b| b.auth.access_token.secret() == session.auth.access_token.secret());
        println!(
            "{} {provider}: token sha256:{}, expiry {}",
            if kept {
                "Kept (no refresh token, or the provider was unreachable)"
            } else {
                "Refreshed"
            },
            fingerprint(session.auth.access_token.secret()),
            example_common::expiry(Some(&session), authresult_core::Timestamp::now())
        );
    }
    if args.logout {
        let report = app
            .manager()
            .logout(provider)
            .await
            .with_context(|| format!("cannot log out of `{provider}`"))?;
        println!(
            "Logged out of {provider}: local session {}; revocation {}",
            if report.removed {
                "removed"
            } else {
                "was not there"
            },
            match &report.revocation {
                Ok(()) => "done".to_owned(),
                Err(e) => format!("failed ({e})"),
            }
        );
    }
    Ok(())
}

/// `import-datacollect`: imports one stored token read from stdin.
pub(crate) async fn import(settings: &Settings, args: &ImportArgs) -> Result<()> {
    let app = load(settings, &args.source).await?;
    let mut input = String::new();
    std::io::stdin()
        .take(u64::try_from(authresult_core::MAX_STORED_TOKEN_BYTES).unwrap_or(u64::MAX) + 1)
        .read_to_string(&mut input)
        .context("cannot read the stored token from stdin")?;
    let session = match (args.shape, &args.key, &args.provider_type) {
        (Shape::IndexeddbRecord, _, _) => app.import_indexeddb_record(&input).await?,
        (Shape::LocalStorage, Some(key), _) => app.import_local_storage(key, input.trim()).await?,
        (Shape::OidcUser, _, Some(provider)) => app.import_oidc_user(provider, &input).await?,
        _ => bail!("--key (local-storage) or --provider-type (oidc-user) is missing"),
    };
    println!(
        "Imported the {} session of app {} (subject {}); requests send `{} <token>`.",
        session.key.provider,
        app.config_id(),
        session.subject.as_deref().unwrap_or("unknown"),
        authresult_core::datacollect_scheme(session.key.provider.as_str()),
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_is_shown_by_scheme_and_fingerprint_never_by_token() {
        let token = "eyJhbGciOiJIUzI1NiJ9.eyJpZCI6NDJ9.c2lnbmF0dXJl";
        let header =
            http::HeaderValue::from_str(&format!("keycloak {token}")).unwrap_or_else(|_| unreachable!());
        let shown = shown_header(&header).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            shown,
            format!("Authorization: keycloak <token sha256:{}>", fingerprint(token))
        );
        assert!(!shown.contains("eyJ"), "{shown}");
        assert_eq!(fingerprint(token).len(), 8);
        assert_ne!(fingerprint(token), fingerprint("another token"));
    }
}
