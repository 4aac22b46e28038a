//! The HTTP edge: the axum router (`/graphql`, `/health/*`), its middleware
//! (request ids, tracing, body limit, timeout, panic catching), and the
//! server's start-up and graceful shutdown.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use async_graphql::{ParseRequestError, parser::types::OperationType};
use async_graphql_axum::{GraphQLRequest, rejection::GraphQLRejection};
use axum::{
    Json, Router,
    extract::{ConnectInfo, FromRequest, FromRequestParts, State},
    http::{StatusCode, Uri, request::Parts},
    response::{IntoResponse, Response},
    routing::get,
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

use crate::{
    auth::MaybeViewer,
    config::Config,
    db,
    error::{AppError, code},
    graphiql,
    graphql::{
        self, AppSchema,
        documents::{self, DocumentCache},
        guardrails, loaders,
    },
    metrics::Stats,
    service::{AppContext, RequestMeta, accounts},
};

/// GraphQL documents are small; anything larger is refused before parsing.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub ctx: Arc<AppContext>,
    pub schema: AppSchema,
    /// The schema without depth and complexity limits, for introspection-only queries.
    pub introspection_schema: AppSchema,
    pub documents: Arc<DocumentCache>,
}

/// The router over an already connected and migrated context. Fails when
/// `TRUSTED_DOCUMENTS` names a manifest that cannot be read.
pub fn build_router(ctx: Arc<AppContext>) -> anyhow::Result<Router> {
    let config = &ctx.config;
    let documents = match &config.trusted_documents {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("TRUSTED_DOCUMENTS: cannot read {}", path.display()))?;
            let manifest = serde_json::from_str(&text).with_context(|| {
                format!(
                    "TRUSTED_DOCUMENTS: {} is not a JSON object from hash to document",
                    path.display()
                )
            })?;
            DocumentCache::with_trusted(manifest, config.trusted_documents_only)
        }
        None if config.trusted_documents_only => {
            anyhow::bail!("TRUSTED_DOCUMENTS_ONLY=true needs TRUSTED_DOCUMENTS (a manifest)")
        }
        None => DocumentCache::default(),
    };
    let state = AppState {
        schema: graphql::build_schema(ctx.clone(), config),
        introspection_schema: graphql::build_introspection_schema(ctx.clone(), config),
        documents: Arc::new(documents),
        ctx: ctx.clone(),
    };
    let routes = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/graphiql/{version}/{name}", get(graphiql::asset))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state);
    Ok(with_middleware(routes, ctx.config.request_timeout)
        .layer(cors(&ctx.config.cors))
        .layer(axum::middleware::map_response(preflight_no_content)))
}

/// A CORS preflight is answered `204 No Content` (tower-http answers 200).
async fn preflight_no_content(mut response: Response) -> Response {
    if response.status() == StatusCode::OK
        && response
            .headers()
            .contains_key(axum::http::header::ACCESS_CONTROL_ALLOW_METHODS)
    {
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    response
}

/// CORS for browser clients on other origins (tower-http's `CorsLayer`): the
/// methods GraphQL over HTTP uses, the headers clients send (bearer tokens,
/// JSON, request ids, Apollo's), `X-Request-Id` exposed, preflights cached
/// for ten minutes. No cookies are used, so no credentials mode.
fn cors(origins: &crate::config::CorsOrigins) -> tower_http::cors::CorsLayer {
    use crate::config::CorsOrigins;
    use axum::http::{HeaderName, HeaderValue, Method, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let allow_origin = match origins {
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::LocalDevelopment => AllowOrigin::predicate(|origin: &HeaderValue, _| {
            let origin = origin.as_bytes();
            [
                &b"http://localhost"[..],
                b"http://127.0.0.1",
                b"http://[::1]",
            ]
            .iter()
            .any(|host| {
                origin.strip_prefix(*host).is_some_and(|rest| {
                    rest.is_empty()
                        || rest.strip_prefix(b":").is_some_and(|port| {
                            !port.is_empty() && port.iter().all(u8::is_ascii_digit)
                        })
                })
            })
        }),
        CorsOrigins::List(list) => AllowOrigin::list(
            list.iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        ),
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("apollographql-client-name"),
            HeaderName::from_static("apollographql-client-version"),
            HeaderName::from_static("apollo-require-preflight"),
            HeaderName::from_static("x-apollo-operation-name"),
        ])
        .expose_headers([HeaderName::from_static("x-request-id")])
        .max_age(Duration::from_secs(600))
}

/// The layers every route runs behind: request id, tracing, security
/// headers, panic catching, body limit (with or without `Content-Length`) and
/// timeout. Answers carry tokens and personal data, so nothing is cached
/// unless a route says otherwise.
pub fn with_middleware(routes: Router, timeout: Duration) -> Router {
    use axum::http::{HeaderValue, header};
    use tower_http::set_header::SetResponseHeaderLayer;
    routes.layer(
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
            .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
            .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
                tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id)
            }))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(CatchPanicLayer::custom(|_| {
                tracing::error!("a request handler panicked");
                error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal server error", code::INTERNAL_SERVER_ERROR)
            }))
            .layer(RequestBodyLimitLayer::new(BODY_LIMIT_BYTES))
            .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout)),
    )
}

/// Connects, migrates, bootstraps the first superuser, and builds the router.
pub async fn prepare(config: Config) -> anyhow::Result<(Arc<AppContext>, Router)> {
    let (conn, stats) = db::connect(&config).await?;
    prepare_with(conn, stats, config).await
}

/// As `prepare`, over a connection the caller made.
pub async fn prepare_with(
    conn: sea_orm::DatabaseConnection,
    stats: Arc<Stats>,
    config: Config,
) -> anyhow::Result<(Arc<AppContext>, Router)> {
    db::migrate(&conn).await?;
    let ctx = AppContext::new(conn, stats, config);
    accounts::bootstrap_admin(&ctx).await?;
    Ok((ctx.clone(), build_router(ctx)?))
}

/// Runs the server until SIGTERM or Ctrl-C, letting in-flight requests finish.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    if config.jwt_secret_generated {
        tracing::warn!(
            "JWT_SECRET is not set: using a random key, so tokens will not survive a restart"
        );
    }
    let bind_addr = config.bind_addr;
    let graphiql = config.graphiql;
    let (ctx, router) = prepare(config).await?;
    let listener = tokio::net::TcpListener::bind(bind_addr).await?;
    let addr = listener.local_addr()?;
    println!("usergraph listening on http://{addr}");
    if graphiql {
        println!("GraphiQL: http://{addr}/graphql");
    }
    tracing::info!(%addr, "listening");
    let pruning = tokio::spawn(crate::service::limits::prune_periodically(ctx.clone()));
    serve_on(listener, router, &ctx.config, shutdown_signal()).await;
    pruning.abort();
    tracing::info!("shut down");
    Ok(())
}

/// Serves `router` on `listener` until `shutdown` completes, then stops
/// accepting and lets open requests finish for at most `SHUTDOWN_GRACE_SECS`
/// before returning (the connections still open are then dropped). A
/// connection that does not send a request's headers within
/// `HEADER_READ_TIMEOUT_SECS` is closed, so slow clients cannot hold
/// connections, or a shutdown, forever.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    router: Router,
    config: &Config,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::{
        rt::{TokioExecutor, TokioIo, TokioTimer},
        server::{conn::auto, graceful::GracefulShutdown},
        service::TowerToHyperService,
    };
    use tower::Service;

    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    // HTTP/1.1 only, and no upgrades: telling HTTP/1 from HTTP/2 (which
    // hyper-util also does for every connection that may upgrade) means
    // reading the first bytes with no timeout, so a silent connection would be
    // kept forever. Clients reach replicas through a load balancer, which
    // speaks HTTP/2 to them if they like.
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait, don't spin.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = match make_service.call(remote).await {
            Ok(service) => service,
            Err(never) => match never {},
        };
        let connection = builder
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(config.shutdown_grace) => {
            tracing::warn!(grace_secs = config.shutdown_grace.as_secs(), "closing the connections still open after the shutdown grace period");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
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

fn not_acceptable() -> Response {
    error_response(
        StatusCode::NOT_ACCEPTABLE,
        "accept application/graphql-response+json or application/json",
        code::BAD_USER_INPUT,
    )
}

/// POST bodies must be JSON: form and multipart bodies are refused (415)
/// before parsing, which also keeps simple cross-site form posts out.
async fn graphql_post(
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
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send GraphQL requests as application/json",
            code::BAD_USER_INPUT,
        );
    }
    match GraphQLRequest::<GraphQLRejection>::from_request(request, &state).await {
        Ok(request) => execute(&state, viewer, meta, request.into_inner(), accept, false).await,
        Err(GraphQLRejection(ParseRequestError::UnsupportedBatch)) => error_response(
            StatusCode::BAD_REQUEST,
            "batched requests are not supported",
            code::BAD_USER_INPUT,
        ),
        Err(GraphQLRejection(ParseRequestError::PayloadTooLarge)) => too_large(),
        // A chunked body over the limit fails mid-stream; async-graphql-axum
        // passes that on as an I/O error carrying the limit's message.
        Err(GraphQLRejection(ParseRequestError::Io(err)))
            if err.to_string().contains("length limit exceeded") =>
        {
            too_large()
        }
        Err(_) => error_response(
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

async fn graphql_get(
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
        return if state.ctx.config.graphiql {
            graphiql::page()
        } else {
            StatusCode::NOT_FOUND.into_response()
        };
    }
    let Some(accept) = Accept::of(&headers) else {
        return not_acceptable();
    };
    let Some(request) = request_from_query_string(query) else {
        return error_response(
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
    viewer: Option<crate::auth::Viewer>,
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
    let response = match plan(state, &mut request, method_get) {
        Err(Refusal::Error(refused)) => async_graphql::Response::from_errors(vec![refused]),
        Err(Refusal::NoQuery) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "the request has no query (nor a persisted query's hash)",
                code::BAD_USER_INPUT,
            );
        }
        Err(Refusal::MutationOverGet) => {
            let mut response = error_response(
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
            let request_id = meta.request_id.clone();
            let request = request
                .data(viewer)
                .data(meta)
                .data(loaders::new_loader(state.ctx.db.clone()));
            let schema = if plan.introspection_only {
                &state.introspection_schema
            } else {
                &state.schema
            };
            let mut response = schema.execute(request).await;
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
    answer(&response, accept)
}

enum Refusal {
    Error(async_graphql::ServerError),
    /// Not a GraphQL request at all: 400 whatever the media type.
    NoQuery,
    MutationOverGet,
}

fn plan(
    state: &AppState,
    request: &mut async_graphql::Request,
    method_get: bool,
) -> Result<guardrails::Plan, Refusal> {
    let source = state.documents.resolve(request).map_err(Refusal::Error)?;
    if request.query.trim().is_empty() {
        return Err(Refusal::NoQuery);
    }
    state.documents.prepare(request);
    let plan = guardrails::check_document(request, state.ctx.config.max_query_nodes)
        .map_err(Refusal::Error)?;
    // GET must be safe: only queries run over it.
    if method_get && plan.operation.is_some_and(|ty| ty != OperationType::Query) {
        return Err(Refusal::MutationOverGet);
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

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.ctx.stats.render(),
    )
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn ready(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), state.ctx.db.ping()).await {
        Ok(Ok(())) => Json(json!({ "status": "ok", "database": "ok" })).into_response(),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unavailable", "database": "unreachable" })),
        )
            .into_response(),
    }
}

fn too_large() -> Response {
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        "request body too large",
        code::BAD_USER_INPUT,
    )
}

/// A GraphQL-shaped error body, for failures before execution.
fn error_response(status: StatusCode, message: &str, code: &str) -> Response {
    (status, Json(json!({ "data": null, "errors": [{ "message": message, "extensions": { "code": code } }] })))
        .into_response()
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
