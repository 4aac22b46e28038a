//! GraphiQL, served from the binary itself: the page at `GET /graphql` and
//! its pinned assets under `/graphiql/<version>/` (see `assets/graphiql/`).
//! The page names no other host, so it works with no internet access, and
//! its Content-Security-Policy allows only these assets and this server.

use axum::{extract::Path, response::Response};

/// The bundle's version, part of every asset URL (`bundle::version`).
pub static VERSION: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| super::bundle::version(&ASSETS));

const PAGE: &str = include_str!("../../assets/graphiql/index.html");

/// (name, media type, contents), for `asset`.
const ASSETS: [super::bundle::Asset; 6] = [
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
    super::bundle::page(PAGE.replace("{version}", &VERSION), CSP)
}

/// `GET /graphiql/{version}/{name}`: an asset of this version.
pub async fn asset(Path((version, name)): Path<(String, String)>) -> Response {
    super::bundle::asset(&ASSETS, &VERSION, &version, &name)
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
