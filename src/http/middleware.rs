//! The layers every route runs behind, the access log, and the error
//! bodies of refusals made before GraphQL runs.

use std::time::Duration;

use axum::{
    Json, Router,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde_json::json;
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    limit::RequestBodyLimitLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};

use super::extract;
use crate::error::{AppError, code};

/// GraphQL documents are small; anything larger is refused before parsing.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// The layers every route runs behind: request id, tracing, security
/// headers, panic catching, body limit (with or without `Content-Length`) and
/// timeout. Answers carry tokens and personal data, so nothing is cached
/// unless a route says otherwise.
pub fn with_middleware(routes: Router, timeout: Duration) -> Router {
    use axum::http::{HeaderValue, header};
    use tower_http::set_header::SetResponseHeaderLayer;
    routes
        .layer(
            ServiceBuilder::new()
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::overriding(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                ))
                .layer(axum::middleware::map_request(drop_unacceptable_request_id))
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http().on_failure(()).make_span_with(
                    |req: &axum::http::Request<_>| {
                        let request_id = req
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default();
                        let span = tracing::info_span!(
                            "http",
                            method = %req.method(),
                            path = %req.uri().path(),
                            request_id,
                            otel.name = tracing::field::Empty,
                            graphql.operation = tracing::field::Empty,
                        );
                        // Only a trace exporter reads these: no work per request otherwise.
                        if crate::telemetry::exporting() {
                            span.record(
                                "otel.name",
                                format!("{} {}", req.method(), req.uri().path()),
                            );
                            crate::telemetry::continue_trace(&span, req.headers());
                        }
                        span
                    },
                ))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(CatchPanicLayer::custom(|_| {
                    tracing::error!("a request handler panicked");
                    error_response(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "internal server error",
                        code::INTERNAL_SERVER_ERROR,
                    )
                }))
                .layer(RequestBodyLimitLayer::new(BODY_LIMIT_BYTES))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    timeout,
                )),
        )
        .layer(axum::middleware::map_response(json_payload_too_large))
        .layer(axum::middleware::from_fn(access_log))
}

/// What the GraphQL handler learnt about a request, for its access line.
#[derive(Debug, Clone, Default)]
pub(crate) struct AccessInfo {
    pub operation: Option<String>,
    pub user_id: Option<String>,
    /// The client's address (see `TRUSTED_PROXIES`).
    pub ip: Option<String>,
}

/// One line per request at INFO (health probes at DEBUG): method, path,
/// status, latency, request id, and for GraphQL the operation's name and the
/// signed-in user's public id.
async fn access_log(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    let request_id = response
        .headers()
        .get(extract::REQUEST_ID)
        .and_then(|v| v.to_str().ok());
    metrics::counter!(crate::metrics::HTTP_RESPONSES, "status" => status.to_string()).increment(1);
    let info = response.extensions().get::<AccessInfo>();
    let operation = info.and_then(|i| i.operation.as_deref());
    let user_id = info.and_then(|i| i.user_id.as_deref());
    let ip = info.and_then(|i| i.ip.as_deref());
    if path.starts_with("/health/") {
        tracing::debug!(target: "usergraph::access", method = %method, path, status, latency_ms, request_id, "request");
    } else {
        tracing::info!(target: "usergraph::access", method = %method, path, status, latency_ms, request_id, operation, user_id, ip, "request");
    }
    response
}

/// A client's `X-Request-Id` goes into logs and answers, so one that is not
/// short and plain is dropped here and a new one is made.
async fn drop_unacceptable_request_id(
    mut request: axum::extract::Request,
) -> axum::extract::Request {
    let acceptable = request
        .headers()
        .get(extract::REQUEST_ID)
        .is_none_or(|id| extract::is_acceptable_request_id(id.as_bytes()));
    if !acceptable {
        request.headers_mut().remove(extract::REQUEST_ID);
    }
    request
}

pub(super) fn too_large() -> Response {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request body too large",
        code::BAD_USER_INPUT,
    )
}

/// A GraphQL-shaped error body, for failures before execution.
/// A request that never executed has no `data` entry (GraphQL over HTTP).
pub(super) fn error_response(status: StatusCode, message: &str, code: &str) -> Response {
    (
        status,
        Json(json!({ "errors": [{ "message": message, "extensions": { "code": code } }] })),
    )
        .into_response()
}

/// The body limit's own 413 (a body announced too large by its
/// `Content-Length`) is plain text; clients get the JSON error instead.
async fn json_payload_too_large(response: Response) -> Response {
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE
        && !response
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .is_some_and(|t| t.as_bytes().starts_with(b"application/json"))
    {
        return too_large();
    }
    response
}

/// Rejections at the edge (a bad bearer token) keep the GraphQL error shape.
impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match &self {
            AppError::TokenExpired
            | AppError::TokenInvalid
            | AppError::Unauthenticated
            | AppError::AccountDisabled => StatusCode::UNAUTHORIZED,
            AppError::Database(_) | AppError::Internal(_) => {
                tracing::error!(error = ?self, "internal error at the edge");
                StatusCode::INTERNAL_SERVER_ERROR
            }
            _ => StatusCode::BAD_REQUEST,
        };
        error_response(status, &self.public_message(), self.code())
    }
}
