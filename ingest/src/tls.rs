//! TLS for the HTTP listener (HTTPS) and the RTMPS listener: rustls on ring, from
//! the PEM files named in `[tls]`.
//!
//! Each handshake runs in its own task under a deadline, so a slow, broken or
//! plaintext client costs only its own connection; axum sees finished TLS
//! streams only ([`HttpsListener`]). The certificate and key are read at start (a
//! bad file stops the start, naming it) and again on SIGHUP, so a renewed
//! certificate needs no restart; a reload that fails keeps the one in use.

use niem_core::config::TlsConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// An HTTPS client must finish its TLS handshake in this time.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS {what} file {}", path.display())]
    Read { what: &'static str, path: PathBuf, source: io::Error },
    #[error("TLS certificate file {}: {reason}", path.display())]
    Cert { path: PathBuf, reason: String },
    // Never the key's bytes, nor a parser message that could quote them.
    #[error("TLS private key file {}: {reason}", path.display())]
    Key { path: PathBuf, reason: String },
    #[error("TLS private key {} does not belong to the certificate {}", key.display(), cert.display())]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("TLS setup: {0}")]
    Setup(rustls::Error),
}

/// The certificate and key in use, replaced whole on reload.
pub struct Certificate {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

/// Paths only: never the key.
impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate").field("cert", &self.cert).field("key", &self.key).finish_non_exhaustive()
    }
}

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(PoisonError::into_inner).clone())
    }
}

impl Certificate {
    /// Reads the files again; on any error the certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = Arc::new(load_pair(&self.cert, &self.key)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }
}

/// TLS as configured: one certificate, two server configurations (HTTPS offers
/// ALPN `http/1.1`, RTMPS no ALPN).
pub struct Tls {
    pub certificate: Arc<Certificate>,
    pub https: TlsAcceptor,
    pub rtmps: TlsAcceptor,
}

/// `None` when `[tls]` is not set.
pub fn load(cfg: &TlsConfig) -> Result<Option<Tls>, TlsError> {
    let (Some(cert), Some(key)) = (&cfg.cert, &cfg.key) else { return Ok(None) };
    let current = RwLock::new(Arc::new(load_pair(cert, key)?));
    let certificate = Arc::new(Certificate { cert: cert.clone(), key: key.clone(), current });
    let server = |alpn: Vec<Vec<u8>>| -> Result<TlsAcceptor, TlsError> {
        let mut c = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Setup)?
            .with_no_client_auth()
            .with_cert_resolver(certificate.clone());
        c.alpn_protocols = alpn;
        Ok(TlsAcceptor::from(Arc::new(c)))
    };
    Ok(Some(Tls { https: server(vec![b"http/1.1".to_vec()])?, rtmps: server(Vec::new())?, certificate }))
}

/// Reads a PEM certificate chain and its private key, and checks that they belong
/// together, so that a mistake shows at start and not at the first handshake.
fn load_pair(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let cert_err = |reason: &str| TlsError::Cert { path: cert.to_path_buf(), reason: reason.to_string() };
    let key_err = |reason: &str| TlsError::Key { path: key.to_path_buf(), reason: reason.to_string() };
    let pem = std::fs::read(cert).map_err(|source| TlsError::Read {
        what: "certificate",
        path: cert.to_path_buf(),
        source,
    })?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(&format!("not a valid PEM file ({e})")))?;
    if chain.is_empty() {
        return Err(cert_err("holds no PEM CERTIFICATE block"));
    }
    let key_pem = zeroize::Zeroizing::new(std::fs::read(key).map_err(|source| TlsError::Read {
        what: "private key",
        path: key.to_path_buf(),
        source,
    })?);
    let der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
        pem::Error::NoItemsFound => key_err("holds no PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC)"),
        _ => key_err("not a valid PEM file"),
    })?;
    let provider = rustls::crypto::ring::default_provider();
    let signer = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| key_err(&format!("not a key ring can sign with ({e})")))?;
    let pair = CertifiedKey::new(chain, signer);
    match pair.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(pair),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::Mismatch { cert: cert.to_path_buf(), key: key.to_path_buf() })
        }
        Err(e) => Err(cert_err(&format!("its first certificate does not parse ({e})"))),
    }
}

/// Reloads the certificate on every SIGHUP (`systemctl reload`, a certbot deploy
/// hook). `hup` is registered by the caller before the service announces itself,
/// so an early SIGHUP cannot take the default action (exit).
pub async fn reload_on_sighup(mut hup: tokio::signal::unix::Signal, certificate: Arc<Certificate>) {
    while hup.recv().await.is_some() {
        match certificate.reload() {
            Ok(()) => tracing::info!(cert = %certificate.cert.display(), "TLS certificate reloaded"),
            Err(e) => tracing::error!(error = %e, "TLS certificate not reloaded; the one in use stays"),
        }
    }
}

/// The HTTPS side of `listen`, for `axum::serve`: TCP is accepted here and each
/// handshake runs in its own task; only finished handshakes are handed on.
pub struct HttpsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl HttpsListener {
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor) -> io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        tokio::spawn(accept(tcp, acceptor, tx));
        Ok(Self { ready, local })
    }
}

impl axum::serve::Listener for HttpsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept task ends only once this receiver is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

async fn accept(tcp: TcpListener, acceptor: TlsAcceptor, ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>) {
    loop {
        let (socket, peer) = tokio::select! {
            accepted = tcp.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // As axum does: a connection that died before accept is its own
                    // problem; anything else (out of descriptors) gets a pause.
                    if !matches!(e.kind(), io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionReset) {
                        tracing::error!(error = %e, "HTTPS accept failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    continue;
                }
            },
            // The server has stopped taking connections (shutdown).
            _ = ready.closed() => return,
        };
        let (acceptor, ready) = (acceptor.clone(), ready.clone());
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
                Ok(Ok(tls)) => {
                    let _ = ready.send((tls, peer)).await;
                }
                // Scanners and plaintext clients: not worth a warning each.
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

/// For `ListenerExt::tap_io`, whose wrapper is what gives `ConnectInfo<SocketAddr>`
/// (sign-in limits per address) for a listener other than `TcpListener`.
pub fn untouched(_: &mut TlsStream<TcpStream>) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(cert: &Path, key: &Path) -> String {
        let cfg = TlsConfig { cert: Some(cert.into()), key: Some(key.into()) };
        match load(&cfg) {
            Ok(_) => panic!("loaded"),
            Err(e) => format!("{:#}", anyhow::Error::from(e)),
        }
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let e = err(&cert, &key);
        assert!(e.contains("cannot read the TLS certificate file") && e.contains("cert.pem: No such file"), "{e}");
        std::fs::write(&cert, "not pem").unwrap();
        let e = err(&cert, &key);
        assert!(e.contains("cert.pem") && e.contains("no PEM CERTIFICATE"), "{e}");
        std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
        let e = err(&cert, &key);
        assert!(e.contains("cannot read the TLS private key file") && e.contains("key.pem"), "{e}");
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END PRIVATE KEY-----\n").unwrap();
        let e = err(&cert, &key);
        assert!(e.contains("key.pem") && e.contains("not a key ring can sign with"), "{e}");
        assert!(!e.contains("c2VjcmV0") && !e.contains("secret-bytes"), "key bytes in an error: {e}");
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n%%%%\n-----END PRIVATE KEY-----\n").unwrap();
        let e = err(&cert, &key);
        assert!(e.contains("key.pem") && e.contains("not a valid PEM file"), "{e}");
    }
}
