//! The server loop: HTTP/1.1 with upgrades, a header-read timeout, and a
//! bounded graceful shutdown.

use std::{net::SocketAddr, time::Duration};

use axum::Router;

use crate::config::Config;

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

/// Completes on SIGTERM or Ctrl-C.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    // Registered now, not at the first poll: a SIGTERM sent just after the
    // listening line (a script, an orchestrator), before the server loop
    // polls this, would otherwise reach no listener and be lost.
    #[cfg(unix)]
    let (terminate, interrupt) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(terminate) => {},
                _ = wait(interrupt) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
