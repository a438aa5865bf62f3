//! The `Authorization` header, split into its scheme and token.
//!
//! Every protected request goes through here, and a token is hundreds of
//! bytes: the value is read as bytes, once, rather than checked as UTF-8,
//! then as visible ASCII, then per character class. A request that can be
//! answered from the token cache skips the token's check altogether
//! ([`raw_credentials`]).

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue};

use super::Rejection;
use crate::token68::token_text;

/// The `Authorization` header, split.
pub(super) struct Credentials<'a> {
    pub(super) scheme: &'a str,
    pub(super) token: &'a str,
}

/// A byte a header value may hold as text (RFC 9110 field-vchar, SP, HTAB;
/// what `HeaderValue::to_str` accepts).
const VISIBLE: u8 = 1;
/// A byte of an RFC 9110 token (an auth-scheme).
const TCHAR: u8 = 2;
/// Each byte's classes.
const CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut class = 0;
        if b == b'\t' || (b >= 0x20 && b < 0x7f) {
            class |= VISIBLE;
        }
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            )
        {
            class |= TCHAR;
        }
        table[i] = class;
        i += 1;
    }
    table
};

/// Whether every byte of `bytes` is of `class`.
fn all_of(bytes: &[u8], class: u8) -> bool {
    bytes.iter().all(|&b| CLASSES[usize::from(b)] & class == class)
}

/// The one `Authorization` value; `None` without one, 400 for several.
fn one_value(headers: &HeaderMap) -> Result<Option<&HeaderValue>, Rejection> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Rejection::BadRequest);
    }
    Ok(Some(value))
}

/// `bytes` split at the first space into the scheme and the token (after
/// any further spaces, before trailing blanks); `None` without a space.
fn split_value(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let space = bytes.iter().position(|&b| b == b' ')?;
    let (scheme, rest) = (&bytes[..space], &bytes[space + 1..]);
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    let end = rest
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |last| last + 1)
        .max(start);
    Some((scheme, &rest[start..end]))
}

/// The scheme as text, when it is an RFC 9110 token.
fn scheme_text(scheme: &[u8]) -> Option<&str> {
    if scheme.is_empty() || !all_of(scheme, TCHAR) {
        return None;
    }
    // Checked above: ASCII, so UTF-8.
    std::str::from_utf8(scheme).ok()
}

/// The scheme and token of the one `Authorization` header; `None` without
/// one (or without a token after the scheme). Several headers, a value that
/// is not visible ASCII, a scheme that is not an RFC 9110 token, or a token
/// that is not an RFC 6750 b64token: 400.
pub(super) fn credentials(headers: &HeaderMap) -> Result<Option<Credentials<'_>>, Rejection> {
    let Some(value) = one_value(headers)? else {
        return Ok(None);
    };
    let bytes = value.as_bytes();
    let Some((scheme, token)) = split_value(bytes) else {
        // A scheme alone: no credentials, if the value is text at all.
        return if all_of(bytes, VISIBLE) {
            Ok(None)
        } else {
            Err(Rejection::BadRequest)
        };
    };
    match (scheme_text(scheme), token_text(token)) {
        (Some(scheme), Some(token)) => Ok(Some(Credentials { scheme, token })),
        _ => Err(Rejection::BadRequest),
    }
}

/// The `Authorization` header split, its token not checked: for a lookup
/// among tokens already validated, which the token cache admits only when
/// they are b64token text (a hit proves the check [`credentials`] makes).
pub(super) struct RawCredentials<'a> {
    pub(super) scheme: &'a str,
    pub(super) token: &'a [u8],
}

/// The one `Authorization` header's scheme (checked) and token (not
/// checked); `None` for anything [`credentials`] does not accept with a
/// token, and possibly for more.
pub(super) fn raw_credentials(headers: &HeaderMap) -> Option<RawCredentials<'_>> {
    let value = one_value(headers).ok()??;
    let (scheme, token) = split_value(value.as_bytes())?;
    Some(RawCredentials {
        scheme: scheme_text(scheme)?,
        token,
    })
}

#[cfg(test)]
mod tests;
