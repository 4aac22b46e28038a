//! Webhook management (superuser): subscriptions to audit events, their
//! signing secrets (shown once, sealed at rest), their delivery log and
//! redelivery. The fan-out and the sender are part of the event stream
//! (`webhook_fanout`, `webhook_send`).

use base64::Engine;
use entity::{outbox, webhook, webhook_delivery};
use rand::RngCore;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde_json::Value;
use uuid::Uuid;

use super::{
    AppContext,
    audit::{Action, Event, Target},
    now, outbox as queue,
    webhook_fanout::{KIND, patterns},
    webhook_send::checked_target,
};
use crate::{
    auth::Viewer,
    error::{AppError, Result},
    ids,
};

/// A new signing secret: `whsec_` and 32 random bytes in base64.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

fn event_patterns(events: &[String]) -> Result<String> {
    if events.is_empty() || events.len() > 64 {
        return Err(AppError::bad_input(
            "events",
            "events must list 1 to 64 event types, prefixes such as user.* or *",
        ));
    }
    for e in events {
        let ok = e == "*"
            || Action::parse(e).is_some()
            || e.strip_suffix(".*")
                .is_some_and(|ns| Action::ALL.iter().any(|a| a.namespace() == ns));
        if !ok {
            return Err(AppError::bad_input(
                "events",
                format!("`{e}` is not an event type such as user.created or user.*"),
            ));
        }
    }
    Ok(serde_json::to_string(events).map_err(anyhow::Error::from)?)
}

/// `createWebhook`'s and `updateWebhook`'s fields.
#[derive(Debug, Default, Clone)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

/// `createWebhook` (superuser): the secret is returned this once.
pub async fn create(
    ctx: &AppContext,
    viewer: &Viewer,
    patch: WebhookPatch,
) -> Result<(webhook::Model, String)> {
    viewer.require_superuser()?;
    let url = patch
        .url
        .ok_or_else(|| AppError::bad_input("url", "url is required"))?;
    checked_target(ctx, &url).await?;
    let events = event_patterns(&patch.events.unwrap_or_default())?;
    let description = crate::validation::optional_text(
        patch.description.flatten().as_deref(),
        "description",
        255,
    )?;
    let secret = new_secret();
    let ts = now();
    let txn = ctx.begin().await?;
    let hook = webhook::Entity::insert(webhook::ActiveModel {
        id: Set(ids::new_key()),
        url: Set(url),
        events: Set(events),
        description: Set(description),
        secret_sealed: Set(ctx.webhook_sealer.seal(secret.as_bytes())),
        enabled: Set(true),
        disabled_reason: Set(None),
        created_at: Set(ts),
        updated_at: Set(ts),
    })
    .exec_with_returning(&txn)
    .await?;
    Event::by(viewer, Action::WebhookCreated)
        .on(Target::Webhook(hook.id))
        .change("url", Value::Null, redacted(&hook.url))
        .change("events", Value::Null, patterns(&hook))
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok((hook, secret))
}

async fn find(conn: &impl ConnectionTrait, id: Uuid) -> Result<webhook::Model> {
    webhook::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(AppError::not_found("webhook").with_field("id"))
}

/// `updateWebhook` (superuser); enabling it again clears why it was disabled.
pub async fn update(
    ctx: &AppContext,
    viewer: &Viewer,
    id: Uuid,
    patch: WebhookPatch,
) -> Result<webhook::Model> {
    viewer.require_superuser()?;
    if let Some(url) = &patch.url {
        checked_target(ctx, url).await?;
    }
    let events = patch.events.as_deref().map(event_patterns).transpose()?;
    let description = patch
        .description
        .as_ref()
        .map(|d| crate::validation::optional_text(d.as_deref(), "description", 255))
        .transpose()?;
    let txn = ctx.begin().await?;
    let before = find(&txn, id).await?;
    let mut model = webhook::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(id),
        updated_at: Set(now()),
        ..Default::default()
    };
    if let Some(url) = patch.url {
        model.url = Set(url);
    }
    if let Some(events) = events {
        model.events = Set(events);
    }
    if let Some(description) = description {
        model.description = Set(description);
    }
    if let Some(enabled) = patch.enabled {
        model.enabled = Set(enabled);
        if enabled {
            model.disabled_reason = Set(None);
        }
    }
    let after = sea_orm::ActiveModelTrait::update(model, &txn).await?;
    let mut event = Event::by(viewer, Action::WebhookUpdated).on(Target::Webhook(id));
    if before.url != after.url {
        // Redacted like every URL the trail shows; a change of path alone
        // still shows that the URL changed.
        event = event.change("url", redacted(&before.url), redacted(&after.url));
    }
    for (field, old, new) in [
        (
            "events",
            Value::from(patterns(&before)),
            Value::from(patterns(&after)),
        ),
        (
            "description",
            before.description.clone().into(),
            after.description.clone().into(),
        ),
        ("enabled", before.enabled.into(), after.enabled.into()),
    ] {
        if old != new {
            event = event.change(field, old, new);
        }
    }
    event.record(&txn).await?;
    txn.commit().await?;
    Ok(after)
}

/// `deleteWebhook` (superuser); its log goes with it.
pub async fn delete(ctx: &AppContext, viewer: &Viewer, id: Uuid) -> Result<()> {
    viewer.require_superuser()?;
    let txn = ctx.begin().await?;
    let hook = find(&txn, id).await?;
    webhook::Entity::delete_by_id(id).exec(&txn).await?;
    Event::by(viewer, Action::WebhookDeleted)
        .on(Target::Webhook(id))
        .change("url", redacted(&hook.url), Value::Null)
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// `webhooks` (superuser).
pub async fn list(ctx: &AppContext, viewer: &Viewer) -> Result<Vec<webhook::Model>> {
    viewer.require_superuser()?;
    Ok(webhook::Entity::find()
        .order_by_asc(webhook::Column::CreatedAt)
        .all(&ctx.db)
        .await?)
}

/// A URL as the audit trail shows it: scheme, host and port only (a path,
/// query or user info may hold a receiver's own secret).
fn redacted(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .map(|u| {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!(
                "{}://{}{port}/…",
                u.scheme(),
                u.host_str().unwrap_or_default()
            )
        })
        .unwrap_or_else(|| "(invalid)".into())
}

/// The subscribed patterns, as stored.
pub fn events_of(hook: &webhook::Model) -> Vec<String> {
    patterns(hook)
}

/// `webhookDeliveries` (superuser): attempts, newest first, keyset by id.
pub async fn deliveries(
    ctx: &AppContext,
    viewer: &Viewer,
    webhook_id: Uuid,
    first: u64,
    after: Option<Uuid>,
) -> Result<(Vec<webhook_delivery::Model>, bool)> {
    viewer.require_superuser()?;
    find(&ctx.db, webhook_id)
        .await
        .map_err(|e| e.with_field("webhookId"))?;
    let mut query =
        webhook_delivery::Entity::find().filter(webhook_delivery::Column::WebhookId.eq(webhook_id));
    if let Some(after) = after {
        query = query.filter(webhook_delivery::Column::Id.lt(after));
    }
    super::first_rows(
        &ctx.db,
        query.order_by_desc(webhook_delivery::Column::Id),
        first,
    )
    .await
}

/// `redeliverWebhook` (superuser): the attempt's message again, with the
/// same `webhook-id` (receivers deduplicate by it), to the webhook as it is
/// now. `CONFLICT` once the message has been pruned.
pub async fn redeliver(ctx: &AppContext, viewer: &Viewer, delivery_id: Uuid) -> Result<()> {
    viewer.require_superuser()?;
    let delivery = webhook_delivery::Entity::find_by_id(delivery_id)
        .one(&ctx.db)
        .await?
        .ok_or(AppError::not_found("delivery").with_field("deliveryId"))?;
    let hook = find(&ctx.db, delivery.webhook_id).await?;
    if !hook.enabled {
        return Err(AppError::Conflict(
            "the webhook is disabled: enable it first".into(),
        ));
    }
    let message = outbox::Entity::find_by_id(delivery.outbox_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| AppError::Conflict("the message is too old to deliver again".into()))?;
    let txn = ctx.begin().await?;
    queue::queue(
        &txn,
        KIND,
        &message.topic,
        &message.recipient,
        message.payload.clone(),
    )
    .await?;
    Event::by(viewer, Action::WebhookRedelivered)
        .on(Target::Webhook(delivery.webhook_id))
        .change("messageId", Value::Null, delivery.message_id)
        .record(&txn)
        .await?;
    // The redelivery's event wakes the webhook worker once this commits.
    txn.commit().await?;
    Ok(())
}
