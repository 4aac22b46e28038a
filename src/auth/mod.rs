//! Who is calling: the `Viewer`, the permission model that services use to
//! authorise, access tokens (JWT) and password hashing. A leaf: it imports
//! nothing of the service above it (the HTTP edge resolves a bearer token to a
//! `Viewer`, and the GraphQL layer's guards read it).

pub mod jwt;
pub mod password;

use std::collections::BTreeSet;

use async_graphql::Enum;
use uuid::Uuid;

use crate::error::{AppError, Result};

/// What a role lets its holders do. Superusers hold every permission.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// Read any user, including private fields (`email`, `lastLoginAt`) and soft-deleted users.
    UsersRead,
    /// Create users through `createUser`.
    UsersCreate,
    /// Update any user's profile, status and password.
    UsersUpdate,
    /// Soft-delete and restore users.
    UsersDelete,
    /// Change which roles users hold.
    RolesAssign,
}

impl Permission {
    pub const ALL: [Permission; 5] = [
        Self::UsersRead,
        Self::UsersCreate,
        Self::UsersUpdate,
        Self::UsersDelete,
        Self::RolesAssign,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UsersRead => "USERS_READ",
            Self::UsersCreate => "USERS_CREATE",
            Self::UsersUpdate => "USERS_UPDATE",
            Self::UsersDelete => "USERS_DELETE",
            Self::RolesAssign => "ROLES_ASSIGN",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

/// The authenticated caller of one request, loaded fresh from the database so
/// that revocations and role changes apply on the next request.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: entity::user::Model,
    /// The session (chain) id the access token names.
    pub session_id: Uuid,
    pub permissions: BTreeSet<Permission>,
}

impl Viewer {
    pub fn id(&self) -> Uuid {
        self.user.id
    }

    pub fn is_superuser(&self) -> bool {
        self.user.is_superuser
    }

    pub fn has(&self, permission: Permission) -> bool {
        self.is_superuser() || self.permissions.contains(&permission)
    }

    pub fn require(&self, permission: Permission) -> Result<()> {
        if self.has(permission) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }
}
