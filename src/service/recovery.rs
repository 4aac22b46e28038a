//! Account recovery, email verification, email change and invitations. Every
//! mail is queued in the transaction of the change that causes it and the
//! outbox worker is woken once that commits; every link's token is used up in
//! the transaction of the change it allows (`links`).

use std::sync::Arc;

use entity::user;
use sea_orm::{ActiveValue::Set, ConnectionTrait, TransactionTrait};
use uuid::Uuid;

use serde_json::Value;

use super::{
    AppContext, RequestMeta, accounts,
    audit::{Event, Target},
    limits,
    links::{self, Asker, Purpose},
    now, outbox, roles, sessions, users,
};
use crate::{
    auth::{Permission, Viewer},
    error::{AppError, Result, is_foreign_key_violation},
    mail::{Queued, Template},
    validation,
};

/// A user who may receive account mail: not deleted, not suspended.
fn live(user: &user::Model) -> bool {
    !user.is_deleted() && user.status == user::Status::Active
}

/// Runs `work` after the request has answered, so that what it finds (an
/// account or none) cannot show in the answer's timing. Bounded: when
/// `detached` is full the work is dropped and logged, as a flood would be.
fn detach<F>(ctx: &Arc<AppContext>, what: &'static str, work: F)
where
    F: std::future::Future<Output = Result<()>> + Send + 'static,
{
    let Ok(permit) = ctx.detached.clone().try_acquire_owned() else {
        tracing::warn!(
            what,
            "too much account mail work in flight; request dropped"
        );
        return;
    };
    tokio::spawn(crate::metrics::in_background(async move {
        if let Err(err) = work.await {
            tracing::warn!(what, error = %err.public_message(), "account mail work failed");
            if matches!(err, AppError::Database(_) | AppError::Internal(_)) {
                tracing::error!(what, error = ?err, "account mail work failed");
            }
        }
        drop(permit);
    }));
}

/// Locks `user_id`, and when `mail` approves of the locked row and the mail
/// budget allows, queues a link mail for it; commits and wakes the worker.
/// Sends nothing, silently, otherwise (enumeration-safe callers).
async fn mail_quietly(
    ctx: &AppContext,
    user_id: Uuid,
    purpose: Purpose,
    template: Template,
    wanted: impl FnOnce(&user::Model) -> bool,
) -> Result<()> {
    let txn = ctx.db.begin().await?;
    let Some(user) = users::lock(&txn, user_id).await?.filter(|u| wanted(u)) else {
        return Ok(());
    };
    if !links::within_budget(&txn, ctx, &user.email, template, Asker::Anonymous).await? {
        tracing::info!(topic = template.name(), "mail budget spent; nothing sent");
        return Ok(());
    }
    links::mail_link(&txn, ctx, purpose, &user, &user.email).await?;
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
    limits::hit(ctx, limits::Action::Recovery, meta).await?;
    let email = validation::email(email)?;
    let worker = ctx.clone();
    detach(ctx, "password reset", async move {
        let Some(user) = users::find_by_login(&worker.db, &email).await? else {
            return Ok(());
        };
        mail_quietly(
            &worker,
            user.id,
            Purpose::PasswordReset,
            Template::PasswordReset,
            |u| live(u) && !u.invitation_pending,
        )
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
) -> Result<sessions::Tokens> {
    limits::hit(ctx, limits::Action::Recovery, meta).await?;
    let row = links::find(&ctx.db, Purpose::PasswordReset, token).await?;
    let user = users::find(&ctx.db, row.user_id)
        .await?
        .ok_or(AppError::TokenInvalid)?;
    if needs_code(&user) && code.is_none() {
        return Err(AppError::MfaCodeRequired);
    }
    accounts::check_password(
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
        model.password_changed_at = Set(ts);
        model.failed_login_count = Set(0);
        model.locked_until = Set(None);
        if unproven {
            model.email_verified_at = Set(Some(ts));
        }
        let mut user = users::save_locked(txn, user, model).await?;
        if unproven {
            user = forget_unproven(txn, user, meta).await?;
        }
        sessions::revoke_all(txn, user.id, None).await?;
        // A key made with the old password may be what an intruder kept.
        let keys = super::api_keys::revoke_all(txn, user.id).await?;
        Event::anonymous(meta, "auth.password_reset")
            .as_user(user.id)
            .change("apiKeysRevoked", Value::Null, keys)
            .record(txn)
            .await?;
        sessions::start(txn, ctx, user, meta).await
    };
    let tokens = match code.filter(|_| needs_code(&user)) {
        Some(code) => super::mfa::with_code(ctx, &row, code, meta, reset).await?,
        None => {
            let txn = ctx.db.begin().await?;
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

/// `user`'s address has just been proven for the first time (a reset or a
/// verification link, in the caller's transaction, under the user's lock):
/// what was set up before it, by whoever registered the address, goes: API
/// keys, the second factor and its recovery codes. Audited when anything
/// was removed.
async fn forget_unproven(
    txn: &impl ConnectionTrait,
    user: user::Model,
    meta: &RequestMeta,
) -> Result<user::Model> {
    let keys = super::api_keys::revoke_all(txn, user.id).await?;
    let had_factor = user.mfa_enabled;
    let user = super::mfa::remove(txn, user).await?;
    if keys > 0 || had_factor {
        Event::anonymous(meta, "auth.unverified_setup_removed")
            .on(Target::User(user.id))
            .change("apiKeysRevoked", Value::Null, keys)
            .change("mfaEnabled", had_factor, false)
            .record(txn)
            .await?;
        tracing::info!(user_id = %crate::ids::user(user.id), keys, had_factor, "what was set up before the address was proven is removed");
    }
    Ok(user)
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
        limits::hit(ctx, limits::Action::Recovery, meta).await?;
        let email = validation::email(email)?;
        let worker = ctx.clone();
        detach(ctx, "verification mail", async move {
            let Some(user) = users::find_by_login(&worker.db, &email).await? else {
                return Ok(());
            };
            mail_quietly(
                &worker,
                user.id,
                Purpose::VerifyEmail,
                Template::VerifyEmail,
                unverified,
            )
            .await
        });
        return Ok(true);
    };
    let txn = ctx.db.begin().await?;
    let user = users::lock(&txn, viewer.id())
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if !unverified(&user) {
        return Ok(false);
    }
    links::require_budget(&txn, ctx, &user.email, Template::VerifyEmail).await?;
    links::mail_link(&txn, ctx, Purpose::VerifyEmail, &user, &user.email).await?;
    txn.commit().await?;
    outbox::wake(ctx);
    Ok(true)
}

/// Queues a new account's verification mail in its creating transaction
/// (nothing when the address's budget is spent).
pub async fn queue_welcome_verification(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    user: &user::Model,
) -> Result<()> {
    if links::within_budget(conn, ctx, &user.email, Template::VerifyEmail, Asker::Owner).await? {
        links::mail_link(conn, ctx, Purpose::VerifyEmail, user, &user.email).await?;
    }
    Ok(())
}

/// `verifyEmail`: marks the address the link was sent to as verified.
#[tracing::instrument(name = "recovery.verify_email", skip_all)]
pub async fn verify_email(ctx: &AppContext, token: &str, meta: &RequestMeta) -> Result<()> {
    let row = links::find(&ctx.db, Purpose::VerifyEmail, token).await?;
    let txn = ctx.db.begin().await?;
    let user = users::lock(&txn, row.user_id)
        .await?
        .ok_or(AppError::TokenInvalid)?;
    links::consume(&txn, &row, &user).await?;
    if user.email_verified_at.is_none() {
        let mut model = users::changes(&user);
        model.email_verified_at = Set(Some(now()));
        let user = users::save_locked(&txn, user, model).await?;
        Event::anonymous(meta, "user.email_verified")
            .as_user(user.id)
            .change("email", Value::Null, user.email.clone())
            .record(&txn)
            .await?;
        forget_unproven(&txn, user, meta).await?;
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
        check_email_change(ctx, viewer, new_email, password, "password", "newEmail").await?;
    let txn = ctx.db.begin().await?;
    let user = users::lock(&txn, viewer.id())
        .await?
        .ok_or(AppError::Unauthenticated)?;
    queue_email_change(&txn, ctx, viewer, &user, &new_email).await?;
    txn.commit().await?;
    outbox::wake(ctx);
    Ok(())
}

/// The checks before an email change (`requestEmailChange`, `updateMe`):
/// the password step-up first, then the new address; returns it normalised.
pub async fn check_email_change(
    ctx: &AppContext,
    viewer: &Viewer,
    new_email: &str,
    password: &str,
    password_field: &'static str,
    email_field: &'static str,
) -> Result<String> {
    viewer.require_session()?;
    accounts::confirm_password(ctx, viewer, password, password_field).await?;
    // Every answer spends from one budget (`RATE_LIMIT_MAIL` per account),
    // a refusal as much as a mail: `DUPLICATE_EMAIL` tells whether an
    // address has an account, so it must not come for free.
    limits::spend_account_budget(
        ctx,
        "email_change",
        viewer.id(),
        ctx.config.mail.per_address,
    )
    .await?;
    let new_email = validation::email(new_email).map_err(|e| e.with_field(email_field))?;
    if new_email == viewer.user.email {
        return Err(AppError::bad_input(
            email_field,
            "this is already the account's address",
        ));
    }
    if users::find_by_login(&ctx.db, &new_email).await?.is_some() {
        return Err(AppError::DuplicateEmail.with_field(email_field));
    }
    Ok(new_email)
}

/// Queues the link to `new_email` and the notice to `user`'s current
/// address, in the caller's transaction, where `user` is locked. The caller
/// wakes the outbox worker once it commits.
pub async fn queue_email_change(
    txn: &impl ConnectionTrait,
    ctx: &AppContext,
    viewer: &Viewer,
    user: &user::Model,
    new_email: &str,
) -> Result<()> {
    links::require_budget(txn, ctx, &user.email, Template::EmailChangeNotice).await?;
    links::require_budget(txn, ctx, new_email, Template::EmailChange).await?;
    // One pending change at a time: the newest request's link is the one.
    links::supersede(txn, user.id, &[Purpose::EmailChange]).await?;
    links::mail_link(txn, ctx, Purpose::EmailChange, user, new_email).await?;
    let quote = links::may_quote(user, &user.email);
    let mut values = links::values(user, &user.email, ctx.config.mail.email_token_ttl, quote);
    if quote {
        values.insert("new_address".into(), new_email.into());
    }
    super::account_mail::queue(
        txn,
        ctx,
        Queued {
            template: Template::EmailChangeNotice,
            to: user.email.clone(),
            values,
            sealed_token: None,
        },
        None,
    )
    .await?;
    Event::by(viewer, "user.email_change_requested")
        .on(Target::User(user.id))
        .change("email", user.email.clone(), new_email)
        .record(txn)
        .await?;
    tracing::info!(user_id = %crate::ids::user(user.id), "email change requested");
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
    let row = links::find(&ctx.db, Purpose::EmailChange, token).await?;
    let txn = ctx.db.begin().await?;
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
    Event::anonymous(meta, "user.email_changed")
        .as_user(user.id)
        .with(super::audit::user_changes(&before, &user))
        .record(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!(user_id = %crate::ids::user(user.id), "email changed through a mailed link");
    Ok(user)
}

/// `inviteUser`'s input, as the service sees it.
#[derive(Debug, Default, Clone)]
pub struct Invitation {
    pub email: String,
    /// Made from the address when absent.
    pub username: Option<String>,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// `None` gives the default role.
    pub role_ids: Option<Vec<Uuid>>,
    pub tier_id: Option<Uuid>,
}

/// `inviteUser`: creates the user with no password and `invitationPending`,
/// and mails the invitation, in one transaction. Needs `USERS_CREATE`, and
/// as `createUser` does, `ROLES_ASSIGN` for `roleIds` and a superuser for a tier.
#[tracing::instrument(name = "recovery.invite_user", skip_all, fields(by = %crate::ids::user(viewer.id())))]
pub async fn invite_user(
    ctx: &AppContext,
    viewer: &Viewer,
    input: Invitation,
) -> Result<user::Model> {
    viewer.require(Permission::UsersCreate)?;
    if input.role_ids.is_some() {
        viewer.require(Permission::RolesAssign)?;
    }
    if input.tier_id.is_some() {
        super::require_superuser(viewer)?;
    }
    let email = validation::email(&input.email)?;
    let chosen = input
        .username
        .as_deref()
        .map(validation::username)
        .transpose()?;
    let profile = users::ProfilePatch {
        name: input.name.map(Some),
        first_name: input.first_name.map(Some),
        last_name: input.last_name.map(Some),
        ..Default::default()
    };
    users::with_username(&ctx.db, chosen.as_deref(), &email, |username| {
        // The password column holds no hash: no password matches it.
        let mut model = users::new_row(username, email.clone(), String::new(), now());
        let applied = users::apply_profile(&mut model, &profile);
        model.invitation_pending = Set(true);
        model.tier_id = Set(input.tier_id);
        let role_ids = input.role_ids.as_deref();
        async move {
            applied?;
            create_invited(ctx, viewer, model, role_ids).await
        }
    })
    .await
}

async fn create_invited(
    ctx: &AppContext,
    viewer: &Viewer,
    model: user::ActiveModel,
    role_ids: Option<&[Uuid]>,
) -> Result<user::Model> {
    let txn = ctx.db.begin().await?;
    let created = match users::insert(&txn, model).await {
        Err(AppError::Database(err)) if is_foreign_key_violation(&err) => {
            return Err(AppError::not_found("tier").with_field("tierId"));
        }
        result => result?,
    };
    match role_ids {
        None => roles::grant_builtin(&txn, created.id, roles::DEFAULT_ROLE).await?,
        Some(ids) => {
            let given = roles::replace(&txn, viewer, created.id, &[], ids).await?;
            super::admin::audit_roles_given(&txn, viewer, created.id, &given).await?;
        }
    }
    Event::by(viewer, "user.invited")
        .on(Target::User(created.id))
        .with(super::audit::user_created(&created))
        .record(&txn)
        .await?;
    links::require_budget(&txn, ctx, &created.email, Template::Invitation).await?;
    links::mail_link(&txn, ctx, Purpose::Invitation, &created, &created.email).await?;
    txn.commit().await?;
    outbox::wake(ctx);
    tracing::info!(user_id = %crate::ids::user(created.id), "user invited");
    Ok(created)
}

/// `acceptInvitation`: sets the password (and the username, when given),
/// verifies the address and signs the user in.
#[tracing::instrument(name = "recovery.accept_invitation", skip_all)]
pub async fn accept_invitation(
    ctx: &AppContext,
    token: &str,
    password: &str,
    username: Option<&str>,
    meta: &RequestMeta,
) -> Result<sessions::Tokens> {
    limits::hit(ctx, limits::Action::Recovery, meta).await?;
    let row = links::find(&ctx.db, Purpose::Invitation, token).await?;
    let invited = users::find(&ctx.db, row.user_id)
        .await?
        .filter(|u| u.invitation_pending)
        .ok_or(AppError::TokenInvalid)?;
    let username = username.map(validation::username).transpose()?;
    accounts::check_password(
        ctx,
        password,
        "password",
        username.as_deref().unwrap_or(&invited.username),
        &invited.email,
    )
    .await?;
    let hash = ctx.hasher.hash(password.to_owned()).await?;
    let txn = ctx.db.begin().await?;
    let user = users::lock(&txn, row.user_id)
        .await?
        .filter(|u| u.invitation_pending)
        .ok_or(AppError::TokenInvalid)?;
    links::consume(&txn, &row, &user).await?;
    if user.status != user::Status::Active {
        return Err(AppError::AccountDisabled);
    }
    let ts = now();
    let mut model = users::changes(&user);
    if let Some(username) = username {
        model.username = Set(username);
    }
    model.password_hash = Set(hash);
    model.password_changed_at = Set(ts);
    model.invitation_pending = Set(false);
    model.email_verified_at = Set(Some(ts));
    model.last_login_at = Set(Some(ts));
    let before = user.clone();
    let user = users::save_locked(&txn, user, model).await?;
    Event::anonymous(meta, "user.invitation_accepted")
        .as_user(user.id)
        .with(super::audit::user_changes(&before, &user))
        .record(&txn)
        .await?;
    let tokens = sessions::start(&txn, ctx, user, meta).await?;
    txn.commit().await?;
    tracing::info!(user_id = %crate::ids::user(tokens.user.id), "invitation accepted");
    Ok(tokens)
}

/// The target of an administrator's mail: found, not a superuser unless the
/// viewer is one, not deleted and active (a suspended user could not use
/// the link).
async fn mail_target(txn: &impl ConnectionTrait, viewer: &Viewer, id: Uuid) -> Result<user::Model> {
    let user = users::lock(txn, id)
        .await?
        .ok_or(AppError::not_found("user").with_field("id"))?;
    users::check_target(viewer, &user)?;
    if user.is_deleted() {
        return Err(AppError::Conflict("the user is deleted".into()));
    }
    if user.status != user::Status::Active {
        return Err(AppError::Conflict(
            "the user is not active: set their status to ACTIVE first".into(),
        ));
    }
    Ok(user)
}

/// `resendInvitation` (`USERS_CREATE`): a new link; the earlier ones stop working.
#[tracing::instrument(name = "recovery.resend_invitation", skip_all, fields(by = %crate::ids::user(viewer.id())))]
pub async fn resend_invitation(ctx: &AppContext, viewer: &Viewer, id: Uuid) -> Result<()> {
    viewer.require(Permission::UsersCreate)?;
    let txn = ctx.db.begin().await?;
    let user = mail_target(&txn, viewer, id).await?;
    if !user.invitation_pending {
        return Err(AppError::Conflict(
            "the user has no pending invitation".into(),
        ));
    }
    links::require_budget(&txn, ctx, &user.email, Template::Invitation).await?;
    links::supersede(&txn, user.id, &[Purpose::Invitation]).await?;
    links::mail_link(&txn, ctx, Purpose::Invitation, &user, &user.email).await?;
    Event::by(viewer, "user.invitation_resent")
        .on(Target::User(user.id))
        .record(&txn)
        .await?;
    txn.commit().await?;
    outbox::wake(ctx);
    Ok(())
}

/// `sendPasswordReset` (`USERS_UPDATE`): mails the user a reset link; the
/// administrator never sees the token.
#[tracing::instrument(name = "recovery.send_password_reset", skip_all, fields(by = %crate::ids::user(viewer.id())))]
pub async fn send_password_reset(ctx: &AppContext, viewer: &Viewer, id: Uuid) -> Result<()> {
    viewer.require(Permission::UsersUpdate)?;
    let txn = ctx.db.begin().await?;
    let user = mail_target(&txn, viewer, id).await?;
    if user.invitation_pending {
        return Err(AppError::Conflict(
            "the user has not accepted their invitation yet: use resendInvitation".into(),
        ));
    }
    links::require_budget(&txn, ctx, &user.email, Template::PasswordReset).await?;
    links::mail_link(&txn, ctx, Purpose::PasswordReset, &user, &user.email).await?;
    Event::by(viewer, "auth.password_reset_sent")
        .on(Target::User(user.id))
        .record(&txn)
        .await?;
    txn.commit().await?;
    outbox::wake(ctx);
    tracing::info!(user_id = %crate::ids::user(id), "password reset mailed by an administrator");
    Ok(())
}
