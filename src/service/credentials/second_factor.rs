//! Second-factor codes (TOTP, RFC 6238: SHA-1, 6 digits, 30 s steps, one
//! step of drift; and single-use recovery codes), checked under the
//! account lockout. A code is accepted once: the newest accepted step is
//! stored and moved forward by one conditional update, and a recovery code
//! is used up the same way, so racing uses of one code give one success.

use entity::{recovery_code, totp_factor, user};
use rand::Rng;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, sea_query::Expr,
};
use sha2::{Digest, Sha256};
use totp_rs::{Builder, Secret, Totp};
use uuid::Uuid;

use super::lockout::{audit_failure, lock_if_exhausted, release_check, reserve_check};
use crate::{
    error::{AppError, Result},
    service::{
        AppContext, RequestMeta,
        links::{self, Purpose},
        now, users,
    },
};

/// Recovery codes given at a time.
pub const RECOVERY_CODES: usize = 10;

/// Characters of a recovery code (dashes aside), from a 32-letter alphabet.
const RECOVERY_CODE_CHARS: usize = 16;

/// The authenticator's view of `secret` for `user`: issued by the product,
/// named by the user's address (colons, which the URI format reserves, dropped).
pub fn totp(ctx: &AppContext, secret: Vec<u8>, user: &user::Model) -> Result<Totp> {
    Builder::new()
        .with_secret(Secret::new(secret.into_boxed_slice()))
        .with_issuer(Some(ctx.config.mail.product_name.replace(':', "")))
        .with_account_name(user.email.replace(':', ""))
        .build()
        .map_err(|err| AppError::Internal(anyhow::anyhow!("TOTP parameters: {err:?}")))
}

fn unix_now() -> u64 {
    now().timestamp().max(0) as u64
}

/// The factor's TOTP, its secret opened.
fn factor_totp(ctx: &AppContext, factor: &totp_factor::Model, user: &user::Model) -> Result<Totp> {
    let secret = ctx.mfa_sealer.open(&factor.secret_sealed).map_err(|err| {
        AppError::Internal(err.context("opening a TOTP secret (MFA_ENCRYPTION_KEY changed?)"))
    })?;
    totp(ctx, secret, user)
}

pub async fn factor_of(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Option<totp_factor::Model>> {
    Ok(totp_factor::Entity::find_by_id(user_id).one(conn).await?)
}

/// Accepts `code` for `factor` if it is the code of a step within the
/// drift and newer than the last one accepted; records the step with one
/// conditional update, so a code is accepted at most once however many
/// requests race.
pub async fn accept_totp(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    factor: &totp_factor::Model,
    user: &user::Model,
    code: &str,
) -> Result<Code> {
    let authenticator = factor_totp(ctx, factor, user)?;
    let Some(step) = authenticator.check(code.trim(), unix_now()) else {
        return Ok(Code::Wrong);
    };
    let step = step as i64;
    let accepted = totp_factor::Entity::update_many()
        .col_expr(totp_factor::Column::LastUsedStep, Expr::value(Some(step)))
        .filter(totp_factor::Column::UserId.eq(user.id))
        .filter(
            sea_orm::Condition::any()
                .add(totp_factor::Column::LastUsedStep.is_null())
                .add(totp_factor::Column::LastUsedStep.lt(step)),
        )
        .exec(conn)
        .await?;
    // Refused by the condition: the code is right, but its step (or a
    // newer one) was accepted already: a repeat, not a guess.
    Ok(if accepted.rows_affected == 1 {
        Code::Accepted
    } else {
        Code::Spent
    })
}

/// How a second-factor code was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Accepted,
    /// Not a code of the factor (a guess, a typo).
    Wrong,
    /// A right TOTP code whose step was accepted already (a second tab, a
    /// retry): refused, but no failure, so it costs no lockout slot.
    Spent,
}

/// Accepts `code` for `user` (locked in `conn`): six digits are a TOTP
/// code, anything else a recovery code, so a recovery code still works when
/// the TOTP secret cannot be opened (`MFA_ENCRYPTION_KEY` changed).
async fn accept_code(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    user: &user::Model,
    code: &str,
) -> Result<Code> {
    if !user.mfa_enabled {
        return Ok(Code::Wrong);
    }
    let code = code.trim();
    if code.len() == 6 && code.chars().all(|c| c.is_ascii_digit()) {
        match factor_of(conn, user.id).await? {
            Some(factor) => accept_totp(conn, ctx, &factor, user, code).await,
            None => Ok(Code::Wrong),
        }
    } else if accept_recovery_code(conn, user.id, code).await? {
        Ok(Code::Accepted)
    } else {
        Ok(Code::Wrong)
    }
}

/// Requires a right second-factor `code` for `user_id` under the lockout,
/// within `txn` (opened by the caller after this reserved a slot, as the
/// lockout's own writes must not wait for it): `work` runs in `txn` with
/// the locked user once the code is accepted.
pub async fn with_code<T>(
    ctx: &AppContext,
    link: &entity::account_token::Model,
    code: &str,
    meta: &RequestMeta,
    work: impl AsyncFnOnce(&sea_orm::DatabaseTransaction, user::Model) -> Result<T>,
) -> Result<T> {
    let user_id = link.user_id;
    if !reserve_check(ctx, user_id).await? {
        lock_if_exhausted(ctx, user_id, meta).await?;
        return Err(AppError::AccountLocked);
    }
    let txn = ctx.begin().await?;
    let user = users::lock(&txn, user_id)
        .await?
        .ok_or(AppError::TokenInvalid)?;
    // A duplicate of a submission that has just succeeded (a double click,
    // a retry) finds its link used: its code was right, and was used up by
    // that success, so it is no wrong guess and must not count toward the
    // lockout. Read under the lock, after the success committed.
    if !links::unused(&txn, link).await? {
        drop(txn);
        release_check(ctx, user_id).await?;
        return Err(AppError::TokenInvalid);
    }
    let judged = match accept_code(&txn, ctx, &user, code).await {
        Ok(judged) => judged,
        Err(err) => {
            drop(txn);
            release_check(ctx, user_id).await?;
            return Err(err);
        }
    };
    if judged == Code::Spent {
        drop(txn);
        release_check(ctx, user_id).await?;
        return Err(AppError::bad_input(
            "code",
            "this code has been used already: wait for the next one",
        ));
    }
    if judged == Code::Wrong {
        drop(txn);
        audit_failure(ctx, user_id, "second factor", meta).await?;
        lock_if_exhausted(ctx, user_id, meta).await?;
        tracing::info!(user_id = %crate::ids::user(user_id), ip = meta.ip.as_deref(), "second factor refused");
        return Err(AppError::bad_input("code", "the code is not correct"));
    }
    let out = work(&txn, user).await?;
    txn.commit().await?;
    Ok(out)
}

/// A recovery code as typed, reduced to its letters and digits.
fn normalise(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn code_hash(user_id: Uuid, code: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(user_id.as_bytes());
    digest.update(normalise(code).as_bytes());
    hex::encode(digest.finalize())
}

/// Uses up a recovery code, with one conditional update.
async fn accept_recovery_code(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    code: &str,
) -> Result<bool> {
    let normalised = normalise(code);
    if normalised.len() != RECOVERY_CODE_CHARS {
        return Ok(false);
    }
    let used = recovery_code::Entity::update_many()
        .col_expr(recovery_code::Column::UsedAt, Expr::value(Some(now())))
        .filter(recovery_code::Column::UserId.eq(user_id))
        .filter(recovery_code::Column::CodeHash.eq(code_hash(user_id, &normalised)))
        .filter(recovery_code::Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    Ok(used.rows_affected == 1)
}

/// Replaces the user's recovery codes with ten new ones
/// (`xxxx-xxxx-xxxx-xxxx`, 80 random bits each: too many to search even
/// with a copy of their fast hashes); returns them, the only time they are
/// seen.
pub async fn new_recovery_codes(conn: &impl ConnectionTrait, user_id: Uuid) -> Result<Vec<String>> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user_id))
        .exec(conn)
        .await?;
    let codes: Vec<String> = {
        let mut rng = rand::rng();
        (0..RECOVERY_CODES)
            .map(|_| {
                let raw: Vec<String> = (0..RECOVERY_CODE_CHARS / 4)
                    .map(|_| {
                        (0..4)
                            .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                            .collect()
                    })
                    .collect();
                raw.join("-")
            })
            .collect()
    };
    let ts = now();
    recovery_code::Entity::insert_many(codes.iter().map(|code| recovery_code::ActiveModel {
        id: Set(crate::ids::new_key()),
        user_id: Set(user_id),
        code_hash: Set(code_hash(user_id, code)),
        created_at: Set(ts),
        used_at: Set(None),
    }))
    .exec_without_returning(conn)
    .await?;
    Ok(codes)
}

/// Removes the factor and its recovery codes, under the user's lock.
pub async fn remove_factor(conn: &impl ConnectionTrait, user: user::Model) -> Result<user::Model> {
    totp_factor::Entity::delete_by_id(user.id)
        .exec(conn)
        .await?;
    recovery_code::Entity::delete_many()
        .filter(recovery_code::Column::UserId.eq(user.id))
        .exec(conn)
        .await?;
    let mut model = users::changes(&user);
    model.mfa_enabled = Set(false);
    users::save_locked(conn, user, model).await
}

/// After a right password for a user with a factor on: the challenge that
/// `verifyMfa` redeems, in the sign-in's transaction.
pub async fn challenge(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    user: &user::Model,
) -> Result<String> {
    links::issue(conn, ctx, Purpose::MfaChallenge, user, &user.email).await
}
