//! Sign-in codes by mail: `requestSignInCode`, `signInWithCode` and
//! `signInWithLink`.
//!
//! A request answers at once whatever the address; afterwards, for a live
//! account (or, with `PASSWORDLESS_SIGNUP` and registration open, an
//! address with none) within the mail budget, one mail carries a link and
//! the 6-digit code made from the link's token. Both work once, together,
//! for 10 minutes: the row is claimed by one conditional update. A wrong
//! code counts against every live code of the address, and the fifth ends
//! them, without ever locking the account, so a stranger cannot lock its
//! owner out. Using a code proves the address: what was set up before it
//! was proven (a password, API keys, a second factor, sessions) may be a
//! stranger's who registered the address first, and goes.

use std::sync::Arc;

use chrono::Duration;
use entity::{sign_in_code, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set,
    sea_query::{Expr, ExprTrait},
};

use super::{
    AppContext, RequestMeta, access,
    account_mail::{self, Asker, detach},
    audit::{Action, Event, Target},
    credentials::{self, Method},
    limits, new_account, now, outbox,
    tokens::{hash_token, random_token},
    users,
};
use crate::{
    error::{AppError, Result},
    mail::{Queued, Template},
    validation,
};

/// Guesses that end an address's live codes.
const MAX_ATTEMPTS: i32 = 5;

/// Guesses at one address's codes in a day, whoever makes them: with at
/// most 3 anonymous mails an hour and 5 guesses each, a patient guesser
/// would otherwise get 360 a day (a 1 in 2,800 chance).
const GUESSES_PER_DAY: u32 = 20;

/// `requestSignInCode`: answers at once, the same for every address; the
/// lookup and the mail happen afterwards. Limited per client address
/// (`RATE_LIMIT_RECOVERY`) and per address (the mail budget).
pub async fn request(ctx: &Arc<AppContext>, email: &str, meta: &RequestMeta) -> Result<()> {
    limits::hit(ctx, limits::Limited::Recovery, meta).await?;
    let email = validation::email(email)?;
    let worker = ctx.clone();
    let accept_language = meta.accept_language.clone();
    detach(ctx, "sign-in code", async move {
        mail_code(&worker, &email, accept_language.as_deref()).await
    });
    Ok(())
}

/// Queues the code's mail for `email`'s live account, or for a sign-up
/// when that is allowed; nothing otherwise.
async fn mail_code(ctx: &AppContext, email: &str, accept_language: Option<&str>) -> Result<()> {
    let txn = ctx.begin().await?;
    let account = match users::find_by_login(&txn, email).await? {
        Some(found) => {
            let Some(user) = users::lock(&txn, found.id).await? else {
                return Ok(());
            };
            let live = !user.is_deleted()
                && user.status == user::Status::Active
                && !user.invitation_pending
                && user.email == email;
            if !live {
                return Ok(());
            }
            Some(user)
        }
        None if ctx.config.passwordless_signup && ctx.config.registration_enabled => None,
        None => return Ok(()),
    };
    let template = Template::SignInCode;
    if !account_mail::within_budget(&txn, ctx, email, template, Asker::Anonymous).await? {
        tracing::info!(topic = template.name(), "mail budget spent; nothing sent");
        return Ok(());
    }
    let token = random_token();
    let code = ctx.typed_codes.code_of(&token);
    let ttl = ctx.config.mail.sign_in_code_ttl;
    let created_at = now();
    sign_in_code::ActiveModel {
        id: Set(crate::ids::new_key()),
        email: Set(email.to_owned()),
        user_id: Set(account.as_ref().map(|u| u.id)),
        token_hash: Set(hash_token(&token)),
        code_digest: Set(ctx.typed_codes.digest(email, &code)),
        attempts: Set(0),
        created_at: Set(created_at),
        expires_at: Set(created_at + Duration::from_std(ttl).unwrap_or_default()),
        used_at: Set(None),
    }
    .insert(&txn)
    .await?;
    // An account's mail follows its own language; the request's only
    // decides for an address with no account.
    let locale = match &account {
        Some(user) => account_mail::locale_of(ctx, user),
        None => account_mail::locale_for(ctx, None, accept_language),
    };
    let values = match &account {
        Some(user) => account_mail::values(
            user,
            email,
            ttl,
            account_mail::may_quote(user, email),
            locale,
        ),
        None => {
            let mut values = serde_json::Map::new();
            values.insert("lifetime".into(), crate::mail::lifetime(ttl, locale).into());
            values.insert("signup".into(), true.into());
            values
        }
    };
    let queued = Queued {
        template,
        locale: Some(locale.to_owned()),
        to: email.to_owned(),
        values,
        sealed_token: None,
    };
    account_mail::queue(&txn, ctx, queued, Some(&token)).await?;
    txn.commit().await?;
    outbox::wake(ctx);
    Ok(())
}

/// `signInWithCode`: the code mailed to `email`. Every failure (no code,
/// a wrong, used or expired one) is the same `BAD_USER_INPUT` on `code`,
/// so the answer says nothing about the address; a wrong code counts
/// against the address's live codes.
#[tracing::instrument(name = "sign_in_codes.with_code", skip_all)]
pub async fn with_code(
    ctx: &AppContext,
    email: &str,
    code: &str,
    meta: &RequestMeta,
) -> Result<access::Tokens> {
    limits::hit(ctx, limits::Limited::Login, meta).await?;
    let wrong = || AppError::bad_input("code", "the code is wrong, used or expired");
    let email = validation::email(email).map_err(|_| wrong())?;
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(wrong());
    }
    limits::spend_address_budget(
        ctx,
        "sign_in_code_guess",
        &email,
        crate::config::Rate {
            hits: GUESSES_PER_DAY,
            per: std::time::Duration::from_secs(86_400),
        },
    )
    .await?;
    // Every guess is counted against every live code of the address before
    // it is compared, in one statement, so racing guesses cannot pass the
    // limit: the sixth finds no live code.
    let counted = sign_in_code::Entity::update_many()
        .col_expr(
            sign_in_code::Column::Attempts,
            Expr::col(sign_in_code::Column::Attempts).add(1),
        )
        .filter(live())
        .filter(sign_in_code::Column::Email.eq(email.as_str()))
        .exec_with_returning(&ctx.db)
        .await?;
    let digest = ctx.typed_codes.digest(&email, code);
    // The digests are keyed: how long a comparison takes tells a guesser
    // nothing about the code.
    let Some(matched) = counted.into_iter().find(|row| row.code_digest == digest) else {
        return Err(wrong());
    };
    // This guess was counted already: a right fifth one still counts.
    let row = claim(
        ctx,
        sign_in_code::Column::Id.eq(matched.id),
        MAX_ATTEMPTS + 1,
    )
    .await?
    .ok_or_else(wrong)?;
    sign_in(ctx, row, meta, Method::MailedCode).await
}

/// `signInWithLink`: the token of the mail's link. `TOKEN_INVALID` when it
/// is unknown, used, expired or ended by wrong codes.
#[tracing::instrument(name = "sign_in_codes.with_link", skip_all)]
pub async fn with_link(
    ctx: &AppContext,
    token: &str,
    meta: &RequestMeta,
) -> Result<access::Tokens> {
    limits::hit(ctx, limits::Limited::Login, meta).await?;
    // A link dies with its code's fifth guess.
    let claimed = claim(
        ctx,
        sign_in_code::Column::TokenHash.eq(hash_token(token.trim())),
        MAX_ATTEMPTS,
    )
    .await?
    .ok_or(AppError::TokenInvalid)?;
    sign_in(ctx, claimed, meta, Method::MailedLink).await
}

/// Codes that may still be used.
fn live() -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(sign_in_code::Column::UsedAt.is_null())
        .add(sign_in_code::Column::ExpiresAt.gt(now()))
        .add(sign_in_code::Column::Attempts.lt(MAX_ATTEMPTS))
}

/// The one use of the unused, unexpired code `which` picks, with fewer than
/// `attempts_below` guesses counted: a conditional update, so racing uses
/// give one sign-in.
async fn claim(
    ctx: &AppContext,
    which: sea_orm::sea_query::SimpleExpr,
    attempts_below: i32,
) -> Result<Option<sign_in_code::Model>> {
    let claimed = sign_in_code::Entity::update_many()
        .col_expr(sign_in_code::Column::UsedAt, Expr::value(now()))
        .filter(sign_in_code::Column::UsedAt.is_null())
        .filter(sign_in_code::Column::ExpiresAt.gt(now()))
        .filter(sign_in_code::Column::Attempts.lt(attempts_below))
        .filter(which)
        .exec_with_returning(&ctx.db)
        .await?;
    Ok(claimed.into_iter().next())
}

/// Signs in the code's account, or makes it (a sign-up), with the address
/// proven; then as every sign-in ends (`complete_sign_in`).
async fn sign_in(
    ctx: &AppContext,
    row: sign_in_code::Model,
    meta: &RequestMeta,
    method: Method<'_>,
) -> Result<access::Tokens> {
    let user = match row.user_id {
        Some(id) => id,
        None => {
            if !(ctx.config.passwordless_signup && ctx.config.registration_enabled) {
                return Err(AppError::Forbidden);
            }
            let method = method.recorded();
            let made = users::with_username(&ctx.db, None, &row.email, |username| {
                let model = new_account::passwordless_row(username, &row.email, true);
                let method = method.as_str();
                async move {
                    let txn = ctx.begin().await?;
                    let user =
                        new_account::register_passwordless(&txn, model, meta, method).await?;
                    txn.commit().await?;
                    Ok(user)
                }
            })
            .await;
            match made {
                Ok(user) => user.id,
                // Made meanwhile (another code, or a registration): the code
                // proves the mailbox, so it signs in to that account.
                Err(AppError::ConflictBecause { .. }) => {
                    users::find_by_login(&ctx.db, &row.email)
                        .await?
                        .ok_or(AppError::TokenInvalid)?
                        .id
                }
                Err(err) => return Err(err),
            }
        }
    };
    let txn = ctx.begin().await?;
    let Some(user) = users::lock(&txn, user).await?.filter(|u| !u.is_deleted()) else {
        return Err(AppError::TokenInvalid);
    };
    // The address changed since the mail: the code was for the old one.
    if user.email != row.email {
        return Err(AppError::TokenInvalid);
    }
    let user = if user.email_verified_at.is_none() {
        prove_address(&txn, user, meta).await?
    } else {
        user
    };
    credentials::complete_sign_in(txn, ctx, user, meta, method).await
}

/// The code proved an address nobody had proven: what was set up before
/// may be a stranger's who registered it first (a password, keys, a second
/// factor, sessions), and goes; the address is verified.
async fn prove_address(
    txn: &sea_orm::DatabaseTransaction,
    user: user::Model,
    meta: &RequestMeta,
) -> Result<user::Model> {
    let ts = now();
    let had_password = user.has_password;
    let mut model = users::changes(&user);
    model.email_verified_at = Set(Some(ts));
    if had_password {
        model.has_password = Set(false);
        model.password_hash = Set(String::new());
        model.password_changed_at = Set(ts);
    }
    let user = users::save_locked(txn, user, model).await?;
    if had_password {
        Event::anonymous(meta, Action::AuthUnverifiedSetupRemoved)
            .on(Target::User(user.id))
            .change("passwordRemoved", serde_json::Value::Null, true)
            .record(txn)
            .await?;
    }
    access::revoke_sessions(txn, user.id, None).await?;
    credentials::forget_unproven(txn, user, meta).await
}

/// Codes a day past their expiry are deleted (the periodic job; safe on
/// every replica at once).
pub async fn prune(conn: &impl sea_orm::ConnectionTrait) -> Result<u64> {
    Ok(sign_in_code::Entity::delete_many()
        .filter(sign_in_code::Column::ExpiresAt.lt(now() - Duration::days(1)))
        .exec(conn)
        .await?
        .rows_affected)
}
