//! The outbox: messages written in the same transaction as the change that
//! causes them (so a rolled-back change sends nothing), delivered afterwards
//! by a worker that runs in every replica. A worker claims due rows with one
//! conditional update (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite runs one
//! write at a time), which moves them a lease into the future: no other worker
//! takes a message while it is being sent, and a worker that dies mid-send
//! leaves it due again once the lease ends (at-least-once). Each failure is
//! recorded and retried with exponential backoff and jitter, up to
//! `OUTBOX_MAX_ATTEMPTS`, then the message is `failed`.

use std::{sync::Arc, time::Duration};

use entity::outbox::{self, Status};
use rand::Rng;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
    sea_query::{Expr, ExprTrait, LockBehavior, LockType},
};

use super::{AppContext, now, webhooks};
use crate::{
    error::Result,
    mail::{self, SendError},
};

/// Mail, through `mail::Transport`. Webhooks will be another kind.
pub const MAIL: &str = "mail";

/// Messages one claim takes.
const BATCH: u64 = 16;

/// How long a claimed message is left to its worker: longer than one send
/// may take, so it is never sent twice while its first send is running.
const LEASE: Duration = Duration::from_secs(mail::SEND_TIMEOUT.as_secs() * 4);

/// Queues a mail, in the caller's transaction. The link's token, if any, is
/// sealed before it is stored.
pub async fn queue_mail(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    mut queued: mail::Queued,
    token: Option<&str>,
) -> Result<()> {
    queued.sealed_token = token.map(|t| ctx.sealer.seal(t.as_bytes()));
    queue(
        conn,
        MAIL,
        queued.template.name(),
        &queued.to,
        serde_json::to_string(&queued).map_err(anyhow::Error::from)?,
    )
    .await
}

/// Queues a message of `kind` (its own JSON `payload`), due at once, in the
/// caller's transaction.
pub async fn queue(
    conn: &impl ConnectionTrait,
    kind: &str,
    topic: &str,
    recipient: &str,
    payload: String,
) -> Result<()> {
    let ts = now();
    outbox::Entity::insert(outbox::ActiveModel {
        id: Set(crate::ids::new_key()),
        kind: Set(kind.to_owned()),
        topic: Set(topic.to_owned()),
        recipient: Set(recipient.to_owned()),
        payload: Set(payload),
        status: Set(Status::Pending),
        attempts: Set(0),
        next_attempt_at: Set(ts),
        last_error: Set(None),
        created_at: Set(ts),
        updated_at: Set(ts),
        sent_at: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(())
}

/// When each message on `topic` to `recipient` since `since` was queued,
/// oldest first (the per-address mail budget: at most a handful of rows).
pub async fn recent(
    conn: &impl ConnectionTrait,
    recipient: &str,
    topic: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<chrono::DateTime<chrono::Utc>>> {
    Ok(outbox::Entity::find()
        .select_only()
        .column(outbox::Column::CreatedAt)
        .filter(outbox::Column::Recipient.eq(recipient))
        .filter(outbox::Column::Topic.eq(topic))
        .filter(outbox::Column::CreatedAt.gt(since))
        .order_by_asc(outbox::Column::CreatedAt)
        .into_tuple()
        .all(conn)
        .await?)
}

/// Tells this replica's worker that a message was committed, so it need not
/// wait for its next poll.
pub fn wake(ctx: &AppContext) {
    ctx.outbox_wake.notify_one();
}

/// Claims up to `BATCH` due messages (of `kind`, or of any) for this worker.
pub async fn claim(ctx: &AppContext, kind: Option<&str>) -> Result<Vec<outbox::Model>> {
    let ts = now();
    let lease_end = ts + chrono::Duration::from_std(LEASE).unwrap_or_default();
    let mut due = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Id)
        .filter(outbox::Column::Status.eq(Status::Pending));
    if let Some(kind) = kind {
        due = due.filter(outbox::Column::Kind.eq(kind));
    }
    let mut due = due
        .filter(outbox::Column::NextAttemptAt.lte(ts))
        .order_by_asc(outbox::Column::NextAttemptAt)
        .limit(BATCH)
        .into_query();
    if ctx.db.get_database_backend() == DatabaseBackend::Postgres {
        due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    Ok(outbox::Entity::update_many()
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(lease_end))
        .col_expr(
            outbox::Column::Attempts,
            Expr::col(outbox::Column::Attempts).add(1),
        )
        .col_expr(outbox::Column::UpdatedAt, Expr::value(ts))
        .filter(outbox::Column::Id.in_subquery(due))
        // Checked again on the locked row: a row another worker claimed
        // between the subquery and the update is not due any more.
        .filter(outbox::Column::Status.eq(Status::Pending))
        .filter(outbox::Column::NextAttemptAt.lte(ts))
        .exec_with_returning(&ctx.db)
        .await?)
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

/// Delivers one claimed message and records the outcome.
async fn deliver(ctx: &AppContext, message: outbox::Model) -> Result<()> {
    let started = std::time::Instant::now();
    let outcome = send(ctx, &message).await;
    let ts = now();
    let mut update = outbox::Entity::update_many()
        .col_expr(outbox::Column::UpdatedAt, Expr::value(ts))
        .filter(outbox::Column::Id.eq(message.id));
    let label = match &outcome {
        Ok(()) => {
            update = update
                .col_expr(outbox::Column::Status, Expr::value(Status::Sent))
                .col_expr(outbox::Column::SentAt, Expr::value(Some(ts)))
                .col_expr(
                    outbox::Column::LastError,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(outbox::Column::Payload, Expr::value(scrubbed(&message)));
            tracing::info!(message_id = %message.id, topic = %message.topic, attempts = message.attempts, "outbox message delivered");
            "sent"
        }
        Err(err) => {
            let (permanent, err) = match err {
                SendError::Permanent(err) => (true, err),
                SendError::Transient(err) => (false, err),
            };
            let error: String = format!("{err:#}").chars().take(1000).collect();
            let retry_in = retry_delay(ctx, &message);
            if permanent || retry_in.is_none() {
                update = update
                    .col_expr(outbox::Column::Status, Expr::value(Status::Failed))
                    .col_expr(outbox::Column::Payload, Expr::value(scrubbed(&message)));
                if permanent {
                    // Refused for good (a mailbox that does not exist, say):
                    // one warning, no retries.
                    tracing::warn!(message_id = %message.id, topic = %message.topic, attempts = message.attempts, error = %error, "outbox message refused; not retried");
                } else {
                    tracing::error!(message_id = %message.id, topic = %message.topic, attempts = message.attempts, error = %error, "outbox message failed for good");
                }
                if message.kind == webhooks::KIND {
                    webhooks::disable_after_failures(ctx, &message, &error).await?;
                }
            } else {
                let delay = retry_in.unwrap_or_default();
                update = update.col_expr(
                    outbox::Column::NextAttemptAt,
                    Expr::value(ts + chrono::Duration::from_std(delay).unwrap_or_default()),
                );
                tracing::warn!(message_id = %message.id, topic = %message.topic, attempts = message.attempts, retry_in_ms = delay.as_millis() as u64, error = %error, "outbox delivery failed; will retry");
            }
            update = update.col_expr(outbox::Column::LastError, Expr::value(Some(error)));
            "error"
        }
    };
    metrics::counter!(crate::metrics::OUTBOX_DELIVERIES, "kind" => message.kind.clone(), "outcome" => label).increment(1);
    metrics::histogram!(crate::metrics::OUTBOX_DELIVERY_SECONDS, "kind" => message.kind.clone())
        .record(started.elapsed().as_secs_f64());
    update.exec(&ctx.db).await?;
    Ok(())
}

/// When to try `message` again after its failed attempt; `None` after the
/// last one. Mail backs off exponentially from `OUTBOX_RETRY_BASE_MS` for
/// `OUTBOX_MAX_ATTEMPTS`; webhooks follow `WEBHOOK_RETRY_SCHEDULE`.
fn retry_delay(ctx: &AppContext, message: &outbox::Model) -> Option<Duration> {
    let attempts = Ord::max(message.attempts, 1);
    if message.kind == webhooks::KIND {
        let schedule = &ctx.config.webhook_retry_schedule;
        return schedule.get(attempts as usize - 1).copied();
    }
    (attempts < ctx.config.mail.max_attempts as i32)
        .then(|| backoff(ctx.config.mail.retry_base, attempts))
}

async fn send(ctx: &AppContext, message: &outbox::Model) -> Result<(), SendError> {
    if message.kind == webhooks::KIND {
        return webhooks::send(ctx, message).await;
    }
    // A message that cannot be read or composed never will be.
    let composed = compose(ctx, message).map_err(SendError::Permanent)?;
    ctx.mailer.send(&ctx.config.mail.from, &composed).await
}

fn compose(ctx: &AppContext, message: &outbox::Model) -> anyhow::Result<mail::Mail> {
    anyhow::ensure!(
        message.kind == MAIL,
        "unknown outbox kind `{}`",
        message.kind
    );
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
    mail::compose(&ctx.config.mail, &queued, token.as_deref())
}

/// The payload without its sealed token, once the token is of no more use.
fn scrubbed(message: &outbox::Model) -> String {
    match serde_json::from_str::<mail::Queued>(&message.payload) {
        Ok(mut queued) => {
            queued.sealed_token = None;
            serde_json::to_string(&queued).unwrap_or_default()
        }
        Err(_) => message.payload.clone(),
    }
}

/// A delivery worker for one kind of message: drains due messages at every
/// `OUTBOX_POLL_MS` (and, for mail, whenever this replica commits one),
/// until `shutdown` flips. A send in progress when it does is finished and
/// recorded first. Mail and webhooks have a worker each, so a slow webhook
/// receiver never holds up a password-reset mail.
pub async fn run(
    ctx: Arc<AppContext>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    kind: &'static str,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        if let Err(err) = drain(&ctx, Some(&shutdown), Some(kind)).await {
            tracing::warn!(error = %err, kind, "outbox worker pass failed");
        }
        let woken = async {
            if kind == MAIL {
                ctx.outbox_wake.notified().await
            } else {
                std::future::pending().await
            }
        };
        tokio::select! {
            () = woken => {}
            () = tokio::time::sleep(ctx.config.mail.poll_interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Claims and delivers due messages until none is due: the worker's pass,
/// also run directly by tests. Once `shutdown` flips, claimed messages not
/// yet started are given back.
pub async fn drain(
    ctx: &AppContext,
    shutdown: Option<&tokio::sync::watch::Receiver<bool>>,
    kind: Option<&str>,
) -> Result<()> {
    loop {
        let claimed = claim(ctx, kind).await?;
        let n = claimed.len();
        for message in claimed {
            if shutdown.is_some_and(|s| *s.borrow()) {
                // Claimed but not started: due again when the lease ends
                // (another replica, or this one after a restart, sends it).
                release(ctx, message.id).await?;
                continue;
            }
            deliver(ctx, message).await?;
        }
        if n < BATCH as usize {
            return Ok(());
        }
    }
}

/// Gives a claimed message back at once, for a worker that is stopping.
async fn release(ctx: &AppContext, id: uuid::Uuid) -> Result<()> {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::NextAttemptAt, Expr::value(now()))
        .col_expr(
            outbox::Column::Attempts,
            Expr::col(outbox::Column::Attempts).sub(1),
        )
        .filter(outbox::Column::Id.eq(id))
        .exec(&ctx.db)
        .await?;
    Ok(())
}

/// Deletes sent messages after a week and failed ones after a month; safe
/// from every replica at once.
pub async fn prune(conn: &impl ConnectionTrait) -> Result<u64> {
    let ts = now();
    Ok(outbox::Entity::delete_many()
        .filter(
            sea_orm::Condition::any()
                .add(
                    outbox::Column::Status
                        .eq(Status::Sent)
                        .and(outbox::Column::UpdatedAt.lt(ts - chrono::Duration::days(7))),
                )
                .add(
                    outbox::Column::Status
                        .eq(Status::Failed)
                        .and(outbox::Column::UpdatedAt.lt(ts - chrono::Duration::days(30))),
                ),
        )
        .exec(conn)
        .await?
        .rows_affected)
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
