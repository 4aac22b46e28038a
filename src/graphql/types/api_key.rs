//! `ApiKey` and `CreatedApiKey`.

use async_graphql::{ID, SimpleObject};
use entity::api_key;

use super::DateTime;
use crate::{auth::Permission, ids, service::api_keys};

/// A personal API key, as its owner and administrators see it. The secret
/// is never shown again after `createApiKey`.
#[derive(SimpleObject)]
pub struct ApiKey {
    /// Opaque id (`key_…`).
    pub id: ID,
    pub name: String,
    /// The secret's first characters (`ugk_` and 8 more), to recognise it.
    pub prefix: String,
    /// What the key may do, at most: a request with it has only those of
    /// these its user still holds.
    pub permissions: Vec<Permission>,
    pub created_at: DateTime,
    /// Null when the key does not expire.
    pub expires_at: Option<DateTime>,
    /// Kept to the minute; null before the first use.
    pub last_used_at: Option<DateTime>,
}

impl From<api_key::Model> for ApiKey {
    fn from(key: api_key::Model) -> Self {
        Self {
            id: ids::encode(ids::API_KEY, key.id).into(),
            permissions: api_keys::parse_permissions(&key.permissions)
                .into_iter()
                .collect(),
            name: key.name,
            prefix: key.prefix,
            created_at: key.created_at.into(),
            expires_at: key.expires_at.map(Into::into),
            last_used_at: key.last_used_at.map(Into::into),
        }
    }
}

/// A new key and its secret, shown this once.
#[derive(SimpleObject)]
pub struct CreatedApiKey {
    pub api_key: ApiKey,
    /// `ugk_…`: send it as `Authorization: Bearer ugk_…`. Only its hash is kept.
    pub secret: String,
}
