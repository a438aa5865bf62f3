//! The front door over TCP, as an unauthenticated client and the network
//! meet it: a push without usable credentials is answered before its body
//! arrives (declared by `Content-Length`, chunked, or not declared at all),
//! and a pull never waits for a body.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::{bearer, clock, server};

/// Serves the test server on a loopback port, as `main` serves it.
async fn serve() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = example_common::ServeLimits::default();
    tokio::spawn(example_common::serve(
        listener,
        server(clock()),
        limits,
        std::future::pending(),
    ));
    addr
}

/// Sends `head` and the start of a body, never the rest; the status of the
/// answer, which must come within two seconds.
async fn status_without_the_body(addr: std::net::SocketAddr, head: &str, start: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(start.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut answer))
        .await
        .expect("answered within two seconds")
        .unwrap();
    let line = String::from_utf8_lossy(&answer[..n]);
    line.split(' ').nth(1).unwrap_or_default().parse().unwrap_or(0)
}

#[tokio::test]
async fn an_unauthenticated_push_is_answered_before_its_body_arrives() {
    let addr = serve().await;
    let forged = "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJpZCI6MywiaWF0IjoxfQ.c2ln\r\n";
    for authorization in ["", forged, "Authorization: oidc abc\r\n"] {
        for framing in [
            "Content-Length: 1000000\r\n",
            "Transfer-Encoding: chunked\r\n",
            "Content-Length: 10\r\n",
        ] {
            let head = format!(
                "POST /api/sync/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{authorization}{framing}\r\n"
            );
            let start = if framing.contains("chunked") {
                "5\r\n{\"eve\r\n"
            } else {
                "{\"eve"
            };
            let status = status_without_the_body(addr, &head, start).await;
            assert_eq!(status, 401, "{authorization:?} {framing:?}");
        }
    }
}

#[tokio::test]
async fn a_pull_does_not_wait_for_a_body() {
    let addr = serve().await;
    let head = format!(
        "GET /api/sync/pull?configId=field HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: 1000\r\n\r\n",
        bearer("ana@example.org")
    );
    assert_eq!(status_without_the_body(addr, &head, "").await, 200);
}

#[tokio::test]
async fn an_authenticated_push_cannot_hold_the_connection_with_a_slow_rest_of_body() {
    let addr = serve().await;
    // `configId` at once, then the rest of a declared body never comes:
    // the handler's read is bounded too (1 s in the test server).
    let head = format!(
        "POST /api/sync/push HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n",
        bearer("ana@example.org")
    );
    let status = status_without_the_body(addr, &head, r#"{"configId":"field","events":[]}"#).await;
    assert_eq!(status, 408);
}

#[tokio::test]
async fn hostile_push_bodies_are_refused_at_once() {
    let addr = serve().await;
    let push = |body: &str| {
        format!(
            "POST /api/sync/push HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            bearer("ana@example.org"),
            body.len() + 40_000
        )
    };
    // Each is decided within its first bytes; the rest never comes.
    let huge_id = format!(r#"{{"configId":"{}"#, "a".repeat(10_000));
    let deep = format!(r#"{{"events":{}"#, "[".repeat(10_000));
    for start in [
        huge_id.as_str(),
        deep.as_str(),
        r#"{"configId":"field","configId":"default""#,
        r#"{"configId":{"x":1}"#,
        r#"{"configId":"field"#,
    ] {
        let status = status_without_the_body(addr, &push(start), start).await;
        // The last is cut off: it waits for the rest, then 408 (1 s).
        let expected = if start.ends_with("field") { 408 } else { 400 };
        assert_eq!(status, expected, "{}", &start[..start.len().min(40)]);
    }
}
