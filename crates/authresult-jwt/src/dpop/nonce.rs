//! Server nonces for DPoP proofs (RFC 9449 §8), stateless: the nonce of a
//! time slot is an HMAC of the slot's number under a server secret, so every
//! instance with the same secret issues and accepts the same nonces, and
//! nothing is stored. The current and the previous slot's nonces are
//! accepted, so a nonce handed out just before a slot ends still works.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use authresult_core::Timestamp;

use super::super::crypto::hmac;
use super::super::error::ValidationError;

/// Bytes of the HMAC kept in a nonce (128 bits).
const NONCE_BYTES: usize = 16;
/// The shortest secret accepted.
const MIN_SECRET_LEN: usize = 32;

/// Issues and checks the nonces a server requires in DPoP proofs
/// ([`DpopConfig::nonces`](crate::DpopConfig::nonces)). Instances sharing
/// the secret agree on them. Its `Debug` output hides the secret.
#[derive(Clone)]
pub struct DpopNonces {
    key: hmac::Key,
    slot_ms: u64,
}

impl fmt::Debug for DpopNonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopNonces")
            .field("secret", &"[redacted]")
            .field("slot_ms", &self.slot_ms)
            .finish()
    }
}

impl DpopNonces {
    /// Nonces under `secret` (at least 32 bytes, the same on every
    /// instance), each issued for a slot of `lifetime` (at least one
    /// second) and accepted until the end of the next slot.
    pub fn new(secret: &[u8], lifetime: Duration) -> Result<Self, ValidationError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(ValidationError::config(
                "the dpop nonce secret is shorter than 32 bytes",
            ));
        }
        let slot_ms = u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX);
        if slot_ms < 1000 {
            return Err(ValidationError::config(
                "the dpop nonce lifetime is under one second",
            ));
        }
        Ok(DpopNonces {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            slot_ms,
        })
    }

    fn slot(&self, now: Timestamp) -> u64 {
        now.as_millis() / self.slot_ms
    }

    fn of_slot(&self, slot: u64) -> [u8; 22] {
        let mut message = *b"dpop-nonce:\0\0\0\0\0\0\0\0";
        message[11..].copy_from_slice(&slot.to_be_bytes());
        let tag = hmac::sign(&self.key, &message);
        let mut out = [0u8; 22];
        // 16 bytes encode to exactly 22 characters without padding.
        let _ = URL_SAFE_NO_PAD.encode_slice(&tag.as_ref()[..NONCE_BYTES], &mut out);
        out
    }

    /// The nonce to hand out at `now` (the `DPoP-Nonce` header).
    pub fn current(&self, now: Timestamp) -> String {
        String::from_utf8_lossy(&self.of_slot(self.slot(now))).into_owned()
    }

    /// True when `nonce` is this or the previous slot's nonce at `now`.
    pub fn accepts(&self, nonce: &str, now: Timestamp) -> bool {
        let slot = self.slot(now);
        let nonce = nonce.as_bytes();
        nonce == self.of_slot(slot) || (slot > 0 && nonce == self.of_slot(slot - 1))
    }
}
