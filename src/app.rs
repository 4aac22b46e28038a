//! The composition root: connects and migrates the database, bootstraps the
//! first superuser, builds the context and the router, serves, and starts
//! and stops the workers. `main` calls `serve` through the CLI; tests call
//! `build_on`, `http::serve_on` and `worker::Workers` themselves.

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;

use crate::{
    config::Config,
    db,
    http::{metrics_router, router, serve_on, shutdown_signal},
    metrics::Stats,
    service::{AppContext, accounts, signing},
    worker::Workers,
};

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
    signing::prepare(&ctx).await?;
    accounts::bootstrap_admin(&ctx).await?;
    Ok((ctx.clone(), router(ctx)?))
}

/// Runs the server until SIGTERM or Ctrl-C: drains for `SHUTDOWN_DRAIN_SECS`
/// (readiness 503, still serving), then stops accepting, closes live sockets
/// with 1001 and lets in-flight requests finish.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    if config.jwt_secret_generated {
        tracing::warn!(
            "JWT_SECRET is not set: using a random key, so tokens will not survive a restart"
        );
    }
    let bind_addr = config.bind_addr;
    let graphiql = config.graphiql;
    // A stop asked for while waiting for the database or migrating is
    // honoured at once (as PID 1 in a container, nothing else would).
    let (ctx, router) = tokio::select! {
        built = build(config) => built?,
        () = shutdown_signal() => {
            tracing::info!("stopped before serving");
            return Ok(());
        }
    };
    // Listening for the stop before saying the server listens: whoever
    // waits for that line may stop it at once.
    let stop = shutdown_signal();
    let listener = tokio::net::TcpListener::bind(bind_addr)
        .await
        .with_context(|| format!("cannot listen on {bind_addr} (BIND_ADDR)"))?;
    let addr = listener.local_addr()?;
    let format = ctx.config.log_format;
    crate::telemetry::announce(format, &format!("usergraph listening on http://{addr}"));
    if graphiql {
        crate::telemetry::announce(format, &format!("GraphiQL: http://{addr}/graphql"));
    }
    if ctx.config.admin_console {
        crate::telemetry::announce(format, &format!("Console: http://{addr}/admin"));
    }
    let background = Workers::start(ctx.clone());
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
    let stopping = ctx.clone();
    let shutdown = async move {
        stop.await;
        stopping
            .lifecycle
            .shut_down(stopping.config.shutdown_drain)
            .await;
    };
    // The workers stop when the listener does, and both get the same grace
    // (a shutdown takes the drain plus at most one grace).
    let mut stopping = ctx.lifecycle.stopping.subscribe();
    let grace = ctx.config.shutdown_grace;
    let workers = async move {
        let _ = stopping.wait_for(|stopping| *stopping).await;
        background.stop(grace).await;
    };
    tokio::join!(serve_on(listener, router, &ctx.config, shutdown), workers);
    // Upgraded sockets outlive their connections: let them send 1001.
    let _ = tokio::time::timeout(grace, ctx.lifecycle.sockets_closed()).await;
    if let Some(server) = metrics_server {
        server.abort();
    }
    tracing::info!("shut down");
    Ok(())
}
