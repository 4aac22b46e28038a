//! Webhook fan-out, part of the event stream: each audit event is queued,
//! in the change's own transaction, for every enabled webhook that
//! subscribes to its action (so at least once, and never for a change that
//! rolls back). `webhook_send` delivers what is queued here.

use entity::webhook;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{now, outbox};
use crate::{error::Result, ids};

// The fan-out writes webhook messages, so it defines their kind and shape;
// the sender (`webhook_send`) reads them.
/// The outbox kind of webhook messages.
pub const KIND: &str = "webhook";

/// What a webhook message carries in the outbox.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Queued {
    pub webhook_id: Uuid,
    /// The `webhook-id` header, the same on every attempt and redelivery.
    pub message_id: String,
    /// The JSON body: `{ "type", "timestamp", "data" }`.
    pub body: Value,
}

/// A subscription's event list matches `action`: `*`, a prefix ending in
/// `.*` (`user.*`) or the action itself.
fn matches(patterns: &[String], action: &str) -> bool {
    patterns.iter().any(|p| {
        p == "*"
            || p == action
            || p.strip_suffix(".*").is_some_and(|prefix| {
                action.starts_with(prefix) && action[prefix.len()..].starts_with('.')
            })
    })
}

/// The patterns a webhook subscribes to, as stored.
pub fn patterns(webhook: &webhook::Model) -> Vec<String> {
    serde_json::from_str(&webhook.events).unwrap_or_default()
}

/// Queues `event` for every enabled webhook that subscribes to it, in the
/// caller's transaction (one statement to find them).
pub async fn queue_for(conn: &impl ConnectionTrait, event: &Value, action: &str) -> Result<()> {
    let hooks = webhook::Entity::find()
        .filter(webhook::Column::Enabled.eq(true))
        .all(conn)
        .await?;
    for hook in hooks.iter().filter(|h| matches(&patterns(h), action)) {
        let queued = Queued {
            webhook_id: hook.id,
            message_id: format!("msg_{}", ids::new_key().simple()),
            body: json!({
                "type": action,
                "timestamp": now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "data": event,
            }),
        };
        outbox::queue(
            conn,
            KIND,
            action,
            &ids::encode(ids::WEBHOOK, hook.id),
            serde_json::to_string(&queued).map_err(anyhow::Error::from)?,
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_types_prefixes_and_everything() {
        let p = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(matches(&p(&["user.created"]), "user.created"));
        assert!(!matches(&p(&["user.created"]), "user.updated"));
        assert!(matches(&p(&["user.*"]), "user.updated"));
        assert!(!matches(&p(&["user.*"]), "users.x"));
        assert!(matches(&p(&["*"]), "role.deleted"));
    }
}
