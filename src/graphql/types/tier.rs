//! `Tier`: a service tier (plan).

use async_graphql::{ID, SimpleObject};
use entity::tier;

use super::DateTime;
use crate::ids;

/// A service tier (plan) a user can be on.
// `serial`: see `User`.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(serial)]
pub struct Tier {
    /// Opaque id (`tir_…`).
    pub id: ID,
    /// Unique; 1–64 characters.
    pub name: String,
    /// Null when unset.
    pub description: Option<String>,
    /// When the tier was created.
    pub created_at: DateTime,
}

impl From<tier::Model> for Tier {
    fn from(model: tier::Model) -> Self {
        Self {
            id: ids::encode(ids::TIER, model.id).into(),
            name: model.name,
            description: model.description,
            created_at: model.created_at.into(),
        }
    }
}
