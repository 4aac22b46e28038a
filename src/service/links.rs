//! The tokens of links in mail (`account_mail` sends them). A token is 32
//! random bytes; only its SHA-256 is stored, with its purpose, its user, the
//! address it was mailed to and the user's address at the time. It is used
//! once: one conditional update, in the transaction of the change it allows,
//! after the user's row is locked. It dies with its expiry and with any
//! change it was not issued for: a password reset with a later password
//! change, every token with a change of the user's address.

use entity::{account_token, user};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, sea_query::Expr,
};

use super::{
    AppContext, now,
    tokens::{hash_token, random_token},
};
use crate::{
    error::{AppError, Result},
    mail::Template,
};

/// What a token may be used for: the link of a mail kind (`mail::Template`,
/// whose table says how long the link lives and whether a password change
/// ends it), or a sign-in's second step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// The link in a mail of this kind.
    Mail(Template),
    /// The `mfaToken` a right password earns when a second factor is on:
    /// not mailed, handed back by `login` and redeemed by `verifyMfa`.
    MfaChallenge,
}

impl Purpose {
    /// As stored: the mail kind's name, or `mfa_challenge`.
    fn name(self) -> &'static str {
        match self {
            Self::Mail(template) => template.name(),
            Self::MfaChallenge => "mfa_challenge",
        }
    }

    pub fn ttl(self, ctx: &AppContext) -> std::time::Duration {
        match self {
            Self::Mail(template) => template
                .link()
                .map(|link| (link.lifetime)(&ctx.config.mail))
                .unwrap_or_default(),
            Self::MfaChallenge => MFA_CHALLENGE_TTL,
        }
    }

    pub fn template(self) -> Option<Template> {
        match self {
            Self::Mail(template) => Some(template),
            Self::MfaChallenge => None,
        }
    }

    /// Tokens that a later password change makes stale.
    fn dies_with_password_change(self) -> bool {
        match self {
            Self::Mail(template) => template
                .link()
                .is_some_and(|link| link.dies_with_password_change),
            Self::MfaChallenge => true,
        }
    }

    /// The purpose a stored token names.
    fn parse(stored: &str) -> Option<Self> {
        Template::ALL
            .iter()
            .map(|t| Self::Mail(*t))
            .chain([Self::MfaChallenge])
            .find(|p| p.name() == stored)
    }
}

/// How long a right password's `mfaToken` waits for its second factor.
pub const MFA_CHALLENGE_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// Issues a token for `purpose`, bound to `user` and `address`; returns it.
pub async fn issue(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    purpose: Purpose,
    user: &user::Model,
    address: &str,
) -> Result<String> {
    let token = random_token();
    let ts = now();
    let ttl = purpose.ttl(ctx);
    account_token::Entity::insert(account_token::ActiveModel {
        id: Set(crate::ids::new_key()),
        token_hash: Set(hash_token(&token)),
        purpose: Set(purpose.name().to_owned()),
        user_id: Set(user.id),
        address: Set(address.to_owned()),
        user_email: Set(user.email.clone()),
        created_at: Set(ts),
        expires_at: Set(ts + chrono::Duration::from_std(ttl).unwrap_or_default()),
        used_at: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(token)
}

/// The unused token `token` for `purpose`: `TOKEN_INVALID` when there is no
/// such token (or it was used, or is for another purpose), `TOKEN_EXPIRED`
/// after its lifetime. Not yet consumed: see `consume`.
pub async fn find(
    conn: &impl ConnectionTrait,
    purpose: Purpose,
    token: &str,
) -> Result<account_token::Model> {
    // A token is 43 characters; a longer "token" is not hashed at all.
    if token.is_empty() || token.len() > 128 {
        return Err(AppError::TokenInvalid);
    }
    let row = account_token::Entity::find()
        .filter(account_token::Column::TokenHash.eq(hash_token(token)))
        .filter(account_token::Column::Purpose.eq(purpose.name()))
        .one(conn)
        .await?
        .filter(|row| row.used_at.is_none())
        .ok_or(AppError::TokenInvalid)?;
    if row.expires_at <= now() {
        return Err(AppError::TokenExpired);
    }
    Ok(row)
}

/// Uses `row` up, in the transaction of the change it allows, once `user`
/// (its user) is locked there. Refuses a token that a later change made
/// stale; of any number of concurrent uses, exactly one gets past the
/// conditional update.
pub async fn consume(
    conn: &impl ConnectionTrait,
    row: &account_token::Model,
    user: &user::Model,
) -> Result<()> {
    let password_bound =
        Purpose::parse(&row.purpose).is_some_and(Purpose::dies_with_password_change);
    let stale = user.is_deleted()
        || user.email != row.user_email
        || (password_bound && user.password_changed_at > row.created_at);
    if stale {
        return Err(AppError::TokenInvalid);
    }
    let ts = now();
    let used = account_token::Entity::update_many()
        .col_expr(account_token::Column::UsedAt, Expr::value(Some(ts)))
        .filter(account_token::Column::Id.eq(row.id))
        .filter(account_token::Column::UsedAt.is_null())
        .filter(account_token::Column::ExpiresAt.gt(ts))
        .exec(conn)
        .await?;
    if used.rows_affected == 1 {
        Ok(())
    } else {
        Err(AppError::TokenInvalid)
    }
}

/// Whether `row` is still unused, as the database has it now (`find` read
/// it before the caller's lock).
pub async fn unused(conn: &impl ConnectionTrait, row: &account_token::Model) -> Result<bool> {
    Ok(account_token::Entity::find_by_id(row.id)
        .one(conn)
        .await?
        .is_some_and(|now| now.used_at.is_none()))
}

/// Ends `user_id`'s unused tokens for `purposes` (a resent invitation
/// supersedes the one before, a new email change the pending one).
pub async fn supersede(
    conn: &impl ConnectionTrait,
    user_id: uuid::Uuid,
    purposes: &[Purpose],
) -> Result<()> {
    account_token::Entity::update_many()
        .col_expr(account_token::Column::UsedAt, Expr::value(Some(now())))
        .filter(account_token::Column::UserId.eq(user_id))
        .filter(account_token::Column::Purpose.is_in(purposes.iter().map(|p| p.name())))
        .filter(account_token::Column::UsedAt.is_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// After `user_id`'s address changed: every link mailed for the old address
/// ends for good (comparing addresses alone would let one come back to life
/// when the address changes back).
pub async fn address_changed(conn: &impl ConnectionTrait, user_id: uuid::Uuid) -> Result<()> {
    let mailed: Vec<Purpose> = Template::ALL
        .iter()
        .filter(|t| t.link().is_some())
        .map(|t| Purpose::Mail(*t))
        .collect();
    supersede(conn, user_id, &mailed).await
}

/// Deletes tokens a day past their expiry; safe from every replica at once.
pub async fn prune(conn: &impl ConnectionTrait) -> Result<u64> {
    Ok(account_token::Entity::delete_many()
        .filter(account_token::Column::ExpiresAt.lt(now() - chrono::Duration::days(1)))
        .exec(conn)
        .await?
        .rows_affected)
}
