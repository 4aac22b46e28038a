//! `/health/live`, `/health/ready` and `/metrics`.

use std::time::Duration;

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;

use super::AppState;

/// `/metrics`, behind `METRICS_TOKEN` when one is set.
pub(super) async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Some(token) = &state.ctx.config.metrics_token {
        use secrecy::ExposeSecret;
        let presented = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let expected = token.expose_secret().as_bytes();
        let matches = presented.is_some_and(|p| {
            // Constant time: the comparison must not tell how much matched.
            p.len() == expected.len()
                && p.bytes()
                    .zip(expected)
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        });
        if !matches {
            return StatusCode::UNAUTHORIZED.into_response();
        }
    }
    crate::metrics::record_pool(&state.ctx.db);
    match crate::service::outbox::backlog(&state.ctx).await {
        Ok(backlog) => crate::metrics::record_backlogs(
            &backlog
                .into_iter()
                .map(|row| (row.kind, row.pending, row.oldest))
                .collect::<Vec<_>>(),
        ),
        // The rest of the scrape is still worth having in an outage.
        Err(err) => tracing::debug!(error = %err, "the outbox backlog could not be read"),
    }
    let body = format!(
        "{}{}{}",
        crate::metrics::handle().render(),
        state.ctx.stats.render(),
        crate::metrics::render_process()
    );
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        body,
    )
        .into_response()
}

pub(super) async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// 503 while the replica drains before stopping, so a load balancer stops
/// sending it requests while it can still answer them; else whether the
/// database answers.
pub(super) async fn ready(State(state): State<AppState>) -> Response {
    if *state.ctx.lifecycle.draining.borrow() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "draining" })),
        )
            .into_response();
    }
    match tokio::time::timeout(Duration::from_secs(2), crate::db::ready(&state.ctx.db)).await {
        Ok(Ok(())) => Json(json!({ "status": "ok", "database": "ok" })).into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "database": "unreachable" })),
        )
            .into_response(),
    }
}
