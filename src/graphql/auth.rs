//! Sign-up, sign-in and session operations: `register`, `login`,
//! `refreshToken`, `logout`, `logoutAll`, `revokeSession`, `changePassword`
//! and `mySessions`.

use async_graphql::{Context, ID, InputObject, Object};

use super::guard::{Authenticated, viewer};
use super::{
    app, cost, meta,
    types::{AuthPayload, Session},
};
use crate::{
    ids,
    service::{accounts, sessions},
};

/// The service's `NewAccount` from the account fields that `RegisterInput`
/// and `CreateUserInput` share (their descriptions differ, so neither
/// flattens the other).
macro_rules! new_account {
    ($input:expr) => {
        $crate::service::new_account::NewAccount {
            username: $input.username.into(),
            email: $input.email,
            password: $input.password,
            name: $input.name,
            first_name: $input.first_name,
            last_name: $input.last_name,
        }
    };
}
pub(crate) use new_account;

/// A new account.
#[derive(InputObject)]
pub struct RegisterInput {
    /// 2–20 characters of `[a-z0-9_.-]`; stored lower-case.
    pub username: String,
    /// Stored trimmed and lower-case.
    pub email: String,
    /// 8–128 characters; not a common password, and not containing the username or email.
    pub password: String,
    /// Display name; defaults to "firstName lastName", else the username.
    pub name: Option<String>,
    /// At most 64 characters.
    pub first_name: Option<String>,
    /// At most 64 characters.
    pub last_name: Option<String>,
}

/// Credentials for `login`.
#[derive(InputObject)]
pub struct LoginInput {
    /// The username or the email address.
    pub login: String,
    /// The account's password.
    pub password: String,
}

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
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

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Creates an account with the `user` role, mails it a verification
    /// link, and signs it in. `FORBIDDEN` when registration is closed
    /// (`REGISTRATION_ENABLED=false`); with `REQUIRE_EMAIL_VERIFICATION` the
    /// account is created and mailed but the answer is `EMAIL_NOT_VERIFIED`.
    async fn register(
        &self,
        ctx: &Context<'_>,
        input: RegisterInput,
    ) -> async_graphql::Result<AuthPayload> {
        let account = new_account!(input);
        let viewer = viewer(ctx).ok();
        Ok(accounts::register(app(ctx), viewer, &account, meta(ctx)?)
            .await?
            .into())
    }

    /// Signs in with a username or email and a password. Wrong passwords,
    /// unknown and deleted users and locked accounts all give the same
    /// `INVALID_CREDENTIALS`. Repeated failures lock the account for a while,
    /// during which even the right password is refused. The right password
    /// of an account with a second factor answers `MFA_REQUIRED` (finish with
    /// `verifyMfa`), of an unverified one under `REQUIRE_EMAIL_VERIFICATION`
    /// `EMAIL_NOT_VERIFIED`. Only one credential field (`login`, `register`,
    /// `refreshToken`, `changePassword`, `deleteMe`, `verifyMfa`, …) is
    /// accepted per request.
    async fn login(
        &self,
        ctx: &Context<'_>,
        input: LoginInput,
    ) -> async_graphql::Result<AuthPayload> {
        Ok(
            accounts::login(app(ctx), &input.login, &input.password, meta(ctx)?)
                .await?
                .into(),
        )
    }

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

    /// Ends one of the caller's own sessions. `NOT_FOUND` for an unknown,
    /// ended or someone else's session.
    /// `FORBIDDEN` with an API key.
    #[graphql(guard = "Authenticated")]
    async fn revoke_session(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let chain = ids::decode(ids::SESSION, &id, "id")?;
        sessions::revoke_own(app(ctx), viewer(ctx)?, chain).await?;
        Ok(true)
    }

    /// Changes the caller's password, ends every other session and revokes
    /// every API key of the caller. `BAD_USER_INPUT` on `currentPassword`
    /// when it is wrong.
    /// `FORBIDDEN` with an API key.
    #[graphql(guard = "Authenticated")]
    async fn change_password(
        &self,
        ctx: &Context<'_>,
        current_password: String,
        new_password: String,
    ) -> async_graphql::Result<bool> {
        accounts::change_password(app(ctx), viewer(ctx)?, &current_password, &new_password).await?;
        Ok(true)
    }
}
