//! Webhooks (superuser): `createWebhook`, `updateWebhook`, `deleteWebhook`,
//! `webhooks`, `webhookDeliveries`, `redeliverWebhook`.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};
use uuid::Uuid;

use super::{
    guard::{Superuser, viewer},
    inputs::patch,
    request::app,
    types::{CreatedWebhook, PageInfo, Webhook, WebhookDelivery, WebhookDeliveryConnection},
};
use crate::{
    error::AppError,
    ids,
    service::{audit, webhooks},
};

/// A new webhook.
#[derive(InputObject)]
pub struct CreateWebhookInput {
    /// An http(s) URL; one that resolves to a private, loopback or
    /// link-local address is refused unless `WEBHOOK_ALLOW_PRIVATE_TARGETS`.
    pub url: String,
    /// Event types (`user.created`), prefixes (`user.*`) or `*`; 1 to 64.
    pub events: Vec<String>,
    /// At most 255 characters.
    pub description: Option<String>,
}

/// Changes to a webhook; an absent field is kept.
#[derive(InputObject, Default)]
pub struct UpdateWebhookInput {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    /// Null clears.
    pub description: MaybeUndefined<String>,
    /// True enables it again (and clears `disabledReason`).
    pub enabled: Option<bool>,
}

fn key(id: &ID, field: &'static str) -> Result<Uuid, AppError> {
    ids::decode(ids::WEBHOOK, id, field)
}

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// Every webhook (superuser), oldest first.
    #[graphql(guard = "Superuser")]
    async fn webhooks(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Webhook>> {
        let hooks = webhooks::list(app(ctx), viewer(ctx)?).await?;
        Ok(hooks.into_iter().map(Webhook::from).collect())
    }

    /// A webhook's delivery attempts (superuser), newest first; `first` at
    /// most 100 (default 20).
    #[graphql(guard = "Superuser")]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        webhook_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<WebhookDeliveryConnection> {
        let id = key(&webhook_id, "webhookId")?;
        let first = audit::page_size(first)?;
        let after_key = after
            .as_deref()
            .map(|c| {
                Uuid::try_parse(c)
                    .map_err(|_| AppError::bad_input("after", "not a cursor of this list"))
            })
            .transpose()?;
        let (rows, more) =
            webhooks::deliveries(app(ctx), viewer(ctx)?, id, first, after_key).await?;
        let cursors: Vec<String> = rows.iter().map(|r| r.id.simple().to_string()).collect();
        Ok(WebhookDeliveryConnection {
            page_info: PageInfo {
                has_next_page: more,
                has_previous_page: after.is_some(),
                start_cursor: cursors.first().cloned(),
                end_cursor: cursors.last().cloned(),
            },
            nodes: rows.into_iter().map(WebhookDelivery::from).collect(),
        })
    }
}

#[derive(Default)]
pub struct WebhookMutation;

#[Object]
impl WebhookMutation {
    /// Creates a webhook (superuser) and returns its signing secret, this
    /// once. `BAD_USER_INPUT` on `url` for a URL that is not http(s), does
    /// not resolve, or resolves to a private address; on `events` for a bad list.
    #[graphql(guard = "Superuser")]
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookInput,
    ) -> async_graphql::Result<CreatedWebhook> {
        let (hook, secret) = webhooks::create(
            app(ctx),
            viewer(ctx)?,
            webhooks::WebhookPatch {
                url: Some(input.url),
                events: Some(input.events),
                description: Some(input.description),
                enabled: None,
            },
        )
        .await?;
        Ok(CreatedWebhook {
            webhook: hook.into(),
            secret,
        })
    }

    /// Changes a webhook (superuser).
    #[graphql(guard = "Superuser")]
    async fn update_webhook(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateWebhookInput,
    ) -> async_graphql::Result<Webhook> {
        let hook = webhooks::update(
            app(ctx),
            viewer(ctx)?,
            key(&id, "id")?,
            webhooks::WebhookPatch {
                url: input.url,
                events: input.events,
                description: patch(input.description),
                enabled: input.enabled,
            },
        )
        .await?;
        Ok(hook.into())
    }

    /// Deletes a webhook and its delivery log (superuser).
    #[graphql(guard = "Superuser")]
    async fn delete_webhook(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        webhooks::delete(app(ctx), viewer(ctx)?, key(&id, "id")?).await?;
        Ok(true)
    }

    /// Sends a delivery's message again (superuser), with the same
    /// `webhook-id`. `CONFLICT` once the message has been pruned (a week
    /// after it was sent).
    #[graphql(guard = "Superuser")]
    async fn redeliver_webhook(
        &self,
        ctx: &Context<'_>,
        delivery_id: ID,
    ) -> async_graphql::Result<bool> {
        let id = ids::decode(ids::WEBHOOK_DELIVERY, &delivery_id, "deliveryId")?;
        webhooks::redeliver(app(ctx), viewer(ctx)?, id).await?;
        Ok(true)
    }
}
