//! The text a bearer token may be: an RFC 6750 b64token (RFC 9110 token68).
//!
//! The layer checks every `Authorization` token with it, and the token cache
//! admits only such text, so that a cache hit on a header's raw bytes proves
//! the check passed when the token was first validated. A token is hundreds
//! of bytes: the characters are checked in blocks the compiler turns into
//! vector instructions.

/// A byte of a b64token before its `=` padding: ALPHA / DIGIT / `-` / `.` /
/// `_` / `~` / `+` / `/`. Comparisons only (no table), so that a block of
/// them becomes vector instructions.
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

/// `bytes` as text when they are a b64token: at least one token68
/// character, then any number of `=`.
pub(crate) fn token_text(bytes: &[u8]) -> Option<&str> {
    let padding = bytes.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &bytes[..bytes.len() - padding];
    if body.is_empty() || !all_token68(body) {
        return None;
    }
    // Checked above: ASCII, so UTF-8.
    std::str::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests;
