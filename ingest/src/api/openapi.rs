//! Keeps `openapi.json` in step with the router: every route the API declares in
//! `mod.rs` is documented with exactly its methods, nothing else is, and every
//! `$ref` resolves.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const DOC: &str = include_str!("openapi.json");
const ROUTER: &str = include_str!("mod.rs");
/// The one router, which nests the API and routes the probes itself.
const HTTP: &str = include_str!("../router.rs");

/// The HTTP methods axum's method routers take, as OpenAPI spells them.
const METHODS: &[&str] = &["get", "post", "put", "patch", "delete", "head", "options", "trace", "connect"];

fn doc() -> Value {
    serde_json::from_str(DOC).expect("openapi.json parses")
}

/// The source with line comments blanked out (string literals kept), so that a
/// comment mentioning a route is not read as one. Offsets are preserved.
fn strip_comments(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let (mut i, mut in_str) = (0, false);
    while i < b.len() {
        match b[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            b'/' if !in_str && b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    String::from_utf8(out).expect("still UTF-8: only ASCII bytes were replaced")
}

/// The index of the bracket closing the one opened just before `start`.
fn closing(src: &str, start: usize) -> usize {
    let b = src.as_bytes();
    let (mut depth, mut i, mut in_str) = (1usize, start, false);
    while i < b.len() {
        match b[i] {
            b'\\' if in_str => i += 1,
            b'"' => in_str = !in_str,
            b'(' | b'{' | b'[' if !in_str => depth += 1,
            b')' | b'}' | b']' if !in_str => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
        i += 1;
    }
    panic!("unbalanced brackets after offset {start} in mod.rs");
}

/// The first string literal in `s`, and what follows it.
fn literal(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    let rest = s.strip_prefix('"').unwrap_or_else(|| panic!("expected a string literal at {s:.40?}"));
    let end = rest.find('"').expect("closing quote");
    (&rest[..end], &rest[end + 1..])
}

/// The methods of an axum method-router expression such as
/// `post(a).get(b)` or `axum::routing::head(a).patch(b)`: the calls at its top
/// level, by their last path segment.
fn methods(expr: &str) -> BTreeSet<String> {
    let b = expr.as_bytes();
    let mut found = BTreeSet::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_alphabetic() || b[i] == b'_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let name = &expr[start..i];
            let mut j = i;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            if b.get(j) == Some(&b'(') {
                match name {
                    m if METHODS.contains(&m) => {
                        found.insert(m.to_string());
                    }
                    "any" | "on" | "any_service" | "on_service" | "get_service" | "post_service" => {
                        panic!("route with `{name}(...)`: teach this test which methods it serves")
                    }
                    _ => {}
                }
                i = closing(expr, j + 1) + 1;
            }
        } else if b[i] == b'"' {
            i += 1 + expr[i + 1..].find('"').expect("closing quote") + 1;
        } else {
            i += 1;
        }
    }
    found
}

/// Every `.route("PATH", ...)` in `src`, with its methods.
fn routes_in(src: &str, prefix: &str) -> Vec<(String, BTreeSet<String>)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = src[from..].find(".route(") {
        let open = from + at + ".route(".len();
        let close = closing(src, open);
        let (path, rest) = literal(&src[open..close]);
        let expr = rest.trim_start().strip_prefix(',').expect("a comma after the route's path");
        let m = methods(expr);
        assert!(!m.is_empty(), "route {path:?} serves no method this test recognises");
        out.push((format!("{prefix}{path}"), m));
        from = close;
    }
    out
}

/// The routes the API declares (`api::routes()`, under the prefix `router::router`
/// nests it at) and those `router::router` routes itself (`/healthz`). The web
/// UI's routes live in `crate::web` and are not part of the API.
fn declared() -> BTreeMap<String, BTreeSet<String>> {
    let api = strip_comments(ROUTER);
    let http = strip_comments(HTTP);
    let start = api.find("pub fn routes()").expect("the api routes");
    let (nest_at, _) = http.match_indices(".nest(").next().expect("the api router is nested");
    let (prefix, rest) = literal(&http[nest_at + ".nest(".len()..]);
    assert!(
        rest.trim_start().strip_prefix(',').expect("a comma").trim_start().starts_with("crate::api::routes()"),
        "the nest mounts the api routes"
    );
    let mut all = BTreeMap::new();
    let inner = routes_in(&api[start..], prefix);
    let outer = routes_in(&http, "");
    assert!(inner.len() > 10, "found only {} API routes; is the parser lost?", inner.len());
    for (path, m) in inner.into_iter().chain(outer) {
        assert!(all.insert(path.clone(), m).is_none(), "{path} is routed twice");
    }
    all
}

fn documented(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(path, item)| {
            let item = item.as_object().expect("a path item");
            (path.clone(), item.keys().filter(|k| METHODS.contains(&k.as_str())).cloned().collect())
        })
        .collect()
}

#[test]
fn openapi_document_is_3_1() {
    let doc = doc();
    assert!(doc["openapi"].as_str().expect("openapi is a string").starts_with("3.1"));
    assert_eq!(doc["info"]["title"], "Niêm API");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["securitySchemes"]["session"].is_object());
}

#[test]
fn openapi_documents_every_route_with_its_methods() {
    let routes = declared();
    let doc = documented(&doc());
    assert!(routes.contains_key("/healthz") && routes.contains_key("/api/v1/openapi.json"), "{routes:?}");
    for (path, methods) in &routes {
        let Some(doc_methods) = doc.get(path) else { panic!("{path} is routed but not in openapi.json") };
        assert_eq!(doc_methods, methods, "methods of {path}: openapi.json vs the router");
    }
    for path in doc.keys() {
        assert!(routes.contains_key(path), "openapi.json documents {path}, which the router lacks");
    }
}

#[test]
fn openapi_operations_are_named_and_their_path_parameters_declared() {
    let doc = doc();
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let in_path: BTreeSet<&str> =
            path.split('{').skip(1).map(|s| s.split('}').next().expect("closing brace")).collect();
        for (method, op) in item.as_object().expect("a path item").iter().filter(|(k, _)| METHODS.contains(&k.as_str()))
        {
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_string()), "operationId {id} is used twice");
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{method} {path} has no summary");
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path} has no responses");
            let params = item["parameters"].as_array().into_iter().chain(op["parameters"].as_array()).flatten();
            let declared: BTreeSet<&str> =
                params.filter(|p| p["in"] == "path").map(|p| p["name"].as_str().expect("a parameter name")).collect();
            assert_eq!(declared, in_path, "path parameters of {method} {path}");
        }
    }
}

#[test]
fn openapi_refs_resolve() {
    fn walk<'a>(v: &'a Value, refs: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get("$ref") {
                    refs.push(r.as_str().expect("$ref is a string"));
                }
                m.values().for_each(|v| walk(v, refs));
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, refs)),
            _ => {}
        }
    }
    let doc = doc();
    let schemas = doc["components"]["schemas"].as_object().expect("components/schemas");
    let mut refs = Vec::new();
    walk(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("$ref {r} is not a components/schemas entry"));
        assert!(schemas.contains_key(name), "$ref {r} names no schema");
    }
}

#[tokio::test]
async fn openapi_is_served_as_json() {
    use axum::response::IntoResponse;
    let resp = super::openapi().await.into_response();
    assert_eq!(resp.status(), axum::http::StatusCode::OK);
    assert_eq!(resp.headers()[axum::http::header::CONTENT_TYPE], "application/json");
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    assert_eq!(body, DOC.as_bytes());
}

#[test]
fn openapi_route_parser_reads_chained_and_qualified_forms() {
    let src = r#"let api = Router::new()
        .route("/a", post(x::a).get(x::b))
        .route(
            "/b/{id}",
            axum::routing::head(t::h)
                .patch(t::p) // .route("/not", get(c))
                .delete(t::d),
        )
        .route("/c", axum::routing::put(|| async { "get(" }));"#;
    let got = routes_in(&strip_comments(src), "/v");
    let set = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        got,
        vec![
            ("/v/a".to_string(), set(&["get", "post"])),
            ("/v/b/{id}".to_string(), set(&["delete", "head", "patch"])),
            ("/v/c".to_string(), set(&["put"]))
        ]
    );
}
