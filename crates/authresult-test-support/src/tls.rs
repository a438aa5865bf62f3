//! TLS for tests: [`TestCa`], a private CA made with `rcgen` that issues
//! server and client certificates; [`TlsServer`], an https server
//! (optionally requiring a client certificate of that CA); [`CountingProxy`], an
//! HTTP proxy (`CONNECT` tunnels) that counts the tunnels it opens.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::anyhow;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A certificate and its PKCS#8 key, both PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: String,
}

/// A private certificate authority made for one test.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    /// A new CA named `name` (its common name).
    pub fn new(name: &str) -> anyhow::Result<Self> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key)?;
        Ok(TestCa {
            issuer: Issuer::new(params, key),
            cert_pem: cert.pem(),
        })
    }

    /// The CA certificate (PEM), to trust.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    fn issue(&self, names: &[&str], purpose: ExtendedKeyUsagePurpose) -> anyhow::Result<Issued> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())?;
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("client"));
        params.extended_key_usages = vec![purpose];
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// A server certificate for `localhost` and `127.0.0.1`.
    pub fn server_cert(&self) -> anyhow::Result<Issued> {
        self.issue(&["localhost", "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate (for mutual TLS) with common name `name`.
    pub fn client_cert(&self, name: &str) -> anyhow::Result<Issued> {
        self.issue(&[name], ExtendedKeyUsagePurpose::ClientAuth)
    }

    /// Writes a server certificate and key into `dir`: `(cert, key)` paths.
    pub fn write_server_files(&self, dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
        let issued = self.server_cert()?;
        let cert = dir.join("server.crt");
        let key = dir.join("server.key");
        std::fs::write(&cert, &issued.cert_pem)?;
        std::fs::write(&key, &issued.key_pem)?;
        Ok((cert, key))
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// An https server on 127.0.0.1 with a certificate of a [`TestCa`],
/// optionally requiring a client certificate of the same CA, that answers
/// every request with `200` and one JSON body. Stops when dropped.
#[derive(Debug)]
pub struct TlsServer {
    addr: SocketAddr,
    served: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl TlsServer {
    /// Starts the server with a certificate of `ca`; with
    /// `require_client_cert`, only clients presenting a certificate of `ca`
    /// get past the handshake. `body` makes the answer from the server's
    /// base URL (`https://127.0.0.1:PORT/`).
    pub async fn start(
        ca: &TestCa,
        require_client_cert: bool,
        body: impl FnOnce(&url::Url) -> String,
    ) -> anyhow::Result<Self> {
        let issued = ca.server_cert()?;
        let chain = vec![CertificateDer::from_pem_slice(issued.cert_pem.as_bytes())?];
        let key = PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes())?;
        let builder =
            rustls::ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
        let config = if require_client_cert {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes())?)?;
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                    .build()
                    .map_err(|e| anyhow!("client verifier: {e}"))?;
            builder
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)?
        } else {
            builder.with_no_client_auth().with_single_cert(chain, key)?
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let served = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&served);
        let body = body(&base_url(addr));
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let count = Arc::clone(&count);
                let body = body.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    if read_head(&mut tls).await.is_err() {
                        return;
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(answer.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Ok(TlsServer { addr, served, task })
    }

    /// `https://127.0.0.1:PORT/`.
    pub fn url(&self) -> url::Url {
        base_url(self.addr)
    }

    /// Requests answered (after a client certificate was accepted).
    pub fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn base_url(addr: SocketAddr) -> url::Url {
    url::Url::parse(&format!("https://127.0.0.1:{}/", addr.port())).unwrap_or_else(|_| unreachable!())
}

/// Reads up to the end of an HTTP request head (`\r\n\r\n`, at most 64 KiB).
async fn read_head<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> anyhow::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 * 1024 || stream.read(&mut byte).await? == 0 {
            return Err(anyhow!("incomplete request head"));
        }
        head.push(byte[0]);
    }
    Ok(head)
}

/// An HTTP proxy on 127.0.0.1 that opens `CONNECT` tunnels (what a client
/// sends for https URLs) and counts them; other methods get `405`. Every
/// request it receives is recorded (method and target), answered or not.
/// Stops when dropped.
#[derive(Debug)]
pub struct CountingProxy {
    addr: SocketAddr,
    tunnels: Arc<AtomicUsize>,
    seen: Arc<std::sync::Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl CountingProxy {
    /// Starts the proxy.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let tunnels = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let count = Arc::clone(&tunnels);
        let record = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let count = Arc::clone(&count);
                let record = Arc::clone(&record);
                tokio::spawn(async move {
                    let Ok(head) = read_head(&mut client).await else {
                        return;
                    };
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let line: Vec<&str> = head.split_whitespace().take(2).collect();
                    if let Ok(mut seen) = record.lock() {
                        seen.push(line.join(" "));
                    }
                    let mut words = head.split_whitespace();
                    let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
                        let _ = client
                            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
                            .await;
                        return;
                    };
                    let Ok(mut upstream) = TcpStream::connect(target).await else {
                        let _ = client
                            .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                            .await;
                        return;
                    };
                    count.fetch_add(1, Ordering::SeqCst);
                    if client
                        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                        .await
                        .is_ok()
                    {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
            }
        });
        Ok(CountingProxy {
            addr,
            tunnels,
            seen,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> url::Url {
        url::Url::parse(&format!("http://127.0.0.1:{}", self.addr.port())).unwrap_or_else(|_| unreachable!())
    }

    /// Tunnels opened so far.
    pub fn tunnels(&self) -> usize {
        self.tunnels.load(Ordering::SeqCst)
    }

    /// Every request received so far, as `METHOD target` (e.g.
    /// `CONNECT sync.example.org:443`, `GET http://127.0.0.1:8080/x`).
    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().map(|seen| seen.clone()).unwrap_or_default()
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
