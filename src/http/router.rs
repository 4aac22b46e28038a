//! The routes and the state they share: `/graphql` (POST and GET, and the
//! WebSocket at `/graphql/ws`), GraphiQL's assets, health and metrics, with
//! CORS for browser clients on other origins.

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::{Router, http::StatusCode, response::Response, routing::get};

use super::{
    console, documents::DocumentCache, endpoint, graphiql, health, live,
    middleware::with_middleware, well_known,
};
use crate::{
    graphql::{self, AppSchema},
    service::AppContext,
};

#[derive(Clone)]
pub struct AppState {
    pub ctx: Arc<AppContext>,
    pub schema: AppSchema,
    /// The schema without depth and complexity limits, for introspection-only queries.
    pub introspection_schema: AppSchema,
    pub documents: Arc<DocumentCache>,
    /// This replica's live sockets (caps and credential watchers).
    pub sockets: Arc<live::Sockets>,
    /// Blocking threads for introspecting requests, apart from the
    /// password-hashing pool: half the cores, at least one.
    pub introspection_pool: Arc<tokio::sync::Semaphore>,
}

/// The introspection pool's size.
fn introspection_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// The router over an already connected and migrated context. Fails when
/// `TRUSTED_DOCUMENTS` names a manifest that cannot be read.
pub fn router(ctx: Arc<AppContext>) -> anyhow::Result<Router> {
    let config = &ctx.config;
    let mut trusted = match &config.trusted_documents {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("TRUSTED_DOCUMENTS: cannot read {}", path.display()))?;
            let manifest: std::collections::HashMap<String, String> = serde_json::from_str(&text)
                .with_context(|| {
                format!(
                    "TRUSTED_DOCUMENTS: {} is not a JSON object from hash to document",
                    path.display()
                )
            })?;
            Some(manifest)
        }
        None if config.trusted_documents_only => {
            anyhow::bail!("TRUSTED_DOCUMENTS_ONLY=true needs TRUSTED_DOCUMENTS (a manifest)")
        }
        None => None,
    };
    // The console sends its documents by hash: served, they are trusted.
    if config.admin_console {
        trusted
            .get_or_insert_with(Default::default)
            .extend(console::manifest());
    }
    let documents = match trusted {
        Some(manifest) => DocumentCache::with_trusted(manifest, config.trusted_documents_only)
            .map_err(|e| anyhow::anyhow!("TRUSTED_DOCUMENTS: {e}"))?,
        None => DocumentCache::default(),
    };
    let state = AppState {
        schema: graphql::build_schema(ctx.clone(), config),
        introspection_schema: graphql::build_introspection_schema(ctx.clone(), config),
        documents: Arc::new(documents),
        sockets: Arc::default(),
        introspection_pool: Arc::new(tokio::sync::Semaphore::new(introspection_threads())),
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
        .route("/health/ready", get(health::ready))
        .route("/.well-known/jwks.json", get(well_known::jwks))
        .route(
            "/.well-known/openid-configuration",
            get(well_known::openid_configuration),
        );
    if config.admin_console {
        routes = routes
            .route("/admin", get(console::page))
            .route("/admin/", get(console::slash))
            .route("/admin/{version}/{name}", get(console::asset));
    }
    // With METRICS_ADDR, `/metrics` is served there only (`metrics_router`).
    if config.metrics_enabled && config.metrics_addr.is_none() {
        routes = routes.route("/metrics", get(health::metrics));
    }
    let routes = routes.with_state(state);
    Ok(with_middleware(routes, ctx.config.request_timeout)
        .layer(cors(&ctx.config))
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
        introspection_pool: Arc::new(tokio::sync::Semaphore::new(1)),
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
fn cors(config: &crate::config::Config) -> tower_http::cors::CorsLayer {
    use crate::config::CorsOrigins;
    use axum::http::{HeaderName, HeaderValue, Method, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let allow_origin = match &config.cors {
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
        .allow_headers(
            [
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                HeaderName::from_static("x-request-id"),
                HeaderName::from_static("apollographql-client-name"),
                HeaderName::from_static("apollographql-client-version"),
                HeaderName::from_static("apollo-require-preflight"),
                HeaderName::from_static("x-apollo-operation-name"),
                // Trace context that browser instrumentation (OpenTelemetry
                // web, Sentry) adds to every request: W3C traceparent is
                // continued; the others are allowed so their preflight passes.
                HeaderName::from_static("traceparent"),
                HeaderName::from_static("tracestate"),
                HeaderName::from_static("baggage"),
                HeaderName::from_static("sentry-trace"),
            ]
            .into_iter()
            .chain(config.cors_allowed_headers.iter().cloned())
            .collect::<Vec<_>>(),
        )
        .expose_headers([HeaderName::from_static("x-request-id")])
        .max_age(Duration::from_secs(600))
}
