//! What the one HTTP client trusts and how it reaches a provider: extra CA
//! certificates (an organisation's private CA), the platform's native
//! roots, an HTTP(S) proxy, and a client certificate for mutual TLS
//! (RFC 8705). The login client (`OidcOptions::network`) and the validator
//! (`TokenValidatorBuilder::network`) take the same [`NetworkOptions`].

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use url::Url;
use zeroize::Zeroizing;

use crate::error::HttpError;
use crate::text::display_url;

/// Trust anchors and the route to the provider. The default trusts the
/// bundled web PKI roots only, follows the proxy environment variables, and
/// presents no client certificate.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NetworkOptions {
    /// CA certificates trusted besides the roots below, e.g. the
    /// organisation's own CA of a self-hosted Keycloak (default none).
    pub extra_roots: CaCertificates,
    /// Trust the bundled web PKI roots (Mozilla's, `webpki-roots`; default
    /// true). Turn off to trust only [`extra_roots`](Self::extra_roots)
    /// (and the native roots when asked).
    pub webpki_roots: bool,
    /// Trust the platform's certificate store as well (read once when the
    /// client is built, through `rustls-native-certs`: on Linux the system
    /// bundle or `SSL_CERT_FILE`/`SSL_CERT_DIR`). Default false.
    pub native_roots: bool,
    /// Which proxy requests go through (default [`Proxy::Environment`]).
    pub proxy: Proxy,
    /// A certificate and key presented to servers that ask for one (mutual
    /// TLS; RFC 8705 `tls_client_auth` / `self_signed_tls_client_auth`).
    /// Default none.
    pub client_identity: Option<ClientIdentity>,
}

impl Default for NetworkOptions {
    fn default() -> Self {
        NetworkOptions {
            extra_roots: CaCertificates::default(),
            webpki_roots: true,
            native_roots: false,
            proxy: Proxy::Environment,
            client_identity: None,
        }
    }
}

/// Which proxy the client uses. A plain-`http` loopback URL (`localhost`,
/// 127.0.0.0/8, `::1`) never goes through a proxy, from any of these: plain
/// `http` is allowed there only because it never leaves the host. `Debug` shows a proxy URL without its credentials.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Proxy {
    /// The proxy environment variables: `HTTPS_PROXY`/`https_proxy` for
    /// https URLs, `HTTP_PROXY`/`http_proxy` for http URLs (ignored when
    /// `REQUEST_METHOD` is set, i.e. under CGI), `ALL_PROXY`/`all_proxy` for
    /// both, with the hosts of `NO_PROXY`/`no_proxy` reached directly. No
    /// variable set means no proxy. The default.
    Environment,
    /// No proxy, whatever the environment says.
    None,
    /// Every request goes through this proxy: `http://host:port` (https
    /// requests are tunnelled with `CONNECT`, so the proxy never sees their
    /// content), optionally with `user:password@` for `Proxy-Authorization:
    /// Basic`. The environment is ignored.
    Url(Url),
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Proxy::Environment => f.write_str("Environment"),
            Proxy::None => f.write_str("None"),
            Proxy::Url(url) => f.debug_tuple("Url").field(&display_url(url)).finish(),
        }
    }
}

/// CA certificates to trust, parsed from PEM.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CaCertificates {
    certificates: Vec<CertificateDer<'static>>,
}

impl fmt::Debug for CaCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaCertificates")
            .field("count", &self.certificates.len())
            .finish()
    }
}

impl CaCertificates {
    /// Every `CERTIFICATE` block of `pem` (one certificate or a bundle);
    /// other blocks are skipped. No certificate, or a block that is not
    /// valid base64, is an error.
    pub fn from_pem(pem: &[u8]) -> Result<Self, HttpError> {
        let mut certificates = Vec::new();
        for certificate in CertificateDer::pem_slice_iter(pem) {
            certificates.push(certificate.map_err(|_| HttpError::InvalidPem {
                what: "ca certificate",
                reason: "a certificate block is not valid pem",
            })?);
        }
        if certificates.is_empty() {
            return Err(HttpError::InvalidPem {
                what: "ca certificate",
                reason: "no certificate block found",
            });
        }
        Ok(CaCertificates { certificates })
    }

    /// These certificates and `other`'s.
    pub fn merged(mut self, other: CaCertificates) -> Self {
        self.certificates.extend(other.certificates);
        self
    }

    /// How many certificates there are.
    pub fn len(&self) -> usize {
        self.certificates.len()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty()
    }

    pub(crate) fn der(&self) -> impl Iterator<Item = &[u8]> {
        self.certificates.iter().map(|c| c.as_ref())
    }
}

/// A client certificate chain and its private key, for mutual TLS. `Debug`
/// shows neither; the key's bytes are wiped when dropped.
#[derive(Clone)]
pub struct ClientIdentity {
    /// The certificate chain, leaf first, then the key, as one PEM text
    /// (what `reqwest::Identity::from_pem` reads).
    pem: Zeroizing<Vec<u8>>,
    certificates: usize,
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("certificates", &self.certificates)
            .field("private_key", &"[redacted]")
            .finish()
    }
}

impl ClientIdentity {
    /// The chain (`CERTIFICATE` blocks, leaf first) from `certificate_pem`
    /// and the key (`PRIVATE KEY`, PKCS#8) from `key_pem`.
    pub fn from_pem(certificate_pem: &[u8], key_pem: &[u8]) -> Result<Self, HttpError> {
        let chain = CaCertificates::from_pem(certificate_pem).map_err(|_| HttpError::InvalidPem {
            what: "client certificate",
            reason: "no certificate block found",
        })?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|_| HttpError::InvalidPem {
            what: "client key",
            reason: "no pkcs#8 private key block found",
        })?;
        if !matches!(key, PrivateKeyDer::Pkcs8(_)) {
            return Err(HttpError::InvalidPem {
                what: "client key",
                reason: "the key must be pkcs#8 (`BEGIN PRIVATE KEY`)",
            });
        }
        let mut pem = Zeroizing::new(Vec::with_capacity(certificate_pem.len() + key_pem.len() + 1));
        pem.extend_from_slice(certificate_pem);
        pem.push(b'\n');
        pem.extend_from_slice(key_pem);
        Ok(ClientIdentity {
            pem,
            certificates: chain.len(),
        })
    }

    pub(crate) fn pem(&self) -> &[u8] {
        &self.pem
    }
}

/// Which requests a client built by [`NetworkOptions::apply`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// Every request but plain `http` to loopback: through the proxy, if any.
    Proxied,
    /// Plain `http` to a loopback host: never through a proxy (not even one
    /// from the environment), and `localhost` is 127.0.0.1 or ::1, never
    /// a DNS answer.
    Loopback,
}

impl NetworkOptions {
    /// Applies these options to a client builder for `route`.
    pub(crate) fn apply(
        &self,
        mut builder: reqwest::ClientBuilder,
        route: Route,
    ) -> Result<reqwest::ClientBuilder, HttpError> {
        builder = builder
            .tls_built_in_webpki_certs(self.webpki_roots)
            .tls_built_in_native_certs(self.native_roots);
        for der in self.extra_roots.der() {
            let certificate = reqwest::Certificate::from_der(der).map_err(HttpError::Build)?;
            builder = builder.add_root_certificate(certificate);
        }
        builder = match (&self.proxy, route) {
            (_, Route::Loopback) => builder.no_proxy().resolve_to_addrs(
                "localhost",
                &[
                    SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                    SocketAddr::from((Ipv6Addr::LOCALHOST, 0)),
                ],
            ),
            (Proxy::Environment, Route::Proxied) => builder,
            (Proxy::None, Route::Proxied) => builder.no_proxy(),
            (Proxy::Url(url), Route::Proxied) => {
                builder.proxy(reqwest::Proxy::all(url.as_str()).map_err(|_| HttpError::InvalidProxy)?)
            }
        };
        if let Some(identity) = &self.client_identity {
            let identity =
                reqwest::Identity::from_pem(identity.pem()).map_err(|_| HttpError::InvalidPem {
                    what: "client identity",
                    reason: "the certificate and key are not usable together",
                })?;
            builder = builder.identity(identity);
        }
        Ok(builder)
    }
}

#[cfg(test)]
mod tests;
