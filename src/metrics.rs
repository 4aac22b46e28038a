//! Metrics in the Prometheus text format at `/metrics`, through the `metrics`
//! facade and its Prometheus exporter: request latency histograms by
//! operation and outcome, HTTP statuses, the database pool, SQL statements,
//! the password-hash queue, logins by outcome, and the process's memory and
//! CPU. Operation names come from clients, so the set of label values is
//! bounded (`MAX_OPERATION_LABELS`; the rest are `other`).
//!
//! `Stats` keeps this process's own counters as plain atomics too: the tests
//! and the benchmark read statements per request from them, per app.

use std::{
    collections::HashSet,
    sync::{
        OnceLock, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Distinct operation names kept as label values; later ones are `other`.
pub const MAX_OPERATION_LABELS: usize = 100;

pub const REQUEST_DURATION: &str = "usergraph_graphql_request_duration_seconds";
pub const HTTP_RESPONSES: &str = "usergraph_http_responses_total";
pub const LOGINS: &str = "usergraph_logins_total";
pub const HASH_QUEUE: &str = "usergraph_password_hash_queue";
pub const HASH_WAIT: &str = "usergraph_password_hash_wait_seconds";
pub const OUTBOX_DELIVERIES: &str = "usergraph_outbox_deliveries_total";
pub const OUTBOX_DELIVERY_SECONDS: &str = "usergraph_outbox_delivery_seconds";
pub const OUTBOX_PENDING: &str = "usergraph_outbox_pending";
pub const OUTBOX_OLDEST_PENDING: &str = "usergraph_outbox_oldest_pending_seconds";
/// The outcomes a delivery attempt is counted under.
pub const DELIVERY_SENT: &str = "sent";
pub const DELIVERY_ERROR: &str = "error";
const POOL_CONNECTIONS: &str = "usergraph_db_pool_connections";

tokio::task_local! {
    static BACKGROUND: ();
}

/// Runs `work` as background work (the outbox worker, pruning, what a
/// request leaves running after it answers): its statements are counted
/// apart from the requests', so a request's statement count is its own.
pub async fn in_background<F: std::future::Future>(work: F) -> F::Output {
    BACKGROUND.scope((), work).await
}

fn is_background() -> bool {
    BACKGROUND.try_with(|_| ()).is_ok()
}

#[derive(Debug, Default)]
pub struct Stats {
    /// Every statement requests sent to the database, counted by SeaORM's metric hook.
    pub sql_statements: AtomicU64,
    /// Statements of background work (`in_background`).
    pub background_sql_statements: AtomicU64,
    /// Every GraphQL request executed (after HTTP-level refusals).
    pub graphql_requests: AtomicU64,
    /// Every GraphQL response that carried errors, so a load tool that sees
    /// only status codes can still tell error answers from data.
    pub graphql_errors: AtomicU64,
}

impl Stats {
    /// Counts one statement, for the request or the background work running it.
    pub fn count_statement(&self) {
        let counter = if is_background() {
            &self.background_sql_statements
        } else {
            &self.sql_statements
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let statements = self.sql_statements.load(Ordering::Relaxed);
        let background = self.background_sql_statements.load(Ordering::Relaxed);
        let requests = self.graphql_requests.load(Ordering::Relaxed);
        let errors = self.graphql_errors.load(Ordering::Relaxed);
        format!(
            "# HELP usergraph_sql_statements_total SQL statements sent to the database.\n\
             # TYPE usergraph_sql_statements_total counter\n\
             usergraph_sql_statements_total {statements}\n\
             # HELP usergraph_background_sql_statements_total SQL statements of background work (outbox, pruning).\n\
             # TYPE usergraph_background_sql_statements_total counter\n\
             usergraph_background_sql_statements_total {background}\n\
             # HELP usergraph_graphql_requests_total GraphQL requests executed.\n\
             # TYPE usergraph_graphql_requests_total counter\n\
             usergraph_graphql_requests_total {requests}\n\
             # HELP usergraph_graphql_errors_total GraphQL responses that carried errors.\n\
             # TYPE usergraph_graphql_errors_total counter\n\
             usergraph_graphql_errors_total {errors}\n"
        )
    }
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".into()),
                &[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            )
            .expect("static buckets are valid")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder (a test harness's) may be installed already; this
        // handle then renders only what was recorded through it, which is fine.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

fn describe() {
    metrics::describe_histogram!(
        REQUEST_DURATION,
        metrics::Unit::Seconds,
        "GraphQL requests by operation name and outcome (ok, error)."
    );
    metrics::describe_counter!(HTTP_RESPONSES, "HTTP responses by status.");
    metrics::describe_counter!(LOGINS, "Sign-ins by outcome.");
    metrics::describe_gauge!(HASH_QUEUE, "Password hashes waiting for a slot.");
    metrics::describe_histogram!(
        HASH_WAIT,
        metrics::Unit::Seconds,
        "Time a password hash waited for a slot."
    );
    metrics::describe_counter!(
        OUTBOX_DELIVERIES,
        "Outbox delivery attempts by kind (mail) and outcome (sent, error)."
    );
    metrics::describe_histogram!(
        OUTBOX_DELIVERY_SECONDS,
        metrics::Unit::Seconds,
        "Time one outbox delivery attempt took."
    );
    metrics::describe_gauge!(
        OUTBOX_PENDING,
        "Outbox messages waiting for delivery (or a retry), by kind, across replicas."
    );
    metrics::describe_gauge!(
        OUTBOX_OLDEST_PENDING,
        metrics::Unit::Seconds,
        "Age of the oldest outbox message waiting for delivery, by kind."
    );
    metrics::describe_gauge!(
        POOL_CONNECTIONS,
        "Database pool connections by state (in_use, idle)."
    );
}

/// Registers every series of the outbox at zero, each kind with each
/// outcome, so alerts on their rates have a series before the first
/// delivery (a counter that does not exist yet cannot fire).
pub fn register_outbox(kinds: impl IntoIterator<Item = &'static str>) {
    handle();
    let mut known = OUTBOX_KINDS.lock().unwrap_or_else(|e| e.into_inner());
    for kind in kinds {
        if !known.contains(&kind) {
            known.push(kind);
        }
        for outcome in [DELIVERY_SENT, DELIVERY_ERROR] {
            metrics::counter!(OUTBOX_DELIVERIES, "kind" => kind.to_owned(), "outcome" => outcome)
                .increment(0);
        }
        record_backlog(kind, 0, std::time::Duration::ZERO);
    }
}

/// The outbox kinds `register_outbox` was told of.
static OUTBOX_KINDS: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());

/// The backlog read at a scrape: `pending` holds the kinds with messages
/// waiting, as (kind, count, oldest's age); every other registered kind
/// has none.
pub fn record_backlogs(pending: &[(String, u64, std::time::Duration)]) {
    let known = OUTBOX_KINDS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    for kind in known {
        let row = pending.iter().find(|(name, ..)| name == kind);
        record_backlog(
            kind,
            row.map_or(0, |(_, count, _)| *count),
            row.map_or(std::time::Duration::ZERO, |(.., oldest)| *oldest),
        );
    }
}

fn record_backlog(kind: &str, pending: u64, oldest: std::time::Duration) {
    metrics::gauge!(OUTBOX_PENDING, "kind" => kind.to_owned()).set(pending as f64);
    metrics::gauge!(OUTBOX_OLDEST_PENDING, "kind" => kind.to_owned()).set(oldest.as_secs_f64());
}

/// The label value for a client-chosen operation name: the name while fewer
/// than `MAX_OPERATION_LABELS` are known, else `other`; no name is `anonymous`.
pub fn operation_label(name: Option<&str>) -> String {
    static KNOWN: OnceLock<RwLock<HashSet<String>>> = OnceLock::new();
    let Some(name) = name else {
        return "anonymous".to_owned();
    };
    let name: String = name.chars().take(64).collect();
    let known = KNOWN.get_or_init(Default::default);
    // Every request asks; a known name is answered under the shared lock.
    if known
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&name)
    {
        return name;
    }
    let mut known = known.write().unwrap_or_else(|e| e.into_inner());
    if known.contains(&name) || known.len() < MAX_OPERATION_LABELS {
        known.insert(name.clone());
        name
    } else {
        "other".to_owned()
    }
}

/// The database pool's connections in use and idle, as gauges.
pub fn record_pool(db: &sea_orm::DatabaseConnection) {
    let (size, idle) = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
        _ => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
    };
    metrics::gauge!(POOL_CONNECTIONS, "state" => "in_use")
        .set(f64::from(size.saturating_sub(idle)));
    metrics::gauge!(POOL_CONNECTIONS, "state" => "idle").set(f64::from(idle));
}

/// The process's resident memory and CPU time, read from `/proc` (Linux);
/// nothing elsewhere.
pub fn render_process() -> String {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return String::new();
    };
    // Fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = 100.0; // USER_HZ on Linux
    let field = |n: usize| {
        fields
            .get(n)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name; rss is 24 (22).
    let cpu = (field(11) + field(12)) / ticks;
    let rss = field(21) * 4096.0;
    format!(
        "# HELP process_cpu_seconds_total CPU time used by the process.\n\
         # TYPE process_cpu_seconds_total counter\n\
         process_cpu_seconds_total {cpu}\n\
         # HELP process_resident_memory_bytes Resident memory of the process.\n\
         # TYPE process_resident_memory_bytes gauge\n\
         process_resident_memory_bytes {rss}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_are_bounded() {
        let labels: HashSet<String> = (0..1000)
            .map(|i| operation_label(Some(&format!("Op{i}"))))
            .collect();
        assert!(labels.len() <= MAX_OPERATION_LABELS + 1, "{}", labels.len());
        assert!(labels.contains("other"));
        assert_eq!(operation_label(None), "anonymous");
    }

    #[test]
    fn process_figures_are_read_on_linux() {
        let text = render_process();
        if cfg!(target_os = "linux") {
            assert!(text.contains("process_resident_memory_bytes"), "{text}");
        }
    }
}
