//! Sessions: `refreshToken`, `logout`, `logoutAll`, `revokeSession` and
//! `mySessions` (service::sessions).

use async_graphql::{Context, ID, Object};

use super::{
    cost,
    guard::{Authenticated, viewer},
    request::{app, meta},
    types::{AuthPayload, Session},
};
use crate::{ids, service::sessions};

/// The caller's sessions.
#[derive(Default)]
pub struct SessionQuery;

#[Object]
impl SessionQuery {
    /// The caller's live sessions, most recently used first.
    #[graphql(guard = "Authenticated", complexity = "cost::list(child_complexity)")]
    async fn my_sessions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Session>> {
        let viewer = viewer(ctx)?;
        let rows = sessions::list_live(&app(ctx).db, viewer.id()).await?;
        Ok(rows
            .into_iter()
            .map(|row| Session::new(row, viewer.session_id))
            .collect())
    }
}

/// Refreshing and ending sessions.
#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// Exchanges a refresh token for a new pair. The old token stops working;
    /// presenting it again ends the whole session.
    async fn refresh_token(
        &self,
        ctx: &Context<'_>,
        refresh_token: String,
    ) -> async_graphql::Result<AuthPayload> {
        Ok(sessions::refresh(app(ctx), &refresh_token, meta(ctx)?)
            .await?
            .into())
    }

    /// Ends the current session, and the session of `refreshToken` when it is
    /// one of the caller's. Always true once the caller is authenticated.
    /// `FORBIDDEN` with an API key.
    #[graphql(guard = "Authenticated")]
    async fn logout(
        &self,
        ctx: &Context<'_>,
        refresh_token: Option<String>,
    ) -> async_graphql::Result<bool> {
        sessions::logout(app(ctx), viewer(ctx)?, refresh_token.as_deref()).await?;
        Ok(true)
    }

    /// Ends every session of the caller, this one included; returns how many
    /// ended. With `includeApiKeys`, revokes the caller's API keys too.
    /// `FORBIDDEN` with an API key.
    #[graphql(guard = "Authenticated")]
    async fn logout_all(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default = false,
            desc = "Also revoke every API key of the caller (a password change or reset always does)."
        )]
        include_api_keys: bool,
    ) -> async_graphql::Result<i32> {
        let ended = sessions::logout_all(app(ctx), viewer(ctx)?, include_api_keys).await?;
        Ok(i32::try_from(ended).unwrap_or(i32::MAX))
    }

    /// Ends every session of the caller but this one (a lost phone, a
    /// shared computer); returns how many ended. API keys stay.
    /// `FORBIDDEN` with an API key.
    #[graphql(guard = "Authenticated")]
    async fn logout_others(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        let ended = sessions::logout_others(app(ctx), viewer(ctx)?).await?;
        Ok(i32::try_from(ended).unwrap_or(i32::MAX))
    }

    /// Ends one of the caller's own sessions. `NOT_FOUND` for an unknown,
    /// ended or someone else's session.
    /// `FORBIDDEN` with an API key.
    #[graphql(guard = "Authenticated")]
    async fn revoke_session(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let chain = ids::decode(ids::SESSION, &id, "id")?;
        sessions::revoke_own(app(ctx), viewer(ctx)?, chain).await?;
        Ok(true)
    }
}
