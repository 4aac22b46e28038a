//! `/graphql/ws`: GraphQL subscriptions over WebSocket (graphql-transport-ws).
//! The bearer token comes in `connection_init`'s payload
//! (`{ "Authorization": "Bearer …" }`); the connection is checked again
//! whenever an event may have ended its session (and every 30 s), and is
//! closed once it has.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_graphql::{
    Data, Executor, Request, Response, ServerError,
    futures_util::{StreamExt, stream::BoxStream},
    parser::types::OperationType,
};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::{
    extract::{State, WebSocketUpgrade, ws::WebSocket},
    response::Response as HttpResponse,
};

use super::{
    AppState,
    endpoint::{Refusal, plan},
    extract::authenticate,
};
use crate::{
    auth::{Viewer, jwt::Claims},
    error::{AppError, code},
    graphql::{RequestData, guardrails, live::ended_sessions},
    service::{RequestMeta, api_keys, sessions},
};

/// How often an idle connection's caller is checked again.
const RECHECK: Duration = Duration::from_secs(30);

/// How long a socket may stay open without signing in.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest message a socket takes: as large as an HTTP request's body.
const MAX_MESSAGE: usize = 64 * 1024;

/// Subscriptions one socket may hold at once.
const MAX_SUBSCRIPTIONS: usize = 32;

/// What a socket runs: subscriptions only (queries and mutations go over
/// HTTP, where the access log, the rate limits and the trusted-document
/// rules see them), through the same checks as an HTTP request (document
/// size, fragment expansion, one credential field, trusted documents, error
/// codes), and at most `MAX_SUBSCRIPTIONS` at once.
#[derive(Clone)]
struct LiveExecutor {
    state: AppState,
    active: Arc<AtomicUsize>,
}

/// Gives a subscription's place back when its stream ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn refused(message: &str, error_code: &str) -> Response {
    let mut error = ServerError::new(message, None);
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", error_code);
    error.extensions = Some(extensions);
    Response::from_errors(vec![error])
}

impl Executor for LiveExecutor {
    async fn execute(&self, _request: Request) -> Response {
        refused(
            "this socket carries subscriptions; send queries and mutations to POST /graphql",
            code::BAD_USER_INPUT,
        )
    }

    fn execute_stream(
        &self,
        mut request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        let once = |response: Response| {
            async_graphql::futures_util::stream::once(async { response }).boxed()
        };
        let checked = match plan(&self.state, &mut request, false) {
            Ok(plan) => plan,
            Err(Refusal::Error(error)) => {
                let mut response = Response::from_errors(vec![error]);
                guardrails::finish(&mut response, None);
                return once(response);
            }
            Err(_) => return once(refused("the message has no query", code::BAD_USER_INPUT)),
        };
        if checked.operation != Some(OperationType::Subscription) {
            return once(refused(
                "this socket carries subscriptions; send queries and mutations to POST /graphql",
                code::BAD_USER_INPUT,
            ));
        }
        if self.active.fetch_add(1, Ordering::SeqCst) >= MAX_SUBSCRIPTIONS {
            self.active.fetch_sub(1, Ordering::SeqCst);
            return once(refused(
                &format!("at most {MAX_SUBSCRIPTIONS} subscriptions per socket"),
                code::RATE_LIMITED,
            ));
        }
        let slot = Slot(self.active.clone());
        let stream = match session_data {
            Some(data) => self
                .state
                .schema
                .execute_stream_with_session_data(request, data),
            None => self.state.schema.execute_stream(request),
        };
        stream
            .map(move |mut response| {
                let _held = &slot;
                guardrails::finish(&mut response, None);
                response
            })
            .boxed()
    }
}

/// How a socket signed in, to check it again later: a session's claims
/// (checked without the access token's expiry: the socket lives as long
/// as its session), or an API key.
#[derive(Clone)]
enum Credential {
    Session(Claims),
    Key(String),
}

impl Credential {
    async fn viewer(&self, ctx: &crate::service::AppContext) -> crate::error::Result<Viewer> {
        match self {
            Self::Session(claims) => sessions::load_viewer(&ctx.db, claims).await,
            Self::Key(secret) => api_keys::load_viewer(&ctx.db, secret).await,
        }
    }
}

/// Whether `now` may do less than `then` could: permissions lost, the
/// superuser flag gone, or another account.
fn narrowed(then: &Viewer, now: &Viewer) -> bool {
    then.id() != now.id()
        || then.is_superuser() != now.is_superuser()
        || then.permissions != now.permissions
}

pub async fn upgrade(
    State(state): State<AppState>,
    protocol: GraphQLProtocol,
    meta: RequestMeta,
    upgrade: WebSocketUpgrade,
) -> HttpResponse {
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
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
    let executor = LiveExecutor {
        state: state.clone(),
        active: Arc::new(AtomicUsize::new(0)),
    };
    let graphql = GraphQLWebSocket::new(socket, executor, protocol).on_connection_init(
        move |payload| async move {
            let token = token_of(&payload).ok_or(AppError::Unauthenticated)?;
            let viewer = authenticate(&init_ctx, &token).await?;
            let credential = if token.starts_with(api_keys::SECRET_PREFIX) {
                Credential::Key(token)
            } else {
                Credential::Session(init_ctx.jwt.verify(&token)?)
            };
            let _ = signed_in.send((credential, viewer.clone()));
            let mut data = Data::default();
            data.insert(RequestData::new(&init_ctx, Some(viewer), meta));
            Ok(data)
        },
    );
    tokio::select! {
        () = graphql.serve() => {}
        reason = watch_caller(ctx, connected) => {
            tracing::info!(reason, "live connection closed");
        }
    }
}

/// Returns (closing the socket) when the connection has not signed in
/// within `INIT_TIMEOUT`, or once its caller may do less than when it
/// signed in: its session ended, its key was revoked, its permissions or
/// superuser flag changed. Checked on every event about its user or about
/// roles, and every 30 s.
async fn watch_caller(
    ctx: std::sync::Arc<crate::service::AppContext>,
    connected: tokio::sync::oneshot::Receiver<(Credential, Viewer)>,
) -> &'static str {
    let Ok(Ok((credential, viewer))) = tokio::time::timeout(INIT_TIMEOUT, connected).await else {
        return "no connection_init in time";
    };
    let mut events = ctx.events.subscribe();
    loop {
        let relevant = tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    ended_sessions(&event, viewer.id(), viewer.session_id).is_some()
                        || event.target_id == Some(viewer.id())
                        || event.action.starts_with("role.")
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return "shutting down",
            },
            () = tokio::time::sleep(RECHECK) => true,
        };
        if !relevant {
            continue;
        }
        // Let the subscription deliver the event before the socket closes.
        tokio::time::sleep(Duration::from_millis(200)).await;
        match credential.viewer(&ctx).await {
            Ok(now) if !narrowed(&viewer, &now) => {}
            Ok(_) => return "its permissions changed",
            Err(_) => return "its session or key ended",
        }
    }
}
