//! The outbox workers: each claims due messages of its kind, hands each to
//! its kind's sender, and records the outcome. `KINDS` is the one table of
//! kinds: how each is sent, retried, scrubbed once sent, and what its last
//! failure does. Every kind has a worker of its own, so a slow webhook
//! receiver never holds up a password-reset mail.

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use entity::outbox;

use crate::{
    error::Result,
    mail::SendError,
    service::{
        AppContext, account_mail, now,
        outbox::{self as queue, Outcome},
        webhook_fanout, webhook_send,
    },
};

type Sending<'a> = Pin<Box<dyn Future<Output = std::result::Result<(), SendError>> + Send + 'a>>;
type Finishing<'a> = Pin<Box<dyn Future<Output = Result<()>> + Send + 'a>>;

/// A kind of outbox message and how it is delivered.
pub struct Kind {
    /// The `kind` column of its rows.
    pub name: &'static str,
    /// Delivers one claimed message.
    send: for<'a> fn(&'a AppContext, &'a outbox::Model) -> Sending<'a>,
    /// When to try again after the `attempts`-th failure; `None` after the last.
    retry_delay: fn(&AppContext, i32) -> Option<Duration>,
    /// The payload to keep once the message is sent or failed.
    scrubbed: fn(&str) -> String,
    /// What the last failure of a message does, beyond marking it failed.
    after_last_failure:
        Option<for<'a> fn(&'a AppContext, &'a outbox::Model, &'a str) -> Finishing<'a>>,
    /// Whether committed audit events wake the worker (their transactions
    /// queue this kind), besides `outbox::wake` and the poll.
    woken_by_events: bool,
}

/// Every kind of outbox message.
pub const KINDS: [Kind; 2] = [
    Kind {
        name: account_mail::KIND,
        send: |ctx, message| Box::pin(account_mail::send(ctx, message)),
        retry_delay: account_mail::retry_delay,
        scrubbed: account_mail::scrubbed,
        after_last_failure: None,
        woken_by_events: false,
    },
    Kind {
        name: webhook_fanout::KIND,
        send: |ctx, message| Box::pin(webhook_send::send(ctx, message)),
        retry_delay: webhook_send::retry_delay,
        scrubbed: str::to_owned,
        after_last_failure: Some(|ctx, message, error| {
            Box::pin(webhook_send::disable_after_failures(ctx, message, error))
        }),
        woken_by_events: true,
    },
];

/// The kind of a stored message.
fn kind_of(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|kind| kind.name == name)
}

/// The shortest pause between two passes woken by events: under a steady
/// stream of events a worker drains at most this often.
const MIN_WOKEN_GAP: Duration = Duration::from_millis(100);

/// A kind's worker: drains due messages at every `OUTBOX_POLL_MS` and
/// whenever this replica commits a message (`outbox::wake`, or for kinds
/// queued by audit events, any committed event), until `shutdown` flips. A
/// send in progress when it does is finished and recorded first.
pub async fn run(
    ctx: Arc<AppContext>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    kind: &'static Kind,
) {
    let mut woken = ctx.outbox_wake.subscribe();
    let mut events = kind.woken_by_events.then(|| ctx.events.subscribe());
    loop {
        if *shutdown.borrow() {
            return;
        }
        if let Err(err) = drain(&ctx, Some(&shutdown), Some(kind)).await {
            tracing::warn!(error = %err, kind = kind.name, "outbox worker pass failed");
        }
        let event = async {
            match events.as_mut() {
                Some(events) => {
                    let _ = events.recv().await;
                    tokio::time::sleep(MIN_WOKEN_GAP).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = woken.changed() => {}
            () = event => {}
            () = tokio::time::sleep(ctx.config.outbox.poll_interval) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Claims and delivers due messages (of `kind`, or of every kind) until none
/// is due: a worker's pass, also run directly by tests. Once `shutdown`
/// flips, claimed messages not yet started are given back.
pub async fn drain(
    ctx: &AppContext,
    shutdown: Option<&tokio::sync::watch::Receiver<bool>>,
    kind: Option<&Kind>,
) -> Result<()> {
    loop {
        let claimed = queue::claim(ctx, kind.map(|k| k.name)).await?;
        let n = claimed.len();
        for message in claimed {
            if shutdown.is_some_and(|s| *s.borrow()) {
                // Claimed but not started: due again when the lease ends
                // (another replica, or this one after a restart, sends it).
                queue::release(ctx, message.id).await?;
                continue;
            }
            deliver(ctx, message).await?;
        }
        if n < queue::BATCH as usize {
            return Ok(());
        }
    }
}

/// Delivers one claimed message through its kind and records the outcome.
async fn deliver(ctx: &AppContext, message: outbox::Model) -> Result<()> {
    let started = std::time::Instant::now();
    let kind = kind_of(&message.kind);
    let sent = match kind {
        Some(kind) => (kind.send)(ctx, &message).await,
        None => Err(SendError::Permanent(anyhow::anyhow!(
            "unknown outbox kind `{}`",
            message.kind
        ))),
    };
    let scrubbed =
        |payload: &str| kind.map_or_else(|| payload.to_owned(), |k| (k.scrubbed)(payload));
    let (outcome, label) = match sent {
        Ok(()) => {
            tracing::info!(message_id = %message.id, topic = %message.topic, attempts = message.attempts, "outbox message delivered");
            let payload = scrubbed(&message.payload);
            (Outcome::Sent { payload }, crate::metrics::DELIVERY_SENT)
        }
        Err(err) => {
            let (permanent, err) = match err {
                SendError::Permanent(err) => (true, err),
                SendError::Transient(err) => (false, err),
            };
            let error: String = format!("{err:#}").chars().take(1000).collect();
            let retry_in = kind
                .filter(|_| !permanent)
                .and_then(|kind| (kind.retry_delay)(ctx, message.attempts));
            match retry_in {
                Some(delay) => {
                    tracing::warn!(message_id = %message.id, topic = %message.topic, attempts = message.attempts, retry_in_ms = delay.as_millis() as u64, error = %error, "outbox delivery failed; will retry");
                    let at = now() + chrono::Duration::from_std(delay).unwrap_or_default();
                    (Outcome::Retry { at, error }, crate::metrics::DELIVERY_ERROR)
                }
                None => {
                    if permanent {
                        // Refused for good (a mailbox that does not exist,
                        // say): one warning, no retries.
                        tracing::warn!(message_id = %message.id, topic = %message.topic, attempts = message.attempts, error = %error, "outbox message refused; not retried");
                    } else {
                        tracing::error!(message_id = %message.id, topic = %message.topic, attempts = message.attempts, error = %error, "outbox message failed for good");
                    }
                    if let Some(finish) = kind.and_then(|k| k.after_last_failure) {
                        finish(ctx, &message, &error).await?;
                    }
                    let payload = scrubbed(&message.payload);
                    (
                        Outcome::Failed { error, payload },
                        crate::metrics::DELIVERY_ERROR,
                    )
                }
            }
        }
    };
    metrics::counter!(crate::metrics::OUTBOX_DELIVERIES, "kind" => message.kind.clone(), "outcome" => label).increment(1);
    metrics::histogram!(crate::metrics::OUTBOX_DELIVERY_SECONDS, "kind" => message.kind.clone())
        .record(started.elapsed().as_secs_f64());
    queue::record(ctx, &message, outcome).await
}
