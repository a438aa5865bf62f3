//! Unit tests of the key and the cipher.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use super::{Cipher, EncryptionKey, aad};

fn cipher(byte: u8) -> Cipher {
    EncryptionKey::from_bytes([byte; 32]).cipher(None).unwrap()
}

#[test]
fn sealed_values_open_only_with_the_same_key_and_aad() {
    let c = cipher(1);
    let sealed = c.seal(b"row-1", b"the tokens").unwrap();
    assert_eq!(c.open(b"row-1", &sealed).unwrap().as_slice(), b"the tokens");
    assert!(c.open(b"row-2", &sealed).is_none(), "other row");
    assert!(cipher(2).open(b"row-1", &sealed).is_none(), "other key");
    for i in 0..sealed.len() {
        let mut damaged = sealed.clone();
        damaged[i] ^= 0x01;
        assert!(c.open(b"row-1", &damaged).is_none(), "byte {i} changed");
    }
    assert!(
        c.open(b"row-1", &sealed[..sealed.len() - 1]).is_none(),
        "truncated"
    );
    assert!(c.open(b"row-1", &[]).is_none(), "empty");
    assert!(c.open(b"row-1", &sealed[..10]).is_none(), "shorter than a nonce");
}

#[test]
fn every_seal_uses_a_fresh_nonce() {
    let c = cipher(1);
    assert_ne!(c.seal(b"", b"same").unwrap(), c.seal(b"", b"same").unwrap());
}

#[test]
fn aad_parts_cannot_be_shifted() {
    assert_ne!(aad("d", &[b"ab", b"c"]), aad("d", &[b"a", b"bc"]));
    assert_ne!(aad("d", &[b"a"]), aad("e", &[b"a"]));
}

#[test]
fn the_key_check_tells_a_wrong_key() {
    let check = cipher(1).key_check().unwrap();
    assert!(cipher(1).verify_key_check(&check));
    assert!(!cipher(2).verify_key_check(&check));
    assert!(!cipher(1).verify_key_check(b"garbage"));
}

#[test]
fn passphrases_need_a_salt_and_derive_deterministically() {
    let key = EncryptionKey::from_passphrase("pass");
    assert!(key.needs_salt());
    assert!(key.secret_bytes().is_none());
    assert!(key.cipher(None).is_err());
    let salt = [7u8; 16];
    let sealed = key.cipher(Some(&salt)).unwrap().seal(b"", b"x").unwrap();
    let again = EncryptionKey::derive_from_passphrase("pass", &salt).unwrap();
    assert!(!again.needs_salt());
    assert!(again.cipher(None).unwrap().open(b"", &sealed).is_some());
    let other_salt = EncryptionKey::derive_from_passphrase("pass", &[8u8; 16]).unwrap();
    assert!(other_salt.cipher(None).unwrap().open(b"", &sealed).is_none());
}

#[test]
fn debug_output_is_redacted() {
    assert_eq!(
        format!("{:?}", EncryptionKey::from_bytes([0x5a; 32])),
        "EncryptionKey([redacted])"
    );
    assert_eq!(format!("{:?}", cipher(0x5a)), "Cipher([redacted])");
}
