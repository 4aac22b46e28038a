//! Impersonation: `impersonateUser` and `endImpersonation`
//! (service::impersonation).

use async_graphql::{Context, ID, Object};

use super::{
    guard::{Authenticated, viewer},
    request::{app, meta},
    types::AuthPayload,
};
use crate::{ids, service::impersonation};

/// Acting as a user, for support.
#[derive(Default)]
pub struct ImpersonationMutation;

#[Object]
impl ImpersonationMutation {
    /// Starts a session of user `id` in which the caller acts, for support,
    /// and returns its tokens (keep your own: this one is the user's). Its
    /// access tokens carry `act: { sub: <your id> }`. A read-only one
    /// (the default) is refused every mutation but `logout`,
    /// `endImpersonation` and `refreshToken`; no impersonation may change
    /// the user's password, address, sign-in methods, sessions or keys. It
    /// ends after `ttlSeconds` (60 to 3600), whatever refreshes it, and as
    /// soon as the caller may no longer act as the user. The user sees it
    /// in `mySessions` and `mySecurityEvents` (and by mail with
    /// `IMPERSONATION_NOTIFY`); every event inside names you as
    /// `impersonatorId`.
    ///
    /// Needs `USERS_IMPERSONATE` in a session of your own (`FORBIDDEN` with
    /// an API key or from inside an impersonation) and your password
    /// (`BAD_USER_INPUT` on `password` when wrong, under the sign-in
    /// lockout). `FORBIDDEN` for a superuser and for a user holding a
    /// permission you lack; `CONFLICT` for a user who is not active;
    /// `BAD_USER_INPUT` on `id` for yourself; `NOT_FOUND` for no such user.
    #[graphql(guard = "Authenticated")]
    async fn impersonate_user(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(desc = "Why: the ticket or request this serves (at most 500 characters).")]
        reason: String,
        #[graphql(
            default = true,
            desc = "Refuse every change (the default); false lets the session act, never on credentials."
        )]
        read_only: bool,
        #[graphql(default = 900, desc = "How long it lasts: 60 to 3600 seconds.")] ttl_seconds: i32,
        #[graphql(desc = "Your own password, to confirm it is you.")] password: String,
    ) -> async_graphql::Result<AuthPayload> {
        let target = ids::decode(ids::USER, &id, "id")?;
        let request = impersonation::Request {
            target,
            reason: &reason,
            read_only,
            ttl_seconds,
            password: &password,
        };
        Ok(
            impersonation::start(app(ctx), viewer(ctx)?, request, meta(ctx)?)
                .await?
                .into(),
        )
    }

    /// Ends the impersonation this session is; true once ended. The
    /// administrator's own session is untouched. `FORBIDDEN` in any other
    /// session (use `logout`).
    #[graphql(guard = "Authenticated")]
    async fn end_impersonation(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        impersonation::end(app(ctx), viewer(ctx)?).await?;
        Ok(true)
    }
}
