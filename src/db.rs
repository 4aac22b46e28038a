//! Database connection and migrations. SQLite runs with a single connection in
//! WAL mode: it allows one writer at a time anyway, and one connection rules out
//! `SQLITE_BUSY` under concurrent writes within the process. A second process
//! on the file (a replica, an operator's command) waits on the busy timeout,
//! because flows' transactions take the write lock at `BEGIN`
//! (`AppContext::begin`). PostgreSQL gets a bounded pool.

use std::{sync::Arc, time::Duration};

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    TransactionTrait,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};
use secrecy::ExposeSecret;

use crate::{config::Config, metrics::Stats};

/// How long a pooled PostgreSQL connection may sit idle before it is pinged
/// on being taken.
pub const IDLE_BEFORE_PING: Duration = Duration::from_secs(10);

/// Connects and counts every statement into the returned `Stats`. A
/// database that is not up yet (a replica starting beside it) is retried
/// with backoff for `DATABASE_CONNECT_TIMEOUT_SECS`.
pub async fn connect(config: &Config) -> anyhow::Result<(DatabaseConnection, Arc<Stats>)> {
    let mut options = ConnectOptions::new(config.database_url.expose_secret().to_owned());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5));
    if config.is_sqlite() {
        options
            .max_connections(1)
            .min_connections(1)
            .map_sqlx_sqlite_opts(|opts| {
                opts.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true)
            });
    } else {
        // sqlx pings a connection when it returns to the pool and, by default,
        // again when it is taken: two extra round trips per statement. The
        // return ping already catches a broken connection; the one on taking
        // is kept only for connections idle long enough for the server or a
        // proxy to have dropped them (Q1: BENCHMARKS.md).
        options
            .max_connections(config.database_max_connections)
            .test_before_acquire_if_idle_for(IDLE_BEFORE_PING);
    }
    let deadline = tokio::time::Instant::now() + config.database_connect_timeout;
    let location = redacted_location(config.database_url.expose_secret());
    let mut pause = Duration::from_millis(250);
    let mut last_failure = String::from("no answer");
    let mut conn = loop {
        // Each attempt gets what is left of the wait, at most 5 s, and is
        // cut off at the deadline whatever the driver does with its own.
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        options.connect_timeout(left.clamp(Duration::from_millis(100), Duration::from_secs(5)));
        match tokio::time::timeout_at(deadline, Database::connect(options.clone())).await {
            Ok(Ok(conn)) => break conn,
            Ok(Err(err)) if is_permanent(&err) => {
                // Waiting cannot fix wrong credentials or a missing database.
                anyhow::bail!("the database at {location} refused the connection: {err}");
            }
            Ok(Err(err)) => last_failure = why_unreachable(config, err).await,
            // The deadline cut the attempt: the previous failure says why.
            Err(_) => {}
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            anyhow::bail!(
                "the database at {location} was not reachable within {} s (DATABASE_CONNECT_TIMEOUT_SECS): {last_failure}",
                config.database_connect_timeout.as_secs_f64()
            );
        }
        let wait = pause.min(left);
        tracing::warn!(error = %last_failure, retry_in_ms = wait.as_millis() as u64, "the database is not reachable yet");
        tokio::time::sleep(wait).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    };
    let stats = Arc::new(Stats::default());
    let counter = stats.clone();
    conn.set_metric_callback(move |_| counter.count_statement());
    Ok((conn, stats))
}

/// A connection failure that retrying will not cure: PostgreSQL refusing
/// the credentials (28P01, 28000) or naming a database that does not exist
/// (3D000), or a SQLite file that cannot be opened (code 14: a missing or
/// unwritable directory).
fn is_permanent(err: &DbErr) -> bool {
    let DbErr::Conn(sea_orm::RuntimeErr::SqlxError(err)) = err else {
        return false;
    };
    match err.as_ref() {
        sea_orm::sqlx::Error::Database(db) => {
            matches!(
                db.code().as_deref(),
                Some("28P01" | "28000" | "3D000" | "14")
            )
        }
        _ => false,
    }
}

/// A failed attempt's cause. sqlx reports a server that refuses the TCP
/// connection as its pool timing out; a direct connection says what happened.
async fn why_unreachable(config: &Config, err: DbErr) -> String {
    let text = err.to_string();
    if !text.contains("pool timed out") || config.is_sqlite() {
        return text;
    }
    let Ok(url) = url::Url::parse(config.database_url.expose_secret()) else {
        return text;
    };
    let (Some(host), port) = (url.host_str(), url.port().unwrap_or(5432)) else {
        return text;
    };
    match tokio::time::timeout(
        Duration::from_secs(2),
        tokio::net::TcpStream::connect((host, port)),
    )
    .await
    {
        Ok(Err(connect)) => format!("{host}:{port}: {connect}"),
        _ => text,
    }
}

/// Where a database URL points, without its credentials: `host:port/name`
/// for a server, the path for SQLite.
fn redacted_location(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) if parsed.scheme().starts_with("postgres") => format!(
            "{}:{}{}",
            parsed.host_str().unwrap_or("?"),
            parsed.port().unwrap_or(5432),
            parsed.path()
        ),
        _ => url.split('?').next().unwrap_or_default().to_owned(),
    }
}

/// Whether the database answers, and (SQLite) can be written: a read-only
/// or full file answers reads but fails every change, which a readiness
/// probe must see. The probe's write changes nothing and is rolled back.
pub async fn ready(conn: &DatabaseConnection) -> Result<(), DbErr> {
    conn.ping().await?;
    if conn.get_database_backend() == DbBackend::Sqlite {
        let txn = conn.begin().await?;
        txn.execute_unprepared("UPDATE seaql_migrations SET version = version WHERE 0")
            .await?;
        txn.rollback().await?;
    }
    Ok(())
}

/// The PostgreSQL advisory lock that migrations take ("usergrap" in ASCII).
const MIGRATION_LOCK: i64 = 0x7573_6572_6772_6170;

/// Applies every pending migration. On PostgreSQL they run in one
/// transaction that first takes an advisory lock, so replicas started at
/// once migrate one after the other (the others then find nothing pending)
/// instead of racing to create the same tables. SQLite has one process.
/// Logs which ran and how long they took, so an operator reading a
/// replica's start sees what it did to the schema.
pub async fn migrate(conn: &DatabaseConnection) -> Result<(), DbErr> {
    let started = std::time::Instant::now();
    let applied = if conn.get_database_backend() == DbBackend::Postgres {
        let txn = conn.begin().await?;
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
            .await?;
        let applied = pending_names(&txn).await?;
        Migrator::up(&txn, None).await?;
        txn.commit().await?;
        applied
    } else {
        let applied = pending_names(conn).await?;
        Migrator::up(conn, None).await?;
        applied
    };
    let elapsed_ms = started.elapsed().as_millis() as u64;
    if applied.is_empty() {
        tracing::info!(
            elapsed_ms,
            "database schema up to date: no migration pending"
        );
    } else {
        tracing::info!(
            count = applied.len(),
            migrations = applied.join(", "),
            elapsed_ms,
            "migrations applied"
        );
    }
    Ok(())
}

/// The names of the migrations not yet applied, oldest first.
async fn pending_names(conn: &impl ConnectionTrait) -> Result<Vec<String>, DbErr> {
    Ok(Migrator::get_pending_migrations(conn)
        .await?
        .iter()
        .map(|migration| migration.name().to_owned())
        .collect())
}

/// Every migration with whether it has been applied, oldest first; reads
/// only (the migration table is not created when missing).
pub async fn migration_status(conn: &DatabaseConnection) -> Result<Vec<(String, bool)>, DbErr> {
    Ok(Migrator::get_migration_with_status_read_only(conn)
        .await?
        .iter()
        .map(|migration| {
            (
                migration.name().to_owned(),
                migration.status() == migration::MigrationStatus::Applied,
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use entity::{FromPosition, role, tier, user};
    use sea_orm::{EntityTrait, IdenStatic, Iterable};

    fn columns<E: EntityTrait>() -> Vec<&'static str> {
        E::Column::iter().map(|c| c.as_str()).collect()
    }

    #[test]
    fn rows_read_by_position_follow_the_column_order() {
        assert_eq!(columns::<user::Entity>(), user::Model::field_names());
        assert_eq!(columns::<role::Entity>(), role::Model::field_names());
        assert_eq!(columns::<tier::Entity>(), tier::Model::field_names());
        // Projections take a column's position from its discriminant.
        for (position, column) in user::Column::iter().enumerate() {
            assert_eq!(column as usize, position);
        }
    }
}
