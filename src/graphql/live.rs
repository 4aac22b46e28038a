//! Live events over WebSocket (`/graphql/ws`, graphql-transport-ws):
//! `auditEvents` for `AUDIT_READ`, `mySessionEvents` for every signed-in
//! user. Events arrive from this replica's bus, which every replica feeds
//! (service/events.rs).

use std::sync::Arc;

use async_graphql::{Context, ID, Subscription, futures_util::Stream};
use entity::audit_event;
use tokio::sync::broadcast;

use super::{
    guard::viewer,
    request::app,
    types::{AuditEvent, SessionEvent, SessionEventKind},
};
use crate::{ids, service::audit};

/// Whether `event` ends sessions of `user`, and which: `Some(None)` for
/// several, `Some(Some(id))` for one.
pub fn ended_sessions(
    event: &audit_event::Model,
    user: uuid::Uuid,
    this_session: uuid::Uuid,
) -> Option<(Option<String>, bool)> {
    if event.target_kind.as_deref() != Some("user") || event.target_id != Some(user) {
        return None;
    }
    if !audit::Action::parse(&event.action).is_some_and(audit::Action::ends_sessions) {
        return None;
    }
    let changes: serde_json::Value = event
        .changes
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
        .unwrap_or_default();
    if event.action == audit::Action::UserStatusChanged.as_str()
        && changes["status"]["new"] == "ACTIVE"
    {
        return None;
    }
    let this = ids::session(this_session);
    if let Some(ended) = changes["sessionIds"]["new"].as_array() {
        let ended: Vec<&str> = ended.iter().filter_map(|id| id.as_str()).collect();
        let one = (ended.len() == 1).then(|| ended[0].to_owned());
        return Some((one, ended.contains(&this.as_str())));
    }
    if let Some(one) = changes["sessionId"]["new"].as_str() {
        return Some((Some(one.to_owned()), one == this));
    }
    if let Some(kept) = changes["keptSessionId"]["new"].as_str() {
        return Some((None, kept != this));
    }
    Some((None, true))
}

#[derive(Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Audit events as they are committed, on any replica (`AUDIT_READ`);
    /// `actions` keeps only those. The same shape as `auditEvents`' nodes.
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        actions: Option<Vec<String>>,
    ) -> async_graphql::Result<impl Stream<Item = AuditEvent> + use<>> {
        audit::require_reader(viewer(ctx)?)?;
        let receiver = app(ctx).events.subscribe();
        Ok(stream(receiver, move |event| {
            actions
                .as_ref()
                .is_none_or(|a| a.iter().any(|x| x == &event.action))
                .then(|| AuditEvent::from(event.clone()))
        }))
    }

    /// The caller's sessions ending, wherever they are ended: a logout, a
    /// revocation, a password change or reset, a suspension or deletion. A
    /// socket whose own session ends is closed right after.
    async fn my_session_events(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = SessionEvent> + use<>> {
        let viewer = viewer(ctx)?;
        let (user, session) = (viewer.id(), viewer.session_id);
        // A socket signed in with an API key has no session to end.
        let by_key = viewer.api_key.is_some();
        let receiver = app(ctx).events.subscribe();
        Ok(stream(receiver, move |event| {
            ended_sessions(event, user, session).map(|(session_id, ends_this_session)| {
                SessionEvent {
                    kind: SessionEventKind::Ended,
                    action: event.action.clone(),
                    session_id: session_id.map(ID::from),
                    ends_this_session: ends_this_session && !by_key,
                    at: event.created_at.into(),
                }
            })
        }))
    }
}

/// The events of `receiver` that `keep` maps to an item, until the bus
/// closes; a subscriber that falls more than `events::BUFFER` behind skips
/// what it missed (its buffer is bounded), with a warning.
fn stream<T: Send + 'static>(
    receiver: broadcast::Receiver<Arc<audit_event::Model>>,
    keep: impl Fn(&audit_event::Model) -> Option<T> + Send + Sync + 'static,
) -> impl Stream<Item = T> {
    async_graphql::futures_util::stream::unfold(
        (receiver, keep),
        |(mut receiver, keep)| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => {
                        if let Some(item) = keep(&event) {
                            return Some((item, (receiver, keep)));
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "a live subscriber fell behind; events skipped");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        },
    )
}
