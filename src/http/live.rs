//! `/graphql/ws`: GraphQL subscriptions over WebSocket (graphql-transport-ws).
//! The bearer token comes in `connection_init`'s payload
//! (`{ "Authorization": "Bearer …" }`); the connection's credential is
//! checked again whenever an event may have narrowed it (and every 30 s),
//! once per credential however many sockets share it, and the socket is
//! closed once it has. Sockets are capped per user and per client address.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::sync::watch;
use uuid::Uuid;

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
    guardrails,
};
use crate::{
    auth::{Viewer, jwt::Claims},
    error::{AppError, code},
    graphql::RequestData,
    service::{RequestMeta, api_keys, audit::Action, sessions, signing},
};

/// How often an idle connection's caller is checked again.
const RECHECK: Duration = Duration::from_secs(30);

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

/// What identifies a credential among this replica's sockets: a session
/// chain, or an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum CredentialKey {
    Session(Uuid),
    Key(Uuid),
}

impl CredentialKey {
    fn of(viewer: &Viewer) -> Self {
        match viewer.api_key {
            Some(key) => Self::Key(key),
            None => Self::Session(viewer.session_id),
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

/// This replica's live sockets: how many each user and each client address
/// holds (`WS_MAX_PER_USER`, `WS_MAX_PER_ADDRESS`), and one watcher per
/// credential that re-checks it for all the sockets signed in with it, so
/// an event costs one check per credential however many sockets share it.
/// Sockets are this process's own resource (memory, file descriptors), so
/// their caps are counted here, per replica; every other limit lives in the
/// database.
#[derive(Default)]
pub struct Sockets {
    inner: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    per_user: HashMap<Uuid, usize>,
    per_address: HashMap<String, usize>,
    /// The current viewer of each watched credential (`None` once it ended).
    watchers: HashMap<CredentialKey, watch::Receiver<Option<Viewer>>>,
}

/// A socket's place under the caps, given back when it closes.
struct Place {
    sockets: Arc<Sockets>,
    address: Option<String>,
    user: Option<Uuid>,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut counts = self.sockets.lock();
        if let Some(address) = self.address.take() {
            release(&mut counts.per_address, &address);
        }
        if let Some(user) = self.user.take() {
            release(&mut counts.per_user, &user);
        }
    }
}

fn release<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

impl Sockets {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A place for a new socket from `address`, or `None` past `max`.
    fn admit_address(self: &Arc<Self>, address: Option<&str>, max: usize) -> Option<Place> {
        let mut place = Place {
            sockets: self.clone(),
            address: None,
            user: None,
        };
        if let Some(address) = address {
            let mut counts = self.lock();
            let n = counts.per_address.entry(address.to_owned()).or_default();
            if *n >= max {
                return None;
            }
            *n += 1;
            place.address = Some(address.to_owned());
        }
        Some(place)
    }

    /// Counts `place`'s socket against `user`; `false` past `max`.
    fn admit_user(&self, place: &mut Place, user: Uuid, max: usize) -> bool {
        let mut counts = self.lock();
        let n = counts.per_user.entry(user).or_default();
        if *n >= max {
            return false;
        }
        *n += 1;
        place.user = Some(user);
        true
    }

    /// The current viewer of `credential`, watched by one task for every
    /// socket of this replica signed in with it: the existing watcher's, or
    /// a new one's.
    fn watch(
        self: &Arc<Self>,
        ctx: &Arc<crate::service::AppContext>,
        credential: Credential,
        viewer: Viewer,
    ) -> watch::Receiver<Option<Viewer>> {
        let key = CredentialKey::of(&viewer);
        let mut counts = self.lock();
        if let Some(existing) = counts.watchers.get(&key)
            && existing.has_changed().is_ok()
        {
            return existing.clone();
        }
        let (publish, current) = watch::channel(Some(viewer.clone()));
        counts.watchers.insert(key, current.clone());
        tokio::spawn(crate::metrics::in_background(watch_credential(
            ctx.clone(),
            self.clone(),
            key,
            credential,
            viewer.id(),
            viewer.impersonation,
            publish,
        )));
        current
    }

    /// Ends `key`'s watcher when no socket uses it any more (only the map's
    /// own receiver is left); decided under the lock, so a socket signing
    /// in at that moment either shares the watcher or starts a new one.
    fn unwatched(&self, key: CredentialKey, publish: &watch::Sender<Option<Viewer>>) -> bool {
        let mut counts = self.lock();
        if publish.receiver_count() > 1 {
            return false;
        }
        counts.watchers.remove(&key);
        true
    }
}

/// Re-checks one credential for every socket signed in with it: on every
/// event that may narrow its user's access (`Action::may_narrow`), and
/// every 30 s; publishes the caller as it is now, or `None` once the
/// session or key has ended. An impersonation is also re-checked on events
/// about its administrator (a suspension, a role change) and at its end.
/// Ends with its last socket.
async fn watch_credential(
    ctx: Arc<crate::service::AppContext>,
    sockets: Arc<Sockets>,
    key: CredentialKey,
    credential: Credential,
    user: Uuid,
    impersonation: Option<crate::auth::Impersonation>,
    publish: watch::Sender<Option<Viewer>>,
) {
    let mut events = ctx.events.subscribe();
    let about = |target: Option<Uuid>| {
        target.is_some() && (target == Some(user) || target == impersonation.map(|i| i.actor_id))
    };
    loop {
        // Past an impersonation's end its session answers no more: check
        // then rather than at the next tick.
        let wait = impersonation.map_or(RECHECK, |i| {
            (i.ends_at - crate::service::now())
                .to_std()
                .unwrap_or_default()
                .saturating_add(Duration::from_millis(100))
                .min(RECHECK)
        });
        let relevant = tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    Action::parse(&event.action).is_some_and(|action| {
                        action.may_narrow()
                            && (about(event.target_id) || action.reaches_every_holder())
                    })
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    sockets.unwatched(key, &publish);
                    publish.send_replace(None);
                    return;
                }
            },
            () = tokio::time::sleep(wait) => true,
        };
        if sockets.unwatched(key, &publish) {
            return;
        }
        if !relevant {
            continue;
        }
        // Let the subscriptions deliver the event before their sockets close.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = credential.viewer(&ctx).await.ok();
        let ended = now.is_none();
        publish.send_replace(now);
        if ended {
            sockets.lock().watchers.remove(&key);
            return;
        }
    }
}

pub async fn upgrade(
    State(state): State<AppState>,
    protocol: GraphQLProtocol,
    meta: RequestMeta,
    upgrade: WebSocketUpgrade,
) -> HttpResponse {
    let max = state.ctx.config.live.max_per_address;
    let Some(place) = state.sockets.admit_address(meta.ip.as_deref(), max) else {
        tracing::info!(
            ip = meta.ip.as_deref(),
            "too many live sockets from one address"
        );
        return super::middleware::error_response(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            &format!("at most {max} live sockets per client address"),
            code::RATE_LIMITED,
        );
    };
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| serve(socket, state, protocol, meta, place))
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

/// graphql-transport-ws close codes: `graphql-ws` clients stop retrying
/// on all but `FORBIDDEN` (a caller whose permissions changed may sign in
/// again with what they now hold).
mod close {
    pub const BAD_REQUEST: u16 = 4400;
    pub const UNAUTHORIZED: u16 = 4401;
    pub const FORBIDDEN: u16 = 4403;
    pub const INIT_TIMEOUT: u16 = 4408;
    pub const SUBSCRIBER_EXISTS: u16 = 4409;
    pub const TOO_MANY: u16 = 4429;
    pub const GOING_AWAY: u16 = 1001;
}

/// Why a socket closes, as its close frame says it.
type Closing = (u16, &'static str);

/// The close frame for a `connection_init` the server refused.
fn refused_init(err: &AppError) -> Closing {
    match err {
        AppError::RateLimited { .. } => (close::TOO_MANY, "too many live sockets for this user"),
        AppError::Database(_) | AppError::Internal(_) => (1011, "internal server error"),
        _ => (close::UNAUTHORIZED, "unauthorized: the token does not work"),
    }
}

async fn serve(
    socket: WebSocket,
    state: AppState,
    protocol: GraphQLProtocol,
    meta: RequestMeta,
    mut place: Place,
) {
    use async_graphql::futures_util::SinkExt as _;
    use axum::extract::ws::{CloseFrame, Message};

    let ctx = state.ctx.clone();
    let _open = crate::service::OpenSocket::new(ctx.clone());
    let (signed_in, connected) = tokio::sync::oneshot::channel();
    let init_ctx = ctx.clone();
    let sockets = state.sockets.clone();
    let executor = LiveExecutor {
        state: state.clone(),
        active: Arc::new(AtomicUsize::new(0)),
    };
    // async-graphql closes a socket with codes of its own (1002, 1011); the
    // writer below gives each its graphql-transport-ws code, and sends the
    // closes this server decides itself.
    let (mut socket_sink, socket_stream) = socket.split();
    let (to_socket, mut outgoing) = tokio::sync::mpsc::channel::<Message>(16);
    let (closing_tx, mut closing) = tokio::sync::mpsc::unbounded_channel::<Closing>();
    let duplicate = closing_tx.clone();
    let refused = closing_tx.clone();
    let ids = Arc::new(Mutex::new(std::collections::HashSet::<String>::new()));
    let seen = ids.clone();
    let incoming = socket_stream.map(move |message| {
        if let Ok(Message::Text(text)) = &message
            && let Ok(value) = serde_json::from_str::<serde_json::Value>(text)
        {
            let id = value["id"].as_str().map(str::to_owned);
            match (value["type"].as_str(), id) {
                (Some("subscribe"), Some(id))
                    if !seen
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(id.clone()) =>
                {
                    let _ = duplicate.send((
                        close::SUBSCRIBER_EXISTS,
                        "subscriber for this id already exists",
                    ));
                }
                (Some("complete"), Some(id)) => {
                    seen.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                }
                _ => {}
            }
        }
        message
    });
    let sink = async_graphql::futures_util::sink::unfold(
        to_socket,
        |to_socket, message: Message| async move {
            to_socket
                .send(message)
                .await
                .map_err(|_| axum::Error::new("the socket's writer ended"))?;
            Ok::<_, axum::Error>(to_socket)
        },
    );
    let graphql = GraphQLWebSocket::new_with_pair(sink, incoming, executor, protocol)
        .on_connection_init(move |payload| async move {
            let signed = async {
                let token = token_of(&payload).ok_or(AppError::Unauthenticated)?;
                let viewer = authenticate(&init_ctx, &token).await?;
                let max = init_ctx.config.live.max_per_user;
                if !sockets.admit_user(&mut place, viewer.id(), max) {
                    tracing::info!(user_id = %crate::ids::user(viewer.id()), "too many live sockets for one user");
                    return Err(AppError::RateLimited { retry_after: 60 });
                }
                let credential = if token.starts_with(api_keys::SECRET_PREFIX) {
                    Credential::Key(token)
                } else {
                    Credential::Session(signing::verify(&init_ctx, &token).await?)
                };
                Ok((credential, viewer, place))
            }
            .await;
            match signed {
                Ok((credential, viewer, place)) => {
                    let _ = signed_in.send((credential, viewer.clone(), place));
                    let mut data = Data::default();
                    data.insert(RequestData::new(&init_ctx, Some(viewer), meta));
                    Ok(data)
                }
                Err(err) => {
                    let _ = refused.send(refused_init(&err));
                    Err(err.into())
                }
            }
        });
    let writer = async {
        loop {
            let (message, last) = tokio::select! {
                biased;
                Some((code, reason)) = closing.recv() => {
                    (Message::Close(Some(CloseFrame { code, reason: reason.into() })), true)
                }
                message = outgoing.recv() => match message {
                    Some(Message::Close(frame)) => {
                        // async-graphql's own closes: a message it could not
                        // read (1002), one sent before the handshake (1011),
                        // a second connection_init (4429, as the protocol says).
                        let code = match frame.as_ref().map(|f| f.code) {
                            Some(1011) => close::UNAUTHORIZED,
                            Some(1002) | None => close::BAD_REQUEST,
                            Some(code) => code,
                        };
                        let reason = frame.map(|f| f.reason).unwrap_or_default();
                        let reason = fitted(reason.as_str()).into();
                        (Message::Close(Some(CloseFrame { code, reason })), true)
                    }
                    Some(message) => {
                        // An operation the server ended frees its id for reuse.
                        if let Message::Text(text) = &message
                            && (text.contains("\"complete\"") || text.contains("\"error\""))
                            && let Ok(value) = serde_json::from_str::<serde_json::Value>(text)
                            && matches!(value["type"].as_str(), Some("complete" | "error"))
                            && let Some(id) = value["id"].as_str()
                        {
                            ids.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
                        }
                        (message, false)
                    }
                    None => return,
                },
            };
            if socket_sink.send(message).await.is_err() || last {
                return;
            }
        }
    };
    let watching = async {
        let (code, reason) = watch_caller(ctx, state.sockets.clone(), connected).await;
        tracing::info!(code, reason, "live connection closed");
        let _ = closing_tx.send((code, reason));
        std::future::pending::<()>().await
    };
    // The protocol and the watcher own every sender the writer reads: once
    // either ends, the writer sends what they queued (a close frame last)
    // and stops. A writer that ends first has sent a close frame, or found
    // the socket gone; either way the connection is over.
    let session = async {
        tokio::select! {
            () = graphql.serve() => {}
            () = watching => {}
        }
    };
    tokio::pin!(session, writer);
    tokio::select! {
        () = &mut session => {
            let _ = tokio::time::timeout(Duration::from_secs(5), &mut writer).await;
        }
        () = &mut writer => {}
    }
}

/// A close reason as long as a close frame allows (123 bytes, RFC 6455
/// 5.5), cut at a character boundary: parser messages can be longer.
fn fitted(reason: &str) -> &str {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

/// Completes once the replica is stopping.
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stopping| *stopping).await.is_ok();
}

/// Returns why the socket must close: the connection has not signed in
/// within `WS_INIT_TIMEOUT_SECS` (4408), its caller's session or key has ended
/// (4401) or may do less than when it signed in (4403), or the server is
/// stopping (1001). Never returns for a sign-in the server refused: the
/// protocol's own close follows, with its code.
async fn watch_caller(
    ctx: std::sync::Arc<crate::service::AppContext>,
    sockets: Arc<Sockets>,
    connected: tokio::sync::oneshot::Receiver<(Credential, Viewer, Place)>,
) -> Closing {
    let mut stopping = ctx.lifecycle.stopping.subscribe();
    let (credential, viewer, _place) = tokio::select! {
        signed = tokio::time::timeout(ctx.config.live.init_timeout, connected) => match signed {
            Ok(Ok(signed)) => signed,
            Ok(Err(_)) => std::future::pending().await,
            Err(_) => return (close::INIT_TIMEOUT, "connection initialisation timeout"),
        },
        () = stopped(&mut stopping) => return (close::GOING_AWAY, "the server is stopping"),
    };
    let mut current = sockets.watch(&ctx, credential, viewer.clone());
    // A watcher shared with older sockets may hold a value read before this
    // socket signed in: only what it reads from now on is compared.
    current.borrow_and_update();
    loop {
        tokio::select! {
            changed = current.changed() => if changed.is_err() {
                return (close::GOING_AWAY, "the server is stopping");
            },
            () = stopped(&mut stopping) => {
                return (close::GOING_AWAY, "the server is stopping");
            }
        }
        match &*current.borrow_and_update() {
            Some(now) if !narrowed(&viewer, now) => {}
            Some(_) => {
                return (
                    close::FORBIDDEN,
                    "forbidden: the caller's permissions changed",
                );
            }
            None => {
                return (
                    close::UNAUTHORIZED,
                    "unauthorized: the session or key ended",
                );
            }
        }
    }
}
