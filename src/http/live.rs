//! `/graphql/ws`: GraphQL subscriptions over WebSocket (graphql-transport-ws).
//! The bearer token comes in `connection_init`'s payload
//! (`{ "Authorization": "Bearer …" }`); the connection is checked again
//! whenever an event may have ended its session (and every 30 s), and is
//! closed once it has.

use std::time::Duration;

use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::{
    extract::{State, WebSocketUpgrade, ws::WebSocket},
    response::Response,
};

use super::{AppState, extract::authenticate};
use crate::{
    error::AppError,
    graphql::{RequestData, live::ended_sessions},
    service::RequestMeta,
};

/// How often an idle connection's session is checked again.
const RECHECK: Duration = Duration::from_secs(30);

pub async fn upgrade(
    State(state): State<AppState>,
    protocol: GraphQLProtocol,
    meta: RequestMeta,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve(socket, state, protocol, meta))
}

/// The token in a `connection_init` payload: `Authorization` (any case) as
/// `Bearer …`, or a bare `token`.
fn token_of(payload: &serde_json::Value) -> Option<String> {
    let object = payload.as_object()?;
    let value = object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v)
        .or_else(|| object.get("token"))?
        .as_str()?
        .trim();
    let token = match value.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("bearer ") => &value[7..],
        _ => value,
    };
    (!token.is_empty()).then(|| token.to_owned())
}

async fn serve(socket: WebSocket, state: AppState, protocol: GraphQLProtocol, meta: RequestMeta) {
    let ctx = state.ctx.clone();
    let (signed_in, connected) = tokio::sync::oneshot::channel();
    let init_ctx = ctx.clone();
    let graphql = GraphQLWebSocket::new(socket, state.schema.clone(), protocol).on_connection_init(
        move |payload| async move {
            let token = token_of(&payload).ok_or(AppError::Unauthenticated)?;
            let viewer = authenticate(&init_ctx, &token).await?;
            let _ = signed_in.send((token, viewer.clone()));
            let mut data = Data::default();
            data.insert(RequestData::new(&init_ctx, Some(viewer), meta));
            Ok(data)
        },
    );
    tokio::select! {
        () = graphql.serve() => {}
        () = watch_session(ctx, connected) => {
            tracing::info!("live connection closed: its session ended");
        }
    }
}

/// Returns once the connection's session has ended (never before it has
/// signed in).
async fn watch_session(
    ctx: std::sync::Arc<crate::service::AppContext>,
    connected: tokio::sync::oneshot::Receiver<(String, crate::auth::Viewer)>,
) {
    let Ok((token, viewer)) = connected.await else {
        return std::future::pending().await;
    };
    let mut events = ctx.events.subscribe();
    loop {
        let relevant = tokio::select! {
            event = events.recv() => match event {
                Ok(event) => ended_sessions(&event, viewer.id(), viewer.session_id).is_some(),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            () = tokio::time::sleep(RECHECK) => true,
        };
        if !relevant {
            continue;
        }
        // Let the subscription deliver the event before the socket closes.
        tokio::time::sleep(Duration::from_millis(200)).await;
        if authenticate(&ctx, &token).await.is_err() {
            return;
        }
    }
}
