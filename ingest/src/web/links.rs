//! A member's link to a meeting's documents (`/l/{token}`): no sign-in, a bearer
//! URL the cell hands its members (printed as a QR code on the meeting page).
//! Only non-confidential documents are listed or served; a forged, expired or
//! revoked link gets a page saying so in Vietnamese and English, and nothing
//! else happens. The rules are `niem_core::documents`'.

use super::i18n::Lang;
use crate::http::ApiError;
use axum::extract::{Path, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use maud::html;
use niem_core::App;
use std::sync::Arc;

/// A link that does not open: nobody signed in is an admin, so only the
/// words, in the page's language; a forged, expired or revoked link says to
/// ask the cell for a new one.
fn refused(lang: Lang, e: ApiError) -> Response {
    let body = html! {
        h1 { (lang.t("link.refused")) }
        @match e.code {
            "forbidden" | "not_found" | "unauthorized" => p.error role="alert" { (lang.t("link.invalid")) },
            "gone" => p.error role="alert" { (lang.t("link.gone")) },
            _ => (super::failure(lang, false, &e)),
        }
    };
    (e.status, super::bare_page(lang, lang.t("link.refused"), body)).into_response()
}

/// `GET /l/{token}`: the meeting's documents a member may download.
pub async fn list(State(app): State<Arc<App>>, parts: Parts, Path(token): Path<String>) -> Response {
    let lang = Lang::of(&parts);
    let (_, docs) = match niem_core::documents::link_list(&app, &token).await {
        Ok(found) => found,
        Err(e) => return refused(lang, e.into()),
    };
    let body = html! {
        h1 { (lang.t("link.title")) }
        p { (lang.t("link.intro")) }
        @if docs.is_empty() { p { (lang.t("docs.none")) } }
        ul.documents {
            @for d in &docs {
                li {
                    a href=(format!("/l/{token}/{}", d.id)) { (d.title) }
                    " · " (d.filename) " · " (d.len) " B"
                    br;
                    small { "SHA-256 " code { (d.sha256) } }
                }
            }
        }
    };
    super::bare_page(lang, lang.t("link.title"), body).into_response()
}

/// `GET /l/{token}/{doc}`: one non-confidential document, ledgered.
pub async fn download(
    State(app): State<Arc<App>>,
    parts: Parts,
    Path((token, doc)): Path<(String, String)>,
) -> Response {
    let lang = Lang::of(&parts);
    let doc = match doc.parse() {
        Ok(d) => d,
        Err(e) => return refused(lang, niem_core::DomainError::from(e).into()),
    };
    match niem_core::documents::link_download(&app, &token, doc).await {
        Ok((view, body)) => match crate::http::file_response(&view, body) {
            Ok(r) => r,
            Err(e) => refused(lang, e),
        },
        // A link that still opens was refused this document: it is *Mật*.
        Err(e @ niem_core::DomainError::Forbidden(_))
            if niem_core::documents::link_list(&app, &token).await.is_ok() =>
        {
            let body = html! {
                h1 { (lang.t("link.refused")) }
                p.error role="alert" { (lang.t("link.confidential")) }
            };
            let status = ApiError::from(e).status;
            (status, super::bare_page(lang, lang.t("link.refused"), body)).into_response()
        }
        Err(e) => refused(lang, e.into()),
    }
}
