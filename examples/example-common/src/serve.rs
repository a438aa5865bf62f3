//! Serving an axum router over HTTP/1.1 with what a server open to
//! unauthenticated clients needs and `axum::serve` does not set: a time
//! limit on each request's headers (and on an idle keep-alive connection),
//! a bound on connections at once, a cap on the bytes buffered per
//! connection, and a graceful shutdown that does not wait forever.
//!
//! HTTP/2 is not served: a client opening with its preface is refused as a
//! bad HTTP/1.1 request (DataCollect's clients speak HTTP/1.1; a proxy in
//! front may speak HTTP/2 to them).

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// What one client may cost the server before it has sent a request.
#[derive(Debug, Clone, Copy)]
pub struct ServeLimits {
    /// A request's headers arrive whole within this time from the first
    /// byte awaited, and an idle keep-alive connection sends its next
    /// request within it; otherwise the connection is closed.
    pub header_read_timeout: Duration,
    /// Connections served at once; past it the listener waits (new
    /// connections queue in the kernel's backlog) until one closes.
    pub max_connections: usize,
    /// Bytes buffered per connection (the request line and headers must
    /// fit; larger heads get 431).
    pub max_buf_size: usize,
    /// After the shutdown signal, how long requests in flight may take to
    /// finish before the server stops anyway.
    pub shutdown_grace: Duration,
}

impl Default for ServeLimits {
    /// 10 s for headers, 2,048 connections, 64 KiB buffered per
    /// connection, 10 s of grace: at most 128 MiB of connection buffers.
    fn default() -> Self {
        ServeLimits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 2048,
            max_buf_size: 64 * 1024,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` completes,
/// then stops accepting, lets each connection finish the request it is
/// answering (up to [`ServeLimits::shutdown_grace`]) and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let slots = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let all = u32::try_from(slots).unwrap_or(u32::MAX);
    let slots = all as usize;
    let connections = Arc::new(Semaphore::new(slots));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_buf_size.max(8192));
    let (closing, closed) = watch::channel(false);
    let service = TowerToHyperService::new(app);
    tokio::pin!(shutdown);
    loop {
        // A slot first: over the bound, a connection costs the server
        // nothing until one closes.
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather
                    // than spin.
                    eprintln!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = builder.serve_connection(TokioIo::new(stream), service.clone());
        let mut closed = closed.clone();
        tokio::spawn(async move {
            let _slot = permit;
            tokio::pin!(connection);
            let closing = async move {
                let _ = closed.wait_for(|closing| *closing).await;
            };
            tokio::select! {
                // A connection's error (a client gone, headers too slow)
                // is that client's, not the server's.
                _ = connection.as_mut() => return,
                () = closing => {}
            }
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        });
    }
    drop(listener);
    let _ = closing.send(true);
    // Every slot back: every connection has ended.
    let _ = tokio::time::timeout(limits.shutdown_grace, connections.acquire_many(all)).await;
    Ok(())
}

/// An accept error about one connection (its client gave up), not the
/// listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}
