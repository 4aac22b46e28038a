//! GraphiQL, served from the binary itself: the page at `GET /graphql` and
//! its pinned assets under `/graphiql/<version>/` (see `assets/graphiql/`).
//! The page names no other host, so it works with no internet access, and
//! its Content-Security-Policy allows only these assets and this server.

use axum::{
    extract::Path,
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};

/// The bundle's version: the start of a SHA-256 of every asset, part of
/// every asset URL, so a changed asset is a new URL and browsers may cache
/// each one for a year.
pub static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for (name, _, body) in ASSETS {
        hash.update(name.as_bytes());
        hash.update(body);
    }
    hex::encode(&hash.finalize()[..6])
});

const PAGE: &str = include_str!("../../assets/graphiql/index.html");

/// (name, media type, contents), for `asset`.
const ASSETS: [(&str, &str, &[u8]); 6] = [
    (
        "graphiql.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphiql.min.css"),
    ),
    (
        "react.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    ),
    (
        "graphql-ws.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/graphql-ws.min.js"),
    ),
    (
        "init.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/graphiql/init.js"),
    ),
];

/// Scripts and styles from this server only (GraphiQL sets inline style
/// attributes, and its fonts and icons are data URIs); requests to this
/// server only (`'self'` covers its WebSocket too); no framing, no forms, no
/// base URL.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    font-src 'self' data:; img-src 'self' data:; connect-src 'self'; \
    frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The GraphiQL page.
pub fn page() -> Response {
    let mut response = Html(PAGE.replace("{version}", &VERSION)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// `GET /graphiql/{version}/{name}`: an asset of this version, cached for a
/// year; any other version or name is 404.
pub async fn asset(Path((version, name)): Path<(String, String)>) -> Response {
    let found = ASSETS.iter().find(|(n, _, _)| *n == name);
    match found {
        Some((_, media, body)) if version == *VERSION => (
            [
                (header::CONTENT_TYPE, *media),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            *body,
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_names_no_other_host_and_loads_only_bundled_assets() {
        let page = PAGE.replace("{version}", &VERSION);
        assert!(
            !page.contains("http://") && !page.contains("https://") && !page.contains("//unpkg")
        );
        for (name, _, _) in ASSETS {
            assert!(
                page.contains(&format!("/graphiql/{}/{name}", *VERSION)),
                "{name}"
            );
        }
        assert!(!page.contains("<script>"), "no inline script");
    }
}
