//! The HTTP edge: the axum router (`/graphql`, `/health/*`), its middleware
//! (request ids, tracing, body limit, timeout, panic catching), and the
//! server's start-up and graceful shutdown.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use async_graphql::ParseRequestError;
use async_graphql::{
    http::{GraphiQLSource, parse_query_string},
    parser::types::OperationType,
};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse, rejection::GraphQLRejection};
use axum::{
    Json, Router,
    extract::{ConnectInfo, FromRequest, FromRequestParts, State},
    http::{StatusCode, Uri, request::Parts},
    response::{Html, IntoResponse, Response},
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
    error::AppError,
    graphql::{self, AppSchema, documents::DocumentCache, guardrails, loaders},
    metrics::Stats,
    service::{AppContext, RequestMeta, accounts},
};

/// GraphQL documents are small; anything larger is refused before parsing.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub ctx: Arc<AppContext>,
    pub schema: AppSchema,
    pub documents: Arc<DocumentCache>,
}

/// The router over an already connected and migrated context.
pub fn build_router(ctx: Arc<AppContext>) -> Router {
    let schema = graphql::build_schema(ctx.clone(), &ctx.config);
    let timeout = ctx.config.request_timeout;
    let state = AppState {
        ctx,
        schema,
        documents: Arc::default(),
    };
    let routes = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .with_state(state);
    with_middleware(routes, timeout)
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
                error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal server error", "INTERNAL_SERVER_ERROR")
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
    Ok((ctx.clone(), build_router(ctx)))
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
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(config.header_read_timeout);
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
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
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

/// POST bodies must be JSON: form and multipart bodies are refused (415)
/// before parsing, which also keeps simple cross-site form posts out.
async fn graphql_post(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    meta: RequestMeta,
    request: axum::extract::Request,
) -> Response {
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
            "BAD_USER_INPUT",
        );
    }
    match GraphQLRequest::<GraphQLRejection>::from_request(request, &state).await {
        Ok(request) => execute(&state, viewer, meta, request.into_inner()).await,
        Err(GraphQLRejection(ParseRequestError::UnsupportedBatch)) => error_response(
            StatusCode::BAD_REQUEST,
            "batched requests are not supported",
            "BAD_USER_INPUT",
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
            "BAD_USER_INPUT",
        ),
    }
}

async fn graphql_get(
    State(state): State<AppState>,
    MaybeViewer(viewer): MaybeViewer,
    meta: RequestMeta,
    uri: Uri,
) -> Response {
    let query = uri.query().unwrap_or_default();
    if !query.split('&').any(|pair| pair.starts_with("query=")) {
        return if state.ctx.config.graphiql {
            graphiql_page()
        } else {
            StatusCode::NOT_FOUND.into_response()
        };
    }
    let mut request = match parse_query_string(query) {
        Ok(request) => request,
        Err(_) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "malformed GraphQL request",
                "BAD_USER_INPUT",
            );
        }
    };
    // GET must be safe: mutations are only accepted over POST.
    if let Ok(doc) = request.parsed_query()
        && doc
            .operations
            .iter()
            .any(|(_, op)| op.node.ty != OperationType::Query)
    {
        let mut response = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "mutations must be sent with POST",
            "BAD_USER_INPUT",
        );
        response.headers_mut().insert(
            axum::http::header::ALLOW,
            "POST".parse().expect("static header"),
        );
        return response;
    }
    execute(&state, viewer, meta, request).await
}

/// GraphiQL, which may be framed by no one and may load only what it needs.
fn graphiql_page() -> Response {
    use axum::http::{HeaderValue, header};
    const CSP: &str = "default-src 'none'; script-src 'unsafe-inline' https://unpkg.com; \
        style-src 'unsafe-inline' https://unpkg.com; font-src https://unpkg.com data:; \
        img-src 'self' data: https://unpkg.com; connect-src 'self'; frame-ancestors 'none'; \
        base-uri 'none'; form-action 'none'";
    let mut response = Html(GraphiQLSource::build().endpoint("/graphql").finish()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

async fn execute(
    state: &AppState,
    viewer: Option<crate::auth::Viewer>,
    meta: RequestMeta,
    mut request: async_graphql::Request,
) -> Response {
    state
        .ctx
        .stats
        .graphql_requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    state.documents.prepare(&mut request);
    let response = if let Some(refused) =
        guardrails::check_document(&mut request, state.ctx.config.max_query_nodes)
    {
        async_graphql::Response::from_errors(vec![refused])
    } else {
        let request_id = meta.request_id.clone();
        let request = request
            .data(viewer)
            .data(meta)
            .data(loaders::new_loader(state.ctx.db.clone()));
        let mut response = state.schema.execute(request).await;
        guardrails::finish(&mut response, request_id.as_deref());
        response
    };
    if response.is_err() {
        state
            .ctx
            .stats
            .graphql_errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    GraphQLResponse::from(response).into_response()
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
        "BAD_USER_INPUT",
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
