//! `Webhook`, its deliveries and their connection.

use async_graphql::{ID, SimpleObject};
use entity::{webhook, webhook_delivery};

use super::{DateTime, PageInfo};
use crate::{ids, service::webhooks};

/// A subscription: audit events POSTed to a URL, signed per Standard
/// Webhooks with the secret shown at creation.
#[derive(SimpleObject)]
pub struct Webhook {
    /// Opaque id (`whk_…`).
    pub id: ID,
    pub url: String,
    /// Event types (`user.created`), prefixes (`user.*`) or `*`.
    pub events: Vec<String>,
    /// Null when unset.
    pub description: Option<String>,
    /// False once disabled, by a superuser or after a message's last failed attempt.
    pub enabled: bool,
    /// Why the service disabled it; null otherwise.
    pub disabled_reason: Option<String>,
    pub created_at: DateTime,
    pub updated_at: DateTime,
}

impl From<webhook::Model> for Webhook {
    fn from(hook: webhook::Model) -> Self {
        Self {
            id: ids::encode(ids::WEBHOOK, hook.id).into(),
            events: webhooks::events_of(&hook),
            url: hook.url,
            description: hook.description,
            enabled: hook.enabled,
            disabled_reason: hook.disabled_reason,
            created_at: hook.created_at.into(),
            updated_at: hook.updated_at.into(),
        }
    }
}

/// A new webhook and its signing secret, shown this once.
#[derive(SimpleObject)]
pub struct CreatedWebhook {
    pub webhook: Webhook,
    /// `whsec_…`: verify each delivery's `webhook-signature` with it
    /// (Standard Webhooks). Only a sealed copy is kept.
    pub secret: String,
}

/// One attempt to deliver a message.
#[derive(SimpleObject)]
pub struct WebhookDelivery {
    /// Opaque id (`whd_…`), for `redeliverWebhook`.
    pub id: ID,
    /// The `webhook-id` header, the same on every attempt of one message.
    pub message_id: String,
    pub event_type: String,
    /// 1 for the message's first attempt.
    pub attempt: i32,
    /// The receiver's status; null when it did not answer.
    pub status_code: Option<i32>,
    pub duration_ms: i32,
    /// Why it failed; null on success.
    pub error: Option<String>,
    /// True when the receiver answered 2xx.
    pub succeeded: bool,
    pub created_at: DateTime,
}

impl From<webhook_delivery::Model> for WebhookDelivery {
    fn from(d: webhook_delivery::Model) -> Self {
        Self {
            id: ids::encode(ids::WEBHOOK_DELIVERY, d.id).into(),
            succeeded: d.error.is_none() && d.status_code.is_some_and(|s| (200..300).contains(&s)),
            message_id: d.message_id,
            event_type: d.event_type,
            attempt: d.attempt,
            status_code: d.status_code,
            duration_ms: d.duration_ms,
            error: d.error,
            created_at: d.created_at.into(),
        }
    }
}

/// A page of delivery attempts, newest first.
#[derive(SimpleObject)]
pub struct WebhookDeliveryConnection {
    pub nodes: Vec<WebhookDelivery>,
    /// `endCursor` pages on with `after`.
    pub page_info: PageInfo,
}
