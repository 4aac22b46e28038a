//! Account mail, a building block: mail about an account (reset and
//! verification links, email changes, invitations), queued through the
//! outbox in the caller's transaction, and delivered by the outbox worker
//! through `mail::Transport`. A link's token is sealed while it waits in
//! the outbox and scrubbed once the mail is sent or given up.

use std::time::Duration;

use entity::outbox;
use rand::Rng;
use sea_orm::ConnectionTrait;

use super::{AppContext, outbox as queue};
use crate::{
    error::Result,
    mail::{self, SendError},
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
