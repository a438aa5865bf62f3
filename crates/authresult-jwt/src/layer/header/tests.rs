//! Unit tests of the `Authorization` header split: the answers the RFCs
//! give, and the same answer as the rule stated plainly (as text, per
//! character) for any value a client may send.

#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors.

use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;

use super::*;

/// What `credentials` answers for one header value: `Err(())` for 400,
/// else the scheme and token.
type Answer = Result<Option<(String, String)>, ()>;

fn split(value: &[u8]) -> Answer {
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
    match credentials(&headers) {
        Ok(found) => Ok(found.map(|c| (c.scheme.to_owned(), c.token.to_owned()))),
        Err(Rejection::BadRequest) => Err(()),
        Err(_) => panic!("only 400 is expected"),
    }
}

/// The rule, one check after the other on the text.
fn plainly(value: &HeaderValue) -> Answer {
    let value = value.to_str().map_err(|_| ())?;
    let Some((scheme, rest)) = value.split_once(' ') else {
        return Ok(None);
    };
    let tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if scheme.is_empty() || !scheme.chars().all(tchar) {
        return Err(());
    }
    let token = rest.trim_start_matches(' ').trim_end();
    let body = token.trim_end_matches('=');
    let token68 = |c: char| c.is_ascii_alphanumeric() || "-._~+/".contains(c);
    if body.is_empty() || !body.chars().all(token68) {
        return Err(());
    }
    Ok(Some((scheme.to_owned(), token.to_owned())))
}

#[test]
fn a_scheme_and_a_token_are_split() {
    let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl";
    assert_eq!(
        split(format!("Bearer {jwt}").as_bytes()),
        Ok(Some(("Bearer".to_owned(), jwt.to_owned())))
    );
    assert_eq!(
        split(b"keycloak   abc+/==  \t"),
        Ok(Some(("keycloak".to_owned(), "abc+/==".to_owned())))
    );
}

#[test]
fn no_token_is_no_credentials_and_bad_syntax_is_refused() {
    assert_eq!(split(b""), Ok(None));
    assert_eq!(split(b"Bearer"), Ok(None));
    for bad in [
        &b"Bearer "[..],
        b"Bearer  \t",
        b"Bearer a b",
        b"Bearer a=b",
        b"Bearer ==",
        b"Bearer \tabc",
        b"Bea(rer abc",
        b" abc",
        b"Bearer t\xc3\xb6k",
        b"Bearer\xff",
        b"Bearer abc\x80",
        b"Bearer a\"b",
    ] {
        assert_eq!(split(bad), Err(()), "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn a_bad_byte_anywhere_in_a_long_token_is_refused() {
    let token = "a".repeat(100);
    assert!(split(format!("Bearer {token}").as_bytes()).unwrap().is_some());
    for at in 0..token.len() {
        for bad in [b'!', b'=', b'\t', 0x80] {
            let mut value = format!("Bearer {token}").into_bytes();
            value[7 + at] = bad;
            // Padding and a tab are fine at the very end only.
            let tail_ok = at == token.len() - 1 && (bad == b'=' || bad == b'\t');
            assert_eq!(split(&value).is_ok(), tail_ok, "byte {bad:#04x} at {at}");
        }
    }
}

proptest! {
    /// Any value a header may hold, biased towards the bytes that matter
    /// (blanks, padding, token characters, a few others, non-ASCII), long
    /// enough to cross the sixteen-byte chunks.
    #[test]
    fn the_split_answers_as_the_rule_stated_plainly(
        value in proptest::collection::vec(
            prop_oneof![
                4 => proptest::sample::select(b"Bearer abcXYZ019-._~+/".to_vec()),
                2 => proptest::sample::select(b" \t=".to_vec()),
                1 => proptest::sample::select(b"!#(\"\\,;:{}`|*".to_vec()),
                1 => proptest::sample::select(vec![0x80u8, 0xc3, 0xb6, 0xff, 0x7f - 1]),
            ],
            0..80,
        )
    ) {
        let Ok(header) = HeaderValue::from_bytes(&value) else {
            return Ok(());
        };
        prop_assert_eq!(split(&value), plainly(&header));
        // The unchecked split agrees wherever its token is b64token text,
        // and finds every token the checked one accepts.
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, header);
        let raw = raw_credentials(&headers).map(|raw| (raw.scheme.to_owned(), raw.token.to_vec()));
        match credentials(&headers) {
            Ok(Some(checked)) => prop_assert_eq!(
                raw,
                Some((checked.scheme.to_owned(), checked.token.as_bytes().to_vec()))
            ),
            _ => prop_assert!(raw.is_none_or(|(_, token)| token_text(&token).is_none())),
        }
    }
}
