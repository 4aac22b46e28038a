//! The tokens of links in mail, and the mails that carry them. A token is 32
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

use super::{AppContext, now, outbox, sessions, users};
use crate::{
    error::{AppError, Result},
    mail::{self, Queued, Template},
};

/// What a token may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    PasswordReset,
    VerifyEmail,
    EmailChange,
    Invitation,
    /// The `mfaToken` a right password earns when a second factor is on:
    /// not mailed, handed back by `login` and redeemed by `verifyMfa`.
    MfaChallenge,
}

impl Purpose {
    const ALL: [Purpose; 5] = [
        Self::PasswordReset,
        Self::VerifyEmail,
        Self::EmailChange,
        Self::Invitation,
        Self::MfaChallenge,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::VerifyEmail => "verify_email",
            Self::EmailChange => "email_change",
            Self::Invitation => "invitation",
            Self::MfaChallenge => "mfa_challenge",
        }
    }

    fn ttl(self, ctx: &AppContext) -> std::time::Duration {
        let mail = &ctx.config.mail;
        match self {
            Self::PasswordReset => mail.password_reset_ttl,
            Self::VerifyEmail | Self::EmailChange => mail.email_token_ttl,
            Self::Invitation => mail.invitation_ttl,
            Self::MfaChallenge => MFA_CHALLENGE_TTL,
        }
    }

    fn template(self) -> Option<Template> {
        match self {
            Self::PasswordReset => Some(Template::PasswordReset),
            Self::VerifyEmail => Some(Template::VerifyEmail),
            Self::EmailChange => Some(Template::EmailChange),
            Self::Invitation => Some(Template::Invitation),
            Self::MfaChallenge => None,
        }
    }

    /// Tokens that a later password change makes stale. A pending email
    /// change is among them: changing the password is what the notice to
    /// the old address tells its owner to do, and it must stop the change.
    fn dies_with_password_change(self) -> bool {
        matches!(
            self,
            Self::PasswordReset | Self::MfaChallenge | Self::EmailChange
        )
    }
}

/// How long a right password's `mfaToken` waits for its second factor.
pub const MFA_CHALLENGE_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// Mails of one kind to one address that anonymous requests may cause in
/// a window: the rest of `RATE_LIMIT_MAIL` is kept for the user themself and
/// administrators, so strangers asking for resets cannot use up a user's
/// budget.
const RESERVED_FOR_OWNER: u32 = 2;

/// Who asked for a mail, for the mail budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asker {
    /// Anyone, on an address's word: kept to the budget less what is reserved.
    Anonymous,
    /// The user themself, or an administrator: the whole budget.
    Owner,
}

/// How many more mails of `template` may go to `address` now (at most
/// `RATE_LIMIT_MAIL`, 5 an hour, over a sliding window counted in the
/// outbox), and if none, how many seconds until one may. Call it in the
/// transaction that queues the mail, after locking the user's row, so two
/// requests for one user cannot both take the last one.
async fn budget(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    address: &str,
    template: Template,
    asker: Asker,
) -> Result<std::result::Result<(), u64>> {
    let rate = ctx.config.mail.per_address;
    let limit = match asker {
        Asker::Owner => rate.hits,
        Asker::Anonymous => rate.hits.saturating_sub(RESERVED_FOR_OWNER).max(1),
    };
    let window = chrono::Duration::from_std(rate.per).unwrap_or_default();
    let ts = now();
    let sent = outbox::recent(conn, address, template.name(), ts - window).await?;
    if sent.len() < limit as usize {
        return Ok(Ok(()));
    }
    // The window frees a place when the oldest mail that fills it leaves it.
    let freed = sent[sent.len() - limit as usize] + window;
    Ok(Err((freed - ts).num_seconds().max(1) as u64))
}

/// Whether another mail of `template` may go to `address` (see `budget`).
pub async fn within_budget(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    address: &str,
    template: Template,
    asker: Asker,
) -> Result<bool> {
    Ok(budget(conn, ctx, address, template, asker).await?.is_ok())
}

/// `within_budget` for the user themself or an administrator, as an error:
/// `RATE_LIMITED`, with when a mail may go again.
pub async fn require_budget(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    address: &str,
    template: Template,
) -> Result<()> {
    match budget(conn, ctx, address, template, Asker::Owner).await? {
        Ok(()) => Ok(()),
        Err(retry_after) => {
            tracing::info!(
                topic = template.name(),
                "mail budget spent for this address"
            );
            Err(AppError::RateLimited { retry_after })
        }
    }
}

/// Whether mail to `address` may carry text that people chose (the
/// account's name and username, a requested new address): only when
/// `address` is the account's proven one, whose owner chose that text or
/// was given it by an administrator. Anyone can register any address, so
/// mail to an unproven one carries only the service's own words, and no
/// stranger can use it to send their text to someone else's inbox.
/// Invitations are the exception: their text is an administrator's.
pub fn may_quote(user: &user::Model, address: &str) -> bool {
    user.email_verified_at.is_some() && address == user.email
}

/// The values every mail to `user` at `address` shows: the account's name
/// and username only when `quote` allows them (`may_quote`).
pub fn values(
    user: &user::Model,
    address: &str,
    purpose_ttl: std::time::Duration,
    quote: bool,
) -> serde_json::Map<String, serde_json::Value> {
    let mut values = serde_json::Map::new();
    if quote {
        let name = users::effective_name(
            user.display_name.as_deref(),
            user.first_name.as_deref(),
            user.last_name.as_deref(),
            &user.username,
        );
        values.insert("name".into(), name.into());
        values.insert("username".into(), user.username.clone().into());
    }
    values.insert("address".into(), address.into());
    values.insert("lifetime".into(), mail::lifetime(purpose_ttl).into());
    values
}

/// Issues a token for `purpose` and queues the mail that carries it to
/// `address`, in the caller's transaction. The caller wakes the outbox
/// worker once it commits.
pub async fn mail_link(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    purpose: Purpose,
    user: &user::Model,
    address: &str,
) -> Result<()> {
    let template = purpose
        .template()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("{purpose:?} tokens are not mailed")))?;
    let token = issue(conn, ctx, purpose, user, address).await?;
    let quote = purpose == Purpose::Invitation || may_quote(user, address);
    let queued = Queued {
        template,
        to: address.to_owned(),
        values: values(user, address, purpose.ttl(ctx), quote),
        sealed_token: None,
    };
    super::account_mail::queue(conn, ctx, queued, Some(&token)).await
}

/// Issues a token for `purpose`, bound to `user` and `address`; returns it.
pub async fn issue(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    purpose: Purpose,
    user: &user::Model,
    address: &str,
) -> Result<String> {
    let token = sessions::random_token();
    let ts = now();
    let ttl = purpose.ttl(ctx);
    account_token::Entity::insert(account_token::ActiveModel {
        id: Set(crate::ids::new_key()),
        token_hash: Set(sessions::hash_token(&token)),
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
        .filter(account_token::Column::TokenHash.eq(sessions::hash_token(token)))
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
    let password_bound = Purpose::ALL
        .into_iter()
        .find(|p| p.name() == row.purpose)
        .is_some_and(Purpose::dies_with_password_change);
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
    supersede(
        conn,
        user_id,
        &[
            Purpose::PasswordReset,
            Purpose::VerifyEmail,
            Purpose::EmailChange,
        ],
    )
    .await
}

/// Deletes tokens a day past their expiry; safe from every replica at once.
pub async fn prune(conn: &impl ConnectionTrait) -> Result<u64> {
    Ok(account_token::Entity::delete_many()
        .filter(account_token::Column::ExpiresAt.lt(now() - chrono::Duration::days(1)))
        .exec(conn)
        .await?
        .rows_affected)
}
