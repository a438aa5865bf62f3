//! Unit tests of the b64token rule.

use super::*;

#[test]
fn token68_is_exactly_its_characters() {
    for b in 0..=u8::MAX {
        let expected = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
        assert_eq!(is_token68(b), expected, "byte {b:#04x}");
    }
}

#[test]
fn text_is_token68_then_padding() {
    assert_eq!(token_text(b"abc.DEF-_~+/=="), Some("abc.DEF-_~+/=="));
    let long = "x".repeat(70);
    assert_eq!(token_text(long.as_bytes()), Some(long.as_str()));
    for bad in [&b""[..], b"==", b"a=b", b"a b", b"a!", b"t\xc3\xb6k", b"abc\x80"] {
        assert_eq!(token_text(bad), None, "{}", String::from_utf8_lossy(bad));
    }
    // A bad byte in the last, overlapping block of a long token.
    let mut long = "x".repeat(70).into_bytes();
    long[69] = b'!';
    assert_eq!(token_text(&long), None);
}
