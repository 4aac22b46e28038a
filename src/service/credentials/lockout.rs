//! Password checks under the account lockout.

use chrono::Duration;
use entity::user;
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use crate::{
    auth::Viewer,
    error::{AppError, Result},
    service::{
        AppContext, RequestMeta,
        audit::{Action, Event, Target},
        now,
    },
};

/// Ends `user`'s lockout and its count (`unlockUser`), on the row the
/// caller's transaction locked. Not a profile change: `updatedAt` stays.
pub async fn unlock(
    conn: &impl sea_orm::ConnectionTrait,
    user: user::Model,
) -> Result<user::Model> {
    user::Entity::update_many()
        .col_expr(user::Column::FailedLoginCount, Expr::value(0))
        .col_expr(
            user::Column::LockedUntil,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .filter(user::Column::Id.eq(user.id))
        .exec(conn)
        .await?;
    Ok(user::Model {
        failed_login_count: 0,
        locked_until: None,
        ..user
    })
}

/// Records a completed sign-in on `user`'s row (locked by the caller):
/// `lastLoginAt`, and a lockout count back to zero. Not a profile change, so
/// `updatedAt` stays.
pub async fn record_sign_in(
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
pub enum Checked {
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
pub async fn sign_in_check(
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
pub async fn release_check(ctx: &AppContext, user_id: Uuid) -> Result<()> {
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
pub async fn reserve_check(ctx: &AppContext, user_id: Uuid) -> Result<bool> {
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
pub async fn lock_if_exhausted(ctx: &AppContext, user_id: Uuid, meta: &RequestMeta) -> Result<()> {
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
        Event::anonymous(meta, Action::AuthLocked)
            .on(Target::User(user_id))
            .record(&ctx.db)
            .await?;
    }
    Ok(())
}

/// A wrong password or code for a known user. Bounded per user by the
/// lockout (unknown logins write nothing), so failures cannot fill the
/// table at an attacker's speed.
pub async fn audit_failure(
    ctx: &AppContext,
    user_id: Uuid,
    factor: &'static str,
    meta: &RequestMeta,
) -> Result<()> {
    Event::anonymous(meta, Action::AuthLoginFailed)
        .on(Target::User(user_id))
        .change("factor", serde_json::Value::Null, factor)
        .record(&ctx.db)
        .await
}

/// Checks the viewer's current password, as a step-up before sensitive
/// changes. Wrong guesses count toward the same lockout as sign-ins, so a
/// stolen access token cannot be used to guess the password; once locked the
/// answer is `ACCOUNT_LOCKED`. An account without a password (made through
/// another provider or a mailed code) steps up by having signed in within
/// `RECENT_SIGN_IN_MINUTES` instead; `password` is then not looked at.
pub async fn confirm_password(
    ctx: &AppContext,
    viewer: &Viewer,
    password: &str,
    field: &'static str,
) -> Result<()> {
    if viewer.impersonation.is_some() {
        return Err(AppError::ForbiddenBecause(
            "an impersonation never confirms the user's password: nothing that needs it runs here",
        ));
    }
    if !viewer.user.has_password {
        return if super::signed_in_recently(ctx, viewer).await? {
            Ok(())
        } else {
            Err(AppError::bad_input(
                field,
                "this account has no password: sign in again to confirm (within 10 minutes), or set one with setPassword",
            ))
        };
    }
    match sign_in_check(ctx, &viewer.user, password, true, &viewer.origin).await? {
        Checked::Right => Ok(()),
        Checked::Wrong => Err(AppError::bad_input(field, "the password is not correct")),
        Checked::Locked => Err(AppError::AccountLocked),
    }
}
