//! The live-event feed: fills this replica's event bus (`service::events`)
//! with every committed audit event, from whichever replica. PostgreSQL: a
//! LISTEN connection on the events channel, reconnecting after a failure.
//! SQLite (one process): a reader of new rows in insertion order, which is
//! commit order on its one connection.

use std::{sync::Arc, time::Duration};

use entity::audit_event;
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};

use crate::service::{
    AppContext,
    events::{CHANNEL, Wire},
};

/// Feeds this replica's bus until `stop` flips: a LISTEN connection on
/// PostgreSQL (reconnecting after a failure), a reader of new rows on SQLite.
pub async fn run(ctx: Arc<AppContext>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let postgres = ctx.db.get_database_backend() == DatabaseBackend::Postgres;
    loop {
        let outcome = tokio::select! {
            outcome = async {
                if postgres { listen(&ctx).await } else { read_new(&ctx).await }
            } => outcome,
            _ = stop.changed() => return,
        };
        if let Err(err) = outcome {
            tracing::warn!(error = %err, "live events feed failed; restarting");
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
    }
}

async fn listen(ctx: &AppContext) -> anyhow::Result<()> {
    use secrecy::ExposeSecret;
    let mut listener =
        sea_orm::sqlx::postgres::PgListener::connect(ctx.config.database_url.expose_secret())
            .await?;
    listener.listen(CHANNEL).await?;
    loop {
        let notification = listener.recv().await?;
        match serde_json::from_str::<Wire>(notification.payload()) {
            Ok(wire) => ctx.events.publish(wire.into()),
            Err(err) => tracing::warn!(error = %err, "an event notification could not be read"),
        }
    }
}

/// SQLite: new events in insertion order (`rowid`), which is commit order
/// on its one connection; event ids are not, as an id is drawn before the
/// insert that may wait for another.
async fn read_new(ctx: &AppContext) -> anyhow::Result<()> {
    use sea_orm::{FromQueryResult, QueryResult};
    let newest = async || -> anyhow::Result<i64> {
        let row = ctx
            .db
            .query_one_raw(Statement::from_string(
                DatabaseBackend::Sqlite,
                "SELECT COALESCE(MAX(rowid), 0) AS n FROM audit_events",
            ))
            .await?;
        Ok(row
            .map(|r| r.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0))
    };
    // Read only while someone listens, from where they started listening.
    let mut after: Option<i64> = None;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if !ctx.events.has_subscribers() {
            after = None;
            continue;
        }
        let from = match after {
            Some(n) => n,
            None => {
                let n = newest().await?;
                after = Some(n);
                n
            }
        };
        let rows: Vec<QueryResult> = ctx
            .db
            .query_all_raw(Statement::from_sql_and_values(
                DatabaseBackend::Sqlite,
                "SELECT rowid AS event_rowid, * FROM audit_events WHERE rowid > ? ORDER BY rowid LIMIT 500",
                [from.into()],
            ))
            .await?;
        for row in rows {
            after = Some(row.try_get::<i64>("", "event_rowid")?);
            ctx.events
                .publish(audit_event::Model::from_query_result(&row, "")?);
        }
    }
}
