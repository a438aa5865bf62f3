//! The loopback redirect listener of a native app (RFC 8252 §7.3).

use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

use crate::error::OidcError;

/// Largest request head read from a browser.
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// How long one connection may take to send its request line.
const PER_CONNECTION: Duration = Duration::from_secs(5);
/// Connections served at once; more are closed at once until one ends.
const MAX_CONNECTIONS: usize = 64;

const DONE_PAGE: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Signed in</title></head>\
<body><p>Sign-in complete. You can close this window and return to the app.</p></body></html>";
const STRAY_PAGE: &str = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Not found</title></head>\
<body><p>This is not the sign-in callback.</p></body></html>";

/// Listens on `127.0.0.1` at a port the system picks, for the browser's
/// redirect back from the provider.
///
/// Accepts the first valid callback: a `GET` on the right path carrying
/// `code` or `error`, the login's `state` (always required: without it any
/// local process could answer first), and no token (`access_token` or
/// `id_token` would be an implicit-flow injection). Anything else is
/// answered 404 and the listener keeps waiting. Connections are served
/// concurrently (up to 64 at a time, each given 5 s to send its request),
/// so idle connections of another local process do not hold up the
/// browser. The socket is closed when
/// [`wait_for_callback`](Self::wait_for_callback) returns, on success or
/// timeout.
#[derive(Debug)]
pub struct LoopbackListener {
    listener: TcpListener,
    redirect_uri: Url,
}

impl LoopbackListener {
    /// Binds `127.0.0.1:0`; the redirect URI is `http://127.0.0.1:<port><path>`.
    pub async fn bind(path: &str) -> Result<Self, OidcError> {
        if !path.starts_with('/') || path.contains('?') || path.contains('#') {
            return Err(OidcError::config(
                "the loopback callback path must start with `/` and carry no query",
            ));
        }
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|source| OidcError::Loopback {
                action: "binding 127.0.0.1:0",
                source,
            })?;
        let port = listener
            .local_addr()
            .map_err(|source| OidcError::Loopback {
                action: "reading the bound port",
                source,
            })?
            .port();
        let redirect_uri = Url::parse(&format!("http://127.0.0.1:{port}{path}"))
            .map_err(|_| OidcError::config("the loopback callback path is not a valid URL path"))?;
        Ok(LoopbackListener {
            listener,
            redirect_uri,
        })
    }

    /// The redirect URI to put in the authorization request.
    pub fn redirect_uri(&self) -> &Url {
        &self.redirect_uri
    }

    /// Waits for the first valid callback carrying `expected_state` (the
    /// pending login's `state`) and answers the full callback URL.
    pub async fn wait_for_callback(self, expected_state: &str, timeout: Duration) -> Result<Url, OidcError> {
        let accept_loop = async {
            let mut serving = FuturesUnordered::new();
            loop {
                tokio::select! {
                    accepted = self.listener.accept() => {
                        // A connection that failed before we saw it: wait for the next one.
                        let Ok((stream, _)) = accepted else { continue };
                        if serving.len() < MAX_CONNECTIONS {
                            serving.push(tokio::time::timeout(PER_CONNECTION, self.serve(stream, expected_state)));
                        }
                        // Past the limit the stream is dropped: closed unanswered.
                    }
                    Some(served) = serving.next(), if !serving.is_empty() => {
                        if let Ok(Some(url)) = served {
                            return url;
                        }
                    }
                }
            }
        };
        tokio::time::timeout(timeout, accept_loop)
            .await
            .map_err(|_| OidcError::LoopbackTimeout { timeout })
    }

    /// Reads one request; answers `Some(url)` for a valid callback.
    async fn serve(&self, mut stream: TcpStream, expected_state: &str) -> Option<Url> {
        let head = read_head(&mut stream).await?;
        let callback = callback_of_request(&self.redirect_uri, &head, expected_state);
        if callback.is_some() {
            respond(&mut stream, "200 OK", DONE_PAGE).await;
        } else {
            respond(&mut stream, "404 Not Found", STRAY_PAGE).await;
        }
        callback
    }
}

/// The callback URL a browser's request head carries, when it is a valid
/// callback to `redirect_uri` for `expected_state` (see [`LoopbackListener`]).
pub(crate) fn callback_of_request(redirect_uri: &Url, head: &str, expected_state: &str) -> Option<Url> {
    let line = head.lines().next().unwrap_or("");
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let callback = redirect_uri.join(target).ok()?;
    (method == "GET" && is_valid_callback(redirect_uri, &callback, expected_state)).then_some(callback)
}

fn is_valid_callback(redirect_uri: &Url, url: &Url, expected_state: &str) -> bool {
    if url.origin() != redirect_uri.origin() || url.path() != redirect_uri.path() {
        return false;
    }
    if crate::provider::token_in_callback(url).is_some() {
        return false;
    }
    let mut state = None;
    let mut has_result = false;
    for (name, value) in url.query_pairs() {
        match name.as_ref() {
            "state" => state = Some(value.into_owned()),
            "code" | "error" => has_result = true,
            _ => {}
        }
    }
    has_result
        && state.is_some_and(|found| {
            crate::id_token::constant_time_eq(found.as_bytes(), expected_state.as_bytes())
        })
}

async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..n]);
        if buffer.windows(4).any(|w| w == b"\r\n\r\n") || buffer.windows(2).any(|w| w == b"\n\n") {
            break;
        }
        if buffer.len() > MAX_REQUEST_HEAD {
            return None;
        }
    }
    String::from_utf8(buffer).ok()
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // The browser may already be gone; the callback (or its absence) is what matters.
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
