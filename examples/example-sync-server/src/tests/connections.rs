//! Connections over TCP, as `main` serves them (`example_common::serve`):
//! a client trickling its headers, or sending nothing, is disconnected
//! within the header timeout while authenticated clients keep being
//! answered; connections past the bound wait; HTTP/2 is refused; shutdown
//! lets a request in flight finish.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use example_common::ServeLimits;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::{bearer, clock, server};

/// The header timeout of these tests.
const HEADERS: Duration = Duration::from_secs(1);
/// Well past [`HEADERS`]: a client still connected then was not cut off.
const PATIENCE: Duration = Duration::from_secs(5);

fn limits(max_connections: usize) -> ServeLimits {
    ServeLimits {
        header_read_timeout: HEADERS,
        max_connections,
        ..ServeLimits::default()
    }
}

/// Serves the test server as `main` does until `stop` is sent (or
/// dropped); the address, and the server's task.
async fn serve(
    limits: ServeLimits,
) -> (
    SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(example_common::serve(listener, server(clock()), limits, async {
        let _ = stopped.await;
    }));
    (addr, stop, task)
}

/// Reads until the server closes the connection; `false` if it is still
/// open after `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, read_all).await.is_ok()
}

/// One request on a fresh connection (`Connection: close`); the status.
async fn status(addr: SocketAddr, request: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("answered")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer.split(' ').nth(1).unwrap_or_default().parse().unwrap_or(0)
}

fn pull() -> String {
    format!(
        "GET /api/sync/pull?configId=field HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
        bearer("ana@example.org")
    )
}

fn push() -> String {
    let body = r#"{"configId":"field","events":[]}"#;
    format!(
        "POST /api/sync/push HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        bearer("ana@example.org"),
        body.len()
    )
}

/// A slowloris client: a request line, then one header line every 200 ms,
/// never the blank line. Whether the server cut it off within `within`.
async fn trickle(addr: SocketAddr, within: Duration) -> bool {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    if stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .await
        .is_err()
    {
        return true;
    }
    let mut buf = [0u8; 256];
    let mut line = 0u32;
    while started.elapsed() < within {
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return true,
                // An answer (408) is fine: what follows must be the close.
                Ok(_) => {}
            },
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                line += 1;
                let header = format!("X-Line-{line}: a\r\n");
                if stream.write_all(header.as_bytes()).await.is_err() {
                    return true;
                }
            }
        }
    }
    false
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off_while_authenticated_clients_are_answered() {
    let (addr, _stop, _task) = serve(limits(64)).await;
    let tricklers: Vec<_> = (0..8).map(|_| tokio::spawn(trickle(addr, PATIENCE))).collect();
    // Meanwhile, authenticated requests are answered as usual.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..3 {
        assert_eq!(status(addr, &pull()).await, 200);
        assert_eq!(status(addr, &push()).await, 200);
    }
    for trickler in tricklers {
        assert!(
            trickler.await.unwrap(),
            "a client sending a header line every 200 ms kept its connection"
        );
    }
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed() {
    let (addr, _stop, _task) = serve(limits(64)).await;
    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_within(&mut silent, PATIENCE).await,
        "a silent connection stayed open"
    );

    // After an answered request, an idle keep-alive connection too.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let keep_alive = pull().replace("Connection: close\r\n", "");
    idle.write_all(keep_alive.as_bytes()).await.unwrap();
    let mut answer = [0u8; 16];
    idle.read_exact(&mut answer).await.unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    assert!(
        closed_within(&mut idle, PATIENCE).await,
        "an idle keep-alive connection stayed open"
    );
}

#[tokio::test]
async fn connections_past_the_bound_wait_for_a_free_one() {
    let (addr, _stop, _task) = serve(limits(2)).await;
    // Two connections holding the slots with half a request each.
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut holder = TcpStream::connect(addr).await.unwrap();
        holder.write_all(b"GET /health HTTP/1.1\r\n").await.unwrap();
        holders.push(holder);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(addr).await.unwrap();
    third.write_all(pull().as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let early = tokio::time::timeout(Duration::from_millis(300), third.read_to_end(&mut answer)).await;
    assert!(
        early.is_err(),
        "a third connection was served past a bound of two"
    );
    // A slot freed (here by the client), the waiting one is served.
    drop(holders.pop());
    tokio::time::timeout(PATIENCE, third.read_to_end(&mut answer))
        .await
        .expect("served once a slot is free")
        .unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test]
async fn http2_is_not_spoken() {
    let (addr, _stop, _task) = serve(limits(64)).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut answer))
        .await
        .expect("closed")
        .unwrap_or_default();
    // No HTTP/2 SETTINGS frame: an HTTP/1.1 refusal, or nothing, then the close.
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 4") || answer.starts_with(b"HTTP/1.1 5"),
        "{answer:?}"
    );
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let (addr, stop, task) = serve(limits(64)).await;
    let request = push();
    let (head, body) = request.split_at(request.len() - 10);
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // No new connection is served once shutting down.
    let refused = TcpStream::connect(addr).await;
    if let Ok(mut late) = refused {
        let _ = late.write_all(pull().as_bytes()).await;
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(PATIENCE, late.read_to_end(&mut answer)).await;
        assert!(answer.is_empty(), "served after shutdown");
    }
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    tokio::time::timeout(PATIENCE, task)
        .await
        .expect("the server stopped")
        .unwrap()
        .unwrap();
}
