//! Unit tests of `NetworkOptions`' PEM inputs: bundles, garbage refused
//! with a typed error, and no key material in `Debug` or errors.

#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use super::*;

/// A certificate-shaped block: `CaCertificates` only decodes the PEM, the
/// TLS backend parses the DER when the client is built.
const BLOCK: &str = "-----BEGIN CERTIFICATE-----\nMIIBAQ==\n-----END CERTIFICATE-----\n";
const KEY: &str = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n";

#[test]
fn ca_certificates_read_every_block_of_a_bundle() {
    let bundle = format!("{BLOCK}junk between blocks\n{BLOCK}");
    let certificates = CaCertificates::from_pem(bundle.as_bytes()).unwrap();
    assert_eq!(certificates.len(), 2);
    assert_eq!(certificates.clone().merged(certificates).len(), 4);
}

#[test]
fn ca_certificates_without_a_block_are_refused() {
    let error = CaCertificates::from_pem(b"not a certificate").unwrap_err();
    assert!(
        matches!(
            error,
            HttpError::InvalidPem {
                what: "ca certificate",
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "invalid ca certificate: no certificate block found"
    );
}

#[test]
fn client_identity_needs_a_pkcs8_key_and_hides_it() {
    let identity = ClientIdentity::from_pem(BLOCK.as_bytes(), KEY.as_bytes()).unwrap();
    let shown = format!("{identity:?}");
    assert!(!shown.contains("c2VjcmV0"), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
    let rsa = KEY.replace("PRIVATE KEY", "RSA PRIVATE KEY");
    let error = ClientIdentity::from_pem(BLOCK.as_bytes(), rsa.as_bytes()).unwrap_err();
    assert!(error.to_string().contains("pkcs#8"), "{error}");
    assert!(!error.to_string().contains("c2VjcmV0"), "{error}");
}

#[test]
fn proxy_credentials_stay_out_of_debug() {
    let url = Url::parse("http://field:proxy-password@proxy.example:3128").unwrap();
    let options = NetworkOptions {
        proxy: Proxy::Url(url),
        ..NetworkOptions::default()
    };
    let shown = format!("{options:?}");
    assert!(shown.contains("proxy.example:3128"), "{shown}");
    assert!(
        !shown.contains("proxy-password") && !shown.contains("field:"),
        "{shown}"
    );
}
