//! A DataCollect app, client side: its app-config artifact (file, URL or
//! the QR code's payload) loaded into a ready [`AuthManager`], the
//! `Authorization` header DataCollect's server expects, and the import of
//! the tokens DataCollect's client stored.

use std::fmt;
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use authresult_core::{
    AccessToken, AppArtifact, AuthManager, Clock, Error, MAX_ARTIFACT_BYTES, Session, StoredToken, Stores,
    check_transport, datacollect_scheme,
};
use http::HeaderValue;
use url::Url;

use crate::build_provider;
use crate::error::{Endpoint, OidcError};
use crate::http::Requests;
use crate::options::OidcOptions;

/// The `Authorization` header value DataCollect's server expects for a
/// token of `provider_type`: `Bearer <token>` for the sync server's own
/// token (`default`), `<type> <token>` otherwise (`keycloak <token>`,
/// `auth0 <token>`), as DataCollect's client sends it. The value is marked
/// sensitive (its `Debug` shows no token).
///
/// A token that cannot be a header value (control characters) is an error
/// that does not quote it.
pub fn authorization_header(provider_type: &str, token: &AccessToken) -> Result<HeaderValue, OidcError> {
    header_value(provider_type, datacollect_scheme(provider_type), token)
}

fn header_value(provider_type: &str, scheme: &str, token: &AccessToken) -> Result<HeaderValue, OidcError> {
    let mut value = HeaderValue::from_str(&format!("{scheme} {}", token.secret())).map_err(|_| {
        OidcError::config(format!(
            "the `{provider_type}` access token or scheme cannot be sent in an Authorization header"
        ))
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// A DataCollect app on the client: the [`AuthManager`] of its artifact
/// (tenant = the app's `id`, its `configId`), with one provider per
/// supported `authConfigs[]` entry, registered under its type, and the
/// `default` sync-server login from `syncServerUrl`.
///
/// ```no_run
/// use std::sync::Arc;
/// use authresult_oidc::{DataCollectApp, OidcOptions};
/// use authresult_core::MemoryStore;
///
/// # async fn run() -> Result<(), authresult_core::Error> {
/// // The text of the app's QR code is the artifact's URL.
/// let app = DataCollectApp::from_url(
///     "https://sync.example.org/artifacts/9f0c1d2e3a4b5c6d.json",
///     Arc::new(MemoryStore::new()),
///     OidcOptions::default(),
/// )
/// .await?;
/// for warning in app.warnings() {
///     eprintln!("warning: {warning}"); // e.g. a client secret published in the artifact
/// }
/// let header = app.authorization_header("keycloak").await?; // `keycloak <fresh token>`
/// # let _ = header;
/// # Ok(())
/// # }
/// ```
pub struct DataCollectApp {
    artifact: AppArtifact,
    manager: AuthManager,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for DataCollectApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataCollectApp")
            .field("config_id", &self.artifact.id)
            .field("providers", &self.manager.providers())
            .field("warnings", &self.artifact.warnings)
            .finish_non_exhaustive()
    }
}

impl DataCollectApp {
    /// An app from a parsed artifact. Every provider is built with
    /// `options` (DPoP nonces kept in `store` unless `options.dpop_nonces`
    /// names another place); the manager uses `options.clock` and signs
    /// resource-request proofs with `DpopSigner`. Each
    /// [`warning`](Self::warnings) is also logged (`tracing`, level warn,
    /// without any secret).
    pub fn from_artifact(
        artifact: AppArtifact,
        store: impl Into<Stores>,
        options: OidcOptions,
    ) -> Result<Self, Error> {
        for warning in &artifact.warnings {
            tracing::warn!(config_id = %artifact.id, "DataCollect app-config artifact: {warning}");
        }
        let clock = Arc::clone(&options.clock);
        let stores: Stores = store.into();
        let mut options = options;
        // DPoP nonces in the app's store (shared by its processes), unless
        // the options name another place.
        options.dpop_nonces.get_or_insert_with(|| {
            crate::dpop::DpopNonces::new(artifact.id.as_str(), Arc::clone(&stores.nonces))
        });
        let mut builder = AuthManager::builder(artifact.id.as_str(), stores)
            .clock(Arc::clone(&clock))
            .proof_signer(Arc::new(authresult_jwt::DpopSigner::new()));
        for provider in &artifact.providers {
            builder = builder.provider(
                provider.name(),
                build_provider(&provider.config, options.clone())?,
            );
        }
        Ok(DataCollectApp {
            manager: builder.build(),
            artifact,
            clock,
        })
    }

    /// An app from an artifact's JSON text (see [`AppArtifact::from_json_str`];
    /// `options.allow_insecure_http` applies to every URL in it).
    pub fn from_json_str(json: &str, store: impl Into<Stores>, options: OidcOptions) -> Result<Self, Error> {
        let artifact = AppArtifact::from_json_str(json, options.allow_insecure_http)?;
        Self::from_artifact(artifact, store, options)
    }

    /// An app from an artifact file (as DataCollect's "select file" reads
    /// it), at most [`MAX_ARTIFACT_BYTES`].
    pub fn from_file(path: &Path, store: impl Into<Stores>, options: OidcOptions) -> Result<Self, Error> {
        let file_error = |source| OidcError::ArtifactFile {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::File::open(path).map_err(file_error)?;
        let mut bytes = Vec::new();
        let cap = u64::try_from(MAX_ARTIFACT_BYTES)
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        file.take(cap).read_to_end(&mut bytes).map_err(file_error)?;
        Self::from_json_str(&artifact_text(bytes)?, store, options)
    }

    /// An app from the artifact at `url`: DataCollect's server publishes it
    /// at `{server}/artifacts/{artifactId}.json`, and the app's QR code
    /// holds exactly that URL, so the scanned text can be passed as is
    /// (surrounding whitespace is ignored).
    ///
    /// The URL must be `https` (plain `http` only to a loopback host, or
    /// with `options.allow_insecure_http`), checked before any request. The
    /// request goes through the workspace's one HTTP client with the
    /// options' timeouts, follows no redirect, and reads at most
    /// [`MAX_ARTIFACT_BYTES`].
    pub async fn from_url(url: &str, store: impl Into<Stores>, options: OidcOptions) -> Result<Self, Error> {
        let url = Url::parse(url.trim()).map_err(|e| Error::InvalidConfig {
            field: "url".into(),
            reason: format!("is not a valid artifact URL: {e}"),
        })?;
        check_transport(&url, options.allow_insecure_http).map_err(|reason| Error::InvalidConfig {
            field: "url".into(),
            reason,
        })?;
        let mut fetch_options = options.clone();
        fetch_options.max_response_bytes = MAX_ARTIFACT_BYTES;
        let http = Requests::new(&fetch_options)?;
        let body = http.get_body(Endpoint::AppConfig, &url, None).await?;
        Self::from_json_str(&artifact_text(body)?, store, options)
    }

    /// The manager: log in (`begin_login("keycloak", ..)`,
    /// `login("default", password)`), get fresh tokens, log out.
    pub fn manager(&self) -> &AuthManager {
        &self.manager
    }

    /// The parsed artifact (providers, sync server URL).
    pub fn artifact(&self) -> &AppArtifact {
        &self.artifact
    }

    /// The app's `id`: the `configId` DataCollect's server chooses the app by.
    pub fn config_id(&self) -> &str {
        &self.artifact.id
    }

    /// What the artifact holds that deserves attention, such as a client
    /// secret published in it.
    pub fn warnings(&self) -> &[authresult_core::ArtifactWarning] {
        &self.artifact.warnings
    }

    /// The `Authorization` header for a request to DataCollect's server as
    /// `provider` (a type of the artifact, or `default`): a fresh access
    /// token from the manager (refreshed if due) in the scheme DataCollect's
    /// server expects, its provider profile's ([`authorization_header`]).
    ///
    /// A stored session of another origin (an artifact that reused this
    /// app's `id` over the same store with another `syncServerUrl`, issuer
    /// or client id) gives no header: [`Error::OriginMismatch`], and the
    /// session is left as it is.
    pub async fn authorization_header(&self, provider: &str) -> Result<HeaderValue, Error> {
        let found = self
            .artifact
            .providers
            .iter()
            .find(|p| p.provider_type == provider)
            .ok_or_else(|| Error::UnknownProvider {
                provider: provider.to_owned(),
            })?;
        let token = self.manager.access_token(provider).await?;
        Ok(header_value(&found.provider_type, found.scheme(), &token)?)
    }

    /// Imports one record of DataCollect's IndexedDB `authStore_{tenant}`
    /// store (`{id, token, timestamp}`) as the session of provider `id`
    /// ([`StoredToken::from_indexeddb_record`], timed by the options' clock).
    pub async fn import_indexeddb_record(&self, json: &str) -> Result<Session, Error> {
        self.import(StoredToken::from_indexeddb_record(json, self.clock.now())?)
            .await
    }

    /// Imports one mobile `localStorage` entry of this app
    /// (`auth_token_app_{configId}_{provider}` and its token)
    /// ([`StoredToken::from_local_storage`]).
    pub async fn import_local_storage(&self, key: &str, value: &str) -> Result<Session, Error> {
        self.import(StoredToken::from_local_storage(
            key,
            value,
            &self.artifact.id,
            self.clock.now(),
        )?)
        .await
    }

    /// Imports an oidc-client-ts `User` (its storage JSON) as the session of
    /// `provider` ([`StoredToken::from_oidc_user`]: `expires_at` is read
    /// against the options' clock).
    pub async fn import_oidc_user(&self, provider: &str, json: &str) -> Result<Session, Error> {
        self.import(StoredToken::from_oidc_user(provider, json, self.clock.now())?)
            .await
    }

    async fn import(&self, stored: StoredToken) -> Result<Session, Error> {
        self.manager.import(stored.provider.as_str(), stored.auth).await
    }
}

fn artifact_text(bytes: Vec<u8>) -> Result<String, Error> {
    if bytes.len() > MAX_ARTIFACT_BYTES {
        return Err(Error::InvalidConfig {
            field: "(document)".into(),
            reason: format!("is larger than {MAX_ARTIFACT_BYTES} bytes"),
        });
    }
    String::from_utf8(bytes).map_err(|_| Error::InvalidConfig {
        field: "(document)".into(),
        reason: "is not UTF-8 text".into(),
    })
}

#[cfg(test)]
mod tests;
