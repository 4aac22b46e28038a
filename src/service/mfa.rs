//! The second factor's flows: enrolment (after the password step-up),
//! confirmation with the first code, disabling, regenerating recovery
//! codes, a superuser's reset, and `verifyMfa`, the second step of a
//! sign-in. The codes themselves are checked by `credentials`.

use entity::{totp_factor, user};
use rand::Rng;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use uuid::Uuid;

use serde_json::Value;

use super::{
    AppContext, RequestMeta, access,
    audit::{Action, Event, Target},
    credentials::{
        self, Code, accept_totp, factor_of, new_recovery_codes,
        passkey::{self, Ceremony},
        remove_factor, totp,
    },
    limits,
    links::{self, Purpose},
    now, users,
};
use crate::{
    auth::Viewer,
    error::{AppError, Result},
    ids,
};

/// What enrolment hands the user, once.
pub struct Enrollment {
    /// Base32, for typing into an authenticator app.
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_code_svg: String,
}

/// `enrollTotp`: after the password step-up (a stolen access token must not
/// be able to put its own authenticator on the account and lock the owner
/// out), a new secret, pending until `confirmTotp`; a pending one before it
/// is replaced. `CONFLICT` when a factor is already on.
#[tracing::instrument(name = "mfa.enroll", skip_all, fields(user_id = %crate::ids::user(viewer.id())))]
pub async fn enroll(ctx: &AppContext, viewer: &Viewer, password: &str) -> Result<Enrollment> {
    viewer.require_session()?;
    users::require_verified(&viewer.user)?;
    if viewer.user.mfa_enabled {
        return Err(AppError::Conflict(
            "a second factor is already enabled: disable it first".into(),
        ));
    }
    credentials::confirm_password(ctx, viewer, password, "password").await?;
    let mut secret = vec![0u8; 20];
    rand::rng().fill(&mut secret[..]);
    let txn = ctx.begin().await?;
    let user = users::lock_usable(&txn, viewer.id()).await?;
    users::require_verified(&user)?;
    access::require_same_password(&user, &viewer.user, "password")?;
    access::require_live_session(&txn, viewer).await?;
    if user.mfa_enabled {
        return Err(AppError::Conflict(
            "a second factor is already enabled: disable it first".into(),
        ));
    }
    let authenticator = totp(ctx, secret.clone(), &user)?;
    totp_factor::Entity::delete_by_id(user.id)
        .exec(&txn)
        .await?;
    totp_factor::Entity::insert(totp_factor::ActiveModel {
        user_id: Set(user.id),
        secret_sealed: Set(ctx.mfa_sealer.seal(&secret)),
        created_at: Set(now()),
        enabled_at: Set(None),
        last_used_step: Set(None),
    })
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    let otpauth_uri = authenticator
        .to_url()
        .map_err(|err| AppError::Internal(anyhow::anyhow!("otpauth URI: {err:?}")))?;
    let qr_code_svg = qrcode::QrCode::new(otpauth_uri.as_bytes())
        .map_err(|err| AppError::Internal(anyhow::anyhow!("QR code: {err}")))?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Ok(Enrollment {
        secret: authenticator.secret().to_base32(),
        otpauth_uri,
        qr_code_svg,
    })
}

/// `confirmTotp`: the first code from the authenticator turns the factor on
/// and returns the recovery codes. `BAD_USER_INPUT` on `code` for a wrong
/// code; `CONFLICT` with no enrolment pending or a factor already on.
#[tracing::instrument(name = "mfa.confirm", skip_all, fields(user_id = %crate::ids::user(viewer.id())))]
pub async fn confirm(ctx: &AppContext, viewer: &Viewer, code: &str) -> Result<Vec<String>> {
    viewer.require_session()?;
    let txn = ctx.begin().await?;
    let user = users::lock_usable(&txn, viewer.id()).await?;
    users::require_verified(&user)?;
    access::require_live_session(&txn, viewer).await?;
    let Some(factor) = factor_of(&txn, user.id)
        .await?
        .filter(|_| !user.mfa_enabled)
    else {
        return Err(AppError::Conflict(if user.mfa_enabled {
            "a second factor is already enabled".into()
        } else {
            "no enrolment is pending: call enrollTotp first".into()
        }));
    };
    if accept_totp(&txn, ctx, &factor, &user, code).await? != Code::Accepted {
        return Err(AppError::bad_input("code", "the code is not correct"));
    }
    totp_factor::Entity::update_many()
        .col_expr(totp_factor::Column::EnabledAt, Expr::value(Some(now())))
        .filter(totp_factor::Column::UserId.eq(user.id))
        .exec(&txn)
        .await?;
    let codes = new_recovery_codes(&txn, user.id).await?;
    let mut model = users::changes(&user);
    model.mfa_enabled = Set(true);
    users::save_locked(&txn, user, model).await?;
    Event::by(viewer, Action::AuthMfaEnabled)
        .on(Target::User(viewer.id()))
        .record(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!("second factor enabled");
    Ok(codes)
}

/// `disableTotp`: after the password step-up.
#[tracing::instrument(name = "mfa.disable", skip_all, fields(user_id = %crate::ids::user(viewer.id())))]
pub async fn disable(ctx: &AppContext, viewer: &Viewer, password: &str) -> Result<()> {
    viewer.require_session()?;
    credentials::confirm_password(ctx, viewer, password, "password").await?;
    let txn = ctx.begin().await?;
    let user = users::lock(&txn, viewer.id())
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let was_on = user.mfa_enabled;
    remove_factor(&txn, user).await?;
    if was_on {
        Event::by(viewer, Action::AuthMfaDisabled)
            .on(Target::User(viewer.id()))
            .record(&txn)
            .await?;
    }
    txn.commit().await?;
    tracing::info!("second factor disabled");
    Ok(())
}

/// `regenerateRecoveryCodes`: after the password step-up; the old codes die.
#[tracing::instrument(name = "mfa.regenerate", skip_all, fields(user_id = %crate::ids::user(viewer.id())))]
pub async fn regenerate_recovery_codes(
    ctx: &AppContext,
    viewer: &Viewer,
    password: &str,
) -> Result<Vec<String>> {
    viewer.require_session()?;
    credentials::confirm_password(ctx, viewer, password, "password").await?;
    let txn = ctx.begin().await?;
    let user = users::lock(&txn, viewer.id())
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if !user.mfa_enabled {
        return Err(AppError::Conflict("no second factor is enabled".into()));
    }
    let codes = new_recovery_codes(&txn, user.id).await?;
    Event::by(viewer, Action::AuthRecoveryCodesRegenerated)
        .on(Target::User(viewer.id()))
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(codes)
}

/// `resetUserMfa` (superuser): for a user who lost their authenticator and
/// their codes; their passkeys go too (a lost phone holds both).
#[tracing::instrument(name = "mfa.reset", skip_all, fields(by = %crate::ids::user(viewer.id()), user_id = %crate::ids::user(id)))]
pub async fn reset_user(ctx: &AppContext, viewer: &Viewer, id: Uuid) -> Result<user::Model> {
    viewer.require_superuser()?;
    let txn = ctx.begin().await?;
    let user = users::lock(&txn, id)
        .await?
        .ok_or(AppError::not_found("user").with_field("id"))?;
    let user = remove_factor(&txn, user).await?;
    let passkeys = credentials::passkey::remove_all(&txn, id).await?;
    Event::by(viewer, Action::AuthMfaDisabled)
        .on(Target::User(id))
        .change("resetBy", Value::Null, ids::user(viewer.id()))
        .change("passkeysRemoved", Value::Null, passkeys)
        .record(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!("second factor reset by a superuser");
    Ok(user)
}

/// The second factor a `verifyMfa` brings.
pub enum SecondFactor<'a> {
    /// A TOTP code or a recovery code.
    Code(&'a str),
    /// A passkey's answer to `startPasskeySignIn(login:)`'s challenge.
    Passkey {
        challenge_id: Uuid,
        credential: &'a Value,
    },
}

/// `verifyMfa`: the second step of a sign-in. A wrong code is
/// `BAD_USER_INPUT` on `code` and counts toward the lockout
/// (`ACCOUNT_LOCKED` once locked: the caller has shown the password); the
/// challenge stays usable until it expires or succeeds. A passkey answers a
/// challenge started for the same account. Limited per client address like
/// `login`.
#[tracing::instrument(name = "mfa.verify", skip_all)]
pub async fn verify(
    ctx: &AppContext,
    mfa_token: &str,
    factor: SecondFactor<'_>,
    meta: &RequestMeta,
) -> Result<access::Tokens> {
    limits::hit(ctx, limits::Limited::Login, meta).await?;
    let challenge = links::find(&ctx.db, Purpose::MfaChallenge, mfa_token).await?;
    let finish = async |txn: &sea_orm::DatabaseTransaction, user: user::Model, how: &str| {
        links::consume(txn, &challenge, &user).await?;
        if user.status != user::Status::Active {
            return Err(AppError::AccountDisabled);
        }
        let user = credentials::record_sign_in(txn, user).await?;
        Event::anonymous(meta, Action::AuthLogin)
            .as_user(user.id)
            .change("factor", Value::Null, how)
            .record(txn)
            .await?;
        access::start(txn, ctx, user, meta).await
    };
    let tokens = match factor {
        SecondFactor::Code(code) => {
            credentials::with_code(ctx, &challenge, code, meta, async |txn, user| {
                finish(txn, user, "second factor").await
            })
            .await?
        }
        SecondFactor::Passkey {
            challenge_id,
            credential,
        } => {
            let claimed =
                passkey::claim_challenge(&ctx.db, challenge_id, Ceremony::SignIn, None).await?;
            if claimed.user_id != Some(challenge.user_id) {
                return Err(AppError::bad_input(
                    "challengeId",
                    "this challenge is not for this account: start it with startPasskeySignIn(login:) and the same login",
                ));
            }
            // The argument is `passkey` here.
            passkey::verify_assertion(ctx, &claimed, credential, meta)
                .await
                .map_err(|e| e.with_field("passkey"))?;
            let txn = ctx.begin().await?;
            let user = users::lock(&txn, challenge.user_id)
                .await?
                .ok_or(AppError::TokenInvalid)?;
            let tokens = finish(&txn, user, "passkey").await?;
            txn.commit().await?;
            tokens
        }
    };
    tracing::info!(user_id = %crate::ids::user(tokens.user.id), ip = meta.ip.as_deref(), request_id = meta.request_id.as_deref(), "login succeeded with a second factor");
    Ok(tokens)
}
