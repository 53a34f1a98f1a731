//! deploy/ as far as this machine can check it without a container engine or a
//! cluster: every file through the tool that reads it in production (systemd's
//! own verifier and security analysis, the Docker Compose CLI, hadolint, the
//! Kubernetes schemas), the configs through niem's own loader, the key delivery
//! paths (systemd credentials, a Kubernetes Secret volume) by building them as
//! systemd and the kubelet do and reading them as a non-root user,
//! MemoryDenyWriteExecute through the kernel's equivalent, and the compose
//! stack's SeaweedFS command, bucket init script, niem config and health check
//! against a real SeaweedFS and niem. Then what must agree across files: ports,
//! probe paths, users, the stop grace against niem's drain.
//!
//! The tools come from scripts/setup-test.sh (`.tools/deploy-venv`, `systemd`).

use niem_tests::{bin, free_port, root, seaweed};
use serde_json::Value;
use std::collections::BTreeSet;
use std::os::unix::fs::{chown, symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------- helpers

fn deploy(rel: &str) -> PathBuf {
    root().join("deploy").join(rel)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A tool of the deploy checks' virtualenv.
fn tool(name: &str) -> PathBuf {
    let p = root().join(".tools/deploy-venv/bin").join(name);
    assert!(p.exists(), "{} is missing; run scripts/setup-test.sh", p.display());
    p
}

fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (scripts/setup-test.sh installs the deploy check tools)"))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Runs `cmd`, which must succeed; its stdout.
fn check(cmd: &mut Command, what: &str) -> String {
    let out = output(cmd);
    assert!(out.status.success(), "{what} failed ({}):\n{}", out.status, text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command with no NIEM_* variable of the test's environment.
fn clean(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("NIEM_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn json(s: &str, what: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{what} is not JSON: {e}"))
}

/// Every YAML document of a file, as JSON (PyYAML, which kubernetes-validate reads them with).
fn yaml_docs(path: &Path) -> Vec<Value> {
    let script = "import sys, yaml, json; json.dump([d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None], sys.stdout)";
    let out =
        check(Command::new(tool("python")).args(["-c", script]).arg(path), &format!("parsing {}", path.display()));
    match json(&out, "YAML") {
        Value::Array(docs) => docs,
        other => panic!("expected a list of documents, got {other}"),
    }
}

/// A TOML text as JSON (Python's tomllib), to read values without a TOML crate.
fn toml(text: &str) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let f = dir.path().join("x.toml");
    std::fs::write(&f, text).expect("write toml");
    let script = "import sys, tomllib, json; json.dump(tomllib.load(open(sys.argv[1], 'rb')), sys.stdout)";
    json(&check(Command::new(tool("python")).args(["-c", script]).arg(&f), "parsing TOML"), "TOML")
}

fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| match k.parse::<usize>() {
        Ok(i) if v.is_array() => &v[i],
        _ => &v[k],
    })
}

fn str_at<'a>(v: &'a Value, path: &str, what: &str) -> &'a str {
    get(v, path).as_str().unwrap_or_else(|| panic!("{what}: {path} is not a string: {}", get(v, path)))
}

fn port(addr: &str) -> u16 {
    addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap_or_else(|| panic!("{addr:?} has no port"))
}

/// The service's defaults, as documented in deploy/niem.example.toml (itself
/// checked against the config struct by ingest's config tests).
fn default_ports() -> (u16, u16) {
    let example = toml(&read(&deploy("niem.example.toml")));
    (
        port(str_at(&example, "listen", "niem.example.toml")),
        port(str_at(&example, "live.rtmp_listen", "niem.example.toml")),
    )
}

/// How long niem's SIGTERM handling drains live streams at most: the patience
/// `serve` gives `Live::finish` in ingest/src/main.rs.
fn drain_secs() -> u64 {
    let main = read(&root().join("ingest/src/main.rs"));
    let call = main
        .find("live.finish(")
        .expect("ingest/src/main.rs no longer calls live.finish(..): update this test's drain timeout");
    let rest = &main[call..];
    let at = rest
        .find("from_secs(")
        .filter(|&i| i < 120)
        .expect("live.finish(..) no longer takes Duration::from_secs(N): update this test");
    let digits: String = rest[at + "from_secs(".len()..].chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().expect("drain seconds")
}

/// "150", "150s", "2m30s", "2min 30s", "1h" as seconds.
fn secs(s: &str) -> u64 {
    let (mut total, mut num) = (0u64, String::new());
    let mut chars = s.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        if c == ' ' {
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let n: u64 = num.parse().unwrap_or_else(|_| panic!("bad duration {s:?}"));
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600,
            "m" | "min" => 60,
            "s" | "sec" => 1,
            _ => panic!("unit {unit:?} in duration {s:?}"),
        };
    }
    if !num.is_empty() {
        total += num.parse::<u64>().unwrap_or_else(|_| panic!("bad duration {s:?}"));
    }
    total
}

/// Loads `config` with niem's own loader (the binary's `--config`), generates
/// keys with it, and returns the public key it prints: the config parses, names
/// only options niem has, and passes its checks.
fn niem_accepts(config: &str, what: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let f = dir.path().join("niem.toml");
    std::fs::write(&f, config).expect("write config");
    let out = output(
        clean(bin("niem"))
            .arg("--config")
            .arg(&f)
            .args(["keys", "init"])
            .env("NIEM_KEYS__DIR", dir.path().join("keys")),
    );
    assert!(out.status.success(), "{what} is refused by niem's config loader:\n{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("public key: "))
        .unwrap_or_else(|| panic!("no public key in {stdout}"))
        .to_string()
}

/// A systemd unit file: (section, key, value), in order, comments dropped.
fn unit(path: &Path) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for line in read(path).lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_string();
        } else if let Some((k, v)) = line.split_once('=') {
            out.push((section.clone(), k.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

fn values<'a>(u: &'a [(String, String, String)], key: &str) -> Vec<&'a str> {
    u.iter().filter(|(s, k, _)| s == "Service" && k == key).map(|(_, _, v)| v.as_str()).collect()
}

fn one<'a>(u: &'a [(String, String, String)], key: &str) -> &'a str {
    match values(u, key).as_slice() {
        [v] => v,
        other => panic!("niem.service must set {key}= once, has {other:?}"),
    }
}

/// A child killed when the test ends, however it ends.
struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

// ---------------------------------------------------------------- systemd

#[test]
fn systemd_unit_verifies_and_is_hardened() {
    let path = deploy("systemd/niem.service");
    let u = unit(&path);

    // systemd's own verifier, in a root that holds the unit, systemd's targets
    // and a stand-in for the binary (verify checks ExecStart is executable).
    let r = tempfile::tempdir().expect("temp dir");
    for (_, _, cmdline) in u.iter().filter(|(s, k, _)| s == "Service" && k.starts_with("Exec")) {
        let program = cmdline.split_whitespace().next().expect("Exec program");
        let stub = r.path().join(program.trim_start_matches('/'));
        std::fs::create_dir_all(stub.parent().expect("dir")).expect("mkdir");
        std::fs::write(&stub, "#!/bin/sh\n").expect("stub");
        std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    std::fs::create_dir_all(r.path().join("etc/systemd/system")).expect("mkdir");
    std::fs::create_dir_all(r.path().join("usr/lib/systemd")).expect("mkdir");
    std::fs::copy(&path, r.path().join("etc/systemd/system/niem.service")).expect("copy unit");
    check(
        Command::new("cp").arg("-r").arg("/lib/systemd/system").arg(r.path().join("usr/lib/systemd/")),
        "copying systemd's units",
    );
    let out = output(
        Command::new("systemd-analyze")
            .args(["verify", "--man=no", "--generators=no"])
            .arg(format!("--root={}", r.path().display()))
            .arg("niem.service"),
    );
    // verify exits 0 on settings it ignores ("Failed to parse ..., ignoring"): any word is a failure.
    assert!(
        out.status.success() && text(&out).trim().is_empty(),
        "systemd-analyze verify deploy/systemd/niem.service:\n{}",
        text(&out)
    );

    // The same verifier catches a bad value: the check can fail.
    let broken = read(&path).replace("ProtectSystem=strict", "ProtectSystem=strictest");
    std::fs::write(r.path().join("etc/systemd/system/niem.service"), broken).expect("write");
    let out = output(
        Command::new("systemd-analyze")
            .args(["verify", "--man=no", "--generators=no"])
            .arg(format!("--root={}", r.path().display()))
            .arg("niem.service"),
    );
    assert!(
        text(&out).contains("Failed to parse") && text(&out).contains("strictest"),
        "systemd-analyze verify let a bad ProtectSystem= through:\n{}",
        text(&out)
    );
    std::fs::copy(&path, r.path().join("etc/systemd/system/niem.service")).expect("copy unit");

    // systemd's exposure score (0 safest .. 10): at most 2.0 ("OK").
    let out = output(
        Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--threshold=20"])
            .arg(format!("--root={}", r.path().display()))
            .arg("niem.service"),
    );
    let report = text(&out);
    let score = report
        .lines()
        .find_map(|l| l.split("Overall exposure level for niem.service: ").nth(1))
        .unwrap_or("?")
        .to_string();
    assert!(out.status.success(), "systemd-analyze security: exposure {score} is above 2.0:\n{report}");
    println!("systemd-analyze security: overall exposure {score}");

    // Hardening the deploy README promises.
    for (key, want) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
        ("MemoryDenyWriteExecute", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("UMask", "0077"),
        ("User", "niem"),
    ] {
        assert_eq!(one(&u, key), want, "niem.service: {key}=");
    }
    assert!(
        values(&u, "SystemCallFilter").contains(&"@system-service"),
        "niem.service: SystemCallFilter=@system-service"
    );

    // Stopping: long enough for niem's own drain.
    let drain = drain_secs();
    let stop = secs(one(&u, "TimeoutStopSec"));
    assert!(
        stop >= drain + 30,
        "TimeoutStopSec={stop}s leaves no margin over niem's {drain}s drain of live streams (ingest/src/main.rs)"
    );

    // The user: the sysusers.d file makes it, with the state directory as home.
    let state = one(&u, "StateDirectory");
    let r = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(r.path().join("etc")).expect("mkdir");
    std::fs::create_dir_all(r.path().join("usr/lib/sysusers.d")).expect("mkdir");
    std::fs::copy(deploy("systemd/niem.sysusers.conf"), r.path().join("usr/lib/sysusers.d/niem.conf")).expect("copy");
    check(
        Command::new("systemd-sysusers").arg(format!("--root={}", r.path().display())).arg("niem.conf"),
        "systemd-sysusers deploy/systemd/niem.sysusers.conf",
    );
    let passwd = read(&r.path().join("etc/passwd"));
    let entry: Vec<&str> = passwd
        .lines()
        .find(|l| l.starts_with("niem:"))
        .unwrap_or_else(|| panic!("niem.sysusers.conf makes no user niem:\n{passwd}"))
        .split(':')
        .collect();
    assert_ne!(entry[2], "0", "the niem user must not be root");
    assert_eq!(entry[5], format!("/var/lib/{state}"), "the niem user's home is its state directory");
    assert_eq!(entry[6], "/usr/sbin/nologin");

    // Its config: niem loads it; data in the state directory; default ports.
    let config_path = one(&u, "ExecStart")
        .split_whitespace()
        .skip_while(|w| *w != "--config")
        .nth(1)
        .expect("ExecStart passes --config")
        .to_string();
    assert_eq!(config_path, "/etc/niem/niem.toml");
    assert!(one(&u, "ExecStart").ends_with(" serve"), "ExecStart runs niem serve");
    let text = read(&deploy("systemd/niem.toml"));
    niem_accepts(&text, "deploy/systemd/niem.toml");
    let cfg = toml(&text);
    assert_eq!(
        str_at(&cfg, "data_dir", "systemd niem.toml"),
        format!("/var/lib/{state}"),
        "data_dir is the unit's StateDirectory"
    );
    assert_eq!(one(&u, "WorkingDirectory"), format!("/var/lib/{state}"));
    let (http, rtmp) = default_ports();
    assert_eq!(port(str_at(&cfg, "listen", "systemd niem.toml")), http);
    assert_eq!(port(str_at(&cfg, "live.rtmp_listen", "systemd niem.toml")), rtmp);

    // Keys: from the directory `niem keys init` wrote, as credentials.
    let keys_dir = str_at(&cfg, "keys.dir", "systemd niem.toml");
    let creds = values(&u, "LoadCredential");
    assert!(
        creds.contains(&format!("signing.key:{keys_dir}/signing.key").as_str()),
        "LoadCredential of the signing key from {keys_dir}: {creds:?}"
    );
    assert!(
        creds.contains(&format!("kek:{keys_dir}/kek").as_str()),
        "LoadCredential of the KEK directory from {keys_dir}: {creds:?}"
    );
    assert!(
        values(&u, "Environment").contains(&"NIEM_KEYS__DIR=%d"),
        "the service reads its keys from $CREDENTIALS_DIRECTORY"
    );
}

/// Lays `src` out as the key delivery `kind` does and has niem, as a user that
/// is not root, print the public key from it.
#[derive(Clone, Copy, Debug)]
enum Delivery {
    /// systemd ≤ 255: a ramfs, each file chowned to the service user, 0400.
    SystemdRamfs,
    /// Newer systemd: a tmpfs, files root's 0400 with an ACL entry for the user.
    SystemdTmpfsAcl,
    /// A Kubernetes Secret volume with fsGroup: ..data symlinks, root:<fsGroup> 0440.
    KubernetesSecret,
}

const SERVICE_UID: u32 = 10001;

/// POSIX ACL (system.posix_acl_access, version 2): owner `owner_perm`, `uid`
/// `perm`, group none, mask `perm`, others none.
fn grant_acl(path: &Path, owner_perm: u16, perm: u16) {
    let mut blob = 2u32.to_le_bytes().to_vec();
    for (tag, p, id) in [
        (0x01u16, owner_perm, u32::MAX),
        (0x02, perm, SERVICE_UID),
        (0x04, 0, u32::MAX),
        (0x10, perm, u32::MAX),
        (0x20, 0, u32::MAX),
    ] {
        blob.extend_from_slice(&tag.to_le_bytes());
        blob.extend_from_slice(&p.to_le_bytes());
        blob.extend_from_slice(&id.to_le_bytes());
    }
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).expect("path");
    // SAFETY: valid C strings and a buffer of the given length.
    let r =
        unsafe { libc::setxattr(c.as_ptr(), c"system.posix_acl_access".as_ptr(), blob.as_ptr().cast(), blob.len(), 0) };
    assert_eq!(r, 0, "setxattr ACL on {}: {}", path.display(), std::io::Error::last_os_error());
}

/// The credentials directory systemd makes from the unit's LoadCredential= lines,
/// reading from `src` where the unit says `keys_dir`.
fn credentials(u: &[(String, String, String)], keys_dir: &str, src: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for spec in values(u, "LoadCredential") {
        let (id, path) = spec.split_once(':').expect("ID:PATH");
        let Some(rel) = path.strip_prefix(keys_dir) else { continue };
        let from = src.join(rel.trim_start_matches('/'));
        if from.is_dir() {
            let mut stack = vec![(from, id.to_string())];
            while let Some((dir, prefix)) = stack.pop() {
                for e in std::fs::read_dir(&dir).expect("read dir") {
                    let e = e.expect("entry");
                    let name = format!("{prefix}_{}", e.file_name().to_string_lossy());
                    if e.path().is_dir() {
                        stack.push((e.path(), name));
                    } else {
                        out.push((name, e.path()));
                    }
                }
            }
        } else {
            out.push((id.to_string(), from));
        }
    }
    out
}

fn deliver(kind: Delivery, files: &[(String, PathBuf)], into: &Path) -> PathBuf {
    let dir = into.join(format!("{kind:?}"));
    std::fs::create_dir(&dir).expect("mkdir");
    let target = match kind {
        Delivery::KubernetesSecret => {
            let data = dir.join("..2026_01_01_00_00_00.000000001");
            std::fs::create_dir(&data).expect("mkdir");
            symlink(data.file_name().expect("name"), dir.join("..data")).expect("symlink");
            data
        }
        _ => dir.clone(),
    };
    for (name, from) in files {
        let to = target.join(name);
        std::fs::copy(from, &to).expect("copy key");
        match kind {
            Delivery::SystemdRamfs => {
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o400)).expect("chmod");
                chown(&to, Some(SERVICE_UID), Some(SERVICE_UID)).expect("chown");
            }
            Delivery::SystemdTmpfsAcl => {
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o400)).expect("chmod");
                grant_acl(&to, 4, 4);
            }
            Delivery::KubernetesSecret => {
                chown(&to, Some(0), Some(SERVICE_UID)).expect("chown");
                std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o440)).expect("chmod");
                symlink(Path::new("..data").join(name), dir.join(name)).expect("symlink");
            }
        }
    }
    match kind {
        Delivery::SystemdRamfs => {
            chown(&dir, Some(SERVICE_UID), Some(SERVICE_UID)).expect("chown");
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).expect("chmod");
        }
        Delivery::SystemdTmpfsAcl => {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).expect("chmod");
            grant_acl(&dir, 5, 5);
        }
        Delivery::KubernetesSecret => {
            for d in [&dir, &target] {
                chown(d, Some(0), Some(SERVICE_UID)).expect("chown");
                std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o750)).expect("chmod");
            }
        }
    }
    dir
}

/// niem, as the service user, printing the public key from `keys`.
fn public_key_as_service_user(config: &Path, keys: &Path) -> Output {
    output(
        clean("setpriv")
            .args([
                format!("--reuid={SERVICE_UID}"),
                format!("--regid={SERVICE_UID}"),
                "--clear-groups".into(),
                "--".into(),
            ])
            .arg(bin("niem"))
            .arg("--config")
            .arg(config)
            .args(["keys", "export-public"])
            .env("NIEM_KEYS__DIR", keys),
    )
}

#[test]
fn keys_reach_a_non_root_service_as_systemd_credentials_and_as_a_kubernetes_secret() {
    if !is_root() {
        println!("SKIPPED: building credentials as systemd and the kubelet do needs root (CI runs as root)");
        return;
    }
    let u = unit(&deploy("systemd/niem.service"));
    let cfg_text = read(&deploy("systemd/niem.toml"));
    let keys_dir = str_at(&toml(&cfg_text), "keys.dir", "systemd niem.toml").to_string();
    // tmpfs (with ACLs), as systemd's credentials and the kubelet's Secret volumes are.
    let shm =
        tempfile::Builder::new().prefix("niem-deploy").tempdir_in("/dev/shm").expect("a directory on /dev/shm (tmpfs)");
    std::fs::set_permissions(shm.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let config = shm.path().join("niem.toml");
    std::fs::write(&config, &cfg_text).expect("write config");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).expect("chmod");

    // The operator's key directory, from `niem keys init`, and a rotation.
    let src = tempfile::tempdir().expect("temp dir");
    let init = check(
        clean(bin("niem")).arg("--config").arg(&config).args(["keys", "init"]).env("NIEM_KEYS__DIR", src.path()),
        "niem keys init",
    );
    let public = init.lines().find_map(|l| l.strip_prefix("public key: ")).expect("public key").to_string();
    let kek_dir = src.path().join("kek");
    std::fs::copy(
        kek_dir.join(std::fs::read_to_string(kek_dir.join("current")).expect("current").trim().to_string() + ".key"),
        kek_dir.join("kek-older.key"),
    )
    .expect("second KEK");
    std::fs::set_permissions(kek_dir.join("kek-older.key"), std::fs::Permissions::from_mode(0o600)).expect("chmod");

    let from_unit = credentials(&u, &keys_dir, src.path());
    let names: BTreeSet<&str> = from_unit.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains("signing.key")
            && names.contains("kek_current")
            && names.iter().filter(|n| n.starts_with("kek_kek-")).count() == 2,
        "the unit's credentials: {names:?}"
    );
    // What README tells operators to put in the niem-keys Secret: the same flat names.
    for kind in [Delivery::SystemdRamfs, Delivery::SystemdTmpfsAcl, Delivery::KubernetesSecret] {
        let dir = deliver(kind, &from_unit, shm.path());
        let out = public_key_as_service_user(&config, &dir);
        assert!(out.status.success(), "niem cannot read its keys delivered as {kind:?}:\n{}", text(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), public, "{kind:?}: a different key");
    }
    // The mode check still bites: a key file others may read is refused.
    let loose = shm.path().join("KubernetesSecret/..data/signing.key");
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    let out = public_key_as_service_user(&config, &shm.path().join("KubernetesSecret"));
    assert!(
        !out.status.success() && text(&out).contains("readable by other users"),
        "a world-readable key was accepted:\n{}",
        text(&out)
    );
}

#[test]
fn memory_deny_write_execute_leaves_ffmpeg_and_whisper_working() {
    let model = niem_tests::speech::model();
    let dir = tempfile::tempdir().expect("temp dir");
    let wav = niem_tests::speech::clip(
        dir.path(),
        "mdwe",
        "en",
        &[(0.5, "the committee approved the budget for next year")],
        5.0,
    );
    let m4a = dir.path().join("mdwe.m4a");
    check(
        Command::new("ffmpeg").args(["-loglevel", "error", "-y", "-i"]).arg(&wav).args(["-c:a", "aac"]).arg(&m4a),
        "ffmpeg to AAC",
    );

    // PR_SET_MDWE (Linux 6.3) refuses what MemoryDenyWriteExecute= refuses:
    // writable+executable mappings and making memory executable later.
    fn mdwe(cmd: &mut Command) -> &mut Command {
        // SAFETY: only prctl between fork and exec.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                if libc::prctl(65 /* PR_SET_MDWE */, 1 /* PR_MDWE_REFUSE_EXEC_GAIN */, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            })
        }
    }
    // The control: under it, a W+X mapping is refused.
    let probe = "import mmap\ntry:\n    mmap.mmap(-1, 4096, prot=7)\nexcept PermissionError:\n    print('refused')";
    let out = output(mdwe(&mut Command::new(tool("python"))).args(["-c", probe]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "refused",
        "PR_SET_MDWE did not refuse a W+X mapping (Linux >= 6.3 needed):\n{}",
        text(&out)
    );

    let transcribe = |under_mdwe: bool| {
        let mut cmd = clean(bin("niem"));
        cmd.arg("transcribe").arg(&m4a).arg("--model").arg(&model).args(["--language", "en", "--threads", "1"]);
        if under_mdwe {
            mdwe(&mut cmd);
        }
        check(&mut cmd, "niem transcribe (FFmpeg demux, AAC decode, resample, Whisper)")
    };
    let free = transcribe(false);
    let locked = transcribe(true);
    assert!(!locked.trim().is_empty(), "no transcript under MDWE");
    assert_eq!(locked, free, "the transcript differs under MemoryDenyWriteExecute");
    println!("under MDWE: {}", locked.trim());
}

// ---------------------------------------------------------------- compose

fn compose_config(env_file: &Path) -> Output {
    let mut cmd = Command::new(tool("docker-compose"));
    cmd.arg("-f")
        .arg(deploy("compose/compose.yaml"))
        .arg("--env-file")
        .arg(env_file)
        .args(["config", "--format", "json"]);
    for k in ["S3_ACCESS_KEY", "S3_SECRET_KEY"] {
        cmd.env_remove(k);
    }
    output(&mut cmd)
}

fn compose() -> Value {
    let out = compose_config(&deploy("compose/env.example"));
    assert!(out.status.success(), "docker compose config deploy/compose/compose.yaml:\n{}", text(&out));
    json(&String::from_utf8_lossy(&out.stdout), "compose config")
}

/// The Dockerfile's stages: (FROM line, instructions).
fn dockerfile() -> Vec<(String, Vec<String>)> {
    let mut stages: Vec<(String, Vec<String>)> = Vec::new();
    let mut current = String::new();
    for line in read(&deploy("compose/Dockerfile")).lines() {
        let t = line.trim();
        if t.starts_with('#') {
            continue;
        }
        current.push_str(t.trim_end_matches('\\'));
        current.push(' ');
        if t.ends_with('\\') {
            continue;
        }
        let instr = current.split_whitespace().collect::<Vec<_>>().join(" ");
        current.clear();
        if instr.is_empty() {
            continue;
        }
        if instr.starts_with("FROM ") {
            stages.push((instr, Vec::new()));
        } else if let Some((_, body)) = stages.last_mut() {
            body.push(instr);
        }
    }
    stages
}

fn apt_packages(instr: &str) -> BTreeSet<String> {
    let Some(at) = instr.find("--no-install-recommends") else { return BTreeSet::new() };
    instr[at..].split_whitespace().skip(1).take_while(|w| *w != "&&").map(String::from).collect()
}

fn dockerfile_user() -> String {
    let stages = dockerfile();
    let (_, runtime) = stages.last().expect("a runtime stage");
    runtime.iter().rev().find_map(|i| i.strip_prefix("USER ")).expect("the runtime stage sets USER").to_string()
}

#[test]
fn compose_file_is_valid_and_agrees_with_the_service() {
    let c = compose();
    // The CLI refuses to run without the S3 key: the check can fail.
    let empty = tempfile::NamedTempFile::new().expect("temp file");
    let out = compose_config(empty.path());
    assert!(
        !out.status.success() && text(&out).contains("S3_ACCESS_KEY"),
        "compose ran without the S3 key in .env:\n{}",
        text(&out)
    );

    let niem = &c["services"]["niem"];
    let (http, rtmp) = default_ports();
    let targets: BTreeSet<u64> =
        niem["ports"].as_array().expect("ports").iter().map(|p| p["target"].as_u64().expect("target")).collect();
    assert_eq!(targets, BTreeSet::from([u64::from(http), u64::from(rtmp)]), "compose publishes niem's default ports");
    assert_eq!(niem["user"], Value::from(dockerfile_user()), "compose runs niem as the image's user");
    assert!(!dockerfile_user().starts_with("0") && !dockerfile_user().starts_with("root"), "non-root");
    assert_eq!(niem["read_only"], true);
    assert_eq!(niem["cap_drop"], serde_json::json!(["ALL"]));
    assert!(niem["security_opt"].as_array().expect("security_opt").iter().any(|o| o == "no-new-privileges:true"));
    let grace = secs(str_at(niem, "stop_grace_period", "compose niem"));
    let drain = drain_secs();
    assert!(grace >= drain + 30, "stop_grace_period {grace}s leaves no margin over niem's {drain}s drain");
    assert_eq!(get(niem, "depends_on.seaweedfs-init.condition"), "service_completed_successfully");
    for k in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
        assert!(niem["environment"][k].is_string(), "niem gets {k}");
        assert_eq!(
            niem["environment"][k], c["services"]["seaweedfs"]["environment"][k],
            "niem and SeaweedFS share {k}"
        );
    }

    // Its config: the file compose mounts where the command reads it, loaded by niem.
    let config_target = str_at(niem, "configs.0.target", "compose niem");
    let command: Vec<&str> =
        niem["command"].as_array().expect("command").iter().map(|v| v.as_str().expect("arg")).collect();
    assert_eq!(command, ["serve"]);
    assert_eq!(
        str_at(niem, "environment.NIEM_CONFIG", "compose niem"),
        config_target,
        "niem (and `docker compose run` commands) read the mounted config"
    );
    let source =
        str_at(&c, &format!("configs.{}.file", str_at(niem, "configs.0.source", "config source")), "compose configs")
            .to_string();
    let cfg_text = read(Path::new(&source));
    niem_accepts(&cfg_text, "deploy/compose/niem.toml");
    let cfg = toml(&cfg_text);
    assert_eq!(port(str_at(&cfg, "listen", "compose niem.toml")), http);
    assert_eq!(port(str_at(&cfg, "live.rtmp_listen", "compose niem.toml")), rtmp);
    let mounts = niem["volumes"].as_array().expect("volumes");
    let mount = |target: &str| {
        mounts.iter().find(|m| m["target"] == target).unwrap_or_else(|| panic!("compose mounts nothing at {target}"))
    };
    assert_eq!(mount(str_at(&cfg, "data_dir", "compose niem.toml"))["type"], "volume", "data_dir is a named volume");
    assert_eq!(mount(str_at(&cfg, "keys.dir", "compose niem.toml"))["read_only"], true, "keys are mounted read-only");

    // Health check: both endpoints, on the port niem listens on.
    let hc: Vec<&str> =
        niem["healthcheck"]["test"].as_array().expect("healthcheck").iter().map(|v| v.as_str().expect("arg")).collect();
    let script = hc.last().expect("script");
    assert!(
        script.contains("/healthz") && script.contains("/readyz") && script.contains(&format!("/{http}")),
        "healthcheck: {script}"
    );

    // SeaweedFS: the version the tests run; the endpoint niem is given.
    let setup = read(&root().join("scripts/setup-test.sh"));
    let weed_version =
        setup.lines().find_map(|l| l.strip_prefix("WEED_VERSION=")).expect("WEED_VERSION in setup-test.sh");
    for s in ["seaweedfs", "seaweedfs-init"] {
        assert_eq!(
            str_at(&c, &format!("services.{s}.image"), s),
            format!("chrislusf/seaweedfs:{weed_version}"),
            "{s} runs the SeaweedFS the tests run"
        );
    }
    let weed_args: Vec<&str> = c["services"]["seaweedfs"]["command"]
        .as_array()
        .expect("command")
        .iter()
        .map(|v| v.as_str().expect("arg"))
        .collect();
    let s3_port = weed_args.iter().find_map(|a| a.strip_prefix("-s3.port=")).unwrap_or("8333");
    assert_eq!(str_at(&cfg, "store.s3.endpoint", "compose niem.toml"), format!("http://seaweedfs:{s3_port}"));
    assert_eq!(get(&cfg, "store.kind"), "s3");
    let init = str_at(&c, "services.seaweedfs-init.command.0", "init script");
    assert!(
        init.contains(&format!("-name {}", str_at(&cfg, "store.s3.bucket", "bucket"))),
        "the init service makes niem's bucket: {init}"
    );
}

/// Runs the compose stack's pieces for real: SeaweedFS with compose's command
/// line, the init script twice (creates, then only checks) and against a bucket
/// without Object Lock (fails), niem with compose's niem.toml (only addresses
/// and paths overridden), and compose's health check and Kubernetes' probe paths
/// against it.
#[tokio::test]
async fn compose_stack_pieces_run_against_real_seaweedfs_and_niem() {
    let c = compose();
    let dir = tempfile::tempdir().expect("temp dir");
    let [s3, master, volume, filer] = [free_port(), free_port(), free_port(), free_port()];
    let weed_args: Vec<String> = c["services"]["seaweedfs"]["command"]
        .as_array()
        .expect("command")
        .iter()
        .map(|v| v.as_str().expect("arg").to_string())
        .map(|a| match a.split_once('=') {
            Some(("-dir", _)) => format!("-dir={}", dir.path().join("weed").display()),
            Some(("-ip" | "-ip.bind", _)) => format!("{}=127.0.0.1", a.split_once('=').map_or("", |(k, _)| k)),
            Some(("-s3.port", _)) => format!("-s3.port={s3}"),
            _ => a,
        })
        .collect();
    std::fs::create_dir_all(dir.path().join("weed")).expect("mkdir");
    let weed_bin =
        std::env::var_os("NIEM_WEED").map(PathBuf::from).unwrap_or_else(|| root().join(".tools/venv/bin/weed"));
    let _weed = Child(
        Command::new(&weed_bin)
            .args(&weed_args)
            .args([format!("-master.port={master}"), format!("-volume.port={volume}"), format!("-filer.port={filer}")])
            .env("AWS_ACCESS_KEY_ID", seaweed::ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", seaweed::SECRET_KEY)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("weed.log")).expect("log"))
            .spawn()
            .expect("start weed with compose's arguments"),
    );
    let endpoint = format!("http://127.0.0.1:{s3}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while reqwest::get(format!("{endpoint}/healthz")).await.ok().map(|r| r.status().as_u16()) != Some(200) {
        assert!(
            Instant::now() < deadline,
            "SeaweedFS with compose's command line is not healthy: {}",
            read(&dir.path().join("weed.log"))
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // The init script, as compose runs it ($$ is compose's escape for $).
    let script = str_at(&c, "services.seaweedfs-init.command.0", "init script")
        .replace("$$", "$")
        .replace("seaweedfs:9333", &format!("127.0.0.1:{master}"));
    let path =
        format!("{}:{}", weed_bin.parent().expect("bin dir").display(), std::env::var("PATH").unwrap_or_default());
    let init = || output(Command::new("sh").args(["-c", &script]).env("PATH", &path));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = init();
        if out.status.success() {
            break;
        }
        assert!(Instant::now() < deadline, "the seaweedfs-init script failed:\n{}", text(&out));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let again = init();
    assert!(again.status.success(), "the seaweedfs-init script fails on a second start:\n{}", text(&again));
    let client = seaweed::client(&endpoint);
    let lock = client
        .get_object_lock_configuration()
        .bucket("niem")
        .send()
        .await
        .expect("object lock configuration of bucket niem");
    assert_eq!(
        lock.object_lock_configuration().and_then(|c| c.object_lock_enabled()).map(|e| e.as_str()),
        Some("Enabled"),
        "the init script's bucket has Object Lock"
    );
    client.create_bucket().bucket("plain").send().await.expect("a bucket without Object Lock");
    let plain =
        output(Command::new("sh").args(["-c", &script.replace("-name niem", "-name plain")]).env("PATH", &path));
    assert!(!plain.status.success(), "the init script accepted a bucket without Object Lock:\n{}", text(&plain));

    // niem with compose's niem.toml.
    let cfg_file = dir.path().join("niem.toml");
    let source = str_at(
        &c,
        &format!("configs.{}.file", str_at(&c["services"]["niem"], "configs.0.source", "source")),
        "configs",
    )
    .to_string();
    std::fs::copy(&source, &cfg_file).expect("copy config");
    let [http, rtmp] = [free_port(), free_port()];
    let env = [
        ("NIEM_DATA_DIR", dir.path().join("data").display().to_string()),
        ("NIEM_KEYS__DIR", dir.path().join("keys").display().to_string()),
        ("NIEM_LISTEN", format!("127.0.0.1:{http}")),
        ("NIEM_LIVE__RTMP_LISTEN", format!("127.0.0.1:{rtmp}")),
        ("NIEM_STORE__S3__ENDPOINT", endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", seaweed::ACCESS_KEY.to_string()),
        ("AWS_SECRET_ACCESS_KEY", seaweed::SECRET_KEY.to_string()),
    ];
    check(
        clean(bin("niem")).arg("--config").arg(&cfg_file).args(["keys", "init"]).envs(env.iter().map(|(k, v)| (*k, v))),
        "niem keys init",
    );
    let log = dir.path().join("niem.log");
    let mut niem = Child(
        clean(bin("niem"))
            .arg("--config")
            .arg(&cfg_file)
            .arg("serve")
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("start niem"),
    );
    let base = format!("http://127.0.0.1:{http}");
    let deadline = Instant::now() + Duration::from_secs(90);
    while reqwest::get(format!("{base}/readyz")).await.ok().map(|r| r.status().as_u16()) != Some(200) {
        assert!(Instant::now() < deadline, "niem with compose's niem.toml is not ready:\n{}", read(&log));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(
        read(&log).contains("Object Lock: on"),
        "niem did not find Object Lock on the init script's bucket:\n{}",
        read(&log)
    );

    // Compose's health check, as Docker runs it, against niem; and against nothing.
    let hc = c["services"]["niem"]["healthcheck"]["test"]
        .as_array()
        .expect("test")
        .iter()
        .map(|v| v.as_str().expect("arg").replace("$$", "$"))
        .collect::<Vec<_>>();
    assert_eq!(&hc[..3], ["CMD", "bash", "-c"], "healthcheck form");
    let (default_http, _) = default_ports();
    let run_hc = |port: u16| {
        output(Command::new("bash").arg("-c").arg(hc[3].replace(&format!("/{default_http}"), &format!("/{port}"))))
    };
    let ok = run_hc(http);
    assert!(ok.status.success(), "compose's health check fails against a ready niem:\n{}", text(&ok));
    assert!(!run_hc(free_port()).status.success(), "compose's health check passes with nothing listening");

    // Every probe path of the Kubernetes manifests answers 200 here.
    let docs = yaml_docs(&deploy("kubernetes/niem.yaml"));
    let sts = docs.iter().find(|d| d["kind"] == "StatefulSet").expect("StatefulSet");
    let container = &sts["spec"]["template"]["spec"]["containers"][0];
    for probe in ["startupProbe", "livenessProbe", "readinessProbe"] {
        let p = str_at(container, &format!("{probe}.httpGet.path"), probe);
        let status = reqwest::get(format!("{base}{p}")).await.map(|r| r.status().as_u16());
        assert_eq!(status.ok(), Some(200), "{probe} {p} on a ready niem");
    }

    // SIGTERM ends it cleanly, within the drain.
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(niem.0.id() as i32, libc::SIGTERM) };
    let stopped = Instant::now();
    loop {
        if let Some(status) = niem.0.try_wait().expect("wait") {
            assert!(status.success(), "niem exited {status} on SIGTERM:\n{}", read(&log));
            break;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(drain_secs() + 30),
            "niem did not stop on SIGTERM:\n{}",
            read(&log)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn dockerfile_lints_and_installs_what_niem_links() {
    let df = deploy("compose/Dockerfile");
    check(
        Command::new(tool("hadolint")).args(["--no-color", "--failure-threshold", "info"]).arg(&df),
        "hadolint deploy/compose/Dockerfile",
    );
    // The same linter fails a bad one.
    let bad = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(bad.path(), "FROM debian\nRUN apt-get install curl\n").expect("write");
    assert!(
        !output(Command::new(tool("hadolint")).args(["--no-color", "--failure-threshold", "info"]).arg(bad.path()))
            .status
            .success(),
        "hadolint passed a bad Dockerfile"
    );

    let stages = dockerfile();
    assert!(stages.len() >= 2, "a multi-stage build: {stages:?}");
    let (build_from, build) = &stages[0];
    let (run_from, runtime) = stages.last().expect("runtime");
    assert!(build_from.contains("bookworm") && build_from.contains("rust"), "a Debian 12 Rust builder: {build_from}");
    assert!(run_from.starts_with("FROM debian:bookworm-slim"), "a slim Debian 12 runtime: {run_from}");

    // The builder installs what scripts/setup.sh installs to build niem.
    let setup = read(&root().join("scripts/setup.sh")).replace("\\\n", " ");
    let wanted: BTreeSet<String> = setup
        .lines()
        .find(|l| l.starts_with("install_packages "))
        .expect("setup.sh's install_packages line")
        .split_whitespace()
        .skip(1)
        .filter(|p| p.starts_with("lib") || ["pkg-config", "clang", "cmake"].contains(p))
        .map(String::from)
        .collect();
    let have: BTreeSet<String> = build.iter().flat_map(|i| apt_packages(i)).collect();
    assert!(
        wanted.is_subset(&have),
        "the builder lacks {:?} (scripts/setup.sh installs them)",
        wanted.difference(&have).collect::<Vec<_>>()
    );

    // The runtime installs exactly the Debian packages of the FFmpeg libraries
    // niem links (by ldd and dpkg), plus CA certificates.
    let ldd = check(Command::new("ldd").arg(bin("niem")), "ldd niem");
    let mut needed = BTreeSet::from(["ca-certificates".to_string()]);
    for line in ldd.lines() {
        let Some(lib) = line.split("=>").nth(1).and_then(|r| r.split_whitespace().next()) else { continue };
        let name = Path::new(lib).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if ["libav", "libsw", "libpostproc"].iter().any(|p| name.starts_with(p)) {
            let real = std::fs::canonicalize(lib).expect("library path");
            let owner = check(Command::new("dpkg").arg("-S").arg(&real), "dpkg -S");
            needed.insert(owner.split(':').next().expect("package").to_string());
        }
    }
    let installed: BTreeSet<String> = runtime.iter().flat_map(|i| apt_packages(i)).collect();
    assert_eq!(installed, needed, "the runtime image's packages vs what niem links");

    // Non-root with a fixed UID; the entry point; the default ports exposed.
    let user = dockerfile_user();
    let uid: u32 = user
        .split(':')
        .next()
        .and_then(|u| u.parse().ok())
        .unwrap_or_else(|| panic!("USER {user} is not a numeric UID"));
    assert!(uid >= 1000, "USER {user}: a fixed non-root UID");
    assert!(runtime.iter().any(|i| i.starts_with("ENTRYPOINT [\"/usr/local/bin/niem\"]")), "ENTRYPOINT is niem");
    assert!(
        runtime.iter().any(|i| i == "ENV NIEM_CONFIG=/etc/niem/niem.toml"),
        "the image's commands read /etc/niem/niem.toml, where compose and Kubernetes mount it"
    );
    let (http, rtmp) = default_ports();
    assert!(runtime.iter().any(|i| *i == format!("EXPOSE {http} {rtmp}")), "EXPOSE {http} {rtmp}");
}

// ---------------------------------------------------------------- Kubernetes

#[test]
fn kubernetes_manifests_validate_and_agree_with_the_service() {
    let manifests = deploy("kubernetes/niem.yaml");
    // Every Kubernetes version kubernetes-validate ships schemas for, 1.29 on.
    let schemas = check(Command::new(tool("python")).args(["-c", "import kubernetes_validate, os; print('\\n'.join(os.listdir(os.path.join(os.path.dirname(kubernetes_validate.__file__), 'kubernetes-json-schema'))))"]), "listing schemas");
    let mut versions: Vec<(u32, u32)> = schemas
        .lines()
        .filter(|l| l.ends_with("-local-strict"))
        .filter_map(|l| {
            l.trim_start_matches('v').split('.').take(2).map(|p| p.parse::<u32>().ok()).collect::<Option<Vec<_>>>()
        })
        .filter(|v| v.len() == 2 && v[0] == 1 && v[1] >= 29)
        .map(|v| (v[0], v[1]))
        .collect();
    versions.sort();
    versions.dedup();
    assert!(versions.len() >= 5, "kubernetes-validate ships too few schemas: {versions:?}");
    let docs = yaml_docs(&manifests);
    for (major, minor) in &versions {
        let out = output(
            Command::new(tool("kubernetes-validate"))
                .args(["--strict", "-k", &format!("{major}.{minor}.0")])
                .arg(&manifests),
        );
        assert!(
            out.status.success() && !text(&out).contains("WARN"),
            "deploy/kubernetes/niem.yaml against Kubernetes {major}.{minor}:\n{}",
            text(&out)
        );
    }
    println!(
        "kubernetes-validate --strict: {} resources x {} versions ({}.{} to {}.{})",
        docs.len(),
        versions.len(),
        versions[0].0,
        versions[0].1,
        versions.last().expect("v").0,
        versions.last().expect("v").1
    );
    // Strict validation fails a misspelt field: the check can fail.
    let bad = tempfile::Builder::new().suffix(".yaml").tempfile().expect("temp file");
    std::fs::write(bad.path(), read(&manifests).replace("terminationGracePeriodSeconds:", "terminationGracePeriod:"))
        .expect("write");
    assert!(
        !output(Command::new(tool("kubernetes-validate")).arg("--strict").arg(bad.path())).status.success(),
        "kubernetes-validate passed a misspelt field"
    );

    let kind = |k: &str| docs.iter().filter(|d| d["kind"] == k).collect::<Vec<_>>();
    let [sts] = kind("StatefulSet")[..] else { panic!("one StatefulSet") };
    let [svc] = kind("Service")[..] else { panic!("one Service") };
    let [cm] = kind("ConfigMap")[..] else { panic!("one ConfigMap") };
    let pod = &sts["spec"]["template"]["spec"];
    let [container] = pod["containers"].as_array().expect("containers").as_slice() else { panic!("one container") };

    // The embedded niem.toml: niem's loader accepts it; its values are the pod's.
    let cfg_text = cm["data"]["niem.toml"].as_str().expect("the ConfigMap holds niem.toml");
    niem_accepts(cfg_text, "the ConfigMap's niem.toml");
    let cfg = toml(cfg_text);
    // A Service named niem would put NIEM_SERVICE_HOST etc. into the pod, which
    // niem refuses as unknown options; prove that, and that the pod turns it off.
    let out = output(clean(bin("niem")).args(["keys", "export-public"]).env("NIEM_SERVICE_HOST", "10.0.0.1"));
    assert!(!out.status.success(), "niem accepted an unknown NIEM_SERVICE_HOST");
    assert_eq!(
        pod["enableServiceLinks"], false,
        "enableServiceLinks must be false: the Service's NIEM_* variables break niem's config"
    );

    let (http, rtmp) = default_ports();
    assert_eq!(port(str_at(&cfg, "listen", "ConfigMap niem.toml")), http);
    assert_eq!(port(str_at(&cfg, "live.rtmp_listen", "ConfigMap niem.toml")), rtmp);
    let container_port = |name: &str| {
        container["ports"]
            .as_array()
            .expect("ports")
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["containerPort"].as_u64())
            .unwrap_or_else(|| panic!("container port {name}"))
    };
    assert_eq!(container_port("http"), u64::from(http));
    assert_eq!(container_port("rtmp"), u64::from(rtmp));
    for p in svc["spec"]["ports"].as_array().expect("service ports") {
        let target = str_at(p, "targetPort", "Service targetPort");
        assert_eq!(p["port"].as_u64(), Some(container_port(target)), "Service port {target} is the container's");
    }
    assert_eq!(get(svc, "spec.selector"), get(sts, "spec.template.metadata.labels"), "the Service selects the pod");
    assert_eq!(sts["spec"]["serviceName"], svc["metadata"]["name"]);

    // Probes: the service's real endpoints on its HTTP port.
    for (probe, path) in [("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(str_at(container, &format!("{probe}.httpGet.path"), probe), path, "{probe}");
        assert_eq!(str_at(container, &format!("{probe}.httpGet.port"), probe), "http", "{probe} port");
    }

    // Stopping, users, privileges.
    let grace = pod["terminationGracePeriodSeconds"].as_u64().expect("terminationGracePeriodSeconds");
    assert!(
        grace >= drain_secs() + 30,
        "terminationGracePeriodSeconds {grace} leaves no margin over niem's {}s drain",
        drain_secs()
    );
    assert_eq!(sts["spec"]["replicas"], 1, "one niem per data dir");
    let uid = dockerfile_user().split(':').next().expect("uid").parse::<u64>().expect("numeric");
    assert_eq!(get(pod, "securityContext.runAsUser").as_u64(), Some(uid), "runAsUser is the image's UID");
    assert_eq!(get(pod, "securityContext.runAsNonRoot"), true);
    assert_eq!(get(pod, "securityContext.fsGroup").as_u64(), Some(uid));
    let sc = &container["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(get(sc, "capabilities.drop"), &serde_json::json!(["ALL"]));

    // Mounts: the claim at data_dir, the keys Secret read-only at keys.dir with
    // 0440 (root:fsGroup, which niem's key check accepts), the config where args say.
    let mount = |path: &str| {
        container["volumeMounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .find(|m| m["mountPath"] == path)
            .unwrap_or_else(|| panic!("nothing mounted at {path}"))
    };
    let volume = |name: &str| pod["volumes"].as_array().expect("volumes").iter().find(|v| v["name"] == name);
    let data = mount(str_at(&cfg, "data_dir", "ConfigMap niem.toml"));
    assert!(
        sts["spec"]["volumeClaimTemplates"]
            .as_array()
            .expect("claims")
            .iter()
            .any(|t| t["metadata"]["name"] == data["name"]),
        "data_dir is on the PersistentVolumeClaim"
    );
    let keys = mount(str_at(&cfg, "keys.dir", "ConfigMap niem.toml"));
    assert_eq!(keys["readOnly"], true, "keys are mounted read-only");
    let secret = volume(str_at(keys, "name", "keys mount")).expect("keys volume");
    assert!(secret["secret"]["secretName"].is_string(), "keys come from a Secret");
    assert_eq!(secret["secret"]["defaultMode"].as_u64(), Some(0o440));
    let args: Vec<&str> =
        container["args"].as_array().expect("args").iter().map(|a| a.as_str().expect("arg")).collect();
    assert_eq!(args.first(), Some(&"--config"));
    assert_eq!(args.last(), Some(&"serve"));
    let config = mount(args[1]);
    assert_eq!(
        volume(str_at(config, "name", "config mount")).and_then(|v| v["configMap"]["name"].as_str()),
        cm["metadata"]["name"].as_str(),
        "--config {} is the ConfigMap's niem.toml",
        args[1]
    );
    assert_eq!(config["subPath"], "niem.toml");
}

// ---------------------------------------------------------------- several nodes

fn compose_cluster(env_file: &Path) -> Output {
    let mut cmd = Command::new(tool("docker-compose"));
    cmd.arg("-f")
        .arg(deploy("compose/cluster.yaml"))
        .arg("--env-file")
        .arg(env_file)
        .args(["config", "--format", "json"]);
    output(&mut cmd)
}

/// deploy/compose/cluster.yaml: two nodes behind HAProxy, PostgreSQL, SeaweedFS
/// and a worker. Compose accepts it; the nodes share the catalog and the keys
/// but not a data dir; only HAProxy publishes ports, niem's own, and sends
/// HTTP and RTMP to both nodes; PostgreSQL sorts text in byte order; the worker
/// holds no KEK; niem accepts the nodes' config; HAProxy accepts its own.
#[test]
fn compose_cluster_is_valid_and_agrees_with_the_service() {
    let out = compose_cluster(&deploy("compose/env.example"));
    assert!(out.status.success(), "docker compose config cluster.yaml:\n{}", text(&out));
    let c = json(&String::from_utf8_lossy(&out.stdout), "compose config");
    // Without the PostgreSQL password in .env it refuses to run: the check can fail.
    let partial = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(partial.path(), "S3_ACCESS_KEY=a\nS3_SECRET_KEY=b\n").expect("write");
    let refused = compose_cluster(partial.path());
    assert!(!refused.status.success() && text(&refused).contains("POSTGRES_PASSWORD"), "{}", text(&refused));

    let services = &c["services"];
    let (http, rtmp) = default_ports();
    let mut data = BTreeSet::new();
    for node in ["niem-1", "niem-2"] {
        let n = &services[node];
        assert_eq!(n["environment"]["NIEM_CATALOG__NODE"], node, "each node its own name");
        let url = n["environment"]["NIEM_CATALOG__URL"].as_str().expect("catalog url");
        assert!(url.starts_with("postgres://niem:") && url.ends_with("@postgres/niem"), "{url}");
        assert!(n["ports"].as_array().is_none_or(Vec::is_empty), "{node} publishes nothing: HAProxy does");
        assert_eq!(n["read_only"], true);
        assert_eq!(n["user"], Value::from(dockerfile_user()));
        let vols = n["volumes"].as_array().expect("volumes");
        let at =
            |target: &str| vols.iter().find(|v| v["target"] == target).unwrap_or_else(|| panic!("{node}: {target}"));
        assert_eq!(at("/var/lib/niem")["type"], "volume");
        data.insert(at("/var/lib/niem")["source"].as_str().expect("source").to_string());
        assert_eq!(at("/etc/niem/keys")["read_only"], true, "keys read-only");
        assert_eq!(get(n, "depends_on.postgres.condition"), "service_healthy");
    }
    assert_eq!(data.len(), 2, "a spool and an index per node, never shared");
    let worker = &services["worker"];
    assert!(
        !worker["volumes"].as_array().expect("volumes").iter().any(|v| v["target"] == "/etc/niem/keys"),
        "the worker never holds a KEK"
    );
    assert_eq!(worker["command"][0], "worker");
    let lb_ports: BTreeSet<u64> = services["haproxy"]["ports"]
        .as_array()
        .expect("haproxy ports")
        .iter()
        .map(|p| p["published"].as_str().and_then(|s| s.parse().ok()).or(p["published"].as_u64()).expect("port"))
        .collect();
    assert_eq!(lb_ports, BTreeSet::from([u64::from(http), u64::from(rtmp)]), "HAProxy publishes niem's ports");
    let initdb = services["postgres"]["environment"]["POSTGRES_INITDB_ARGS"].as_str().expect("initdb args");
    assert!(initdb.contains("--locale=C.UTF-8"), "the catalog's database sorts text in byte order: {initdb}");

    // The nodes' config: niem accepts it, and HAProxy sends to its ports.
    let cfg_text = read(&deploy("compose/niem-cluster.toml"));
    niem_accepts(&cfg_text, "deploy/compose/niem-cluster.toml");
    let cfg = toml(&cfg_text);
    let haproxy = read(&deploy("compose/haproxy.cfg"));
    for node in ["niem-1", "niem-2"] {
        for p in [
            port(str_at(&cfg, "listen", "niem-cluster.toml")),
            port(str_at(&cfg, "live.rtmp_listen", "niem-cluster.toml")),
        ] {
            assert!(haproxy.contains(&format!("server {node} {node}:{p}")), "HAProxy sends to {node}:{p}");
        }
    }
    assert!(haproxy.contains("httpchk GET /readyz"), "HAProxy sends only to ready nodes");
    // A resumable upload's tail is in one node's spool: its URL picks the node.
    let uploads = haproxy.split("\nbackend niem_uploads").nth(1).expect("a backend for resumable uploads");
    assert!(haproxy.contains("path_beg /api/v1/uploads/") && haproxy.contains("use_backend niem_uploads"));
    assert!(uploads.contains("balance uri") && uploads.contains("hash-type consistent"), "{uploads}");
    let check = output(Command::new("haproxy").args(["-c", "-f"]).arg(deploy("compose/haproxy.cfg")));
    assert!(check.status.success(), "haproxy -c deploy/compose/haproxy.cfg:\n{}", text(&check));
    let bad = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(bad.path(), haproxy.replace("balance leastconn", "balance leastest")).expect("write");
    assert!(
        !output(Command::new("haproxy").args(["-c", "-f"]).arg(bad.path())).status.success(),
        "haproxy -c can fail"
    );
}

/// deploy/kubernetes/cluster.yaml: strict-valid for every Kubernetes version
/// kubernetes-validate knows from 1.29; nodes named by their pod, sharing the
/// external PostgreSQL; the worker Deployment holds no KEK; niem accepts the
/// ConfigMap's config.
#[test]
fn kubernetes_cluster_validates_and_agrees_with_the_service() {
    let manifests = deploy("kubernetes/cluster.yaml");
    for version in ["1.29.0", "1.33.0"] {
        let out = output(Command::new(tool("kubernetes-validate")).args(["--strict", "-k", version]).arg(&manifests));
        assert!(
            out.status.success() && !text(&out).contains("WARN"),
            "cluster.yaml against {version}:\n{}",
            text(&out)
        );
    }
    let docs = yaml_docs(&manifests);
    let deployment = |component: &str| {
        docs.iter()
            .find(|d| d["kind"] == "Deployment" && d["metadata"]["labels"]["app.kubernetes.io/component"] == component)
            .unwrap_or_else(|| panic!("a {component} Deployment"))
    };
    let nodes = deployment("node");
    assert!(nodes["spec"]["replicas"].as_u64().expect("replicas") >= 2, "several nodes");
    let pod = &nodes["spec"]["template"]["spec"];
    let node = &pod["containers"][0];
    let env = node["env"].as_array().expect("env");
    let name = env.iter().find(|e| e["name"] == "NIEM_CATALOG__NODE").expect("node name");
    assert_eq!(name["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name", "each node is named by its pod");
    let from: Vec<&str> =
        node["envFrom"].as_array().expect("envFrom").iter().filter_map(|e| e["secretRef"]["name"].as_str()).collect();
    assert!(from.contains(&"niem-postgres"), "the catalog's URL from a Secret: {from:?}");
    assert_eq!(pod["enableServiceLinks"], false, "no NIEM_* variables from the Service");
    let service = docs.iter().find(|d| d["kind"] == "Service" && d["metadata"]["name"] == "niem").expect("a Service");
    assert_eq!(service["spec"]["sessionAffinity"], "ClientIP", "a resumable upload stays on the node with its tail");
    let worker = &deployment("worker")["spec"]["template"]["spec"];
    let volumes = worker["volumes"].as_array().expect("volumes");
    assert!(!volumes.iter().any(|v| v["secret"]["secretName"] == "niem-keys"), "the worker never holds a KEK");
    let cm = docs.iter().find(|d| d["kind"] == "ConfigMap").expect("a ConfigMap");
    niem_accepts(cm["data"]["niem.toml"].as_str().expect("niem.toml"), "cluster.yaml's ConfigMap");
}
