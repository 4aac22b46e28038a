//! The HTTP edge, the top of the one-way dependency order
//! `http -> graphql -> service -> (auth, validation, ids) -> entity`: the
//! axum router (`/graphql`, GraphiQL, `/health/*`, `/metrics`), its middleware
//! (request ids, tracing, security headers, CORS, body limit, timeout, panic
//! catching), the extractors, and the server's start-up, serve loop and
//! graceful shutdown.

mod endpoint;
mod extract;
pub mod graphiql;
mod health;
mod live;

pub use extract::MaybeViewer;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::{
    Json, Router,
    http::StatusCode,
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
    config::Config,
    db,
    error::{AppError, code},
    graphql::{self, AppSchema, documents::DocumentCache},
    metrics::Stats,
    service::{AppContext, accounts},
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
    /// This replica's live sockets (caps and credential watchers).
    pub sockets: Arc<live::Sockets>,
}

/// The router over an already connected and migrated context. Fails when
/// `TRUSTED_DOCUMENTS` names a manifest that cannot be read.
pub fn router(ctx: Arc<AppContext>) -> anyhow::Result<Router> {
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
                .map_err(|e| anyhow::anyhow!("TRUSTED_DOCUMENTS: {e}"))?
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
        sockets: Arc::default(),
        ctx: ctx.clone(),
    };
    crate::metrics::handle();
    let mut routes = Router::new()
        .route(
            "/graphql",
            get(endpoint::graphql_get).post(endpoint::graphql_post),
        )
        .route("/graphql/ws", get(live::upgrade))
        .route("/graphiql/{version}/{name}", get(graphiql::asset))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready));
    // With METRICS_ADDR, `/metrics` is served there only (`metrics_router`).
    if config.metrics_enabled && config.metrics_addr.is_none() {
        routes = routes.route("/metrics", get(health::metrics));
    }
    let routes = routes.with_state(state);
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

/// `/metrics` alone, for `METRICS_ADDR`.
pub fn metrics_router(ctx: Arc<AppContext>) -> anyhow::Result<Router> {
    let state = AppState {
        schema: graphql::build_schema(ctx.clone(), &ctx.config),
        introspection_schema: graphql::build_introspection_schema(ctx.clone(), &ctx.config),
        documents: Arc::default(),
        sockets: Arc::default(),
        ctx,
    };
    Ok(Router::new()
        .route("/metrics", get(health::metrics))
        .with_state(state))
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

/// Connects, migrates, bootstraps the first superuser, and builds the router.
pub async fn build(config: Config) -> anyhow::Result<(Arc<AppContext>, Router)> {
    let (conn, stats) = db::connect(&config).await?;
    build_on(conn, stats, config).await
}

/// As `build`, over a connection the caller made.
pub async fn build_on(
    conn: sea_orm::DatabaseConnection,
    stats: Arc<Stats>,
    config: Config,
) -> anyhow::Result<(Arc<AppContext>, Router)> {
    db::migrate(&conn).await?;
    let ctx = AppContext::new(conn, stats, config)?;
    accounts::bootstrap_admin(&ctx).await?;
    Ok((ctx.clone(), router(ctx)?))
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
    let (ctx, router) = build(config).await?;
    let listener = tokio::net::TcpListener::bind(bind_addr)
        .await
        .with_context(|| format!("cannot listen on {bind_addr} (BIND_ADDR)"))?;
    let addr = listener.local_addr()?;
    let format = ctx.config.log_format;
    crate::telemetry::announce(format, &format!("usergraph listening on http://{addr}"));
    if graphiql {
        crate::telemetry::announce(format, &format!("GraphiQL: http://{addr}/graphql"));
    }
    let background = Background::start(ctx.clone());
    let metrics_server = match ctx.config.metrics_addr {
        Some(metrics_addr) => {
            let listener = tokio::net::TcpListener::bind(metrics_addr)
                .await
                .with_context(|| format!("cannot listen on {metrics_addr} (METRICS_ADDR)"))?;
            let router = metrics_router(ctx.clone())?;
            tracing::info!(addr = %metrics_addr, "metrics listening");
            Some(tokio::spawn(async move {
                let _ = axum::serve(listener, router).await;
            }))
        }
        None => None,
    };
    serve_on(listener, router, &ctx.config, shutdown_signal()).await;
    background.stop(ctx.config.shutdown_grace).await;
    if let Some(server) = metrics_server {
        server.abort();
    }
    tracing::info!("shut down");
    Ok(())
}

/// The work a replica does besides answering requests: the outbox worker
/// and the periodic pruning.
pub struct Background {
    stop: tokio::sync::watch::Sender<bool>,
    worker: tokio::task::JoinHandle<()>,
    webhook_worker: tokio::task::JoinHandle<()>,
    pruning: tokio::task::JoinHandle<()>,
    events: tokio::task::JoinHandle<()>,
}

impl Background {
    pub fn start(ctx: Arc<AppContext>) -> Self {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let stopped_events = stopped.clone();
        Self {
            stop,
            worker: tokio::spawn(crate::metrics::in_background(crate::service::outbox::run(
                ctx.clone(),
                stopped.clone(),
                crate::service::outbox::MAIL,
            ))),
            webhook_worker: tokio::spawn(crate::metrics::in_background(
                crate::service::outbox::run(ctx.clone(), stopped, crate::service::webhooks::KIND),
            )),
            pruning: tokio::spawn(crate::metrics::in_background(
                crate::service::prune_periodically(ctx.clone()),
            )),
            events: tokio::spawn(crate::metrics::in_background(crate::service::events::run(
                ctx,
                stopped_events,
            ))),
        }
    }

    /// Stops at once, whatever is in progress (a claimed message is sent
    /// again when its lease ends).
    pub fn abort(&self) {
        self.worker.abort();
        self.webhook_worker.abort();
        self.pruning.abort();
        self.events.abort();
    }

    /// Stops the worker once its send in progress, if any, is done and
    /// recorded (waiting at most `grace`), and stops pruning.
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        self.pruning.abort();
        self.events.abort();
        let workers = async {
            let _ = self.worker.await;
            let _ = self.webhook_worker.await;
        };
        if tokio::time::timeout(grace, workers).await.is_err() {
            tracing::warn!("the outbox worker did not stop within the shutdown grace period");
        }
    }
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
        rt::{TokioIo, TokioTimer},
        service::TowerToHyperService,
    };
    use tower::Service;

    let mut make_service = router.into_make_service_with_connect_info::<SocketAddr>();
    // HTTP/1.1 with upgrades (WebSocket at /graphql/ws), served by hyper's
    // own HTTP/1 connection: no sniffing for HTTP/2 (hyper-util's automatic
    // builder reads the first bytes of every connection that may upgrade
    // with no timeout, so a silent connection would be kept forever).
    // Clients reach replicas through a load balancer, which speaks HTTP/2 to
    // them if they like.
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    let (close, closing) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // Finished connections are reaped as the loop goes.
        while connections.try_join_next().is_some() {}
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
        let connection = http1
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
            .with_upgrades();
        let mut closing = closing.clone();
        connections.spawn(async move {
            tokio::pin!(connection);
            let outcome = tokio::select! {
                outcome = connection.as_mut() => outcome,
                _ = closing.changed() => {
                    // Finish the request in flight, take no more.
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(err) = outcome {
                tracing::debug!(error = %err, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = close.send(true);
    tokio::select! {
        () = async { while connections.join_next().await.is_some() {} } => {}
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
