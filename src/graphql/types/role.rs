//! `Role`: a named set of permissions.

use async_graphql::{ID, Object};
use entity::role;

use super::DateTime;
use crate::{auth::Permission, ids};

// Each field is read from the stored row when selected: a page of users
// carries a role per user, and most queries select only the name, so
// nothing else is copied or encoded.
#[derive(Debug, Clone)]
pub struct Role {
    model: role::Model,
    /// Encoded when first selected.
    id: std::sync::OnceLock<ID>,
}

/// A named set of permissions. Built-in roles (`admin`, `user`, `viewer`) cannot be deleted or renamed.
// `serial`: see `User`.
#[Object(serial)]
impl Role {
    /// Opaque id (`rol_…`).
    pub async fn id(&self) -> &ID {
        self.id
            .get_or_init(|| ids::encode(ids::ROLE, self.model.id).into())
    }

    /// Unique; 2–64 characters of `[a-z0-9_.-]`.
    async fn name(&self) -> &str {
        &self.model.name
    }

    /// Null when unset.
    async fn description(&self) -> Option<&str> {
        self.model.description.as_deref()
    }

    /// True for `admin`, `user` and `viewer`.
    async fn is_builtin(&self) -> bool {
        self.model.is_builtin
    }

    /// When the role was created.
    async fn created_at(&self) -> DateTime {
        self.model.created_at.into()
    }

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

impl Role {
    /// The stored role.
    pub fn model(&self) -> &role::Model {
        &self.model
    }
}

impl From<role::Model> for Role {
    fn from(model: role::Model) -> Self {
        Self {
            model,
            id: std::sync::OnceLock::new(),
        }
    }
}
