//! The second factor: `enrollTotp`, `confirmTotp`, `disableTotp`,
//! `regenerateRecoveryCodes`, `resetUserMfa` and `verifyMfa`
//! (service::mfa).

use async_graphql::{Context, ID, Json, Object};

use super::{
    guard::{Authenticated, Superuser, viewer},
    request::{app, meta},
    types::{AuthPayload, TotpEnrollment, User},
};
use crate::{error::AppError, ids, service::mfa};

/// The second factor.
#[derive(Default)]
pub struct MfaMutation;

#[Object]
impl MfaMutation {
    /// Starts turning on a second factor: a new TOTP secret, pending until
    /// `confirmTotp`. Show the QR code (or the secret) to the user's
    /// authenticator app. Needs the password, so a stolen access token cannot
    /// enrol its own authenticator (`BAD_USER_INPUT` on `password` when
    /// wrong; it counts toward the lockout), and a verified email address
    /// (`EMAIL_NOT_VERIFIED`). `CONFLICT` when a factor is already on;
    /// `FORBIDDEN` with an API key.
    #[graphql(guard = "Authenticated")]
    async fn enroll_totp(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The caller's current password.")] password: String,
    ) -> async_graphql::Result<TotpEnrollment> {
        let enrollment = mfa::enroll(app(ctx), viewer(ctx)?, &password).await?;
        Ok(TotpEnrollment {
            secret: enrollment.secret,
            otpauth_uri: enrollment.otpauth_uri,
            qr_code_svg: enrollment.qr_code_svg,
        })
    }

    /// Turns the second factor on with a first code from the app, and returns
    /// 10 single-use recovery codes: shown this once, kept only as hashes.
    /// `BAD_USER_INPUT` on `code` when it is wrong; `CONFLICT` without a
    /// pending enrolment.
    /// `FORBIDDEN` with an API key.
    #[graphql(guard = "Authenticated")]
    async fn confirm_totp(
        &self,
        ctx: &Context<'_>,
        code: String,
    ) -> async_graphql::Result<Vec<String>> {
        Ok(mfa::confirm(app(ctx), viewer(ctx)?, &code).await?)
    }

    /// Turns the second factor off, after checking the password
    /// (`BAD_USER_INPUT` on `password` when wrong; it counts toward the lockout).
    /// `FORBIDDEN` with an API key.
    #[graphql(guard = "Authenticated")]
    async fn disable_totp(
        &self,
        ctx: &Context<'_>,
        password: String,
    ) -> async_graphql::Result<bool> {
        mfa::disable(app(ctx), viewer(ctx)?, &password).await?;
        Ok(true)
    }

    /// Replaces the recovery codes with 10 new ones, after checking the
    /// password. `CONFLICT` when no second factor is on.
    /// `FORBIDDEN` with an API key.
    #[graphql(guard = "Authenticated")]
    async fn regenerate_recovery_codes(
        &self,
        ctx: &Context<'_>,
        password: String,
    ) -> async_graphql::Result<Vec<String>> {
        Ok(mfa::regenerate_recovery_codes(app(ctx), viewer(ctx)?, &password).await?)
    }

    /// Turns a user's second factor off (superuser), for a user who lost both
    /// their authenticator and their recovery codes.
    #[graphql(guard = "Superuser")]
    async fn reset_user_mfa(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<User> {
        let viewer = viewer(ctx)?;
        let id = ids::decode(ids::USER, &id, "id")?;
        let user = mfa::reset_user(app(ctx), viewer, id).await?;
        Ok(User::new(user, Some(viewer)))
    }

    /// Finishes a sign-in that answered `MFA_REQUIRED`: the error's
    /// `extensions.mfaToken` (single use, 5 minutes) and either `code` (from
    /// the authenticator app, each accepted once with one 30-second step of
    /// drift, or a recovery code) or `passkey` with `challengeId` (the
    /// answer to `startPasskeySignIn(login:)` for the same account). A wrong
    /// code is `BAD_USER_INPUT` on `code` and counts toward the lockout
    /// (`ACCOUNT_LOCKED` once locked); a passkey that does not verify is
    /// `BAD_USER_INPUT` on `credential`; neither or both is `BAD_USER_INPUT`
    /// on `code`. `TOKEN_INVALID` / `TOKEN_EXPIRED` for a bad or old
    /// `mfaToken` (or a used `challengeId`).
    async fn verify_mfa(
        &self,
        ctx: &Context<'_>,
        mfa_token: String,
        #[graphql(desc = "A code from the authenticator app, or a recovery code.")] code: Option<
            String,
        >,
        #[graphql(
            desc = "Instead of `code`: `PublicKeyCredential.toJSON()` of a passkey's answer to `challengeId`'s options."
        )]
        passkey: Option<Json<serde_json::Value>>,
        #[graphql(desc = "With `passkey`: from `startPasskeySignIn(login:)`.")]
        challenge_id: Option<ID>,
    ) -> async_graphql::Result<AuthPayload> {
        let factor = match (&code, &passkey, &challenge_id) {
            (Some(code), None, None) => mfa::SecondFactor::Code(code),
            (None, Some(Json(credential)), Some(challenge)) => mfa::SecondFactor::Passkey {
                challenge_id: ids::decode(ids::PASSKEY_CHALLENGE, challenge, "challengeId")?,
                credential,
            },
            (None, Some(_), None) => {
                return Err(AppError::bad_input(
                    "challengeId",
                    "a passkey answers a challenge: send its challengeId",
                )
                .into());
            }
            _ => {
                return Err(AppError::bad_input(
                    "code",
                    "send either a code, or a passkey with its challengeId",
                )
                .into());
            }
        };
        Ok(mfa::verify(app(ctx), &mfa_token, factor, meta(ctx)?)
            .await?
            .into())
    }
}
