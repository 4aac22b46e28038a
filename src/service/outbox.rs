//! The outbox: messages written in the same transaction as the change that
//! causes them (so a rolled-back change sends nothing), delivered afterwards
//! by the workers that run in every replica (`worker::outbox`, which holds
//! the table of kinds: this module knows none). A worker claims due rows
//! with one conditional update (`FOR UPDATE SKIP LOCKED` on PostgreSQL;
//! SQLite runs one write at a time), which moves them a lease into the
//! future: no other worker takes a message while it is being sent, and a
//! worker that dies mid-send leaves it due again once the lease ends
//! (at-least-once). Each outcome is recorded: sent, retried later, or failed.

use std::time::Duration;

use entity::outbox::{self, Status};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait,
    sea_query::{Expr, ExprTrait, LockBehavior, LockType},
};

use super::{AppContext, now};
use crate::error::Result;

/// Messages one claim takes.
pub const BATCH: u64 = 16;

/// How long a claimed message is left to its worker: longer than one send
/// of any kind may take (a mail's SMTP conversation, a webhook's answer),
/// so it is never sent twice while its first send is running.
const LEASE: Duration = Duration::from_secs(120);

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

/// Tells this replica's workers that a message was committed, so they need
/// not wait for their next poll.
pub fn wake(ctx: &AppContext) {
    ctx.outbox_wake.send_modify(|n| *n = n.wrapping_add(1));
}

/// Claims up to `BATCH` due messages (of `kind`, or of any) for a worker.
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

/// How a delivery attempt ended, as the outbox records it.
#[derive(Debug)]
pub enum Outcome {
    /// Delivered; `payload` replaces the stored one (what is no more use scrubbed).
    Sent { payload: String },
    /// Failed; tried again at `at`.
    Retry {
        at: chrono::DateTime<chrono::Utc>,
        error: String,
    },
    /// Failed for good; `payload` replaces the stored one.
    Failed { error: String, payload: String },
}

/// Records the outcome of `message`'s attempt.
pub async fn record(ctx: &AppContext, message: &outbox::Model, outcome: Outcome) -> Result<()> {
    let ts = now();
    let mut update = outbox::Entity::update_many()
        .col_expr(outbox::Column::UpdatedAt, Expr::value(ts))
        .filter(outbox::Column::Id.eq(message.id));
    update = match outcome {
        Outcome::Sent { payload } => update
            .col_expr(outbox::Column::Status, Expr::value(Status::Sent))
            .col_expr(outbox::Column::SentAt, Expr::value(Some(ts)))
            .col_expr(
                outbox::Column::LastError,
                Expr::value(Option::<String>::None),
            )
            .col_expr(outbox::Column::Payload, Expr::value(payload)),
        Outcome::Retry { at, error } => update
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(at))
            .col_expr(outbox::Column::LastError, Expr::value(Some(error))),
        Outcome::Failed { error, payload } => update
            .col_expr(outbox::Column::Status, Expr::value(Status::Failed))
            .col_expr(outbox::Column::LastError, Expr::value(Some(error)))
            .col_expr(outbox::Column::Payload, Expr::value(payload)),
    };
    update.exec(&ctx.db).await?;
    Ok(())
}

/// Gives a claimed message back at once, for a worker that is stopping.
pub async fn release(ctx: &AppContext, id: uuid::Uuid) -> Result<()> {
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

/// One kind's messages still to be delivered: how many, and how long the
/// oldest has waited.
#[derive(Debug, Clone, PartialEq)]
pub struct Backlog {
    pub kind: String,
    pub pending: u64,
    pub oldest: Duration,
}

/// The pending messages of every kind that has any, in one statement.
pub async fn backlog(ctx: &AppContext) -> Result<Vec<Backlog>> {
    let rows: Vec<(String, i64, chrono::DateTime<chrono::Utc>)> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Kind)
        .column_as(outbox::Column::Id.count(), "pending")
        .column_as(outbox::Column::CreatedAt.min(), "oldest")
        .filter(outbox::Column::Status.eq(Status::Pending))
        .group_by(outbox::Column::Kind)
        .into_tuple()
        .all(&ctx.db)
        .await?;
    let at = now();
    Ok(rows
        .into_iter()
        .map(|(kind, pending, oldest)| Backlog {
            kind,
            pending: u64::try_from(pending).unwrap_or_default(),
            oldest: (at - oldest).to_std().unwrap_or_default(),
        })
        .collect())
}
