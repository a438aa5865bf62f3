//! The one HTTP client and proxies: a request to a plain-http loopback URL
//! never goes through a proxy, neither a configured one nor one from the environment
//! (`HTTP_PROXY`, `ALL_PROXY`, ...), while a host that is not loopback still
//! does. The proxy is a real listener that records every request it gets.
//! The environment case runs in a child process of this test binary, since
//! the proxy variables are read from the process environment.

use std::sync::Arc;
use std::time::Duration;

use authresult_core::SystemClock;
use authresult_http::{HttpClient, HttpError, HttpLimits, NetworkOptions, Proxy};
use authresult_test_support::CountingProxy;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Where the child process finds the loopback server.
const CHILD_TARGET: &str = "AUTHRESULT_TEST_LOOPBACK_TARGET";
const CHILD_TEST: &str = "proxy::environment_child";
const PROXY_VARIABLES: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
];

fn client(proxy: Proxy) -> HttpClient {
    let mut network = NetworkOptions::default();
    network.proxy = proxy;
    let limits = HttpLimits {
        connect_timeout: Duration::from_secs(5),
        timeout: Duration::from_secs(10),
        max_body: 1024,
    };
    HttpClient::new(limits, &network, Arc::new(SystemClock)).unwrap()
}

/// A plain-http server on 127.0.0.1 answering `GET /direct` with `direct`.
async fn loopback_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/direct"))
        .respond_with(ResponseTemplate::new(200).set_body_string("direct"))
        .mount(&server)
        .await;
    server
}

async fn get(client: &HttpClient, url: &str) -> Result<(u16, String), HttpError> {
    let request = http::Request::get(url).body(Vec::new()).unwrap();
    let response = client.execute(request).await?;
    Ok((
        response.status().as_u16(),
        String::from_utf8_lossy(response.body()).into_owned(),
    ))
}

/// The loopback server, by address and by `localhost`, answered directly.
async fn loopback_goes_direct(client: &HttpClient, base: &str) {
    let port = base.rsplit(':').next().unwrap();
    for url in [
        format!("{base}/direct"),
        format!("http://localhost:{port}/direct"),
    ] {
        let answer = get(client, &url).await.unwrap();
        assert_eq!(answer, (200, "direct".to_owned()), "{url}");
    }
}

#[tokio::test]
async fn a_configured_proxy_is_never_used_for_loopback() {
    let proxy = CountingProxy::start().await.unwrap();
    let server = loopback_server().await;
    let client = client(Proxy::Url(proxy.url()));
    loopback_goes_direct(&client, &server.uri()).await;
    assert_eq!(
        proxy.requests(),
        Vec::<String>::new(),
        "loopback went through the proxy"
    );

    // A host that is not loopback still goes through the proxy: https is
    // tunnelled (the proxy cannot reach the host here, so the request fails).
    let error = get(&client, "https://sync.example.org/").await.unwrap_err();
    assert!(matches!(error, HttpError::Connect { .. }), "{error:?}");
    assert_eq!(proxy.requests(), vec!["CONNECT sync.example.org:443".to_owned()]);
    // An https loopback URL follows the proxy settings (TLS protects it):
    // only plain http is kept on the host.
    let port = server.address().port();
    let _ = get(&client, &format!("https://127.0.0.1:{port}/")).await;
    assert_eq!(
        proxy.requests().last().map(String::as_str),
        Some(format!("CONNECT 127.0.0.1:{port}").as_str())
    );
}

#[tokio::test]
async fn the_environment_proxy_is_never_used_for_loopback() {
    let proxy = CountingProxy::start().await.unwrap();
    let server = loopback_server().await;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child.args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"]);
    for variable in PROXY_VARIABLES {
        child.env(variable, proxy.url().as_str());
    }
    for variable in ["NO_PROXY", "no_proxy", "REQUEST_METHOD"] {
        child.env_remove(variable);
    }
    child.env(CHILD_TARGET, server.uri());
    // The proxy and the server answer on this runtime while the child runs.
    let output = tokio::task::spawn_blocking(move || child.output())
        .await
        .unwrap()
        .unwrap();
    let shown = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{shown}");
    assert!(shown.contains(&format!("test {CHILD_TEST} ... ok")), "{shown}");
    // Only the request to a host that is not loopback reached the proxy.
    assert_eq!(
        proxy.requests(),
        vec!["CONNECT sync.example.org:443".to_owned()],
        "{shown}"
    );
}

/// The child half of `the_environment_proxy_is_never_used_for_loopback`:
/// every proxy variable names the parent's recording proxy. Does nothing
/// unless that test runs it (its target in the environment).
#[tokio::test]
async fn environment_child() {
    let Ok(base) = std::env::var(CHILD_TARGET) else {
        return;
    };
    let client = client(Proxy::Environment);
    loopback_goes_direct(&client, &base).await;
    let error = get(&client, "https://sync.example.org/").await.unwrap_err();
    assert!(matches!(error, HttpError::Connect { .. }), "{error:?}");
}

/// Every spelling `url` reads as a loopback host goes direct (`LOCALHOST`,
/// `[::1]`-less IPv4 shorthands, hex, userinfo); names that only look like
/// loopback (`localhost.`, `127.0.0.1.nip.io`, an IPv4-mapped address) are
/// not loopback and follow the proxy, like any other host.
#[tokio::test]
async fn loopback_spellings_go_direct_and_lookalikes_do_not() {
    let proxy = CountingProxy::start().await.unwrap();
    let server = loopback_server().await;
    let client = client(Proxy::Url(proxy.url()));
    let port = server.address().port();
    for url in [
        format!("http://LOCALHOST:{port}/direct"),
        format!("http://LocalHost:{port}/direct"),
        format!("http://127.1:{port}/direct"),
        format!("http://0x7f.1:{port}/direct"),
        format!("http://2130706433:{port}/direct"),
        format!("http://user:pass@127.0.0.1:{port}/direct"),
        format!("http://evil.example@localhost:{port}/direct"),
    ] {
        let answer = get(&client, &url).await.unwrap();
        assert_eq!(answer, (200, "direct".to_owned()), "{url}");
    }
    assert_eq!(
        proxy.requests(),
        Vec::<String>::new(),
        "loopback went through the proxy"
    );
    for (url, seen) in [
        (format!("http://localhost.:{port}/direct"), "localhost.:"),
        (
            format!("http://127.0.0.1.nip.io:{port}/direct"),
            "127.0.0.1.nip.io:",
        ),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/direct"),
            "[::ffff:7f00:1]:",
        ),
    ] {
        let before = proxy.requests().len();
        let _ = get(&client, &url).await;
        let requests = proxy.requests();
        assert_eq!(requests.len(), before + 1, "{url} did not go through the proxy");
        assert!(requests[before].contains(seen), "{url}: {}", requests[before]);
    }
}
