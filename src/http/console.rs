//! The administrator's console, served from the binary itself: the page at
//! `GET /admin` and its assets under `/admin/<version>/` (built from
//! `console/` into `assets/console/`, committed, so no Node is needed to
//! serve it). It signs in and works through the public API only, sending
//! each document by hash: its manifest (`persisted-documents.json`) is
//! trusted whenever the console is served, so it works under
//! `TRUSTED_DOCUMENTS_ONLY` too. On in development, off in production
//! unless `ADMIN_CONSOLE=true`.

use std::collections::HashMap;

use axum::{
    extract::Path,
    http::{HeaderValue, header},
    response::{Redirect, Response},
};

/// (name, media type, contents): what `/admin/<version>/` serves.
const ASSETS: [super::bundle::Asset; 3] = [
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/console/console.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/console/console.css"),
    ),
    (
        "LICENSES.txt",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/console/LICENSES.txt"),
    ),
];

const PAGE: &str = include_str!("../../assets/console/index.html");

/// The console's documents, from SHA-256 to text.
const MANIFEST: &str = include_str!("../../assets/console/persisted-documents.json");

/// The bundle's version, part of every asset URL (`bundle::version`).
pub static VERSION: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| super::bundle::version(&ASSETS));

/// The page, its asset links pointing at this version.
static HTML: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    PAGE.replace("./console.", &format!("/admin/{}/console.", *VERSION))
});

/// Scripts, styles, images and requests from this server only (its
/// WebSocket included); no inline script or style, no framing, no forms
/// posted elsewhere, no base URL.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'self'";

/// The console's trusted documents.
pub fn manifest() -> HashMap<String, String> {
    serde_json::from_str(MANIFEST).expect("the console's manifest is a JSON object")
}

/// `GET /admin`.
pub async fn page() -> Response {
    let mut response = super::bundle::page(HTML.clone(), CSP);
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `GET /admin/`: the page lives at `/admin`, where its relative API URL
/// (`graphql`) is the server's.
pub async fn slash() -> Redirect {
    Redirect::permanent("/admin")
}

/// `GET /admin/{version}/{name}`: an asset of this version.
pub async fn asset(Path((version, name)): Path<(String, String)>) -> Response {
    super::bundle::asset(&ASSETS, &VERSION, &version, &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_bundled_assets_and_names_no_other_host() {
        assert!(!HTML.contains("http://") && !HTML.contains("https://"));
        assert!(HTML.contains(&format!("/admin/{}/console.js", *VERSION)));
        assert!(HTML.contains(&format!("/admin/{}/console.css", *VERSION)));
        assert!(!HTML.contains("<script>"), "no inline script");
    }

    /// Every document the console sends is in its manifest under its own
    /// SHA-256, so the documents cache accepts it.
    #[test]
    fn the_manifest_is_keyed_by_each_documents_sha256() {
        let manifest = manifest();
        assert!(manifest.len() > 20);
        assert!(super::super::documents::DocumentCache::with_trusted(manifest, true).is_ok());
    }
}
