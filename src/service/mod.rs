//! Domain operations, free of GraphQL types. Functions take the shared
//! `AppContext` and/or a connection (`&impl ConnectionTrait`), so a caller can
//! run several of them inside one transaction.

pub mod accounts;
pub mod admin;
pub mod directory;
pub mod limits;
pub mod roles;
pub mod sessions;
pub mod tiers;
pub mod users;

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::{
    auth::{jwt::JwtKeys, password::PasswordHasher},
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
}

impl AppContext {
    pub fn new(
        db: DatabaseConnection,
        stats: Arc<crate::metrics::Stats>,
        config: Config,
    ) -> Arc<Self> {
        let jwt = JwtKeys::new(
            &config.jwt_secret,
            &config.jwt_issuer,
            &config.jwt_audience,
            config.access_token_ttl,
        );
        let hasher = PasswordHasher::new(
            config.password_hash_concurrency,
            config.password_hash_queue_timeout,
        );
        Arc::new(Self {
            db,
            config: Arc::new(config),
            jwt,
            hasher,
            stats,
        })
    }
}

/// Where a request came from, recorded on the sessions it creates.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The `x-request-id` the edge assigned, for logs and masked errors.
    pub request_id: Option<String>,
}

/// The current time at the database's precision (microseconds), so values
/// read back compare equal to the values written.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{SubsecRound, Utc};
    Utc::now().trunc_subsecs(6)
}

/// Superuser-only powers are checked here as well as by guards, because guards
/// do not run when a field is reached through an interface.
pub fn require_superuser(viewer: &crate::auth::Viewer) -> crate::error::Result<()> {
    if viewer.is_superuser() {
        Ok(())
    } else {
        Err(crate::error::AppError::Forbidden)
    }
}
