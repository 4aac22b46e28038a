//! `/.well-known/jwks.json` and `/.well-known/openid-configuration`: what
//! another service needs to verify usergraph's access tokens by itself.

use axum::{
    Json,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::{AppState, middleware::error_response};
use crate::{error::code, service::signing};

/// How long verifiers may cache the key set: a rotated key stays published
/// for the access tokens' lifetime, far longer.
const CACHE: &str = "public, max-age=300";

/// The public keys that verify access tokens (RFC 7517): the active key and
/// the replaced ones still in their window. Empty with HS256, whose secret
/// is never published.
pub(super) async fn jwks(State(state): State<AppState>) -> Response {
    match signing::published(&state.ctx).await {
        Ok(keys) => (
            [(header::CACHE_CONTROL, CACHE)],
            Json(json!({ "keys": keys })),
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "the key set could not be read");
            error_response(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "the key set cannot be read right now",
                code::INTERNAL_SERVER_ERROR,
            )
        }
    }
}

/// OpenID Connect discovery, for the parts usergraph has: its issuer, key
/// set and signing algorithm (it is not an OAuth authorization server).
pub(super) async fn openid_configuration(State(state): State<AppState>) -> Response {
    let config = &state.ctx.config;
    let claims_supported: Vec<&str> = ["sub", "sid", "iss", "aud", "exp", "iat"]
        .into_iter()
        .chain(config.jwt_claims_preset.claim_names().iter().copied())
        .collect();
    (
        [(header::CACHE_CONTROL, CACHE)],
        Json(json!({
            "issuer": config.jwt_issuer,
            "jwks_uri": format!("{}/.well-known/jwks.json", config.public_url),
            "id_token_signing_alg_values_supported": [config.jwt_algorithm.name()],
            "subject_types_supported": ["public"],
            "claims_supported": claims_supported,
        })),
    )
        .into_response()
}
