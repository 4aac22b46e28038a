//! The account lifecycle: registration, login with lockout, password change,
//! self-deletion and the superuser bootstrap. Passwords are hashed before any
//! transaction opens, so no connection is held while argon2 runs.

use chrono::Duration;
use entity::user;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, Set, TransactionTrait,
    sea_query::{Expr, ExprTrait},
};
use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;

use super::{AppContext, RequestMeta, now, roles, sessions, users};
use crate::{
    auth::Viewer,
    error::{AppError, Result, ResultExt, user_uniqueness},
    validation,
};

/// A new account's fields, as submitted.
#[derive(Debug, Default, Clone)]
pub struct NewAccount {
    pub username: String,
    pub email: String,
    pub password: String,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

/// Validates every field and hashes the password; returns the row to insert.
pub(super) async fn prepare(ctx: &AppContext, input: &NewAccount) -> Result<user::ActiveModel> {
    let username = validation::username(&input.username)?;
    let email = validation::email(&input.email)?;
    validation::password(&input.password, "password", &username, &email)?;
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
    users::set_derived(&mut model, None);
    Ok(model)
}

/// Creates an account with the default role and signs it in.
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
    let model = prepare(ctx, input).await?;
    let txn = ctx.db.begin().await?;
    let user = model.insert(&txn).await.on_constraint(user_uniqueness)?;
    roles::grant_builtin(&txn, user.id, roles::DEFAULT_ROLE).await?;
    let tokens = sessions::start(&txn, ctx, user, meta).await?;
    txn.commit().await?;
    tracing::info!(user_id = %tokens.user.id, ip = ?meta.ip, "registered");
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
    let found = users::find_by_login(&ctx.db, login)
        .await?
        .filter(|u| !u.is_deleted());
    let Some(user) = found else {
        ctx.hasher.verify(password.to_owned(), None).await?;
        tracing::info!(ip = ?meta.ip, request_id = ?meta.request_id, "login failed: unknown user");
        return Err(AppError::InvalidCredentials);
    };
    if !claim_attempt(ctx, user.id).await? {
        // A locked account answers like a wrong password, after the same
        // work, so probing reveals neither the lock nor the account; the real
        // hash is not checked while locked. Setting the expiry here too means a
        // count left at the threshold without one (a crash mid-login) still expires.
        ctx.hasher.verify(password.to_owned(), None).await?;
        lock_if_exhausted(ctx, user.id).await?;
        tracing::info!(user_id = %user.id, ip = ?meta.ip, request_id = ?meta.request_id, "login refused: account locked");
        return Err(AppError::InvalidCredentials);
    }
    if !ctx
        .hasher
        .verify(password.to_owned(), Some(user.password_hash.clone()))
        .await?
    {
        lock_if_exhausted(ctx, user.id).await?;
        tracing::info!(user_id = %user.id, ip = ?meta.ip, request_id = ?meta.request_id, "login failed: wrong password");
        return Err(AppError::InvalidCredentials);
    }
    let ts = now();
    let txn = ctx.db.begin().await?;
    user::Entity::update_many()
        .col_expr(user::Column::FailedLoginCount, Expr::value(0))
        .col_expr(
            user::Column::LockedUntil,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .filter(user::Column::Id.eq(user.id))
        .exec(&txn)
        .await?;
    if user.status != user::Status::Active {
        txn.commit().await?;
        tracing::info!(user_id = %user.id, ip = ?meta.ip, request_id = ?meta.request_id, "login refused: account disabled");
        return Err(AppError::AccountDisabled);
    }
    let user = user::ActiveModel {
        id: Set(user.id),
        last_login_at: Set(Some(ts)),
        ..Default::default()
    }
    .update(&txn)
    .await?;
    let tokens = sessions::start(&txn, ctx, user, meta).await?;
    txn.commit().await?;
    tracing::info!(user_id = %tokens.user.id, ip = ?meta.ip, request_id = ?meta.request_id, "login succeeded");
    Ok(tokens)
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

/// After a wrong password: once the threshold is reached, lock the account.
async fn lock_if_exhausted(ctx: &AppContext, user_id: Uuid) -> Result<()> {
    let until =
        now() + Duration::from_std(ctx.config.lockout_duration).unwrap_or(Duration::minutes(15));
    user::Entity::update_many()
        .col_expr(user::Column::LockedUntil, Expr::value(Some(until)))
        .filter(user::Column::Id.eq(user_id))
        .filter(user::Column::LockedUntil.is_null())
        .filter(user::Column::FailedLoginCount.gte(ctx.config.lockout_threshold as i32))
        .exec(&ctx.db)
        .await?;
    Ok(())
}

/// Checks the viewer's current password, as a step-up before sensitive changes.
async fn confirm_password(
    ctx: &AppContext,
    viewer: &Viewer,
    password: &str,
    field: &'static str,
) -> Result<()> {
    if ctx
        .hasher
        .verify(password.to_owned(), Some(viewer.user.password_hash.clone()))
        .await?
    {
        Ok(())
    } else {
        Err(AppError::bad_input(field, "the password is not correct"))
    }
}

/// Changes the viewer's password and ends every other session.
#[tracing::instrument(name = "accounts.change_password", skip_all, fields(user_id = %viewer.id()))]
pub async fn change_password(
    ctx: &AppContext,
    viewer: &Viewer,
    current: &str,
    new: &str,
) -> Result<()> {
    validation::password(
        new,
        "newPassword",
        &viewer.user.username,
        &viewer.user.email,
    )?;
    confirm_password(ctx, viewer, current, "currentPassword").await?;
    let hash = ctx.hasher.hash(new.to_owned()).await?;
    let ts = now();
    let txn = ctx.db.begin().await?;
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
    txn.commit().await?;
    tracing::info!("password changed");
    Ok(())
}

/// Soft-deletes the viewer and ends all its sessions.
#[tracing::instrument(name = "accounts.delete_me", skip_all, fields(user_id = %viewer.id()))]
pub async fn delete_me(ctx: &AppContext, viewer: &Viewer, password: &str) -> Result<()> {
    confirm_password(ctx, viewer, password, "password").await?;
    let ts = now();
    let txn = ctx.db.begin().await?;
    users::ensure_superuser_remains(&txn, viewer.id()).await?;
    user::ActiveModel {
        id: Set(viewer.id()),
        deleted_at: Set(Some(ts)),
        updated_at: Set(ts),
        ..Default::default()
    }
    .update(&txn)
    .await?;
    sessions::revoke_all(&txn, viewer.id(), None).await?;
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
        username: username.to_owned(),
        email: email.to_owned(),
        password: password.expose_secret().to_owned(),
        ..Default::default()
    };
    let mut model = prepare(ctx, &input).await?;
    model.is_superuser = Set(true);
    let txn = ctx.db.begin().await?;
    let user = model.insert(&txn).await.on_constraint(user_uniqueness)?;
    roles::grant_builtin(&txn, user.id, roles::DEFAULT_ROLE).await?;
    txn.commit().await?;
    tracing::info!(user_id = %user.id, "superuser created");
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
