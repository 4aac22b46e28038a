//! `Role`: a named set of permissions.

use async_graphql::{ComplexObject, ID, SimpleObject};
use entity::role;

use super::DateTime;
use crate::{auth::Permission, ids};

/// A named set of permissions. Built-in roles (`admin`, `user`, `viewer`) cannot be deleted or renamed.
// `serial`: see `User`.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex, serial)]
pub struct Role {
    /// Opaque id (`rol_…`).
    pub id: ID,
    /// Unique; 2–64 characters of `[a-z0-9_.-]`.
    pub name: String,
    /// Null when unset.
    pub description: Option<String>,
    /// True for `admin`, `user` and `viewer`.
    pub is_builtin: bool,
    /// When the role was created.
    pub created_at: DateTime,
    /// Kept as stored and read only when asked for: a page of users carries
    /// a role per user, and most queries select only the name.
    #[graphql(skip)]
    model: role::Model,
}

#[ComplexObject]
impl Role {
    /// What holders of the role may do, in a fixed order.
    async fn permissions(&self) -> Vec<Permission> {
        let mut permissions: Vec<Permission> = self
            .model
            .permission_names()
            .iter()
            .filter_map(|p| Permission::parse(p))
            .collect();
        permissions.sort();
        permissions
    }
}

impl From<role::Model> for Role {
    fn from(model: role::Model) -> Self {
        Self {
            id: ids::encode(ids::ROLE, model.id).into(),
            name: model.name.clone(),
            description: model.description.clone(),
            is_builtin: model.is_builtin,
            created_at: model.created_at.into(),
            model,
        }
    }
}
