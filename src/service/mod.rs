//! Domain operations, free of GraphQL types. Functions take the shared
//! `AppContext` and/or a connection (`&impl ConnectionTrait`), so a caller can
//! run several of them inside one transaction.

// Flows: each opens its transaction, authorises and audits; a flow never
// calls another flow.
pub mod accounts;
pub mod admin;
pub mod api_keys;
pub mod directory;
pub mod external;
pub mod impersonation;
pub mod imports;
pub mod invitations;
pub mod mfa;
pub mod nodes;
pub mod organizations;
pub mod passkeys;
pub mod recovery;
pub mod roles;
pub mod sessions;
pub mod signing_keys;
pub mod tiers;
pub mod webhooks;

// Building blocks: run inside a caller's transaction.
pub mod access;
pub mod account_mail;
pub mod credentials;
pub mod erasure;
pub mod limits;
pub mod links;
pub mod memberships;
pub mod new_account;
pub mod providers;
pub mod role_grants;
pub mod sign_in_codes;
pub mod signing;
pub mod tokens;
pub mod users;

// The event stream: what happened, written in the change's transaction.
pub mod audit;
pub mod events;
pub mod outbox;
pub mod webhook_fanout;
pub mod webhook_send;

use std::sync::Arc;

use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode, TransactionOptions,
    TransactionTrait,
};

use crate::{
    auth::{claims::ClaimsShape, jwt::JwtKeys, password::PasswordHasher, seal::Sealer},
    config::Config,
};

/// Everything a request's domain logic needs, shared by every request.
pub struct AppContext {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub jwt: JwtKeys,
    pub hasher: PasswordHasher,
    /// The counters behind `/metrics`.
    pub stats: Arc<crate::metrics::Stats>,
    /// Where the outbox worker sends mail.
    pub mailer: crate::mail::Transport,
    /// Seals the link tokens of queued mail.
    pub sealer: Sealer,
    /// Seals TOTP secrets.
    pub mfa_sealer: Sealer,
    /// Seals webhook signing secrets.
    pub webhook_sealer: Sealer,
    /// Seals the private halves of token signing keys.
    pub key_sealer: Sealer,
    /// The claims tokens carry beyond the registered ones.
    pub claims: ClaimsShape,
    /// `IDENTITY_PROVIDERS`, discovered on first use.
    pub providers: providers::Registry,
    /// Seals the PKCE verifiers and nonces of sign-ins with other providers.
    pub signin_sealer: Sealer,
    /// The passkeys' relying party; `None` when passkeys are off.
    pub webauthn: Option<webauthn_rs::Webauthn>,
    /// Mailed sign-in codes and their stored digests.
    pub typed_codes: tokens::TypedCodes,
    /// When this replica last reloaded its signing keys for a token whose
    /// `kid` it did not know (bounded, as anyone can send one).
    pub key_reload: signing::ReloadGate,
    /// Wakes this replica's outbox workers when a request commits a message.
    pub outbox_wake: tokio::sync::watch::Sender<u64>,
    /// This replica's fan-out of committed audit events to subscribers.
    pub events: events::Bus,
    /// Bounds the enumeration-safe work that requests leave running after
    /// they answer (`requestPasswordReset`).
    pub detached: Arc<tokio::sync::Semaphore>,
    /// Where this replica is in its shutdown.
    pub lifecycle: Lifecycle,
}

/// A replica's shutdown, in two steps: first it drains (readiness answers
/// 503, so load balancers stop sending it requests, while it still serves
/// them), then it stops (no new connections; live sockets close with 1001).
#[derive(Debug)]
pub struct Lifecycle {
    pub draining: tokio::sync::watch::Sender<bool>,
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// Live sockets still open: a stopping replica waits for them to send
    /// their close frames (they run outside the server's connections once
    /// upgraded), so no client sees a reset instead of 1001.
    pub open_sockets: tokio::sync::watch::Sender<usize>,
}

/// A live socket counted in `Lifecycle::open_sockets` until dropped.
pub struct OpenSocket(Arc<AppContext>);

impl OpenSocket {
    pub fn new(ctx: Arc<AppContext>) -> Self {
        ctx.lifecycle.open_sockets.send_modify(|n| *n += 1);
        Self(ctx)
    }
}

impl Drop for OpenSocket {
    fn drop(&mut self) {
        self.0
            .lifecycle
            .open_sockets
            .send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Lifecycle {
    /// Drains for `drain` (readiness answers 503), then stops.
    pub async fn shut_down(&self, drain: std::time::Duration) {
        self.draining.send_replace(true);
        if !drain.is_zero() {
            tracing::info!(
                drain_secs = drain.as_secs_f64(),
                "shutting down: readiness answers 503 while load balancers stop sending requests"
            );
            tokio::time::sleep(drain).await;
        }
        self.stopping.send_replace(true);
    }

    /// Completes once every live socket has closed.
    pub async fn sockets_closed(&self) {
        let _ = self
            .open_sockets
            .subscribe()
            .wait_for(|open| *open == 0)
            .await;
    }
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self {
            draining: tokio::sync::watch::Sender::new(false),
            stopping: tokio::sync::watch::Sender::new(false),
            open_sockets: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl AppContext {
    /// Starts a transaction that may write. On SQLite it takes the write
    /// lock at `BEGIN` (`IMMEDIATE`): a deferred transaction that reads and
    /// then writes fails at once with `SQLITE_BUSY` when another connection
    /// wrote in between, without waiting out the busy timeout, and another
    /// connection exists whenever a second process (a replica, or an
    /// operator's command beside the server) opens the same file. Within one
    /// process SQLite has one connection, so this costs nothing there;
    /// PostgreSQL gets a plain `BEGIN`.
    pub async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        self.db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
    }

    pub fn new(
        db: DatabaseConnection,
        stats: Arc<crate::metrics::Stats>,
        config: Config,
    ) -> anyhow::Result<Arc<Self>> {
        let jwt = JwtKeys::new(
            &config.jwt_secret,
            config.jwt_algorithm,
            config.jwt_accept_hs256_until,
            &config.jwt_issuer,
            &config.jwt_audience,
            config.access_token_ttl,
        );
        let claims = signing::claims_shape(&config)?;
        let hasher = PasswordHasher::new(
            config.password_hash_concurrency,
            config.password_hash_queue_timeout,
        );
        let mailer = crate::mail::Transport::new(&config.mail)?;
        let sealer = Sealer::new(&config.jwt_secret, "usergraph outbox token seal v1");
        let mfa_sealer = Sealer::new(&config.mfa_encryption_key, "usergraph totp secret seal v1");
        let webhook_sealer = Sealer::new(
            &config.mfa_encryption_key,
            "usergraph webhook secret seal v1",
        );
        let key_sealer = Sealer::new(&config.mfa_encryption_key, "usergraph signing key seal v1");
        let signin_sealer = Sealer::new(
            &config.mfa_encryption_key,
            "usergraph external sign-in seal v1",
        );
        let registry = providers::Registry::new(&config)?;
        let typed_codes = tokens::TypedCodes::new(&config.jwt_secret);
        let webauthn = config
            .webauthn
            .as_ref()
            .map(credentials::passkey::relying_party_for)
            .transpose()?;
        Ok(Arc::new(Self {
            db,
            config: Arc::new(config),
            jwt,
            hasher,
            stats,
            mailer,
            sealer,
            mfa_sealer,
            webhook_sealer,
            key_sealer,
            claims,
            providers: registry,
            signin_sealer,
            typed_codes,
            webauthn,
            key_reload: signing::ReloadGate::default(),
            outbox_wake: tokio::sync::watch::Sender::new(0),
            events: events::Bus::default(),
            detached: Arc::new(tokio::sync::Semaphore::new(DETACHED_TASKS)),
            lifecycle: Lifecycle::default(),
        }))
    }
}

/// Detached tasks allowed at once; beyond, the work is dropped (and logged).
const DETACHED_TASKS: usize = 64;

pub use crate::auth::RequestMeta;

/// The current time at the database's precision (microseconds), so values
/// read back compare equal to the values written.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{SubsecRound, Utc};
    Utc::now().trunc_subsecs(6)
}

/// A change to a catalogue entry's (a role's or a tier's) name and
/// description: `None` keeps either; `description: Some(None)` clears it.
#[derive(Debug, Default, Clone, Copy)]
pub struct NamePatch<'a> {
    pub name: Option<&'a str>,
    pub description: Option<Option<&'a str>>,
}

/// The rule for a catalogue entry's description: at most 255 characters.
fn description(raw: Option<&str>) -> crate::error::Result<Option<String>> {
    crate::validation::optional_text(raw, "description", 255)
}

/// A tier's name: 1 to 64 characters.
fn tier_name(raw: &str) -> crate::error::Result<String> {
    crate::validation::optional_text(Some(raw), "name", 64)?
        .ok_or_else(|| crate::error::AppError::bad_input("name", "name must not be empty"))
}

/// Every row of a catalogue (roles, tiers), ordered by its name column.
async fn all_by_name<E: sea_orm::EntityTrait>(
    conn: &impl sea_orm::ConnectionTrait,
    name: E::Column,
) -> crate::error::Result<Vec<E::Model>> {
    use sea_orm::QueryOrder;
    Ok(E::find().order_by_asc(name).all(conn).await?)
}

/// A table keyed by one UUID column, which `by_keys` reads many rows of.
pub trait Keyed: sea_orm::EntityTrait {
    const KEY: Self::Column;
    fn key(model: &Self::Model) -> uuid::Uuid;
}

/// The rows with these keys that exist, in one statement.
pub async fn by_keys<E: Keyed>(
    conn: &impl sea_orm::ConnectionTrait,
    keys: impl IntoIterator<Item = uuid::Uuid>,
) -> crate::error::Result<Vec<E::Model>> {
    use sea_orm::{ColumnTrait, QueryFilter};
    Ok(E::find().filter(E::KEY.is_in(keys)).all(conn).await?)
}

/// One row of a catalogue by its exact name; none, without a query, for a
/// name holding a control character (no stored name has one).
async fn by_name<E: sea_orm::EntityTrait>(
    conn: &impl sea_orm::ConnectionTrait,
    column: E::Column,
    name: &str,
) -> crate::error::Result<Option<E::Model>> {
    use sea_orm::{ColumnTrait, QueryFilter};
    if name.chars().any(char::is_control) {
        return Ok(None);
    }
    Ok(E::find().filter(column.eq(name)).one(conn).await?)
}

/// One row of a catalogue by its key.
async fn by_key<E>(
    conn: &impl sea_orm::ConnectionTrait,
    id: uuid::Uuid,
) -> crate::error::Result<Option<E::Model>>
where
    E: sea_orm::EntityTrait,
    <E::PrimaryKey as sea_orm::PrimaryKeyTrait>::ValueType: From<uuid::Uuid>,
{
    Ok(E::find_by_id(id).one(conn).await?)
}

/// For `ResultExt::on_constraint`: a unique name already taken is `CONFLICT`.
fn name_taken(what: &'static str) -> impl FnOnce(&str) -> Option<crate::error::AppError> {
    move |detail| {
        detail.contains("name").then(|| {
            crate::error::AppError::Conflict(format!("a {what} with this name already exists"))
        })
    }
}

/// `select`'s statement, returning at most `limit` rows, with the limit
/// written into the SQL rather than bound. `select` must have no LIMIT,
/// OFFSET or locking clause: the limit is appended after its ORDER BY.
///
/// PostgreSQL plans a prepared statement generically only when the generic
/// plan looks no dearer than the custom ones, and with `LIMIT $n` it cannot
/// tell a page of 51 rows from a tenth of the table: it planned every page
/// afresh (a page's median 0.78 ms with the limit bound, 0.43 ms written
/// in, at 100k users; BENCHMARKS.md). Page sizes are at most 100, so each
/// page statement has at most 101 variants, one per limit.
pub(crate) fn limited<E: sea_orm::EntityTrait>(
    select: sea_orm::Select<E>,
    backend: sea_orm::DbBackend,
    limit: u64,
) -> sea_orm::Statement {
    use sea_orm::QueryTrait as _;
    let mut statement = backend.build(&select.into_query());
    statement.sql.push_str(&format!(" LIMIT {limit}"));
    statement
}

/// The first `first` rows of `select` (ordered, with no limit of its own)
/// and whether more follow, in one statement.
pub(crate) async fn first_rows<E: sea_orm::EntityTrait>(
    conn: &impl sea_orm::ConnectionTrait,
    select: sea_orm::Select<E>,
    first: u64,
) -> crate::error::Result<(Vec<E::Model>, bool)> {
    let statement = limited(select, conn.get_database_backend(), first + 1);
    let mut rows = E::find().from_raw_sql(statement).all(conn).await?;
    let more = rows.len() as u64 > first;
    rows.truncate(first as usize);
    Ok((rows, more))
}
