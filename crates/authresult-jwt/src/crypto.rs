//! The crypto backend of the JOSE code: `ring` by default, `aws-lc-rs`
//! (through its `ring`-compatible API) with the `aws-lc-rs` feature. The
//! rest of the crate names `crypto::{digest, hmac, rand, signature}` only,
//! so it does not depend on which backend is built: this is the one place
//! naming the backend. `--no-default-features --features aws-lc-rs` builds
//! without `ring` (`cargo xtask ci` checks the dependency tree).

#[cfg(feature = "aws-lc-rs")]
pub(crate) use aws_lc_rs::{digest, hmac, rand, signature};
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
pub(crate) use ring::{digest, hmac, rand, signature};
#[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
compile_error!("authresult-jwt needs a crypto backend: the `ring` (default) or the `aws-lc-rs` feature");

/// The two backends' signing APIs differ in small ways; these shims are the
/// only place that knows.
#[cfg(feature = "aws-lc-rs")]
mod shim {
    use super::signature::{
        EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents,
    };

    /// An ECDSA key pair from PKCS#8.
    pub(crate) fn ecdsa_from_pkcs8(alg: &'static EcdsaSigningAlgorithm, der: &[u8]) -> Option<EcdsaKeyPair> {
        EcdsaKeyPair::from_pkcs8(alg, der).ok()
    }

    /// The RSA public key's modulus and exponent.
    pub(crate) fn rsa_public(pair: &RsaKeyPair) -> RsaPublicKeyComponents<Vec<u8>> {
        pair.public_key().into()
    }
}

#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
mod shim {
    use super::rand::SystemRandom;
    use super::signature::{EcdsaKeyPair, EcdsaSigningAlgorithm, RsaKeyPair, RsaPublicKeyComponents};

    /// An ECDSA key pair from PKCS#8.
    pub(crate) fn ecdsa_from_pkcs8(alg: &'static EcdsaSigningAlgorithm, der: &[u8]) -> Option<EcdsaKeyPair> {
        EcdsaKeyPair::from_pkcs8(alg, der, &SystemRandom::new()).ok()
    }

    /// The RSA public key's modulus and exponent.
    pub(crate) fn rsa_public(pair: &RsaKeyPair) -> RsaPublicKeyComponents<Vec<u8>> {
        pair.public().into()
    }
}

pub(crate) use shim::{ecdsa_from_pkcs8, rsa_public};
