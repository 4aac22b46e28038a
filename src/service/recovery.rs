//! Account recovery and proof of address: password resets (requested
//! anonymously, mailed by an administrator, used with the link), email
//! verification, and email changes. Every mail is queued in the transaction
//! of the change that causes it and the outbox worker is woken once that
//! commits; every link's token is used up in the transaction of the change
//! it allows (`links`).

use std::sync::Arc;

use entity::user;
use sea_orm::ActiveValue::Set;
use uuid::Uuid;

use serde_json::Value;

use super::{
    AppContext, RequestMeta, access,
    account_mail::{self, Asker, detach},
    audit::{Action, Event, Target},
    credentials, limits,
    links::{self, Purpose},
    now, outbox, users,
};
use crate::{
    auth::{Permission, Viewer},
    error::{AppError, Result},
    mail::Template,
    validation,
};

/// A user who may receive account mail: not deleted, not suspended.
fn live(user: &user::Model) -> bool {
    !user.is_deleted() && user.status == user::Status::Active
}

/// Locks `user_id`, and when `mail` approves of the locked row and the mail
/// budget allows, queues a link mail for it; commits and wakes the worker.
/// Sends nothing, silently, otherwise (enumeration-safe callers).
async fn mail_quietly(
    ctx: &AppContext,
    user_id: Uuid,
    template: Template,
    wanted: impl FnOnce(&user::Model) -> bool,
) -> Result<()> {
    let txn = ctx.begin().await?;
    let Some(user) = users::lock(&txn, user_id).await?.filter(|u| wanted(u)) else {
        return Ok(());
    };
    if !account_mail::within_budget(&txn, ctx, &user.email, template, Asker::Anonymous).await? {
        tracing::info!(topic = template.name(), "mail budget spent; nothing sent");
        return Ok(());
    }
    account_mail::mail_link(&txn, ctx, template, &user, &user.email).await?;
    txn.commit().await?;
    outbox::wake(ctx);
    Ok(())
}

/// `requestPasswordReset`: answers at once whatever the address; the lookup
/// and the mail (for a live account within its budget) happen afterwards.
/// Limited per client address like `login`.
#[tracing::instrument(name = "recovery.request_password_reset", skip_all)]
pub async fn request_password_reset(
    ctx: &Arc<AppContext>,
    email: &str,
    meta: &RequestMeta,
) -> Result<()> {
    limits::hit(ctx, limits::Limited::Recovery, meta).await?;
    let email = validation::email(email)?;
    let worker = ctx.clone();
    detach(ctx, "password reset", async move {
        let Some(user) = users::find_by_login(&worker.db, &email).await? else {
            return Ok(());
        };
        mail_quietly(&worker, user.id, Template::PasswordReset, |u| {
            live(u) && !u.invitation_pending
        })
        .await
    });
    Ok(())
}

/// `resetPassword`: sets the password, verifies the address (the link proved
/// it), clears the lockout, ends every session, revokes every API key and
/// starts a new session. For an account with a second factor the mailbox is
/// not enough: nothing changes until a right `code` (authenticator or
/// recovery code) comes with the link, checked under the lockout like a
/// sign-in's, unless the address was never proven (`needs_code`). Limited
/// per client address (`RATE_LIMIT_RECOVERY`).
#[tracing::instrument(name = "recovery.reset_password", skip_all)]
pub async fn reset_password(
    ctx: &AppContext,
    token: &str,
    new_password: &str,
    code: Option<&str>,
    meta: &RequestMeta,
) -> Result<access::Tokens> {
    limits::hit(ctx, limits::Limited::Recovery, meta).await?;
    let row = links::find(&ctx.db, Purpose::Mail(Template::PasswordReset), token).await?;
    let user = users::find(&ctx.db, row.user_id)
        .await?
        .ok_or(AppError::TokenInvalid)?;
    if needs_code(&user) && code.is_none() {
        return Err(AppError::MfaCodeRequired);
    }
    credentials::judge_new_password(
        ctx,
        new_password,
        "newPassword",
        &user.username,
        &user.email,
    )
    .await?;
    let hash = ctx.hasher.hash(new_password.to_owned()).await?;
    let reset = async |txn: &sea_orm::DatabaseTransaction, user: user::Model| {
        links::consume(txn, &row, &user).await?;
        if user.status != user::Status::Active {
            return Err(AppError::AccountDisabled);
        }
        let ts = now();
        let unproven = user.email_verified_at.is_none();
        let mut model = users::changes(&user);
        model.password_hash = Set(hash);
        model.has_password = Set(true);
        model.password_changed_at = Set(ts);
        model.failed_login_count = Set(0);
        model.locked_until = Set(None);
        if unproven {
            model.email_verified_at = Set(Some(ts));
        }
        let mut user = users::save_locked(txn, user, model).await?;
        if unproven {
            user = credentials::forget_unproven(txn, user, meta).await?;
        }
        access::revoke_sessions(txn, user.id, None).await?;
        // A key made with the old password may be what an intruder kept.
        let keys = access::revoke_keys(txn, user.id).await?;
        Event::anonymous(meta, Action::AuthPasswordReset)
            .as_user(user.id)
            .change("apiKeysRevoked", Value::Null, keys)
            .record(txn)
            .await?;
        access::start(txn, ctx, user, meta).await
    };
    let tokens = match code.filter(|_| needs_code(&user)) {
        Some(code) => credentials::with_code(ctx, &row, code, meta, reset).await?,
        None => {
            let txn = ctx.begin().await?;
            let user = users::lock(&txn, row.user_id)
                .await?
                .ok_or(AppError::TokenInvalid)?;
            if needs_code(&user) {
                // Turned on since the check above.
                return Err(AppError::MfaCodeRequired);
            }
            let tokens = reset(&txn, user).await?;
            txn.commit().await?;
            tokens
        }
    };
    tracing::info!(user_id = %crate::ids::user(tokens.user.id), ip = meta.ip.as_deref(), "password reset through a mailed link");
    Ok(tokens)
}

/// Whether a reset link alone is not enough for `user`: a second factor is
/// on, and was set up by the holder of a proven address. A factor set up
/// while the address was unproven may be a stranger's who registered it
/// first; the reset proves the address and removes it (`forget_unproven`).
fn needs_code(user: &user::Model) -> bool {
    user.mfa_enabled && user.email_verified_at.is_some()
}

/// `sendVerificationEmail`. Signed in: mails the viewer's own address, and
/// answers false when it is verified already (`RATE_LIMITED` past the
/// budget). Anonymous with `email`: enumeration-safe like
/// `requestPasswordReset` (always true; a mail only for a live, unverified
/// account within its budget).
#[tracing::instrument(name = "recovery.send_verification_email", skip_all)]
pub async fn send_verification_email(
    ctx: &Arc<AppContext>,
    viewer: Option<&Viewer>,
    email: Option<&str>,
    meta: &RequestMeta,
) -> Result<bool> {
    // An invitation is verified by being accepted.
    let unverified =
        |u: &user::Model| live(u) && !u.invitation_pending && u.email_verified_at.is_none();
    let Some(viewer) = viewer else {
        let Some(email) = email else {
            return Err(AppError::Unauthenticated);
        };
        limits::hit(ctx, limits::Limited::Recovery, meta).await?;
        let email = validation::email(email)?;
        let worker = ctx.clone();
        detach(ctx, "verification mail", async move {
            let Some(user) = users::find_by_login(&worker.db, &email).await? else {
                return Ok(());
            };
            mail_quietly(&worker, user.id, Template::VerifyEmail, unverified).await
        });
        return Ok(true);
    };
    let txn = ctx.begin().await?;
    let user = users::lock(&txn, viewer.id())
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if !unverified(&user) {
        return Ok(false);
    }
    account_mail::require_budget(&txn, ctx, &user.email, Template::VerifyEmail).await?;
    account_mail::mail_link(&txn, ctx, Template::VerifyEmail, &user, &user.email).await?;
    txn.commit().await?;
    outbox::wake(ctx);
    Ok(true)
}

/// `verifyEmail`: marks the address the link was sent to as verified.
#[tracing::instrument(name = "recovery.verify_email", skip_all)]
pub async fn verify_email(ctx: &AppContext, token: &str, meta: &RequestMeta) -> Result<()> {
    let row = links::find(&ctx.db, Purpose::Mail(Template::VerifyEmail), token).await?;
    let txn = ctx.begin().await?;
    let user = users::lock(&txn, row.user_id)
        .await?
        .ok_or(AppError::TokenInvalid)?;
    links::consume(&txn, &row, &user).await?;
    if user.email_verified_at.is_none() {
        let mut model = users::changes(&user);
        model.email_verified_at = Set(Some(now()));
        let user = users::save_locked(&txn, user, model).await?;
        Event::anonymous(meta, Action::UserEmailVerified)
            .as_user(user.id)
            .change("email", Value::Null, user.email.clone())
            .record(&txn)
            .await?;
        credentials::forget_unproven(&txn, user, meta).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// `requestEmailChange`: after the password step-up, mails a link to the
/// new address and a notice to the old. The address changes only when the
/// link is followed.
#[tracing::instrument(name = "recovery.request_email_change", skip_all, fields(user_id = %crate::ids::user(viewer.id())))]
pub async fn request_email_change(
    ctx: &AppContext,
    viewer: &Viewer,
    new_email: &str,
    password: &str,
) -> Result<()> {
    let new_email =
        account_mail::check_email_change(ctx, viewer, new_email, password, "password", "newEmail")
            .await?;
    let txn = ctx.begin().await?;
    let user = users::lock(&txn, viewer.id())
        .await?
        .ok_or(AppError::Unauthenticated)?;
    account_mail::queue_email_change(&txn, ctx, viewer, &user, &new_email).await?;
    txn.commit().await?;
    outbox::wake(ctx);
    Ok(())
}

/// `confirmEmailChange`: the link is the proof, so no session is needed.
/// The new address is verified; `DUPLICATE_EMAIL` if it was taken meanwhile.
#[tracing::instrument(name = "recovery.confirm_email_change", skip_all)]
pub async fn confirm_email_change(
    ctx: &AppContext,
    token: &str,
    meta: &RequestMeta,
) -> Result<user::Model> {
    let row = links::find(&ctx.db, Purpose::Mail(Template::EmailChange), token).await?;
    let txn = ctx.begin().await?;
    let user = users::lock(&txn, row.user_id)
        .await?
        .ok_or(AppError::TokenInvalid)?;
    links::consume(&txn, &row, &user).await?;
    if user.status != user::Status::Active {
        return Err(AppError::AccountDisabled);
    }
    let mut model = users::changes(&user);
    model.email = Set(row.address.clone());
    model.email_verified_at = Set(Some(now()));
    let before = user.clone();
    let user = users::save_locked(&txn, user, model)
        .await
        .map_err(|e| e.with_field("token"))?;
    links::address_changed(&txn, user.id).await?;
    Event::anonymous(meta, Action::UserEmailChanged)
        .as_user(user.id)
        .with(super::audit::user_changes(&before, &user))
        .record(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!(user_id = %crate::ids::user(user.id), "email changed through a mailed link");
    Ok(user)
}

/// `sendPasswordReset` (`USERS_UPDATE`): mails the user a reset link; the
/// administrator never sees the token.
#[tracing::instrument(name = "recovery.send_password_reset", skip_all, fields(by = %crate::ids::user(viewer.id())))]
pub async fn send_password_reset(ctx: &AppContext, viewer: &Viewer, id: Uuid) -> Result<()> {
    viewer.require(Permission::UsersUpdate)?;
    let txn = ctx.begin().await?;
    let user = users::lock_mail_target(&txn, viewer, id).await?;
    if user.invitation_pending {
        return Err(AppError::Conflict(
            "the user has not accepted their invitation yet: use resendInvitation".into(),
        ));
    }
    account_mail::require_budget(&txn, ctx, &user.email, Template::PasswordReset).await?;
    account_mail::mail_link(&txn, ctx, Template::PasswordReset, &user, &user.email).await?;
    Event::by(viewer, Action::AuthPasswordResetSent)
        .on(Target::User(user.id))
        .record(&txn)
        .await?;
    txn.commit().await?;
    outbox::wake(ctx);
    tracing::info!(user_id = %crate::ids::user(id), "password reset mailed by an administrator");
    Ok(())
}
