//! TLS in tests: a throwaway CA and a server certificate made by the `openssl`
//! CLI, `curl` as an independent HTTPS client, and a local front that lets the
//! harness's plain-HTTP API client reach a TLS-only `niem` through a verified
//! rustls (ring) connection.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// A CA and a certificate it issued for `localhost` and `127.0.0.1`.
pub struct TestCa {
    _dir: tempfile::TempDir,
    /// The CA certificate, to trust.
    pub ca: PathBuf,
    /// The server's chain (its certificate, then the CA), as `tls.cert`.
    pub cert: PathBuf,
    /// The server's private key, as `tls.key`.
    pub key: PathBuf,
}

/// The server's key type: both kinds operators bring.
#[derive(Clone, Copy, Debug)]
pub enum KeyKind {
    /// P-256, in SEC1 form (`BEGIN EC PRIVATE KEY`).
    Ec,
    /// RSA 2048, in PKCS#8 form (`BEGIN PRIVATE KEY`).
    Rsa,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI (installed by scripts/setup-test.sh)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl TestCa {
    pub fn new(kind: KeyKind) -> TestCa {
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        std::fs::write(
            d.join("ca.cnf"),
            "[req]\ndistinguished_name = dn\nx509_extensions = ca\nprompt = no\n[dn]\nCN = Niem test CA\n\
             [ca]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign\nsubjectKeyIdentifier = hash\n",
        )
        .expect("ca.cnf");
        std::fs::write(
            d.join("leaf.cnf"),
            "[leaf]\nbasicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\nextendedKeyUsage = serverAuth\n\
             subjectAltName = DNS:localhost,IP:127.0.0.1\nauthorityKeyIdentifier = keyid\n",
        )
        .expect("leaf.cnf");
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-config",
                "ca.cnf",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
            ],
        );
        match kind {
            KeyKind::Ec => {
                openssl(
                    d,
                    &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "pkcs8.key"],
                );
                openssl(d, &["ec", "-in", "pkcs8.key", "-out", "key.pem"]);
            }
            KeyKind::Rsa => {
                openssl(d, &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "key.pem"])
            }
        }
        openssl(d, &["req", "-new", "-key", "key.pem", "-subj", "/CN=localhost", "-out", "leaf.csr"]);
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "leaf.cnf",
                "-extensions",
                "leaf",
                "-out",
                "leaf.pem",
            ],
        );
        let chain = [
            std::fs::read_to_string(d.join("leaf.pem")).expect("leaf"),
            std::fs::read_to_string(d.join("ca.pem")).expect("ca"),
        ]
        .concat();
        std::fs::write(d.join("cert.pem"), chain).expect("chain");
        TestCa { ca: d.join("ca.pem"), cert: d.join("cert.pem"), key: d.join("key.pem"), _dir: dir }
    }

    /// `NIEM_TLS__*` settings that serve this certificate.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("NIEM_TLS__CERT".into(), self.cert.display().to_string()),
            ("NIEM_TLS__KEY".into(), self.key.display().to_string()),
        ]
    }
}

/// Runs `curl -sS <args>`; returns (exit code, stdout, stderr).
pub fn curl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new("curl").arg("-sS").args(args).output().expect("curl (installed by scripts/setup.sh)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A rustls client (ring) that trusts only `ca`.
pub fn connector(ca: &Path) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca).expect("CA file") {
        roots.add(cert.expect("CA certificate")).expect("CA certificate accepted");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// A plain-HTTP front on 127.0.0.1 for a TLS-only server: every connection to it
/// is carried to `target` over TLS, verified against the test CA for the name
/// `localhost`. Stops when dropped.
pub struct Front {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Front {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Front {
    pub async fn start(target: SocketAddr, ca: &Path) -> Front {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the front");
        let url = format!("http://{}", listener.local_addr().expect("front address"));
        let connector = connector(ca);
        let task = tokio::spawn(async move {
            while let Ok((mut plain, _)) = listener.accept().await {
                let connector = connector.clone();
                tokio::spawn(async move {
                    let Ok(tcp) = tokio::net::TcpStream::connect(target).await else { return };
                    let name = rustls::pki_types::ServerName::try_from("localhost").expect("server name");
                    // A failed handshake drops the client's connection: its request errors.
                    let Ok(mut tls) = connector.connect(name, tcp).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut plain, &mut tls).await;
                });
            }
        });
        Front { url, task }
    }
}
