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

pub(super) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.ctx.stats.render(),
    )
}

pub(super) async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

pub(super) async fn ready(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), state.ctx.db.ping()).await {
        Ok(Ok(())) => Json(json!({ "status": "ok", "database": "ok" })).into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "database": "unreachable" })),
        )
            .into_response(),
    }
}
