//! The caller's own account: `register`, `login`, `me`, `updateMe`,
//! `changePassword` and `deleteMe` (service::accounts).

use async_graphql::{Context, InputObject, Object};

use super::{
    guard::{Authenticated, viewer},
    inputs::{UpdateProfileInput, new_account},
    request::{app, meta},
    types::{AuthPayload, User},
};
use crate::service::accounts;

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

/// The caller's own account.
#[derive(Default)]
pub struct AccountQuery;

#[Object]
impl AccountQuery {
    /// The signed-in user. `UNAUTHENTICATED` without a valid session.
    #[graphql(guard = "Authenticated")]
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        Ok(User::owned(viewer(ctx)?.user.clone()))
    }

    /// Everything kept about the caller, as one JSON document to download:
    /// `user` (the profile, metadata, roles and tier), `sessions` (with
    /// their addresses and browsers), `apiKeys` (never their secrets),
    /// `identities`, `passkeys` and `securityEvents` (as `mySecurityEvents`
    /// shows them). A signed-in session only (`FORBIDDEN` with an API key).
    #[graphql(guard = "Authenticated")]
    async fn export_my_data(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<async_graphql::Json<serde_json::Value>> {
        Ok(async_graphql::Json(
            accounts::export_my_data(app(ctx), viewer(ctx)?).await?,
        ))
    }
}

/// Sign-up, sign-in and the caller's own account.
#[derive(Default)]
pub struct AccountMutation;

#[Object]
impl AccountMutation {
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

    /// Updates the caller's own profile. Cannot change status, roles, tier or
    /// superuser. A new `email` is not set at once: as `requestEmailChange`
    /// does, it needs `currentPassword` and mails a link to the new address
    /// (and a notice to the old); the answer shows the current address until
    /// the link is followed. With an API key, everything but `email`
    /// (`FORBIDDEN`), and nothing for a superuser's key.
    #[graphql(guard = "Authenticated")]
    async fn update_me(
        &self,
        ctx: &Context<'_>,
        input: UpdateProfileInput,
        #[graphql(
            desc = "The caller's password; required only when `input.email` changes the address."
        )]
        current_password: Option<String>,
    ) -> async_graphql::Result<User> {
        let viewer = viewer(ctx)?;
        let updated = accounts::update_me(
            app(ctx),
            viewer,
            input.into_patch()?,
            current_password.as_deref(),
        )
        .await?;
        Ok(User::owned(updated))
    }

    /// Soft-deletes the caller's account after checking its password, and ends
    /// all its sessions. With `erase`, the person's data goes for good: the
    /// profile, email and username (freed for others), metadata, sessions,
    /// keys, second factor, provider links and passkeys, and their values in
    /// the audit trail, queued mail and webhook messages; the id stays, so
    /// audit events still join (audited as `user.erased`). `CONFLICT` for the
    /// last active superuser. `FORBIDDEN` with an API key.
    #[graphql(guard = "Authenticated")]
    async fn delete_me(
        &self,
        ctx: &Context<'_>,
        password: String,
        #[graphql(default)] erase: bool,
    ) -> async_graphql::Result<bool> {
        accounts::delete_me(app(ctx), viewer(ctx)?, &password, erase).await?;
        Ok(true)
    }
}
