//! Per-client-address rate limits on the anonymous credential operations,
//! counted in the database so that every replica shares them. Each limit is a
//! fixed window (`10/hour` counts hits from the top of each hour), so a client
//! may reach twice the limit across a window boundary; the account lockout
//! and the argon2 queue still bound what any burst can do.

use std::net::IpAddr;

use entity::rate_limit;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait, OnConflict},
};

use super::{AppContext, RequestMeta, now};
use crate::error::{AppError, Result};

/// The operations that are limited, each with its own budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    Register,
    Login,
    /// `requestPasswordReset`, an anonymous `sendVerificationEmail`,
    /// `resetPassword` and `acceptInvitation`.
    Recovery,
}

impl Limited {
    fn name(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Login => "login",
            Self::Recovery => "recovery",
        }
    }
}

/// Whose hits count together: an IPv4 address, or an IPv6 address's /64
/// (one customer's network, where a client picks any address it likes).
fn client_key(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map_or_else(String::new, |v4| v4.to_string()),
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.chars().take(64).collect(),
    }
}

/// Counts one `action` from the request's client address, and refuses it
/// with `RATE_LIMITED` (and when to retry) once the window's budget is spent.
/// One statement: an upsert that returns the new count.
pub async fn hit(ctx: &AppContext, action: Limited, meta: &RequestMeta) -> Result<()> {
    let limits = &ctx.config.rate_limits;
    let Some(ip) = meta.ip.as_deref().filter(|_| limits.enabled) else {
        return Ok(());
    };
    let rate = match action {
        Limited::Register => limits.register,
        Limited::Login => limits.login,
        Limited::Recovery => limits.recovery,
    };
    charge(ctx, format!("{}:{}", action.name(), client_key(ip)), rate)
        .await
        .inspect_err(|_| tracing::info!(action = action.name(), ip, "rate limited"))
}

/// Counts one use of an account's own budget for `what` (at most `rate`),
/// whether `RATE_LIMITS` is on or not: these budgets are the API's promise
/// to the account's owner (how many email-change answers one account can
/// draw), not a defence an operator tunes. `RATE_LIMITED` once spent.
pub async fn spend_account_budget(
    ctx: &AppContext,
    what: &'static str,
    user_id: uuid::Uuid,
    rate: crate::config::Rate,
) -> Result<()> {
    charge(ctx, format!("{what}:{}", crate::ids::user(user_id)), rate)
        .await
        .inspect_err(|_| tracing::info!(what, "account budget spent"))
}

/// Counts one use of an address's budget for `what` (at most `rate`),
/// whoever asks: what an address can be put through (guesses at its codes)
/// whatever the clients' addresses. The bucket holds the address's hash.
/// `RATE_LIMITED` once spent.
pub async fn spend_address_budget(
    ctx: &AppContext,
    what: &'static str,
    address: &str,
    rate: crate::config::Rate,
) -> Result<()> {
    charge(
        ctx,
        format!("{what}:{}", super::tokens::hash_token(address)),
        rate,
    )
    .await
    .inspect_err(|_| tracing::info!(what, "address budget spent"))
}

/// Counts one hit on `bucket` in the current fixed window of `rate`, and
/// refuses it (`RATE_LIMITED`, with when to retry) past the budget.
async fn charge(ctx: &AppContext, bucket: String, rate: crate::config::Rate) -> Result<()> {
    let period = Ord::max(rate.per.as_secs(), 1) as i64;
    let ts = now();
    let at = ts.timestamp();
    let window_start = at - at.rem_euclid(period);
    let hits = count(
        &ctx.db,
        bucket,
        window_start,
        ts + chrono::Duration::seconds(window_start + period - at),
    )
    .await?;
    if hits > rate.hits as i64 {
        return Err(AppError::RateLimited {
            retry_after: Ord::max(window_start + period - at, 1) as u64,
        });
    }
    Ok(())
}

async fn count(
    conn: &impl ConnectionTrait,
    bucket: String,
    window_start: i64,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> Result<i64> {
    let row = rate_limit::Entity::insert(rate_limit::ActiveModel {
        bucket: Set(bucket),
        window_start: Set(window_start),
        hits: Set(1),
        expires_at: Set(expires_at),
    })
    .on_conflict(
        OnConflict::columns([rate_limit::Column::Bucket, rate_limit::Column::WindowStart])
            .value(
                rate_limit::Column::Hits,
                Expr::col((rate_limit::Entity, rate_limit::Column::Hits)).add(1),
            )
            .to_owned(),
    )
    .exec_with_returning(conn)
    .await?;
    Ok(row.hits.into())
}

/// Deletes the counters of windows that have ended; returns how many. Safe to
/// run from every replica at once.
pub async fn prune(conn: &impl ConnectionTrait) -> Result<u64> {
    Ok(rate_limit::Entity::delete_many()
        .filter(rate_limit::Column::ExpiresAt.lt(now()))
        .exec(conn)
        .await?
        .rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_counts_by_its_64_bit_prefix() {
        assert_eq!(
            client_key("2001:db8:1:2:aaaa::1"),
            client_key("2001:db8:1:2:bbbb::9")
        );
        assert_ne!(client_key("2001:db8:1:2::1"), client_key("2001:db8:1:3::1"));
        assert_eq!(client_key("::ffff:203.0.113.7"), "203.0.113.7");
        assert_eq!(client_key("203.0.113.7"), "203.0.113.7");
    }
}
