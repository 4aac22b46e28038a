//! Webhook delivery, part of the event stream: a claimed message is signed
//! per Standard Webhooks (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`),
//! POSTed to the checked address, logged as a delivery attempt, retried on
//! `WEBHOOK_RETRY_SCHEDULE`, and the webhook disabled after the last
//! failure. Targets in a special-purpose address range are refused (unless
//! `WEBHOOK_ALLOW_PRIVATE_TARGETS`), checked when a webhook is saved and
//! again at each delivery, which connects to the address it checked.

use std::{
    net::{IpAddr, SocketAddr},
    time::{Duration, Instant},
};

use base64::Engine;
use entity::{outbox, webhook, webhook_delivery};
use hmac::{Hmac, Mac};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

use super::{
    AppContext,
    audit::{Action, Event, Target},
    now,
    webhook_fanout::Queued,
};
use crate::{
    error::{AppError, Result},
    ids,
    mail::SendError,
};

/// How long a receiver has to answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// How much of a receiver's answer is read (for the delivery log).
const MAX_RESPONSE: usize = 64 * 1024;

/// The Standard Webhooks signature of `body` for message `id` sent at
/// `timestamp` (seconds), under `secret` (`whsec_<base64 key>`).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> anyhow::Result<String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))?;
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&key)?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// Every IPv4 range in IANA's special-purpose address registry (RFC 6890
/// and its updates), whatever the registry says of its reachability, and
/// multicast: a webhook reaches only ordinary global unicast addresses.
const SPECIAL_V4: [&str; 25] = [
    "0.0.0.0/8",          // "this network"
    "10.0.0.0/8",         // private
    "100.64.0.0/10",      // shared address space (carrier NAT)
    "127.0.0.0/8",        // loopback
    "169.254.0.0/16",     // link-local (cloud metadata lives here)
    "172.16.0.0/12",      // private
    "192.0.0.0/24",       // IETF protocol assignments
    "192.0.2.0/24",       // documentation
    "192.31.196.0/24",    // AS112-v4
    "192.52.193.0/24",    // AMT
    "192.88.99.0/24",     // deprecated 6to4 relay anycast
    "192.168.0.0/16",     // private
    "192.175.48.0/24",    // direct delegation AS112
    "198.18.0.0/15",      // benchmarking
    "198.51.100.0/24",    // documentation
    "203.0.113.0/24",     // documentation
    "224.0.0.0/4",        // multicast
    "240.0.0.0/4",        // reserved, and the limited broadcast address
    "255.255.255.255/32", // limited broadcast
    "192.0.0.0/29",       // IPv4 service continuity prefix
    "192.0.0.8/32",       // IPv4 dummy address
    "192.0.0.9/32",       // port control protocol anycast
    "192.0.0.10/32",      // traversal using relays around NAT anycast
    "192.0.0.170/31",     // NAT64/DNS64 discovery
    "192.0.0.171/32",     // NAT64/DNS64 discovery
];

/// Every IPv6 range in IANA's special-purpose address registry, multicast,
/// the deprecated site-local range, and every form that embeds an IPv4
/// address but NAT64's well-known prefix (`embedded_v4`).
const SPECIAL_V6: [&str; 20] = [
    "::/128",            // unspecified
    "::1/128",           // loopback
    "::/96",             // IPv4-compatible (deprecated)
    "::ffff:0:0/96",     // IPv4-mapped
    "::ffff:0:0:0/96",   // IPv4-translated (SIIT)
    "64:ff9b:1::/48",    // local-use IPv4/IPv6 translation
    "100::/64",          // discard-only
    "100:0:0:1::/64",    // dummy IPv6 prefix
    "2001::/23",         // IETF protocol assignments (Teredo, ORCHID, AMT, benchmarking...)
    "2001:db8::/32",     // documentation
    "2002::/16",         // 6to4
    "2620:4f:8000::/48", // direct delegation AS112
    "3fff::/20",         // documentation
    "5f00::/16",         // segment routing (SRv6) SIDs
    "fc00::/7",          // unique local
    "fe80::/10",         // link-local
    "fec0::/10",         // site-local (deprecated)
    "ff00::/8",          // multicast
    "::/8",              // the rest of the reserved block
    "fe00::/9",          // the rest of the reserved block before link-local
];

/// The IPv4 address inside NAT64's well-known prefix (`64:ff9b::/96`):
/// the one embedding form with a public use (DNS64 in IPv6-only networks),
/// so it is judged by the address it carries. Every other embedding form
/// is refused outright (`SPECIAL_V6`).
fn embedded_v4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    match v6.segments() {
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(std::net::Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

fn special_ranges() -> &'static (Vec<ipnet::Ipv4Net>, Vec<ipnet::Ipv6Net>) {
    static RANGES: std::sync::LazyLock<(Vec<ipnet::Ipv4Net>, Vec<ipnet::Ipv6Net>)> =
        std::sync::LazyLock::new(|| {
            (
                SPECIAL_V4
                    .iter()
                    .map(|r| r.parse().expect("an IPv4 range"))
                    .collect(),
                SPECIAL_V6
                    .iter()
                    .map(|r| r.parse().expect("an IPv6 range"))
                    .collect(),
            )
        });
    &RANGES
}

/// Whether an address is one a webhook may not reach by default: anything
/// in a special-purpose range of IANA's registries (`SPECIAL_V4`,
/// `SPECIAL_V6`), and a NAT64 address that carries such an IPv4 address.
fn is_private(ip: IpAddr) -> bool {
    let (v4_ranges, v6_ranges) = special_ranges();
    match ip {
        IpAddr::V4(v4) => v4_ranges.iter().any(|r| r.contains(&v4)),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_private(IpAddr::V4(v4)),
            None => v6_ranges.iter().any(|r| r.contains(&v6)),
        },
    }
}

/// The URL, checked: http(s), and resolving to an address a webhook may
/// reach; returns the address to connect to, so the check cannot be
/// undone by the name resolving elsewhere a moment later.
pub async fn checked_target(ctx: &AppContext, raw: &str) -> Result<(url::Url, SocketAddr)> {
    let bad = |message: &str| AppError::bad_input("url", message.to_owned());
    let url = url::Url::parse(raw).map_err(|_| bad("url is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || raw.len() > 2048 {
        return Err(bad("url must be an http(s) URL of at most 2048 characters"));
    }
    let host = url.host_str().ok_or_else(|| bad("url has no host"))?;
    let port = url.port_or_known_default().unwrap_or(443);
    let lookup = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::lookup_host((host.trim_start_matches('[').trim_end_matches(']'), port)),
    )
    .await
    .map_err(|_| bad("url's host did not resolve in time"))?
    .map_err(|_| bad("url's host does not resolve"))?;
    let addrs: Vec<SocketAddr> = lookup.collect();
    if addrs.is_empty() {
        return Err(bad("url's host does not resolve"));
    }
    if !ctx.config.webhooks.allow_private_targets && addrs.iter().any(|a| is_private(a.ip())) {
        return Err(bad(
            "url resolves to a private, loopback or link-local address (set WEBHOOK_ALLOW_PRIVATE_TARGETS to allow it)",
        ));
    }
    Ok((url, addrs[0]))
}

/// When to try a webhook message again after its `attempts`-th failed
/// attempt: the `WEBHOOK_RETRY_SCHEDULE`'s next delay; `None` after the last.
pub fn retry_delay(ctx: &AppContext, attempts: i32) -> Option<Duration> {
    let schedule = &ctx.config.webhooks.retry_schedule;
    schedule.get(Ord::max(attempts, 1) as usize - 1).copied()
}

/// Delivers one claimed webhook message: signs it with the webhook's
/// secret, POSTs it to the checked address, and logs the attempt.
pub async fn send(ctx: &AppContext, message: &outbox::Model) -> Result<(), SendError> {
    let queued: Queued =
        serde_json::from_str(&message.payload).map_err(|e| SendError::Permanent(e.into()))?;
    let hook = webhook::Entity::find_by_id(queued.webhook_id)
        .one(&ctx.db)
        .await
        .map_err(|e| SendError::Transient(e.into()))?
        .filter(|h| h.enabled)
        .ok_or_else(|| {
            SendError::Permanent(anyhow::anyhow!("the webhook is disabled or deleted"))
        })?;
    let started = Instant::now();
    let outcome = post(ctx, &hook, &queued).await;
    let elapsed = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
    let (status, error) = match &outcome {
        Ok(status) if (200..300).contains(status) => (Some(*status), None),
        Ok(status) => (
            Some(*status),
            Some(format!("the receiver answered {status}")),
        ),
        Err(err) => (None, Some(format!("{err:#}").chars().take(1000).collect())),
    };
    webhook_delivery::Entity::insert(webhook_delivery::ActiveModel {
        id: Set(ids::new_key()),
        webhook_id: Set(hook.id),
        outbox_id: Set(message.id),
        message_id: Set(queued.message_id.clone()),
        event_type: Set(message.topic.clone()),
        attempt: Set(message.attempts),
        status_code: Set(status.map(i32::from)),
        duration_ms: Set(elapsed),
        error: Set(error.clone()),
        created_at: Set(now()),
    })
    .exec_without_returning(&ctx.db)
    .await
    .map_err(|e| SendError::Transient(e.into()))?;
    match (outcome, error) {
        (Ok(_), None) => Ok(()),
        (Ok(_), Some(error)) => Err(SendError::Transient(anyhow::anyhow!(error))),
        (Err(err), _) => Err(err),
    }
}

async fn post(ctx: &AppContext, hook: &webhook::Model, queued: &Queued) -> Result<u16, SendError> {
    let (url, addr) = checked_target(ctx, &hook.url)
        .await
        .map_err(|e| SendError::Transient(anyhow::anyhow!(e.public_message())))?;
    let secret = ctx
        .webhook_sealer
        .open(&hook.secret_sealed)
        .map_err(SendError::Permanent)?;
    let secret = String::from_utf8(secret).map_err(|e| SendError::Permanent(e.into()))?;
    let body = queued.body.to_string();
    let timestamp = now().timestamp();
    let signature =
        sign(&secret, &queued.message_id, timestamp, &body).map_err(SendError::Permanent)?;
    let host = url.host_str().unwrap_or_default().to_owned();
    let client = reqwest::Client::builder()
        .resolve(&host, addr)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .user_agent("usergraph-webhooks/1")
        .build()
        .map_err(|e| SendError::Transient(e.into()))?;
    let mut response = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &queued.message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| {
            let reason = if e.is_timeout() {
                format!("no answer within {} s", TIMEOUT.as_secs())
            } else if e.is_connect() {
                "the connection was refused or could not be made".to_owned()
            } else {
                e.without_url().to_string()
            };
            SendError::Transient(anyhow::anyhow!(reason))
        })?;
    let status = response.status().as_u16();
    // Read a bounded part of the answer, then drop the connection.
    let mut read = 0usize;
    while let Ok(Some(chunk)) = response.chunk().await {
        read += chunk.len();
        if read >= MAX_RESPONSE {
            break;
        }
    }
    Ok(status)
}

/// After a webhook message's last failed attempt: the webhook is turned off,
/// with the reason, until a superuser enables it again.
pub async fn disable_after_failures(
    ctx: &AppContext,
    message: &outbox::Model,
    error: &str,
) -> Result<()> {
    let Ok(queued) = serde_json::from_str::<Queued>(&message.payload) else {
        return Ok(());
    };
    webhook::Entity::update_many()
        .col_expr(webhook::Column::Enabled, Expr::value(false))
        .col_expr(
            webhook::Column::DisabledReason,
            Expr::value(Some(format!(
                "disabled after {} failed attempts; the last: {}",
                message.attempts,
                error.chars().take(500).collect::<String>()
            ))),
        )
        .col_expr(webhook::Column::UpdatedAt, Expr::value(now()))
        .filter(webhook::Column::Id.eq(queued.webhook_id))
        .filter(webhook::Column::Enabled.eq(true))
        .exec(&ctx.db)
        .await?;
    Event::anonymous(&super::RequestMeta::default(), Action::WebhookDisabled)
        .on(Target::Webhook(queued.webhook_id))
        .change("enabled", true, false)
        .record(&ctx.db)
        .await?;
    tracing::warn!(webhook_id = %ids::encode(ids::WEBHOOK, queued.webhook_id), "webhook disabled after its last failed delivery");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_and_link_local_addresses_are_refused() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::1",
            "fec0::1",
            "224.0.0.1",
            "ff02::1",
            "198.18.0.1",
            "240.0.0.1",
            // The special-purpose ranges an attacker's review found open.
            "::ffff:0:7f00:1",
            "::ffff:0:808:808",
            "64:ff9b:1::808:808",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "192.0.0.1",
            "192.0.0.170",
            "192.88.99.1",
            "192.31.196.1",
            "192.175.48.1",
            "100::1",
            "2001:2::1",
            "2001:20::1",
            "3fff::1",
            "5f00::1",
            "2620:4f:8000::1",
            "255.255.255.255",
            // Embedded private addresses in every form.
            "::ffff:10.0.0.1",
            "64:ff9b::192.168.0.1",
            "2002:c0a8:1::1",
            "::10.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        // Ordinary global unicast, alone or behind NAT64's prefix.
        for ip in [
            "93.184.216.34",
            "2606:4700::1111",
            "2a00:1450:4001:80b::200e",
            "64:ff9b::93.184.216.34",
        ] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
        // The other embedding forms are refused whatever they carry.
        for ip in [
            "::ffff:93.184.216.34",
            "2002:5db8:d822::1",
            "::93.184.216.34",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn signatures_follow_standard_webhooks() {
        // The specification's example.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, id, 1614265330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }
}
