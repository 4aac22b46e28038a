//! Personal API keys: `myApiKeys`, `apiKeys`, `createApiKey` and
//! `revokeApiKey` (service::api_keys).

use async_graphql::{Context, ID, InputObject, Object};

use super::{
    cost,
    guard::{Authenticated, viewer},
    request::app,
    types::{ApiKey, CreatedApiKey, DateTime},
};
use crate::{auth::Permission, ids, service::api_keys};

/// A new personal API key.
#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// 1–64 characters, to tell keys apart.
    pub name: String,
    /// Permissions the key may use; each must be one the caller holds. Empty:
    /// the key acts as its user with no permissions (its own account only).
    #[graphql(default)]
    pub permissions: Vec<Permission>,
    /// When the key stops working; null for never.
    pub expires_at: Option<DateTime>,
}

/// API keys.
#[derive(Default)]
pub struct ApiKeyQuery;

#[Object]
impl ApiKeyQuery {
    /// The caller's API keys not revoked, newest first (expired ones included).
    #[graphql(guard = "Authenticated", complexity = "cost::list(child_complexity)")]
    async fn my_api_keys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiKey>> {
        let viewer = viewer(ctx)?;
        let keys = api_keys::of_user(&app(ctx).db, viewer.id()).await?;
        Ok(keys.into_iter().map(ApiKey::from).collect())
    }

    /// A user's API keys not revoked (`USERS_READ`, or oneself).
    #[graphql(guard = "Authenticated", complexity = "cost::list(child_complexity)")]
    async fn api_keys(&self, ctx: &Context<'_>, user_id: ID) -> async_graphql::Result<Vec<ApiKey>> {
        let user_id = ids::decode(ids::USER, &user_id, "userId")?;
        let keys = api_keys::list_for(app(ctx), viewer(ctx)?, user_id).await?;
        Ok(keys.into_iter().map(ApiKey::from).collect())
    }
}

/// Creating and revoking API keys.
#[derive(Default)]
pub struct ApiKeyMutation;

#[Object]
impl ApiKeyMutation {
    /// Creates a personal API key and returns its secret, this once. Only in
    /// a signed-in session (`FORBIDDEN` with an API key), with the caller's
    /// password (`BAD_USER_INPUT` on `password` when wrong; it counts toward
    /// the lockout) and a verified email address (`EMAIL_NOT_VERIFIED`);
    /// `BAD_USER_INPUT` for a permission the caller does not hold or a past
    /// `expiresAt`; `CONFLICT` past 50 live keys. A password change or reset
    /// revokes every key, and so may `logoutAll(includeApiKeys: true)`.
    #[graphql(guard = "Authenticated")]
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
        #[graphql(desc = "The caller's current password.")] password: String,
    ) -> async_graphql::Result<CreatedApiKey> {
        let created = api_keys::create(
            app(ctx),
            viewer(ctx)?,
            api_keys::NewApiKey {
                name: input.name,
                permissions: input.permissions,
                expires_at: input.expires_at.map(|at| at.0),
            },
            &password,
        )
        .await?;
        Ok(CreatedApiKey {
            api_key: created.key.into(),
            secret: created.secret,
        })
    }

    /// Revokes an API key: one's own, or anyone's with `USERS_UPDATE` (a
    /// superuser's only by a superuser). It stops working on the next request
    /// on every replica. `NOT_FOUND` for an unknown or revoked key.
    /// `FORBIDDEN` with an API key.
    #[graphql(guard = "Authenticated")]
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let id = ids::decode(ids::API_KEY, &id, "id")?;
        api_keys::revoke(app(ctx), viewer(ctx)?, id).await?;
        Ok(true)
    }
}
