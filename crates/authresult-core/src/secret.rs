//! Secret newtypes: token strings that never print, never serialize by
//! accident, and are wiped on drop.
//!
//! None of them implements `Serialize`: `serde_json::to_string(&password)`
//! does not compile. Reading them (`Deserialize`) is allowed. The only ways
//! to write one out are [`secret`](AccessToken::secret) and the explicit
//! stored form [`Exposed`](crate::Exposed) (used by the stores' codec);
//! [`AuthResult`](crate::AuthResult) writes its tokens through its own
//! DataCollect wire format.

use serde::{Deserialize, Deserializer, Serializer};
use zeroize::Zeroizing;

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        ///
        /// `Debug` prints `
        #[doc = stringify!($name)]
        /// ([redacted])`; the memory holding the text is zeroed on drop. There is
        /// deliberately no `PartialEq`: compare with [`Self::secret`] only where
        /// the comparison cannot leak timing to an attacker, and no
        /// `Serialize`: only [`Exposed`](crate::Exposed) writes the text, on purpose.
        #[derive(Clone)]
        pub struct $name(Zeroizing<String>);

        impl $name {
            /// Wraps a secret string.
            pub fn new(secret: impl Into<String>) -> Self {
                Self(Zeroizing::new(secret.into()))
            }

            /// The secret text.
            ///
            /// # Security warning
            ///
            /// The returned text is a credential. Do not log it, put it in an
            /// error message, or keep copies of it longer than needed.
            pub fn secret(&self) -> &str {
                self.0.as_str()
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }

        impl SecretText for $name {
            fn text(&self) -> &str {
                self.secret()
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                String::deserialize(deserializer).map(Self::new)
            }
        }
    };
}

secret_type!(
    /// An OAuth 2.0 access token.
    AccessToken
);
secret_type!(
    /// An OAuth 2.0 refresh token.
    RefreshToken
);
secret_type!(
    /// An OpenID Connect ID token (a signed JWT).
    IdToken
);
secret_type!(
    /// A user's password, as typed into a login form.
    Password
);
secret_type!(
    /// A confidential client's secret.
    ClientSecret
);
secret_type!(
    /// Provider-specific state kept between the start and the end of an
    /// interactive login (a PKCE verifier, a nonce, a device code).
    PendingSecret
);
secret_type!(
    /// A session's whole [`AuthResult`](crate::AuthResult) sealed by a store
    /// that seals sessions itself (`authresult-store`'s `VaultedStore`), in
    /// the text form that store wrote (`Session::sealed_auth`). It stands
    /// for every token of the session, so it is kept like them.
    SealedAuth
);
secret_type!(
    /// A session's DPoP private key (RFC 9449), as the text of its PKCS#8
    /// document in unpadded base64url. It proves possession of the key a
    /// bound token is tied to, so it is kept like the tokens: sealed with
    /// them by the stores, never printed.
    DpopPrivateKey
);

/// The text of any secret newtype, for [`in_clear`] only.
pub(crate) trait SecretText {
    /// The secret text.
    fn text(&self) -> &str;
}

impl<T: SecretText + ?Sized> SecretText for &T {
    fn text(&self) -> &str {
        (**self).text()
    }
}

/// `#[serde(serialize_with = "in_clear")]`: writes a secret's text. Used
/// only by the explicit stored form ([`Exposed`](crate::Exposed)).
pub(crate) fn in_clear<T: SecretText, S: Serializer>(secret: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.text())
}
