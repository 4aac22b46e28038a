//! Recovery and proof of address: `requestPasswordReset`, `resetPassword`,
//! `sendVerificationEmail`, `verifyEmail`, `requestEmailChange`,
//! `confirmEmailChange` and `sendPasswordReset` (service::recovery).

use async_graphql::{Context, ID, Object};

use super::{
    guard::{Authenticated, HasPermission, viewer},
    request::{app, meta, shared},
    types::{AuthPayload, User},
};
use crate::{auth::Permission, ids, service::recovery};

/// Account recovery, verification and email change.
#[derive(Default)]
pub struct RecoveryMutation;

#[Object]
impl RecoveryMutation {
    /// Mails a password-reset link to the address when it belongs to a live
    /// account. Always answers `true`, as fast whether or not it does, so it
    /// tells nobody which addresses have accounts; such anonymous requests
    /// cause at most 3 mails an hour to one address (more silently send
    /// nothing; the rest of the 5 is kept for the user and administrators).
    /// `BAD_USER_INPUT` only for a malformed address.
    async fn request_password_reset(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's address, in any case.")] email: String,
    ) -> async_graphql::Result<bool> {
        recovery::request_password_reset(shared(ctx), &email, meta(ctx)?).await?;
        Ok(true)
    }

    /// Sets a new password with the token from a reset mail, and signs in.
    /// The address counts as verified, the lockout is cleared and every other
    /// session ends. `TOKEN_INVALID` for an unknown or used token, or one
    /// issued before the password last changed; `TOKEN_EXPIRED` after its
    /// lifetime (`PASSWORD_RESET_TTL_SECS`); `ACCOUNT_DISABLED` for a
    /// suspended or inactive account. A refused password leaves the token
    /// usable. An account with a second factor needs `code` as well: without
    /// it the answer is `MFA_REQUIRED` and nothing changes.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `token` parameter of the mailed link.")] token: String,
        #[graphql(
            desc = "The same rules as `register`'s password (`BAD_USER_INPUT` on `newPassword`)."
        )]
        new_password: String,
        #[graphql(
            desc = "For an account with a second factor: a code from the authenticator app or a recovery code (`BAD_USER_INPUT` on `code` when wrong; counts toward the lockout)."
        )]
        code: Option<String>,
    ) -> async_graphql::Result<AuthPayload> {
        Ok(
            recovery::reset_password(app(ctx), &token, &new_password, code.as_deref(), meta(ctx)?)
                .await?
                .into(),
        )
    }

    /// Mails a verification link. Signed in: to the caller's own address;
    /// `false` when it is verified already, `RATE_LIMITED` past 5 an hour.
    /// Anonymous: to `email`, answering `true` whatever the address (a mail
    /// only for an unverified live account), for users who cannot sign in
    /// until they verify (`REQUIRE_EMAIL_VERIFICATION`).
    async fn send_verification_email(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "The address to verify; only for an anonymous caller (ignored when signed in)."
        )]
        email: Option<String>,
    ) -> async_graphql::Result<bool> {
        let viewer = viewer(ctx).ok();
        Ok(
            recovery::send_verification_email(shared(ctx), viewer, email.as_deref(), meta(ctx)?)
                .await?,
        )
    }

    /// Marks the address a verification mail went to as verified. Anonymous:
    /// the link is the proof. `TOKEN_INVALID` for an unknown or used token,
    /// or when the account's address changed since; `TOKEN_EXPIRED` after
    /// `EMAIL_TOKEN_TTL_SECS`.
    async fn verify_email(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `token` parameter of the mailed link.")] token: String,
    ) -> async_graphql::Result<bool> {
        recovery::verify_email(app(ctx), &token, meta(ctx)?).await?;
        Ok(true)
    }

    /// Starts changing the caller's address: mails a link to `newEmail` and
    /// a notice to the current address. Nothing changes until the link is
    /// followed (`confirmEmailChange`); a newer request, or a password
    /// change, cancels a pending one. `BAD_USER_INPUT` on `password` when it
    /// is wrong (wrong passwords count toward the lockout; `ACCOUNT_LOCKED`
    /// once locked), on `newEmail` when malformed or unchanged;
    /// `DUPLICATE_EMAIL` on `newEmail` when taken; `RATE_LIMITED` past 5
    /// requests an hour for one account or 5 mails an hour to one address.
    /// `FORBIDDEN` with an API key.
    #[graphql(guard = "Authenticated")]
    async fn request_email_change(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The address to move to; it gets the link.")] new_email: String,
        #[graphql(desc = "The caller's current password.")] password: String,
    ) -> async_graphql::Result<bool> {
        recovery::request_email_change(app(ctx), viewer(ctx)?, &new_email, &password).await?;
        Ok(true)
    }

    /// Makes the change a `requestEmailChange` mail asked for; the new
    /// address counts as verified. Anonymous or signed in: the link is the
    /// proof. `DUPLICATE_EMAIL` if the address was taken meanwhile;
    /// `TOKEN_INVALID` / `TOKEN_EXPIRED` as for `verifyEmail`.
    async fn confirm_email_change(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `token` parameter of the mailed link.")] token: String,
    ) -> async_graphql::Result<User> {
        let user = recovery::confirm_email_change(app(ctx), &token, meta(ctx)?).await?;
        Ok(User::owned(user))
    }

    /// Mails a user a password-reset link (`USERS_UPDATE`); the administrator
    /// never sees the token. Only superusers may for a superuser. `CONFLICT`
    /// for a deleted, suspended or inactive user or a pending invitation;
    /// `RATE_LIMITED` past 5 an hour.
    #[graphql(guard = "HasPermission(Permission::UsersUpdate)")]
    async fn send_password_reset(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let id = ids::decode(ids::USER, &id, "id")?;
        recovery::send_password_reset(app(ctx), viewer(ctx)?, id).await?;
        Ok(true)
    }
}
