//! The queue- and time-driven edge beside `http/`: what a replica does
//! besides answering requests. The outbox workers (one per kind of message,
//! `outbox::KINDS`), the live-event feed, the signing keys' watch, the
//! identity providers' discovery, and pruning. Every one of them is
//! safe with any number of replicas running it at once: claims are
//! conditional updates, pruning is plain conditional deletes, and the feed
//! only reads.

pub mod live_feed;
pub mod outbox;

use std::{sync::Arc, time::Duration};

use crate::service::{
    AppContext, audit, credentials, external, limits, links, outbox as queue, sign_in_codes,
    signing,
};

/// The running workers of one replica.
pub struct Workers {
    stop: tokio::sync::watch::Sender<bool>,
    outbox: Vec<tokio::task::JoinHandle<()>>,
    pruning: tokio::task::JoinHandle<()>,
    keys: tokio::task::JoinHandle<()>,
    discovery: tokio::task::JoinHandle<()>,
    feed: tokio::task::JoinHandle<()>,
}

impl Workers {
    pub fn start(ctx: Arc<AppContext>) -> Self {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        crate::metrics::register_outbox(outbox::KINDS.iter().map(|kind| kind.name));
        let outbox = outbox::KINDS
            .iter()
            .map(|kind| {
                tokio::spawn(crate::metrics::in_background(outbox::run(
                    ctx.clone(),
                    stopped.clone(),
                    kind,
                )))
            })
            .collect();
        Self {
            outbox,
            pruning: tokio::spawn(crate::metrics::in_background(prune_periodically(
                ctx.clone(),
            ))),
            keys: tokio::spawn(crate::metrics::in_background(keep_signing_keys(
                ctx.clone(),
            ))),
            discovery: tokio::spawn(crate::metrics::in_background(discover_providers(
                ctx.clone(),
            ))),
            feed: tokio::spawn(crate::metrics::in_background(live_feed::run(ctx, stopped))),
            stop,
        }
    }

    /// Stops at once, whatever is in progress (a claimed message is sent
    /// again when its lease ends).
    pub fn abort(&self) {
        for worker in &self.outbox {
            worker.abort();
        }
        self.pruning.abort();
        self.keys.abort();
        self.discovery.abort();
        self.feed.abort();
    }

    /// Stops the outbox workers once their sends in progress, if any, are
    /// done and recorded (waiting at most `grace`), and stops the rest.
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        self.pruning.abort();
        self.keys.abort();
        self.discovery.abort();
        self.feed.abort();
        let workers = async {
            for worker in self.outbox {
                let _ = worker.await;
            }
        };
        if tokio::time::timeout(grace, workers).await.is_err() {
            tracing::warn!("the outbox workers did not stop within the shutdown grace period");
        }
    }
}

/// Discovers the OpenID providers at start, so the first sign-in does not
/// wait for it and a misconfigured one is reported at once: each failure
/// is logged with the provider's name and tried again (5 s, doubling to 5
/// minutes) without holding up the others, which work meanwhile. A sign-in
/// with a provider not discovered yet tries discovery itself.
async fn discover_providers(ctx: Arc<AppContext>) {
    let mut wait = Duration::from_secs(5);
    loop {
        let failed = ctx.providers.discover_all().await;
        if failed.is_empty() {
            return;
        }
        for (provider, error) in &failed {
            tracing::warn!(
                provider,
                error,
                retry_in_secs = wait.as_secs(),
                "an identity provider could not be discovered"
            );
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(300));
    }
}

/// Keeps an active and a next signing key in the database (`signing::keep`)
/// every minute, and at once when a request found none active.
async fn keep_signing_keys(ctx: Arc<AppContext>) {
    loop {
        tokio::select! {
            () = ctx.key_reload.settle.notified() => {}
            () = tokio::time::sleep(Duration::from_secs(60)) => {}
        }
        if let Err(err) = signing::keep(&ctx).await {
            tracing::warn!(error = %err, "the signing keys could not be put right");
        }
    }
}

/// Deletes what has expired (rate-limit windows, link tokens, delivered
/// mail, audit events past their retention) every few minutes, for as long
/// as the server runs. Every statement is a plain conditional delete, safe
/// from every replica at once.
async fn prune_periodically(ctx: Arc<AppContext>) {
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tick.tick().await;
        for (what, pruned) in [
            ("rate-limit windows", limits::prune(&ctx.db).await),
            ("link tokens", links::prune(&ctx.db).await),
            ("outbox messages", queue::prune(&ctx.db).await),
            ("audit events", audit::prune(&ctx).await),
            ("signing keys", signing::retire_expired(&ctx.db).await),
            ("external sign-ins", external::prune(&ctx.db).await),
            ("sign-in codes", sign_in_codes::prune(&ctx.db).await),
            (
                "organisation invitations",
                crate::service::organizations::prune(&ctx.db).await,
            ),
            (
                "passkey challenges",
                credentials::passkey::prune(&ctx.db).await,
            ),
        ] {
            if let Err(err) = pruned {
                tracing::warn!(error = %err, what, "pruning failed");
            }
        }
    }
}
