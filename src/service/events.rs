//! Live events, part of the event stream: every audit event reaches this
//! replica's subscribers once its transaction commits, whichever replica
//! made it. On PostgreSQL the event is sent with `pg_notify` in the change's
//! own transaction (delivered at commit, never for a rollback) and every
//! replica listens (`worker::live_feed`); on SQLite (one process) that
//! worker reads new events in commit order. Each replica fans out through a
//! bounded broadcast channel: a subscriber that falls behind loses the
//! oldest events (and is told), so a slow socket cannot grow memory.

use std::sync::Arc;

use entity::audit_event;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::error::Result;

/// The PostgreSQL channel events travel on.
pub const CHANNEL: &str = "usergraph_events";

/// Events a subscriber may fall behind by before it loses the oldest.
pub const BUFFER: usize = 256;

/// NOTIFY payloads are limited to 8000 bytes; an event's `changes` are
/// dropped from the notification (not from the table) past this.
const MAX_NOTIFY: usize = 7000;

/// This replica's fan-out of committed events.
pub struct Bus {
    sender: broadcast::Sender<Arc<audit_event::Model>>,
}

impl Default for Bus {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(BUFFER).0,
        }
    }
}

impl Bus {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<audit_event::Model>> {
        self.sender.subscribe()
    }

    /// Hands a committed event to this replica's subscribers.
    pub fn publish(&self, event: audit_event::Model) {
        // No subscriber is not an error.
        let _ = self.sender.send(Arc::new(event));
    }

    pub fn has_subscribers(&self) -> bool {
        self.sender.receiver_count() > 0
    }
}

/// An event as a notification carries it.
#[derive(Serialize, Deserialize)]
pub struct Wire {
    id: Uuid,
    action: String,
    actor_id: Option<Uuid>,
    api_key_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    impersonator_id: Option<Uuid>,
    target_kind: Option<String>,
    target_id: Option<Uuid>,
    changes: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    created_at: chrono::DateTime<chrono::Utc>,
}

impl From<&audit_event::Model> for Wire {
    fn from(e: &audit_event::Model) -> Self {
        Self {
            id: e.id,
            action: e.action.clone(),
            actor_id: e.actor_id,
            api_key_id: e.api_key_id,
            impersonator_id: e.impersonator_id,
            target_kind: e.target_kind.clone(),
            target_id: e.target_id,
            changes: e.changes.clone(),
            ip: e.ip.clone(),
            user_agent: e.user_agent.clone(),
            request_id: e.request_id.clone(),
            created_at: e.created_at,
        }
    }
}

impl From<Wire> for audit_event::Model {
    fn from(w: Wire) -> Self {
        Self {
            id: w.id,
            action: w.action,
            actor_id: w.actor_id,
            api_key_id: w.api_key_id,
            impersonator_id: w.impersonator_id,
            target_kind: w.target_kind,
            target_id: w.target_id,
            changes: w.changes,
            ip: w.ip,
            user_agent: w.user_agent,
            request_id: w.request_id,
            created_at: w.created_at,
        }
    }
}

/// Sends `event` to every replica when the caller's transaction commits
/// (PostgreSQL; SQLite's reader finds it in the table).
pub async fn notify(conn: &impl ConnectionTrait, event: &audit_event::Model) -> Result<()> {
    if conn.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    let mut wire = Wire::from(event);
    let mut payload = serde_json::to_string(&wire).map_err(anyhow::Error::from)?;
    if payload.len() > MAX_NOTIFY {
        wire.changes = None;
        payload = serde_json::to_string(&wire).map_err(anyhow::Error::from)?;
    }
    conn.execute_raw(Statement::from_sql_and_values(
        DatabaseBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [CHANNEL.into(), payload.into()],
    ))
    .await?;
    Ok(())
}
