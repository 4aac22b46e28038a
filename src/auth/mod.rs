//! Who is calling: the bearer-token extractor that yields `Option<Viewer>` at
//! the HTTP edge, the `Viewer` itself, and the permission model and guards
//! that resolvers and services use to authorise.

pub mod guard;
pub mod jwt;
pub mod password;

use std::collections::BTreeSet;

use async_graphql::Enum;
use axum::{extract::FromRequestParts, http::request::Parts};
use uuid::Uuid;

use crate::{
    app::AppState,
    error::{AppError, Result},
    service,
};

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

/// The bearer token of a request resolved to its viewer: `None` without an
/// `Authorization` header, an error for a malformed, invalid or expired token.
pub struct MaybeViewer(pub Option<Viewer>);

impl FromRequestParts<AppState> for MaybeViewer {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(Self(None));
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AppError::TokenInvalid)?;
        let claims = state.ctx.jwt.verify(token)?;
        let viewer = service::sessions::load_viewer(&state.ctx.db, &claims).await?;
        Ok(Self(Some(viewer)))
    }
}
