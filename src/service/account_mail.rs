//! Account mail, a building block: mail about an account (reset and
//! verification links, email changes, invitations) with its per-address
//! budget, queued through the outbox in the caller's transaction, and the
//! outbox kind that delivers it through `mail::Transport`. A link's token is
//! sealed while it waits in the outbox and scrubbed once the mail is sent
//! or given up. Enumeration-safe requests do their lookup and mail after
//! answering (`detach`).

use std::{sync::Arc, time::Duration};

use entity::{outbox, user};
use rand::Rng;
use sea_orm::ConnectionTrait;

use super::{
    AppContext,
    audit::{Action, Event, Target},
    credentials, limits,
    links::{self, Purpose},
    now, outbox as queue, users,
};
use crate::{
    auth::Viewer,
    error::{AppError, Result},
    mail::{self, Queued, SendError, Template},
    validation,
};

/// The outbox kind of account mail.
pub const KIND: &str = "mail";

/// Queues a mail, in the caller's transaction. The link's token, if any, is
/// sealed before it is stored.
pub async fn queue(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    mut queued: mail::Queued,
    token: Option<&str>,
) -> Result<()> {
    queued.sealed_token = token.map(|t| ctx.sealer.seal(t.as_bytes()));
    queue::queue(
        conn,
        KIND,
        queued.template.name(),
        &queued.to,
        serde_json::to_string(&queued).map_err(anyhow::Error::from)?,
    )
    .await
}

/// Delivers one claimed mail: composes it (its link's token opened) and
/// sends it. A message that cannot be read or composed never will be.
pub async fn send(ctx: &AppContext, message: &outbox::Model) -> Result<(), SendError> {
    let composed = compose(ctx, message).map_err(SendError::Permanent)?;
    ctx.mailer.send(&ctx.config.mail.from, &composed).await
}

fn compose(ctx: &AppContext, message: &outbox::Model) -> anyhow::Result<mail::Mail> {
    let queued: mail::Queued = serde_json::from_str(&message.payload)?;
    let token = queued
        .sealed_token
        .as_deref()
        .map(|sealed| {
            ctx.sealer
                .open(sealed)
                .and_then(|t| Ok(String::from_utf8(t)?))
        })
        .transpose()?;
    let mut queued = queued;
    if let (Template::SignInCode, Some(token)) = (queued.template, token.as_deref()) {
        // Made from the token now: the outbox never holds the code.
        queued
            .values
            .insert("code".into(), ctx.typed_codes.code_of(token).into());
    }
    mail::compose(&ctx.config.mail, &queued, token.as_deref())
}

/// The payload without its sealed token, once the token is of no more use.
pub fn scrubbed(payload: &str) -> String {
    match serde_json::from_str::<mail::Queued>(payload) {
        Ok(mut queued) => {
            queued.sealed_token = None;
            serde_json::to_string(&queued).unwrap_or_default()
        }
        Err(_) => payload.to_owned(),
    }
}

/// When to try a mail again after its `attempts`-th failed attempt: from
/// `OUTBOX_RETRY_BASE_MS`, doubling, for `OUTBOX_MAX_ATTEMPTS` attempts;
/// `None` after the last.
pub fn retry_delay(ctx: &AppContext, attempts: i32) -> Option<Duration> {
    let attempts = Ord::max(attempts, 1);
    (attempts < ctx.config.mail.max_attempts as i32)
        .then(|| backoff(ctx.config.mail.retry_base, attempts))
}

/// The delay before attempt `attempts + 1`: the base doubled per attempt so
/// far, capped at a day, with up to half of it taken off at random so
/// messages that failed together do not retry together.
fn backoff(base: Duration, attempts: i32) -> Duration {
    let exponent = attempts.saturating_sub(1).clamp(0, 20) as u32;
    let full = base
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(Duration::from_secs(86_400));
    let jitter = rand::rng().random_range(0.5..=1.0);
    full.mul_f64(jitter)
}

/// Runs `work` after the request has answered, so that what it finds (an
/// account or none) cannot show in the answer's timing. Bounded: when
/// `detached` is full the work is dropped and logged, as a flood would be.
pub fn detach<F>(ctx: &Arc<AppContext>, what: &'static str, work: F)
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
    let sent = queue::recent(conn, address, template.name(), ts - window).await?;
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
/// account's name and username, a requested new address, and the address
/// itself, whose local part may say anything): only when
/// `address` is the account's proven one, whose owner chose that text or
/// was given it by an administrator. Anyone can register any address, so
/// mail to an unproven one carries only the service's own words, and no
/// stranger can use it to send their text to someone else's inbox.
/// Invitations are the exception: their text is an administrator's.
pub fn may_quote(user: &user::Model, address: &str) -> bool {
    user.email_verified_at.is_some() && address == user.email
}

/// The language of a mail: the user's `locale` when `MAIL_LOCALES` has it
/// (`de-AT` reads as `de`), else the best of an anonymous request's
/// `Accept-Language` that it has, else English.
pub fn locale_for(
    ctx: &AppContext,
    user_locale: Option<&str>,
    accept_language: Option<&str>,
) -> &'static str {
    let offered = |tag: &str| -> Option<&'static str> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        mail::LOCALES
            .iter()
            .find(|l| **l == primary && ctx.config.mail.locales.iter().any(|m| m == *l))
            .copied()
    };
    if let Some(locale) = user_locale.and_then(offered) {
        return locale;
    }
    let mut asked: Vec<(f32, &str)> = accept_language
        .unwrap_or_default()
        .split(',')
        .take(16)
        .filter_map(|item| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
            (q > 0.0).then_some((q, tag))
        })
        .collect();
    // Stable: among equal weights the header's order stands.
    asked.sort_by(|a, b| b.0.total_cmp(&a.0));
    asked
        .into_iter()
        // `*` is any language: the default one.
        .find_map(|(_, tag)| if tag == "*" { Some("en") } else { offered(tag) })
        .unwrap_or("en")
}

/// The language of mail to `user`, with no request to go by.
pub fn locale_of(ctx: &AppContext, user: &user::Model) -> &'static str {
    locale_for(ctx, user.locale.as_deref(), None)
}

/// The values every mail to `user` at `address` shows: the account's name,
/// username and the address only when `quote` allows them (`may_quote`),
/// and the link's lifetime in words of `locale`.
pub fn values(
    user: &user::Model,
    address: &str,
    purpose_ttl: std::time::Duration,
    quote: bool,
    locale: &str,
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
        values.insert("address".into(), address.into());
    }
    values.insert(
        "lifetime".into(),
        mail::lifetime(purpose_ttl, locale).into(),
    );
    values
}

/// Issues a link token for a mail of kind `template` and queues the mail
/// that carries it to `address`, in the caller's transaction. The caller
/// wakes the outbox worker once it commits.
pub async fn mail_link(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    template: Template,
    user: &user::Model,
    address: &str,
) -> Result<()> {
    let purpose = Purpose::Mail(template);
    let token = links::issue(conn, ctx, purpose, user, address).await?;
    let quote = template == Template::Invitation || may_quote(user, address);
    let locale = locale_of(ctx, user);
    let queued = Queued {
        template,
        locale: Some(locale.to_owned()),
        to: address.to_owned(),
        values: values(user, address, purpose.ttl(ctx), quote, locale),
        sealed_token: None,
    };
    queue(conn, ctx, queued, Some(&token)).await
}

/// Queues a new account's verification mail in its creating transaction
/// (nothing when the address's budget is spent).
pub async fn queue_welcome_verification(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    user: &user::Model,
) -> Result<()> {
    if within_budget(conn, ctx, &user.email, Template::VerifyEmail, Asker::Owner).await? {
        mail_link(conn, ctx, Template::VerifyEmail, user, &user.email).await?;
    }
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
    credentials::confirm_password(ctx, viewer, password, password_field).await?;
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
    require_budget(txn, ctx, &user.email, Template::EmailChangeNotice).await?;
    require_budget(txn, ctx, new_email, Template::EmailChange).await?;
    // One pending change at a time: the newest request's link is the one.
    links::supersede(txn, user.id, &[Purpose::Mail(Template::EmailChange)]).await?;
    mail_link(txn, ctx, Template::EmailChange, user, new_email).await?;
    let quote = may_quote(user, &user.email);
    let lifetime = Purpose::Mail(Template::EmailChange).ttl(ctx);
    let locale = locale_of(ctx, user);
    let mut values = values(user, &user.email, lifetime, quote, locale);
    if quote {
        values.insert("new_address".into(), new_email.into());
    }
    queue(
        txn,
        ctx,
        Queued {
            template: Template::EmailChangeNotice,
            locale: Some(locale.to_owned()),
            to: user.email.clone(),
            values,
            sealed_token: None,
        },
        None,
    )
    .await?;
    Event::by(viewer, Action::UserEmailChangeRequested)
        .on(Target::User(user.id))
        .change("email", user.email.clone(), new_email)
        .record(txn)
        .await?;
    tracing::info!(user_id = %crate::ids::user(user.id), "email change requested");
    Ok(())
}

/// An impersonation as its notice tells the user of it.
pub struct ImpersonationNotice<'a> {
    /// The administrator's username.
    pub actor: &'a str,
    pub reason: &'a str,
    pub read_only: bool,
    pub lifetime: Duration,
}

/// Queues the notice that an administrator started acting as `user`, in
/// the caller's transaction, where `user` is locked. Outside the address's
/// mail budget: an administrator must not silence it by spending the
/// budget first (each one costs them a step-up and an audited session).
pub async fn queue_impersonation_notice(
    txn: &impl ConnectionTrait,
    ctx: &AppContext,
    user: &user::Model,
    notice: ImpersonationNotice<'_>,
) -> Result<()> {
    let template = Template::ImpersonationNotice;
    let locale = locale_of(ctx, user);
    let quote = may_quote(user, &user.email);
    let mut values = values(user, &user.email, notice.lifetime, quote, locale);
    values.insert("actor".into(), notice.actor.into());
    values.insert("reason".into(), notice.reason.into());
    values.insert("read_only".into(), notice.read_only.into());
    queue(
        txn,
        ctx,
        Queued {
            template,
            locale: Some(locale.to_owned()),
            to: user.email.clone(),
            values,
            sealed_token: None,
        },
        None,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_secs(30);
        for attempts in 1..=5 {
            let full = 30 * 2u64.pow(attempts as u32 - 1);
            let delay = backoff(base, attempts).as_secs_f64();
            assert!(
                delay >= full as f64 * 0.5 - 0.001 && delay <= full as f64 + 0.001,
                "{attempts}: {delay}"
            );
        }
        assert!(backoff(base, 40) <= Duration::from_secs(86_400));
    }
}
