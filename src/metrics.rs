//! Process counters served on `GET /metrics` in the Prometheus text format:
//! SQL statements run and GraphQL requests executed. Their ratio is the
//! statements-per-request figure the benchmarks and the N+1 tests rely on.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Stats {
    /// Every statement sent to the database, counted by SeaORM's metric hook.
    pub sql_statements: AtomicU64,
    /// Every GraphQL request executed (after HTTP-level refusals).
    pub graphql_requests: AtomicU64,
    /// Every GraphQL response that carried errors, so a load tool that sees
    /// only status codes can still tell error answers from data.
    pub graphql_errors: AtomicU64,
}

impl Stats {
    pub fn render(&self) -> String {
        let statements = self.sql_statements.load(Ordering::Relaxed);
        let requests = self.graphql_requests.load(Ordering::Relaxed);
        let errors = self.graphql_errors.load(Ordering::Relaxed);
        format!(
            "# HELP usergraph_sql_statements_total SQL statements sent to the database.\n\
             # TYPE usergraph_sql_statements_total counter\n\
             usergraph_sql_statements_total {statements}\n\
             # HELP usergraph_graphql_requests_total GraphQL requests executed.\n\
             # TYPE usergraph_graphql_requests_total counter\n\
             usergraph_graphql_requests_total {requests}\n\
             # HELP usergraph_graphql_errors_total GraphQL responses that carried errors.\n\
             # TYPE usergraph_graphql_errors_total counter\n\
             usergraph_graphql_errors_total {errors}\n"
        )
    }
}
