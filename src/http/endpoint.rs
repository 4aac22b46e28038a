//! The GraphQL handlers: `POST /graphql` and `GET /graphql` (GraphQL over
//! HTTP: media types and statuses, persisted queries, GET only for queries),
//! with the checks that run before execution.

use async_graphql::{ParseRequestError, parser::types::OperationType};
use async_graphql_axum::{GraphQLRequest, rejection::GraphQLRejection};
use axum::{
    extract::{FromRequest, State},
    http::{StatusCode, Uri},
    response::{IntoResponse, Response},
};

use super::{
    AppState, documents,
    extract::MaybeViewer,
    graphiql, guardrails,
    middleware::{AccessInfo, error_response, too_large},
};
use crate::{error::code, graphql, service::RequestMeta};

/// The answer's media type, from the request's `Accept` header (GraphQL over
/// HTTP): `application/graphql-response+json` when the client accepts it,
/// else `application/json`, which legacy clients that send no `Accept` get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accept {
    GraphqlResponseJson,
    Json,
}

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";

impl Accept {
    /// `None` when the client accepts neither type (406).
    fn of(headers: &axum::http::HeaderMap) -> Option<Self> {
        let Some(accept) = headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
        else {
            return Some(Self::Json);
        };
        let mut json = false;
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let mime = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            if refused {
                continue;
            }
            match mime.as_str() {
                GRAPHQL_RESPONSE_JSON => return Some(Self::GraphqlResponseJson),
                "application/json" | "application/*" | "*/*" => json = true,
                _ => {}
            }
        }
        json.then_some(Self::Json)
    }
}

/// A refusal before execution, in the media type the client accepts.
fn refuse(accept: Accept, status: StatusCode, message: &str, code: &str) -> Response {
    in_type(accept, error_response(status, message, code))
}

fn in_type(accept: Accept, mut response: Response) -> Response {
    if accept == Accept::GraphqlResponseJson {
        response.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static(GRAPHQL_RESPONSE_JSON),
        );
    }
    response
}

fn not_acceptable() -> Response {
    error_response(
        StatusCode::NOT_ACCEPTABLE,
        "accept application/graphql-response+json or application/json",
        code::BAD_USER_INPUT,
    )
}

/// POST bodies must be JSON: form and multipart bodies are refused (415)
/// before parsing, which also keeps simple cross-site form posts out.
pub(super) async fn graphql_post(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    meta: RequestMeta,
    request: axum::extract::Request,
) -> Response {
    let Some(accept) = Accept::of(request.headers()) else {
        return not_acceptable();
    };
    let json = request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return refuse(
            accept,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send GraphQL requests as application/json",
            code::BAD_USER_INPUT,
        );
    }
    match GraphQLRequest::<GraphQLRejection>::from_request(request, &state).await {
        Ok(request) => execute(&state, viewer, meta, request.into_inner(), accept, false).await,
        Err(GraphQLRejection(ParseRequestError::UnsupportedBatch)) => refuse(
            accept,
            StatusCode::BAD_REQUEST,
            "batched requests are not supported",
            code::BAD_USER_INPUT,
        ),
        Err(GraphQLRejection(ParseRequestError::PayloadTooLarge)) => in_type(accept, too_large()),
        // A chunked body over the limit fails mid-stream; async-graphql-axum
        // passes that on as an I/O error carrying the limit's message.
        Err(GraphQLRejection(ParseRequestError::Io(err)))
            if err.to_string().contains("length limit exceeded") =>
        {
            in_type(accept, too_large())
        }
        Err(_) => refuse(
            accept,
            StatusCode::BAD_REQUEST,
            "malformed GraphQL request",
            code::BAD_USER_INPUT,
        ),
    }
}

/// A GraphQL request from a query string (`query`, `operationName`,
/// `variables` and `extensions` as JSON), as GraphQL over HTTP defines it.
fn request_from_query_string(query: &str) -> Option<async_graphql::Request> {
    let mut request = async_graphql::Request::new("");
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "query" => request.query = value.into_owned(),
            "operationName" => request.operation_name = Some(value.into_owned()),
            "variables" => {
                request.variables =
                    async_graphql::Variables::from_json(serde_json::from_str(&value).ok()?)
            }
            "extensions" => request.extensions = serde_json::from_str(&value).ok()?,
            _ => {}
        }
    }
    Some(request)
}

pub(super) async fn graphql_get(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    meta: RequestMeta,
    headers: axum::http::HeaderMap,
    uri: Uri,
) -> Response {
    let query = uri.query().unwrap_or_default();
    let is_graphql = url::form_urlencoded::parse(query.as_bytes())
        .any(|(key, _)| key == "query" || key == "extensions");
    if !is_graphql {
        // GraphiQL for a browser; a client that asked for JSON learns that
        // its request had no query.
        let wants_html = headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
        return match (wants_html, state.ctx.config.graphiql) {
            (true, true) => graphiql::page(),
            (true, false) => StatusCode::NOT_FOUND.into_response(),
            (false, _) => error_response(
                StatusCode::BAD_REQUEST,
                "the request has no query (nor a persisted query's hash)",
                code::BAD_USER_INPUT,
            ),
        };
    }
    let Some(accept) = Accept::of(&headers) else {
        return not_acceptable();
    };
    let Some(request) = request_from_query_string(query) else {
        return refuse(
            accept,
            StatusCode::BAD_REQUEST,
            "malformed GraphQL request",
            code::BAD_USER_INPUT,
        );
    };
    execute(&state, viewer, meta, request, accept, true).await
}

/// Runs one GraphQL request: resolves a persisted query, checks the document
/// (size, credential fields, trusted documents, GET only for queries), then
/// executes it and answers in the negotiated media type.
async fn execute(
    state: &AppState,
    viewer: crate::error::Result<Option<crate::auth::Viewer>>,
    meta: RequestMeta,
    mut request: async_graphql::Request,
    accept: Accept,
    method_get: bool,
) -> Response {
    state
        .ctx
        .stats
        .graphql_requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let started = std::time::Instant::now();
    let user_id = viewer
        .as_ref()
        .ok()
        .and_then(Option::as_ref)
        .map(|v| crate::ids::user(v.id()));
    let ip = meta.ip.clone();
    let mut operation = request.operation_name.clone();
    let response = match plan(state, &mut request, method_get) {
        Err(Refusal::Error(refused)) => async_graphql::Response::from_errors(vec![refused]),
        Err(Refusal::NoQuery) => {
            return refuse(
                accept,
                StatusCode::BAD_REQUEST,
                "the request has no query (nor a persisted query's hash)",
                code::BAD_USER_INPUT,
            );
        }
        Err(Refusal::MutationOverGet) => {
            let mut response = refuse(
                accept,
                StatusCode::METHOD_NOT_ALLOWED,
                "mutations must be sent with POST",
                code::BAD_USER_INPUT,
            );
            response.headers_mut().insert(
                axum::http::header::ALLOW,
                axum::http::HeaderValue::from_static("POST"),
            );
            return response;
        }
        Ok(plan) => {
            operation = plan.operation_name.clone().or(operation);
            if let Some(name) = &operation {
                // The request's span (and its exported trace) names the operation.
                tracing::Span::current().record("graphql.operation", name.as_str());
            }
            let request_id = meta.request_id.clone();
            let viewer = match viewer {
                Ok(viewer) => viewer,
                // A stale header must not stop a sign-in: the client may
                // have kept a token that has since expired or been revoked.
                Err(err) if plan.signs_in => {
                    tracing::debug!(error = %err, "a stale bearer token is ignored by a sign-in");
                    None
                }
                Err(err) => return refused_token(err, accept, request_id.as_deref()),
            };
            let refused = guardrails::impersonation_refuses(
                viewer.as_ref().and_then(|v| v.impersonation.as_ref()),
                &plan,
            );
            let mut response = match refused {
                Some(refused) => async_graphql::Response::from_errors(vec![refused]),
                None => {
                    let data = graphql::RequestData::new(&state.ctx, viewer, meta);
                    run(state, &plan, request, data).await
                }
            };
            guardrails::finish(&mut response, request_id.as_deref());
            guardrails::keep_selection_order(&mut response, &plan.root_keys);
            response
        }
    };
    if response.is_err() {
        state
            .ctx
            .stats
            .graphql_errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    metrics::histogram!(
        crate::metrics::REQUEST_DURATION,
        "operation" => crate::metrics::operation_label(operation.as_deref()),
        "outcome" => if response.is_err() { "error" } else { "ok" },
    )
    .record(started.elapsed().as_secs_f64());
    let mut answered = answer(&response, accept);
    answered.extensions_mut().insert(AccessInfo {
        operation: operation.map(|name| name.chars().take(64).collect()),
        user_id,
        ip,
    });
    answered
}

/// Runs the request off the handler's own task, so the request timeout
/// answers in time whatever the work does: an operation that introspects
/// (whose resolvers never yield, so no timer can interrupt them) on a
/// blocking thread of the introspection pool, leaving the async workers and
/// the password-hashing pool free; anything else on a task of its own,
/// aborted at its next await once the request has timed out or its client
/// has gone.
async fn run(
    state: &AppState,
    plan: &guardrails::Plan,
    request: async_graphql::Request,
    data: graphql::RequestData,
) -> async_graphql::Response {
    use tracing::Instrument as _;
    // The request's span goes with the work, so what it logs carries the request id.
    let span = tracing::Span::current();
    let schema = if plan.introspection_only {
        state.introspection_schema.clone()
    } else {
        state.schema.clone()
    };
    if plan.introspects {
        let Ok(Ok(permit)) = tokio::time::timeout(
            INTROSPECTION_QUEUE,
            state.introspection_pool.clone().acquire_owned(),
        )
        .await
        else {
            let error: async_graphql::Error =
                crate::error::AppError::RateLimited { retry_after: 1 }.into();
            return async_graphql::Response::from_errors(vec![
                error.into_server_error(Default::default()),
            ]);
        };
        let runtime = tokio::runtime::Handle::current();
        let work = tokio::task::spawn_blocking(move || {
            let response =
                runtime.block_on(graphql::execute(&schema, request, data).instrument(span));
            drop(permit);
            response
        });
        return joined(work.await);
    }
    let mut task = AbortOnDrop(tokio::spawn(
        async move { graphql::execute(&schema, request, data).await }.instrument(span),
    ));
    joined((&mut task.0).await)
}

/// How long an introspecting request waits for the introspection pool
/// before it is refused (`RATE_LIMITED`).
const INTROSPECTION_QUEUE: std::time::Duration = std::time::Duration::from_secs(5);

/// The response of an execution task, or an internal error if it failed.
fn joined(
    outcome: Result<async_graphql::Response, tokio::task::JoinError>,
) -> async_graphql::Response {
    outcome.unwrap_or_else(|err| {
        tracing::error!(error = %err, "a GraphQL execution task failed");
        let mut error = async_graphql::ServerError::new("internal server error", None);
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", code::INTERNAL_SERVER_ERROR);
        async_graphql::Response::from_errors(vec![error])
    })
}

/// Aborts its task when dropped: a request that times out or whose client
/// goes away stops its execution too.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A request whose bearer token does not work: 401 for a bad, expired or
/// revoked token or a disabled account, with the contract's code, in the
/// media type the client accepts (so GraphQL clients read the code rather
/// than a bare status); 500 with the request id if the check itself failed.
fn refused_token(
    err: crate::error::AppError,
    accept: Accept,
    request_id: Option<&str>,
) -> Response {
    let (status, mut body) = match &err {
        crate::error::AppError::Database(_) | crate::error::AppError::Internal(_) => {
            tracing::error!(error = ?err, "checking a bearer token failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                serde_json::json!({ "message": "internal server error", "extensions": { "code": code::INTERNAL_SERVER_ERROR } }),
            )
        }
        _ => (
            StatusCode::UNAUTHORIZED,
            serde_json::json!({ "message": err.public_message(), "extensions": { "code": err.code() } }),
        ),
    };
    if let Some(id) = request_id.filter(|_| status == StatusCode::INTERNAL_SERVER_ERROR) {
        body["extensions"]["requestId"] = id.into();
    }
    let media = match accept {
        Accept::GraphqlResponseJson => GRAPHQL_RESPONSE_JSON,
        Accept::Json => "application/json",
    };
    let mut response = (
        status,
        [(axum::http::header::CONTENT_TYPE, media)],
        serde_json::json!({ "errors": [body] }).to_string(),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

pub(super) enum Refusal {
    Error(async_graphql::ServerError),
    /// Not a GraphQL request at all: 400 whatever the media type.
    NoQuery,
    MutationOverGet,
}

pub(super) fn plan(
    state: &AppState,
    request: &mut async_graphql::Request,
    method_get: bool,
) -> Result<guardrails::Plan, Refusal> {
    let source = state.documents.resolve(request).map_err(Refusal::Error)?;
    if request.query.trim().is_empty() {
        return Err(Refusal::NoQuery);
    }
    state.documents.parse_cached(request);
    let plan = guardrails::check_document(request, state.ctx.config.max_query_nodes)
        .map_err(Refusal::Error)?;
    // GET must be safe: only queries run over it.
    if method_get && plan.operation.is_some_and(|ty| ty != OperationType::Query) {
        return Err(Refusal::MutationOverGet);
    }
    if plan.introspects && !state.ctx.config.introspection {
        return Err(Refusal::Error(guardrails::introspection_disabled()));
    }
    let introspection = plan.introspection_only && state.ctx.config.introspection;
    if state.documents.trusted_only() && source != documents::Source::Trusted && !introspection {
        return Err(Refusal::Error(state.documents.refuse_untrusted()));
    }
    Ok(plan)
}

/// The HTTP answer for a GraphQL response. With
/// `application/graphql-response+json`, a request that failed before
/// execution (no `data`: it did not parse, validate or pass the checks) is
/// 400; with `application/json` every GraphQL answer is 200.
fn answer(response: &async_graphql::Response, accept: Accept) -> Response {
    let failed_before_execution = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let (status, media) = match accept {
        Accept::GraphqlResponseJson if failed_before_execution => {
            (StatusCode::BAD_REQUEST, GRAPHQL_RESPONSE_JSON)
        }
        Accept::GraphqlResponseJson => (StatusCode::OK, GRAPHQL_RESPONSE_JSON),
        Accept::Json => (StatusCode::OK, "application/json"),
    };
    // A request that never executed has no `data` entry at all (GraphQL over
    // HTTP): `data: null` would say execution ran and failed at the root.
    let body = if failed_before_execution {
        serde_json::to_vec(&serde_json::json!({ "errors": response.errors }))
    } else {
        serde_json::to_vec(response)
    };
    match body {
        Ok(body) => (status, [(axum::http::header::CONTENT_TYPE, media)], body).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "serialising a response failed");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal server error",
                code::INTERNAL_SERVER_ERROR,
            )
        }
    }
}
