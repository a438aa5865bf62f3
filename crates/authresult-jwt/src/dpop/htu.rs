//! `htu` against the request's URI, as RFC 9449 §4.3 compares them: after
//! syntax- and scheme-based normalisation (RFC 3986 §6.2.2, §6.2.3: scheme
//! and host lower case, the default port dropped, percent-encoding of
//! unreserved characters decoded, hex digits in upper case), without query
//! and fragment.

use url::Url;

/// True when `htu` and `request` name the same resource. Both must be
/// absolute `http` or `https` URIs with a host.
pub(crate) fn same_resource(htu: &str, request: &str) -> bool {
    // The usual case, the client wrote the URI the server builds: the same
    // text is the same resource, checked once without parsing either.
    if htu == request && is_web(request) {
        return true;
    }
    let (Ok(htu), Ok(request)) = (Url::parse(htu), Url::parse(request)) else {
        return false;
    };
    let web = |u: &Url| matches!(u.scheme(), "http" | "https") && u.host_str().is_some();
    web(&htu)
        && web(&request)
        && htu.scheme() == request.scheme()
        && htu.host() == request.host()
        && htu.port_or_known_default() == request.port_or_known_default()
        && htu.username() == request.username()
        && htu.password() == request.password()
        && same_path(htu.path(), request.path())
}

/// An `http` or `https` URI with a host, without query or fragment, told
/// from its text alone (the cheap check of the same-text case).
fn is_web(uri: &str) -> bool {
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"));
    rest.is_some_and(|rest| {
        !rest.is_empty()
            && !rest.starts_with('/')
            && !rest.contains(['?', '#', '\\', '%', '@'])
            && rest.is_ascii()
    })
}

/// The paths compared byte by byte after percent-decoding unreserved
/// characters (and upper-casing the hex of what stays encoded).
fn same_path(a: &str, b: &str) -> bool {
    let (mut a, mut b) = (Normalized::new(a), Normalized::new(b));
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (x, y) if x != y => return false,
            _ => {}
        }
    }
}

/// A path's bytes after normalisation; a percent-encoded byte that stays
/// encoded comes out as one item, so `%2F` never equals `/`.
struct Normalized<'a> {
    bytes: &'a [u8],
    at: usize,
}

#[derive(PartialEq, Eq)]
enum Item {
    Plain(u8),
    Encoded(u8),
}

impl<'a> Normalized<'a> {
    fn new(path: &'a str) -> Self {
        Normalized {
            bytes: path.as_bytes(),
            at: 0,
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

impl Iterator for Normalized<'_> {
    type Item = Item;

    fn next(&mut self) -> Option<Item> {
        let b = *self.bytes.get(self.at)?;
        if b == b'%'
            && let (Some(hi), Some(lo)) = (
                self.bytes.get(self.at + 1).copied().and_then(hex),
                self.bytes.get(self.at + 2).copied().and_then(hex),
            )
        {
            self.at += 3;
            let decoded = hi << 4 | lo;
            return Some(if unreserved(decoded) {
                Item::Plain(decoded)
            } else {
                Item::Encoded(decoded)
            });
        }
        self.at += 1;
        Some(Item::Plain(b))
    }
}
