//! Database connection and migrations. SQLite runs with a single connection in
//! WAL mode: it allows one writer at a time anyway, and one connection rules out
//! `SQLITE_BUSY` under concurrent writes. PostgreSQL gets a bounded pool.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DbErr,
    sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous},
};
use secrecy::ExposeSecret;

use crate::{config::Config, metrics::Stats};

/// Connects and counts every statement into the returned `Stats`.
pub async fn connect(config: &Config) -> Result<(DatabaseConnection, Arc<Stats>), DbErr> {
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
        options.max_connections(config.database_max_connections);
    }
    let mut conn = Database::connect(options).await?;
    let stats = Arc::new(Stats::default());
    let counter = stats.clone();
    conn.set_metric_callback(move |_| {
        counter.sql_statements.fetch_add(1, Ordering::Relaxed);
    });
    Ok((conn, stats))
}

/// Applies every pending migration.
pub async fn migrate(conn: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(conn, None).await
}
