//! Pages the binary serves with their assets embedded (GraphiQL, the
//! console): each asset under a URL holding the bundle's version, a hash
//! of its contents, so a new build is a new URL and browsers may keep each
//! one for a year; the page under a Content-Security-Policy of its own.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};

/// (name, media type, contents).
pub type Asset = (&'static str, &'static str, &'static [u8]);

/// The start of a SHA-256 of every asset's name and contents.
pub fn version(assets: &[Asset]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for (name, _, body) in assets {
        hash.update(name.as_bytes());
        hash.update(body);
    }
    hex::encode(&hash.finalize()[..6])
}

/// The asset `name` of `assets` when `asked` is their `version`, cached for
/// a year; any other version or name is 404.
pub fn asset(assets: &[Asset], version: &str, asked: &str, name: &str) -> Response {
    match assets.iter().find(|(n, _, _)| *n == name) {
        Some((_, media, body)) if asked == version => (
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

/// `html` under `csp`, never framed.
pub fn page(html: String, csp: &'static str) -> Response {
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}
