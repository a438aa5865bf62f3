//! The `Authorization` header, split into its scheme and token.
//!
//! Every protected request goes through here, and a token is hundreds of
//! bytes: the value is read as bytes, once, rather than checked as UTF-8,
//! then as visible ASCII, then per character class; the token's characters
//! are checked in blocks the compiler turns into vector instructions.

use http::HeaderMap;
use http::header::AUTHORIZATION;

use super::Rejection;

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

/// A byte of an RFC 6750 b64token (RFC 9110 token68) before its `=`
/// padding: ALPHA / DIGIT / `-` / `.` / `_` / `~` / `+` / `/`. Comparisons
/// only (no table), so that a block of them becomes vector instructions.
fn is_token68(b: u8) -> bool {
    let digit = b.wrapping_sub(b'0') < 10;
    // Setting bit 5 maps A-Z onto a-z and leaves a-z as they are.
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    // `-`, `.` and `/` are consecutive.
    let dash_dot_slash = b.wrapping_sub(b'-') < 3;
    digit | letter | dash_dot_slash | (b == b'_') | (b == b'~') | (b == b'+')
}

/// Whether every byte of `block` is a token68 character, without a branch
/// per byte.
fn block_token68(block: &[u8]) -> bool {
    block.iter().fold(true, |ok, &b| ok & is_token68(b))
}

/// Whether every byte of `bytes` is a token68 character: in blocks of 32
/// bytes, the last one ending at the end (overlapping the block before it)
/// so that no byte is left to a loop of its own.
fn all_token68(bytes: &[u8]) -> bool {
    match bytes.last_chunk::<32>() {
        None => bytes.iter().all(|&b| is_token68(b)),
        Some(last) => bytes.chunks_exact(32).all(block_token68) && block_token68(last),
    }
}

/// The scheme and token of the one `Authorization` header; `None` without
/// one (or without a token after the scheme). Several headers, a value that
/// is not visible ASCII, a scheme that is not an RFC 9110 token, or a token
/// that is not an RFC 6750 b64token: 400.
pub(super) fn credentials(headers: &HeaderMap) -> Result<Option<Credentials<'_>>, Rejection> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Rejection::BadRequest);
    }
    let bytes = value.as_bytes();
    let Some(space) = bytes.iter().position(|&b| b == b' ') else {
        // A scheme alone: no credentials, if the value is text at all.
        return if all_of(bytes, VISIBLE) {
            Ok(None)
        } else {
            Err(Rejection::BadRequest)
        };
    };
    let (scheme, rest) = (&bytes[..space], &bytes[space + 1..]);
    if scheme.is_empty() || !all_of(scheme, TCHAR) {
        return Err(Rejection::BadRequest);
    }
    // The token: after any further spaces, before trailing blanks.
    let start = rest.iter().position(|&b| b != b' ').unwrap_or(rest.len());
    let end = rest
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |last| last + 1)
        .max(start);
    let token = &rest[start..end];
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..token.len() - padding];
    if body.is_empty() || !all_token68(body) {
        return Err(Rejection::BadRequest);
    }
    // Checked above: ASCII, so both are UTF-8.
    match (std::str::from_utf8(scheme), std::str::from_utf8(token)) {
        (Ok(scheme), Ok(token)) => Ok(Some(Credentials { scheme, token })),
        _ => Err(Rejection::BadRequest),
    }
}

#[cfg(test)]
mod tests;
