//! What the handlers take from a request: its viewer (from the bearer
//! token) and where it came from.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
};

use super::AppState;
use crate::{
    auth::Viewer,
    error::{AppError, Result},
    service::{RequestMeta, sessions},
};

/// The bearer token of a request resolved to its viewer: `None` without an
/// `Authorization` header, an error for a malformed, invalid or expired token.
pub struct MaybeViewer(pub Option<Viewer>);

impl FromRequestParts<AppState> for MaybeViewer {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(Self(None));
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AppError::TokenInvalid)?;
        let claims = state.ctx.jwt.verify(token)?;
        let viewer = sessions::load_viewer(&state.ctx.db, &claims).await?;
        Ok(Self(Some(viewer)))
    }
}

impl FromRequestParts<AppState> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(512).collect());
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ci| ci.0.ip().to_string());
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Self {
            ip,
            user_agent,
            request_id,
        })
    }
}
