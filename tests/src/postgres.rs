//! PostgreSQL from Debian's packages (`postgresql`, installed by
//! `scripts/setup-test.sh`), started once per test process on a free loopback
//! port with its data in a temp dir, and killed when the process ends.
//!
//! Each test takes a database of its own ([`Postgres::database`]). The server
//! listens on 127.0.0.1 only, with no Unix socket, and trusts the local user
//! `niem`: it is a test fixture, never a deployment.
//!
//! `postgres::Client` (here and in its callers) runs a runtime of its own, which
//! cannot start inside another: call these from plain or blocking threads, not
//! from async code.

use crate::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const USER: &str = "niem";

pub struct Postgres {
    port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

/// The newest installed server's binaries, or `$NIEM_PG_BIN`.
fn bin_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("NIEM_PG_BIN") {
        return p.into();
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").exists())
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!("PostgreSQL is not installed under /usr/lib/postgresql; run scripts/setup-test.sh"),
    }
}

/// Who runs the server: PostgreSQL refuses to run as root, so a root test
/// process runs it as the `postgres` user the package made.
fn server_user() -> Option<(libc::uid_t, libc::gid_t)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    // SAFETY: a NUL-terminated name; the result is read at once, before any other
    // getpw* call in this process could reuse its buffer.
    let pw = unsafe { libc::getpwnam(c"postgres".as_ptr()) };
    assert!(!pw.is_null(), "no `postgres` user: run scripts/setup-test.sh (Debian's postgresql package makes it)");
    // SAFETY: checked non-null above.
    Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

/// A command that runs as `user` (if any) and dies with the test process.
fn command(program: PathBuf, user: Option<(libc::uid_t, libc::gid_t)>) -> Command {
    let mut cmd = Command::new(program);
    // SAFETY: only async-signal-safe calls between fork and exec. The death
    // signal is set after the user changes, which would clear it.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            if let Some((uid, gid)) = user {
                if libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd
}

fn give_to(path: &Path, user: Option<(libc::uid_t, libc::gid_t)>) {
    if let Some((uid, gid)) = user {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("a path without NUL");
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::chown(c.as_ptr(), uid, gid) }, 0, "chown {}", path.display());
    }
}

impl Postgres {
    /// The process-wide server.
    pub fn shared() -> &'static Postgres {
        static ONE: OnceLock<Postgres> = OnceLock::new();
        ONE.get_or_init(Postgres::own)
    }

    /// A server of the caller's own, killed when dropped.
    pub fn own() -> Postgres {
        let bin = bin_dir();
        let user = server_user();
        let dir = tempfile::tempdir().expect("temp dir");
        give_to(dir.path(), user);
        let data = dir.path().join("data");
        let log = dir.path().join("postgres.log");
        let out = command(bin.join("initdb"), user)
            .arg("-D")
            .arg(&data)
            .args(["-U", USER, "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
            .output()
            .expect("run initdb");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let port = free_port();
        // Spawned from a thread that never exits: PR_SET_PDEATHSIG is tied to the
        // spawning thread, and must fire only when the whole test process ends.
        let mut cmd = command(bin.join("postgres"), user);
        cmd.arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k", ""])
            .args(["-c", "max_connections=200"])
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(&log).expect("log file")));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(cmd.spawn());
            loop {
                std::thread::park();
            }
        });
        let child = rx.recv().expect("PostgreSQL starter thread").expect("start postgres");
        let pg = Postgres { port, dir, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while pg.connect("postgres").is_err() {
            assert!(Instant::now() < deadline, "PostgreSQL did not answer in 30 s; see {}", log.display());
            std::thread::sleep(Duration::from_millis(100));
        }
        pg
    }

    /// The URL of database `name` on this server.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{name}", self.port)
    }

    /// A new, empty database; its URL.
    pub fn database(&self) -> String {
        let name = format!("t{}", ulid::Ulid::new().to_string().to_lowercase());
        let mut admin = self.connect("postgres").expect("connect to PostgreSQL");
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create database");
        self.url(&name)
    }

    fn connect(&self, name: &str) -> Result<postgres::Client, postgres::Error> {
        postgres::Client::connect(&self.url(name), postgres::NoTls)
    }

    /// The server's log (for a failing test's message).
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The database at `url` as `pg_dump` writes it (plain SQL, every row).
pub fn dump(url: &str) -> Vec<u8> {
    let out = Command::new(bin_dir().join("pg_dump")).arg("--dbname").arg(url).output().expect("run pg_dump");
    assert!(out.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}
