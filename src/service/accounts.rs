//! The account lifecycle: registration, login with lockout, password change,
//! self-deletion and the superuser bootstrap. Passwords are hashed before any
//! transaction opens, so no connection is held while argon2 runs.

use chrono::Duration;
use entity::user;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect, Set,
    TransactionTrait,
    sea_query::{Expr, ExprTrait},
};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::{
    AppContext, RequestMeta,
    audit::{self, Event, Target},
    limits, mfa, now, outbox, recovery, roles, sessions, users,
};
use crate::{
    auth::Viewer,
    error::{AppError, Result},
    validation,
};

/// A new account's fields, as submitted.
#[derive(Debug, Default, Clone)]
pub struct NewAccount {
    /// `None` (only `createUser` allows it) makes one from the email.
    pub username: Option<String>,
    pub email: String,
    /// Display name.
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// In the clear: hashed by `new_user_row`, never stored.
    pub password: String,
}

/// Validates every field and hashes the password; returns the row to insert.
pub(super) async fn new_user_row(
    ctx: &AppContext,
    input: &NewAccount,
) -> Result<user::ActiveModel> {
    let email = validation::email(&input.email)?;
    let username = match &input.username {
        Some(username) => validation::username(username)?,
        // Made up from the address; `users::with_username` makes it free.
        None => validation::username_from_email(&email),
    };
    check_password(ctx, &input.password, "password", &username, &email).await?;
    let name =
        validation::optional_text(input.name.as_deref(), "name", validation::DISPLAY_NAME_MAX)?;
    let first_name = validation::optional_text(
        input.first_name.as_deref(),
        "firstName",
        validation::PERSON_NAME_MAX,
    )?;
    let last_name = validation::optional_text(
        input.last_name.as_deref(),
        "lastName",
        validation::PERSON_NAME_MAX,
    )?;
    let password_hash = ctx.hasher.hash(input.password.clone()).await?;
    let mut model = users::new_row(username, email, password_hash, now());
    model.display_name = Set(name);
    model.first_name = Set(first_name);
    model.last_name = Set(last_name);
    Ok(model)
}

/// The contract's password rules. The strength estimate costs up to half a
/// second of CPU for a crafted 128-character input, so it runs on the hashing
/// pool behind the hashing bound, never on the async workers.
pub(super) async fn check_password(
    ctx: &AppContext,
    password: &str,
    field: &'static str,
    username: &str,
    email: &str,
) -> Result<()> {
    let (password, username, email) = (password.to_owned(), username.to_owned(), email.to_owned());
    ctx.hasher
        .run_bounded(move || validation::password(&password, field, &username, &email))
        .await
}

/// Inserts a new account's row and gives it the default role, in the
/// caller's transaction.
async fn insert_with_default_role(
    conn: &impl sea_orm::ConnectionTrait,
    model: user::ActiveModel,
) -> Result<user::Model> {
    let user = users::insert(conn, model).await?;
    roles::grant_builtin(conn, user.id, roles::DEFAULT_ROLE).await?;
    Ok(user)
}

/// Creates an account with the default role, queues its verification mail,
/// and signs it in. With `REQUIRE_EMAIL_VERIFICATION` the account is
/// created and mailed but not signed in: the answer is `EMAIL_NOT_VERIFIED`.
#[tracing::instrument(name = "accounts.register", skip_all)]
pub async fn register(
    ctx: &AppContext,
    viewer: Option<&Viewer>,
    input: &NewAccount,
    meta: &RequestMeta,
) -> Result<sessions::Tokens> {
    if !ctx.config.registration_enabled
        && !viewer.is_some_and(|v| v.has(crate::auth::Permission::UsersCreate))
    {
        return Err(AppError::Forbidden);
    }
    limits::hit(ctx, limits::Action::Register, meta).await?;
    let model = new_user_row(ctx, input).await?;
    let txn = ctx.db.begin().await?;
    let user = insert_with_default_role(&txn, model).await?;
    Event::anonymous(meta, "user.registered")
        .as_user(user.id)
        .with(audit::user_created(&user))
        .record(&txn)
        .await?;
    recovery::queue_welcome_verification(&txn, ctx, &user).await?;
    if ctx.config.require_email_verification {
        txn.commit().await?;
        outbox::wake(ctx);
        tracing::info!(user_id = %crate::ids::user(user.id), ip = meta.ip.as_deref(), "registered; waiting for email verification");
        return Err(AppError::EmailNotVerified);
    }
    let tokens = sessions::start(&txn, ctx, user, meta).await?;
    txn.commit().await?;
    outbox::wake(ctx);
    tracing::info!(user_id = %crate::ids::user(tokens.user.id), ip = meta.ip.as_deref(), "registered");
    Ok(tokens)
}

/// Signs in with a username or email. Unknown users, soft-deleted users,
/// locked accounts and wrong passwords all cost one argon2 verification and
/// give `INVALID_CREDENTIALS`.
#[tracing::instrument(name = "accounts.login", skip_all)]
pub async fn login(
    ctx: &AppContext,
    login: &str,
    password: &str,
    meta: &RequestMeta,
) -> Result<sessions::Tokens> {
    let outcome = sign_in(ctx, login, password, meta).await;
    let label = match &outcome {
        Ok(_) => "success",
        Err(AppError::InvalidCredentials) => "invalid_credentials",
        Err(AppError::AccountDisabled) => "disabled",
        Err(AppError::RateLimited { .. }) => "rate_limited",
        Err(AppError::MfaRequired { .. }) => "mfa_required",
        Err(AppError::EmailNotVerified) => "email_not_verified",
        Err(_) => "error",
    };
    metrics::counter!(crate::metrics::LOGINS, "outcome" => label).increment(1);
    outcome
}

async fn sign_in(
    ctx: &AppContext,
    login: &str,
    password: &str,
    meta: &RequestMeta,
) -> Result<sessions::Tokens> {
    limits::hit(ctx, limits::Action::Login, meta).await?;
    // An invitation not yet accepted has no password: as good as no user.
    let found = users::find_by_login(&ctx.db, login)
        .await?
        .filter(|u| !u.is_deleted() && !u.invitation_pending);
    let Some(user) = found else {
        ctx.hasher.verify(password.to_owned(), None).await?;
        tracing::info!(
            ip = meta.ip.as_deref(),
            request_id = meta.request_id.as_deref(),
            "login failed: unknown user"
        );
        return Err(AppError::InvalidCredentials);
    };
    // With a second factor on, a right password is half a sign-in: it
    // leaves the lockout count as it was until the code is right too, or the
    // password alone would reset the count between code guesses.
    match check_password_of(ctx, &user, password, !user.mfa_enabled, meta).await? {
        Checked::Right => {}
        Checked::Locked => {
            tracing::info!(user_id = %crate::ids::user(user.id), ip = meta.ip.as_deref(), request_id = meta.request_id.as_deref(), "login refused: account locked");
            return Err(AppError::InvalidCredentials);
        }
        Checked::Wrong => {
            tracing::info!(user_id = %crate::ids::user(user.id), ip = meta.ip.as_deref(), request_id = meta.request_id.as_deref(), "login failed: wrong password");
            return Err(AppError::InvalidCredentials);
        }
    }
    let txn = ctx.db.begin().await?;
    // Locked and read again: a user deleted, hard-deleted or given a new
    // password while the hash ran is refused (the password checked is no
    // longer theirs, and the change has ended every session), and a hard
    // delete or password change waits for this sign-in to commit.
    let verified_hash = user.password_hash;
    let Some(user) = users::lock(&txn, user.id)
        .await?
        .filter(|u| !u.is_deleted() && u.password_hash == verified_hash)
    else {
        return Err(AppError::InvalidCredentials);
    };
    if user.status != user::Status::Active {
        tracing::info!(user_id = %crate::ids::user(user.id), ip = meta.ip.as_deref(), request_id = meta.request_id.as_deref(), "login refused: account disabled");
        return Err(AppError::AccountDisabled);
    }
    // Only after the right password, so it tells nothing to a guesser.
    if ctx.config.require_email_verification && user.email_verified_at.is_none() {
        tracing::info!(user_id = %crate::ids::user(user.id), ip = meta.ip.as_deref(), request_id = meta.request_id.as_deref(), "login refused: email not verified");
        return Err(AppError::EmailNotVerified);
    }
    if user.mfa_enabled {
        let mfa_token = mfa::challenge(&txn, ctx, &user).await?;
        txn.commit().await?;
        tracing::info!(user_id = %crate::ids::user(user.id), ip = meta.ip.as_deref(), request_id = meta.request_id.as_deref(), "password right; second factor required");
        return Err(AppError::MfaRequired { mfa_token });
    }
    let user = record_sign_in(&txn, user).await?;
    Event::anonymous(meta, "auth.login")
        .as_user(user.id)
        .record(&txn)
        .await?;
    let tokens = sessions::start(&txn, ctx, user, meta).await?;
    txn.commit().await?;
    tracing::info!(user_id = %crate::ids::user(tokens.user.id), ip = meta.ip.as_deref(), request_id = meta.request_id.as_deref(), "login succeeded");
    Ok(tokens)
}

/// Records a completed sign-in on `user`'s row (locked by the caller):
/// `lastLoginAt`, and a lockout count back to zero. Not a profile change, so
/// `updatedAt` stays.
pub(super) async fn record_sign_in(
    conn: &impl sea_orm::ConnectionTrait,
    mut user: user::Model,
) -> Result<user::Model> {
    let ts = now();
    user::Entity::update_many()
        .col_expr(user::Column::LastLoginAt, Expr::value(Some(ts)))
        .col_expr(user::Column::FailedLoginCount, Expr::value(0))
        .col_expr(
            user::Column::LockedUntil,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .filter(user::Column::Id.eq(user.id))
        .exec(conn)
        .await?;
    user.last_login_at = Some(ts);
    user.failed_login_count = 0;
    user.locked_until = None;
    Ok(user)
}

/// The outcome of checking a password against a user's stored hash.
enum Checked {
    Right,
    Wrong,
    /// Too many wrong passwords: the real hash was not checked.
    Locked,
}

/// Checks `password` against `user`'s hash under the account lockout, for
/// sign-in and for step-ups alike: at most `LOGIN_LOCKOUT_THRESHOLD` wrong
/// passwords are checked against the real hash between two right ones, however
/// many requests race. A locked account costs the same argon2 work as any
/// other check, so timing reveals nothing.
async fn check_password_of(
    ctx: &AppContext,
    user: &user::Model,
    password: &str,
    reset_on_success: bool,
    meta: &RequestMeta,
) -> Result<Checked> {
    if !reserve_check(ctx, user.id).await? {
        ctx.hasher.verify(password.to_owned(), None).await?;
        // Setting the expiry here too means a count left at the threshold
        // without one (a crash mid-check) still expires.
        lock_if_exhausted(ctx, user.id, meta).await?;
        return Ok(Checked::Locked);
    }
    let right = ctx
        .hasher
        .verify(password.to_owned(), Some(user.password_hash.clone()))
        .await?;
    if right && reset_on_success {
        user::Entity::update_many()
            .col_expr(user::Column::FailedLoginCount, Expr::value(0))
            .col_expr(
                user::Column::LockedUntil,
                Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
            )
            .filter(user::Column::Id.eq(user.id))
            .exec(&ctx.db)
            .await?;
        Ok(Checked::Right)
    } else if right {
        release_check(ctx, user.id).await?;
        Ok(Checked::Right)
    } else {
        audit_failure(ctx, user.id, "password", meta).await?;
        lock_if_exhausted(ctx, user.id, meta).await?;
        Ok(Checked::Wrong)
    }
}

/// Gives back the slot a check reserved without counting it as a failure:
/// a right password that is only half a sign-in (a second factor follows)
/// neither resets the count (the code guesses before it still count) nor
/// adds to it (abandoned sign-ins do not lock the owner out); a check that
/// failed internally counts for nothing.
pub(super) async fn release_check(ctx: &AppContext, user_id: Uuid) -> Result<()> {
    user::Entity::update_many()
        .col_expr(
            user::Column::FailedLoginCount,
            Expr::col(user::Column::FailedLoginCount).sub(1),
        )
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::FailedLoginCount.gt(0))
        .filter(user::Column::LockedUntil.is_null())
        .exec(&ctx.db)
        .await?;
    Ok(())
}

/// Reserves one check of the real hash. Every check holds a slot of the
/// lockout count while it runs, and a wrong password keeps it; a right one
/// resets the count. When every slot is held by checks still running, the
/// account is not locked yet: this waits for them (polling, within the hash
/// queue's timeout) instead of refusing, so concurrent right passwords all
/// get in, while wrong ones still reach the real hash only `threshold` times.
pub(super) async fn reserve_check(ctx: &AppContext, user_id: Uuid) -> Result<bool> {
    let deadline = tokio::time::Instant::now() + ctx.config.password_hash_queue_timeout;
    let mut pause = std::time::Duration::from_millis(10);
    loop {
        if claim_attempt(ctx, user_id).await? {
            return Ok(true);
        }
        let locked_until: Option<Option<chrono::DateTime<chrono::Utc>>> =
            user::Entity::find_by_id(user_id)
                .select_only()
                .column(user::Column::LockedUntil)
                .into_tuple()
                .one(&ctx.db)
                .await?;
        let locked = match locked_until {
            None => true,
            Some(until) => until.is_some_and(|until| until > now()),
        };
        if locked || tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(200));
    }
}

/// Atomically reserves one password check. At most `threshold` checks run
/// between successes, however many requests race: the counter is raised in
/// the same statement that tests it. An expired lock starts a fresh count.
async fn claim_attempt(ctx: &AppContext, user_id: Uuid) -> Result<bool> {
    let ts = now();
    let lock_expired = Expr::col(user::Column::LockedUntil)
        .is_not_null()
        .and(Expr::col(user::Column::LockedUntil).lte(ts));
    let claimed = user::Entity::update_many()
        .col_expr(
            user::Column::FailedLoginCount,
            Expr::case(lock_expired.clone(), 1)
                .finally(Expr::col(user::Column::FailedLoginCount).add(1))
                .into(),
        )
        .col_expr(
            user::Column::LockedUntil,
            Expr::case(
                lock_expired.clone(),
                Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
            )
            .finally(Expr::col(user::Column::LockedUntil))
            .into(),
        )
        .filter(user::Column::Id.eq(user_id))
        .filter(
            Condition::any().add(lock_expired).add(
                Condition::all()
                    .add(user::Column::LockedUntil.is_null())
                    .add(user::Column::FailedLoginCount.lt(ctx.config.lockout_threshold as i32)),
            ),
        )
        .exec(&ctx.db)
        .await?;
    Ok(claimed.rows_affected == 1)
}

/// After a wrong password or code: once the threshold is reached, lock the
/// account, and audit the lock (once: only the update that sets it).
pub(super) async fn lock_if_exhausted(
    ctx: &AppContext,
    user_id: Uuid,
    meta: &RequestMeta,
) -> Result<()> {
    let until =
        now() + Duration::from_std(ctx.config.lockout_duration).unwrap_or(Duration::minutes(15));
    let locked = user::Entity::update_many()
        .col_expr(user::Column::LockedUntil, Expr::value(Some(until)))
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::LockedUntil.is_null())
        .filter(user::Column::FailedLoginCount.gte(ctx.config.lockout_threshold as i32))
        .exec(&ctx.db)
        .await?;
    if locked.rows_affected == 1 {
        Event::anonymous(meta, "auth.locked")
            .on(Target::User(user_id))
            .record(&ctx.db)
            .await?;
    }
    Ok(())
}

/// A wrong password or code for a known user. Bounded per user by the
/// lockout (unknown logins write nothing), so failures cannot fill the
/// table at an attacker's speed.
pub(super) async fn audit_failure(
    ctx: &AppContext,
    user_id: Uuid,
    factor: &'static str,
    meta: &RequestMeta,
) -> Result<()> {
    Event::anonymous(meta, "auth.login_failed")
        .on(Target::User(user_id))
        .change("factor", serde_json::Value::Null, factor)
        .record(&ctx.db)
        .await
}

/// Checks the viewer's current password, as a step-up before sensitive
/// changes. Wrong guesses count toward the same lockout as sign-ins, so a
/// stolen access token cannot be used to guess the password; once locked the
/// answer is `ACCOUNT_LOCKED`.
pub(super) async fn confirm_password(
    ctx: &AppContext,
    viewer: &Viewer,
    password: &str,
    field: &'static str,
) -> Result<()> {
    match check_password_of(ctx, &viewer.user, password, true, &viewer.origin).await? {
        Checked::Right => Ok(()),
        Checked::Wrong => Err(AppError::bad_input(field, "the password is not correct")),
        Checked::Locked => Err(AppError::AccountLocked),
    }
}

/// Changes the viewer's password, ends every other session and revokes
/// every API key.
#[tracing::instrument(name = "accounts.change_password", skip_all, fields(user_id = %crate::ids::user(viewer.id())))]
pub async fn change_password(
    ctx: &AppContext,
    viewer: &Viewer,
    current: &str,
    new: &str,
) -> Result<()> {
    viewer.require_session()?;
    // The current password first: every guess counts toward the lockout
    // before any other work, and only its holder can make the server
    // estimate a new password's strength.
    confirm_password(ctx, viewer, current, "currentPassword").await?;
    check_password(
        ctx,
        new,
        "newPassword",
        &viewer.user.username,
        &viewer.user.email,
    )
    .await?;
    let hash = ctx.hasher.hash(new.to_owned()).await?;
    let ts = now();
    let txn = ctx.db.begin().await?;
    let locked = users::lock(&txn, viewer.id())
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if locked.password_hash != viewer.user.password_hash {
        // Changed meanwhile: the password just confirmed is no longer current.
        return Err(AppError::bad_input(
            "currentPassword",
            "the password is not correct",
        ));
    }
    user::ActiveModel {
        id: Set(viewer.id()),
        password_hash: Set(hash),
        password_changed_at: Set(ts),
        updated_at: Set(ts),
        ..Default::default()
    }
    .update(&txn)
    .await?;
    sessions::revoke_all(&txn, viewer.id(), Some(viewer.session_id)).await?;
    // A key made with the old password may be what an intruder kept.
    let keys = super::api_keys::revoke_all(&txn, viewer.id()).await?;
    Event::by(viewer, "auth.password_changed")
        .on(Target::User(viewer.id()))
        .change(
            "keptSessionId",
            serde_json::Value::Null,
            crate::ids::session(viewer.session_id),
        )
        .change("apiKeysRevoked", serde_json::Value::Null, keys)
        .record(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!("password changed");
    Ok(())
}

/// `updateMe`: the profile fields change at once; a new `email` starts the
/// email-change flow instead (the address changes when the mailed link is
/// followed), after the `currentPassword` step-up, as `requestEmailChange`.
#[tracing::instrument(name = "accounts.update_me", skip_all, fields(user_id = %crate::ids::user(viewer.id())))]
pub async fn update_me(
    ctx: &AppContext,
    viewer: &Viewer,
    mut patch: users::ProfilePatch,
    current_password: Option<&str>,
) -> Result<user::Model> {
    // A key never acts on a superuser, its own included.
    users::check_target(viewer, &viewer.user)?;
    let new_email = patch
        .email
        .take()
        .filter(|e| validation::lookup_key(e).as_deref() != Some(viewer.user.email.as_str()));
    let mut model = users::changes(&viewer.user);
    users::apply_profile(&mut model, &patch)?;
    let new_email = match new_email {
        None => None,
        Some(email) => {
            // A malformed address is named before the password is asked for.
            validation::email(&email)?;
            let password = current_password.ok_or_else(|| {
                AppError::bad_input(
                    "currentPassword",
                    "currentPassword is required to change the email address",
                )
            })?;
            Some(
                recovery::check_email_change(
                    ctx,
                    viewer,
                    &email,
                    password,
                    "currentPassword",
                    "email",
                )
                .await?,
            )
        }
    };
    let txn = ctx.db.begin().await?;
    // Locked first: the audit's old values, and the mail budget, are read
    // under the lock.
    let before = users::lock(&txn, viewer.id())
        .await?
        .ok_or(AppError::Unauthenticated)?;
    users::apply_metadata(&mut model, &before, patch.metadata.as_ref(), None)?;
    let updated = users::save_locked(&txn, before.clone(), model).await?;
    let changes = audit::user_changes(&before, &updated);
    if !changes.is_empty() {
        Event::by(viewer, "user.updated")
            .on(Target::User(viewer.id()))
            .with(changes)
            .record(&txn)
            .await?;
    }
    if let Some(email) = &new_email {
        recovery::queue_email_change(&txn, ctx, viewer, &updated, email).await?;
    }
    txn.commit().await?;
    if new_email.is_some() {
        outbox::wake(ctx);
    }
    Ok(updated)
}

/// Soft-deletes the viewer and ends all its sessions.
#[tracing::instrument(name = "accounts.delete_me", skip_all, fields(user_id = %crate::ids::user(viewer.id())))]
pub async fn delete_me(ctx: &AppContext, viewer: &Viewer, password: &str) -> Result<()> {
    viewer.require_session()?;
    confirm_password(ctx, viewer, password, "password").await?;
    let ts = now();
    let txn = ctx.db.begin().await?;
    users::ensure_superuser_remains(&txn, viewer.id()).await?;
    users::lock(&txn, viewer.id())
        .await?
        .ok_or(AppError::Unauthenticated)?;
    user::ActiveModel {
        id: Set(viewer.id()),
        deleted_at: Set(Some(ts)),
        updated_at: Set(ts),
        ..Default::default()
    }
    .update(&txn)
    .await?;
    sessions::revoke_all(&txn, viewer.id(), None).await?;
    super::api_keys::revoke_all(&txn, viewer.id()).await?;
    let mut after = viewer.user.clone();
    after.deleted_at = Some(ts);
    Event::by(viewer, "user.deleted")
        .on(Target::User(viewer.id()))
        .with(audit::user_changes(&viewer.user, &after))
        .record(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!("account deleted by its owner");
    Ok(())
}

/// Creates a superuser (used by `create-superuser` and the `ADMIN_*` bootstrap).
/// The password rules are the same as for everyone.
#[tracing::instrument(name = "accounts.create_superuser", skip_all)]
pub async fn create_superuser(
    ctx: &AppContext,
    username: &str,
    email: &str,
    password: &SecretString,
) -> Result<user::Model> {
    let input = NewAccount {
        username: Some(username.to_owned()),
        email: email.to_owned(),
        password: password.expose_secret().to_owned(),
        ..Default::default()
    };
    let mut model = new_user_row(ctx, &input).await?;
    model.is_superuser = Set(true);
    // The operator who runs this vouches for the address, so the first
    // superuser can sign in under REQUIRE_EMAIL_VERIFICATION.
    model.email_verified_at = Set(Some(now()));
    let txn = ctx.db.begin().await?;
    let user = insert_with_default_role(&txn, model).await?;
    Event::anonymous(&RequestMeta::default(), "user.created")
        .on(Target::User(user.id))
        .with(audit::user_created(&user))
        .record(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!(user_id = %crate::ids::user(user.id), "superuser created");
    Ok(user)
}

/// The `ADMIN_*` bootstrap: creates the superuser when it does not exist yet.
pub async fn bootstrap_admin(ctx: &AppContext) -> Result<()> {
    let Some(admin) = ctx.config.admin.clone() else {
        return Ok(());
    };
    if users::find_by_login(&ctx.db, &admin.username)
        .await?
        .is_some()
    {
        return Ok(());
    }
    match create_superuser(ctx, &admin.username, &admin.email, &admin.password).await {
        Ok(_) | Err(AppError::DuplicateUsername) => Ok(()),
        Err(err) => Err(err),
    }
}
