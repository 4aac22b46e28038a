//! What the handlers take from a request: its viewer (from the bearer
//! token) and where it came from.

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
};

use super::AppState;
use crate::{
    auth::Viewer,
    error::{AppError, Result},
    service::{RequestMeta, api_keys, sessions, signing},
};

/// The bearer token of a request resolved to its viewer: `None` without an
/// `Authorization` header, an error for a malformed, invalid or expired token
/// (which the endpoint answers with 401, in the media type the client
/// accepts, unless the operation signs in: `guardrails::SIGNS_IN`). A token
/// starting `ugk_` is an API key; anything else must be a JWT.
pub struct MaybeViewer(pub Result<Option<Viewer>>);

impl FromRequestParts<AppState> for MaybeViewer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> std::result::Result<Self, Self::Rejection> {
        Ok(Self(viewer_of(parts, state).await))
    }
}

async fn viewer_of(parts: &Parts, state: &AppState) -> Result<Option<Viewer>> {
    {
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(None);
        };
        let token = header
            .to_str()
            .ok()
            // The scheme's name is case-insensitive (RFC 7235).
            .and_then(|h| {
                h.get(..7)
                    .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
                    .map(|_| &h[7..])
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AppError::TokenInvalid)?;
        Ok(Some(authenticate(&state.ctx, token).await?))
    }
}

/// A bearer token (a JWT or an API key) resolved to its viewer, as every
/// request and every WebSocket connection does.
pub async fn authenticate(ctx: &crate::service::AppContext, token: &str) -> Result<Viewer> {
    if token.starts_with(api_keys::SECRET_PREFIX) {
        api_keys::load_viewer(&ctx.db, token).await
    } else {
        let claims = signing::verify(ctx, token).await?;
        sessions::load_viewer(&ctx.db, &claims).await
    }
}

impl FromRequestParts<AppState> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(512).collect());
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| ci.0.ip());
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        let ip = peer
            .map(|peer| client_address(peer, &forwarded, &state.ctx.config.trusted_proxies))
            .map(|ip| ip.to_string());
        let request_id = parts
            .headers
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let accept_language = parts
            .headers
            .get(axum::http::header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(256).collect());
        Ok(Self {
            ip,
            user_agent,
            request_id,
            accept_language,
        })
    }
}

/// The header that carries a request's id, in and out.
pub const REQUEST_ID: &str = "x-request-id";

/// Whether a client's `X-Request-Id` is kept: 1–64 of `[A-Za-z0-9._-]`, so
/// it can go into logs and answers as it is. Any other is replaced.
pub fn is_acceptable_request_id(value: &[u8]) -> bool {
    (1..=64).contains(&value.len())
        && value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The client's address: the peer's, unless the peer is a trusted proxy;
/// then `X-Forwarded-For` is read from the right (the hops nearest this
/// server) and the first address that is not a trusted proxy is the client.
/// A hop that is not an address ends the walk at the last trusted one, since
/// nothing to its left can be believed.
pub fn client_address(peer: IpAddr, forwarded: &str, trusted: &[ipnet::IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded
        .rsplit(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        let Some(ip) = parse_hop(hop) else {
            return client;
        };
        client = ip;
        if !is_trusted(&ip) {
            return ip;
        }
    }
    client
}

/// An `X-Forwarded-For` hop: an address, possibly with a port (`[v6]:p`, `v4:p`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            hop.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|v6| v6.parse().ok())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // An untrusted peer: its header is ignored.
        assert_eq!(
            client_address(ip("203.0.113.9"), "1.2.3.4", &trusted),
            ip("203.0.113.9")
        );
        // A trusted peer: the right-most untrusted hop is the client.
        assert_eq!(
            client_address(ip("10.0.0.2"), "6.6.6.6, 198.51.100.7, 10.0.0.5", &trusted),
            ip("198.51.100.7")
        );
        // Only trusted hops: the left-most is as far as can be known.
        assert_eq!(
            client_address(ip("10.0.0.2"), "10.1.1.1", &trusted),
            ip("10.1.1.1")
        );
        // No header: the proxy itself.
        assert_eq!(client_address(ip("10.0.0.2"), "", &trusted), ip("10.0.0.2"));
        // Garbage ends the walk at the last believable hop.
        assert_eq!(
            client_address(ip("10.0.0.2"), "1.2.3.4, nonsense", &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_address(ip("10.0.0.2"), "[2001:db8::1]:443, 10.0.0.3:80", &trusted),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn request_ids_are_short_and_plain() {
        assert!(is_acceptable_request_id(b"abc-123_X.y"));
        assert!(!is_acceptable_request_id(b""));
        assert!(!is_acceptable_request_id(&[b'a'; 65]));
        assert!(!is_acceptable_request_id(b"a b"));
        assert!(!is_acceptable_request_id("é".as_bytes()));
    }
}
