//! The DataCollect subcommands: load an app-config artifact (`from-artifact`)
//! and import the tokens DataCollect's client stored (`import-datacollect`).

use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use authresult_oidc::{DataCollectApp, OidcOptions};
use clap::{Args, ValueEnum};
use example_common::Settings;

/// Where the artifact comes from.
#[derive(Debug, Args)]
pub(crate) struct ArtifactSource {
    /// The artifact: its URL (the text of the app's QR code,
    /// `https://<server>/artifacts/<artifactId>.json`) or a file path.
    pub(crate) artifact: String,
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

/// `from-artifact`: what the artifact sets up, and the sessions it already has.
pub(crate) async fn from_artifact(settings: &Settings, source: &ArtifactSource) -> Result<()> {
    let app = load(settings, source).await?;
    println!(
        "App {} (configId, and the tenant of its sessions)",
        app.config_id()
    );
    println!("PROVIDER     SCHEME       SESSION");
    for provider in &app.artifact().providers {
        let name = provider.name();
        let session = app.manager().session(name.as_str()).await?;
        println!(
            "{:<12} {:<12} {}",
            name.as_str(),
            provider.scheme(),
            session.as_ref().map_or("-".to_owned(), |s| s
                .subject
                .clone()
                .unwrap_or_else(|| "(stored)".into()))
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
