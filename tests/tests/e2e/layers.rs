//! The service's layers hold: checks over the source, not the running service.
//!
//! - the domain (`ingest/core`, crate `niem_core`) names no transport: no axum,
//!   maud or tower-http in its manifest or its code;
//! - the module graph of `ingest/core` and of the `niem` binary has no loop (the
//!   domain's `app`, the shared state every function receives, aside), and the
//!   adapters (api, web, cli, rtmp) never use one another;
//! - the ledger is appended in one place, the vault's commit path;
//! - the time is read through a clock: no `SystemTime::now` or
//!   `OffsetDateTime::now_utc` outside `archive/src/clock.rs`, tests and benches;
//! - the domain reads and writes the catalog only through its interface
//!   (`niem_core::catalog`): no module of `ingest/core/src` outside `catalog/`
//!   names rusqlite or holds SQL in a string literal.
//!
//! Each check is also tried on a planted violation, so that a parser that finds
//! nothing cannot pass.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())).flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The source without comments and without `#[cfg(test)]` modules (which sit at
/// the end of a file in this code base), so that prose and tests are not read as
/// uses.
fn code(src: &str) -> String {
    let cut = src.find("#[cfg(test)]\nmod ").unwrap_or(src.len());
    src[..cut].lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// The crate-level module a file belongs to (`live/pipeline.rs` is `live`).
fn module_of(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).expect("under the root");
    let first = rel.components().next().expect("a component").as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// Module → the modules of the same crate its code names (`crate::x`, `use crate::{x, ..}`).
fn graph(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let files = rust_files(root);
    let mods: BTreeSet<String> =
        files.iter().map(|f| module_of(root, f)).filter(|m| m != "lib" && m != "main").collect();
    let mut out: BTreeMap<String, BTreeSet<String>> = mods.iter().map(|m| (m.clone(), BTreeSet::new())).collect();
    for f in &files {
        let from = module_of(root, f);
        if !mods.contains(&from) {
            continue;
        }
        let src = code(&std::fs::read_to_string(f).expect("read"));
        for (at, _) in src.match_indices("crate::") {
            let rest = &src[at + "crate::".len()..];
            let names: Vec<&str> = if let Some(list) = rest.strip_prefix('{') {
                list[..list.find('}').unwrap_or(0)]
                    .split(',')
                    .map(|s| s.trim().split("::").next().unwrap_or(""))
                    .collect()
            } else {
                vec![rest.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or("")]
            };
            for name in names {
                let target = if name == "App" { "app" } else { name };
                if mods.contains(target) && target != from {
                    out.get_mut(&from).expect("known").insert(target.to_string());
                }
            }
        }
    }
    out
}

/// A loop among the modules, leaving `skip` out, if there is one.
fn find_loop(g: &BTreeMap<String, BTreeSet<String>>, skip: &str) -> Option<Vec<String>> {
    fn visit(
        g: &BTreeMap<String, BTreeSet<String>>,
        skip: &str,
        at: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == at) {
            let mut cycle = path[i..].to_vec();
            cycle.push(at.to_string());
            return Some(cycle);
        }
        if done.contains(at) {
            return None;
        }
        path.push(at.to_string());
        for next in g.get(at).into_iter().flatten().filter(|n| n.as_str() != skip) {
            if let Some(c) = visit(g, skip, next, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(at.to_string());
        None
    }
    let mut done = BTreeSet::new();
    g.keys().filter(|k| k.as_str() != skip).find_map(|k| visit(g, skip, k, &mut Vec::new(), &mut done))
}

#[test]
fn the_domain_names_no_transport() {
    let core = niem_tests::root().join("ingest/core");
    let manifest = std::fs::read_to_string(core.join("Cargo.toml")).expect("core manifest");
    for dep in ["axum", "maud", "tower-http", "tower_http", "rml_rtmp", "tokio-rustls"] {
        let named = manifest.lines().any(|l| l.trim_start().starts_with(dep) && l.contains('='));
        assert!(!named, "ingest/core/Cargo.toml depends on {dep}: the domain must not know a transport");
    }
    let mut checked = 0;
    for f in rust_files(&core.join("src")) {
        let src = code(&std::fs::read_to_string(&f).expect("read"));
        for word in ["axum::", "maud::", "tower_http::", "html!"] {
            assert!(!src.contains(word), "{} uses {word}", f.display());
        }
        checked += 1;
    }
    assert!(checked > 20, "only {checked} files read: is the path right?");
    assert!(code("use axum::Router;\n").contains("axum::"), "the check sees a planted use");
}

#[test]
fn no_module_loops_and_adapters_stay_apart() {
    let root = niem_tests::root();
    let core = graph(&root.join("ingest/core/src"));
    assert!(
        core.len() > 20 && core.values().map(BTreeSet::len).sum::<usize>() > 40,
        "the core graph looks empty: {core:?}"
    );
    if let Some(cycle) = find_loop(&core, "app") {
        panic!("an import loop in niem_core: {}", cycle.join(" -> "));
    }
    let bin = graph(&root.join("ingest/src"));
    if let Some(cycle) = find_loop(&bin, "") {
        panic!("an import loop in the niem binary: {}", cycle.join(" -> "));
    }
    let adapters = ["api", "web", "cli", "rtmp"];
    for a in adapters {
        let uses = &bin[a];
        for b in adapters.iter().filter(|b| **b != a) {
            assert!(!uses.contains(*b), "the {a} adapter uses the {b} adapter: both must call niem_core instead");
        }
    }
    // The checks find what they look for.
    let mut planted = core.clone();
    planted.get_mut("principal").expect("principal").insert("users".into());
    assert!(find_loop(&planted, "app").is_some(), "a planted loop principal -> users -> principal is found");
}

/// Entries are appended by the vault's commit path alone: the engine-neutral
/// `ledger::append_in` is called by `archive/src/vault.rs` only, and each
/// engine's own append only by `append_in` itself (and the PostgreSQL
/// ledger's benchmark).
#[test]
fn the_ledger_is_appended_only_by_the_vault() {
    let root = niem_tests::root();
    let (mut neutral, mut sqlite, mut postgres) = (Vec::new(), Vec::new(), Vec::new());
    for dir in ["archive/src", "ingest", "audit-cli/src", "search/src", "media/src", "bench/src"] {
        for f in rust_files(&root.join(dir)) {
            let src = code(&std::fs::read_to_string(&f).expect("read"));
            let name = f.strip_prefix(&root).expect("under root").display().to_string();
            if src.contains("append_in(") && name != "archive/src/ledger/mod.rs" {
                neutral.push(name.clone());
            }
            if src.contains("pg_ledger::append(") || src.contains("postgres::append(") {
                postgres.push(name.clone());
            }
            let plain = src.replace("pg_ledger::append(", "").replace("postgres::append(", "");
            if plain.contains("ledger::append(") || plain.contains("ledger::{append") || plain.contains("| append(t") {
                sqlite.push(name);
            }
        }
    }
    assert_eq!(neutral, vec!["archive/src/vault.rs".to_string()], "ledger::append_in outside the vault's commit path");
    assert_eq!(sqlite, vec!["archive/src/ledger/mod.rs".to_string()], "SQLite's append outside append_in");
    assert_eq!(
        postgres,
        vec!["archive/src/ledger/mod.rs".to_string(), "bench/src/ledger.rs".to_string()],
        "PostgreSQL's append outside append_in and its bench"
    );
}

#[test]
fn the_time_is_read_through_a_clock() {
    let root = niem_tests::root();
    let mut found = Vec::new();
    let mut read = 0;
    for dir in ["archive/src", "ingest", "audit-cli/src", "search/src", "media/src"] {
        for f in rust_files(&root.join(dir)) {
            let rel = f.strip_prefix(&root).expect("under root").display().to_string();
            if rel == "archive/src/clock.rs"
                || rel.contains("/tests")
                || rel.ends_with("tests.rs")
                || rel.contains("/testing")
            {
                continue;
            }
            read += 1;
            let src = code(&std::fs::read_to_string(&f).expect("read"));
            if src.contains("SystemTime::now") || src.contains("now_utc()") {
                found.push(rel);
            }
        }
    }
    assert!(read > 60, "only {read} files read");
    assert!(found.is_empty(), "the time read without a clock in: {found:?}");
}

/// The string literals of `src` (plain and raw), skipping comments and char
/// literals, with the `#[cfg(test)]` module at the end left out.
fn string_literals(src: &str) -> Vec<String> {
    let src = &src[..src.find("#[cfg(test)]\nmod ").unwrap_or(src.len())];
    let b = src.as_bytes();
    let (mut out, mut i) = (Vec::new(), 0);
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => i = src[i..].find('\n').map_or(b.len(), |n| i + n),
            b'/' if b.get(i + 1) == Some(&b'*') => i = src[i + 2..].find("*/").map_or(b.len(), |n| i + n + 4),
            // A char literal ('"', '\'', 'x'); anything else after a quote is a lifetime.
            b'\'' if b.get(i + 1) == Some(&b'\\') => i = src[i + 2..].find('\'').map_or(b.len(), |n| i + n + 3),
            b'\'' if b.get(i + 2) == Some(&b'\'') => i += 3,
            b'r' if matches!(b.get(i + 1), Some(b'"' | b'#')) && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) => {
                let hashes = b[i + 1..].iter().take_while(|c| **c == b'#').count();
                let start = i + 2 + hashes;
                let end = format!("\"{}", "#".repeat(hashes));
                let close = src[start..].find(&end).map_or(b.len(), |n| start + n);
                out.push(src[start..close].to_string());
                i = close + end.len();
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                out.push(src[i + 1..j.min(b.len())].to_string());
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    out
}

/// What in `src` reaches the catalog around its interface: rusqlite named in
/// code, or an SQL statement in a string literal.
fn catalog_bypass(src: &str) -> Vec<String> {
    let mut found = Vec::new();
    if code(src).contains("rusqlite") {
        found.push("rusqlite".to_string());
    }
    for lit in string_literals(src) {
        for word in ["SELECT ", "INSERT INTO", "INSERT OR", "UPDATE ", "DELETE FROM", "CREATE TABLE", " WHERE "] {
            if lit.contains(word) {
                found.push(format!("{word:?} in {:?}", lit.chars().take(60).collect::<String>()));
            }
        }
    }
    found
}

#[test]
fn the_domain_reaches_the_catalog_only_through_its_interface() {
    let root = niem_tests::root();
    let src = root.join("ingest/core/src");
    // The engines: every statement of the domain lives under catalog/ (the
    // interface in catalog/*.rs holds none; catalog/sqlite/ and
    // catalog/postgres/ are the engines).
    let engine = src.join("catalog");
    let (mut found, mut read) = (Vec::new(), 0);
    for f in rust_files(&src).into_iter().filter(|f| !f.starts_with(&engine)) {
        read += 1;
        let text = std::fs::read_to_string(&f).expect("read");
        for what in catalog_bypass(&text) {
            found.push(format!("{}: {what}", f.strip_prefix(&root).expect("under root").display()));
        }
    }
    assert!(read > 25, "only {read} domain files read: is the path right?");
    assert!(found.is_empty(), "the domain goes around niem_core::catalog:\n{}", found.join("\n"));
    // The interface holds no SQL either (mod.rs names rusqlite only where it
    // hands the engine a connection).
    // The conformance scenarios are test support: their fixtures are SQL
    // written to mean the same on both engines.
    let engines = [engine.join("sqlite"), engine.join("postgres"), engine.join("conformance")];
    for f in rust_files(&engine).into_iter().filter(|f| !engines.iter().any(|e| f.starts_with(e))) {
        let text = std::fs::read_to_string(&f).expect("read");
        let named: Vec<String> = catalog_bypass(&text).into_iter().filter(|w| w != "rusqlite").collect();
        assert!(named.is_empty(), "{} holds SQL: {named:?}", f.display());
    }
    // The checks find what they look for, and not in comments or tests.
    for engine_file in ["sqlite/orgs.rs", "postgres/jobs.rs"] {
        let engine_sql = std::fs::read_to_string(engine.join(engine_file)).expect("read the engine");
        assert!(catalog_bypass(&engine_sql).iter().any(|w| w.starts_with("\"SELECT ")), "{engine_file}'s SQL is seen");
    }
    assert!(!catalog_bypass("use rusqlite::params;\n").is_empty(), "a planted rusqlite is found");
    let planted = "fn f() { let s = r#\"DELETE FROM users\"#; let c = '\"'; let d = \"x \\\" UPDATE y\"; }";
    assert_eq!(catalog_bypass(planted).len(), 2, "planted SQL in raw and escaped strings is found: {planted}");
    let quiet =
        "// SELECT * FROM x\nfn f<'a>(x: &'a str) {}\n#[cfg(test)]\nmod tests { const Q: &str = \"SELECT 1\"; }";
    assert!(catalog_bypass(quiet).is_empty(), "comments, lifetimes and tests are not uses");
}
