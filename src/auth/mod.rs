//! Who is calling: the `Viewer`, the permission model that services use to
//! authorise, access tokens (JWT) and password hashing. A leaf: it imports
//! nothing of the service above it (the HTTP edge resolves a bearer token to a
//! `Viewer`, and the GraphQL layer's guards read it).

pub mod claims;
pub mod imported_hash;
pub mod jwt;
pub mod org;
pub mod password;
pub mod seal;
pub mod signing;

use std::collections::BTreeSet;

use async_graphql::Enum;
use uuid::Uuid;

use crate::error::{AppError, Result};

/// What a role lets its holders do. Superusers hold every permission.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// Read any user, including private fields (`email`, `lastLoginAt`) and
    /// soft-deleted users, and their API keys.
    UsersRead,
    /// Create users through `createUser`.
    UsersCreate,
    /// Update any user's profile, status and password (a password or an
    /// address only from a signed-in session, never with an API key).
    UsersUpdate,
    /// Soft-delete and restore users.
    UsersDelete,
    /// Change which roles users hold.
    RolesAssign,
    /// Read the audit trail (`auditEvents`, `User.auditEvents`).
    AuditRead,
    /// Read every organisation (`organizations`, `organization`) and its
    /// members, as a member holding `MEMBERS_READ` would (invitations need
    /// `MEMBERS_INVITE` there).
    OrgsRead,
    /// Create organisations (`createOrganization`) when `ORG_SELF_SERVICE`
    /// does not let every signed-in user.
    OrgsCreate,
    /// Act as another user (`impersonateUser`), for support: never a
    /// superuser, nor anyone holding a permission the actor lacks. In no
    /// built-in role.
    UsersImpersonate,
}

impl Permission {
    pub const ALL: [Permission; 9] = [
        Self::UsersRead,
        Self::UsersCreate,
        Self::UsersUpdate,
        Self::UsersDelete,
        Self::RolesAssign,
        Self::AuditRead,
        Self::OrgsRead,
        Self::OrgsCreate,
        Self::UsersImpersonate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UsersRead => "USERS_READ",
            Self::UsersCreate => "USERS_CREATE",
            Self::UsersUpdate => "USERS_UPDATE",
            Self::UsersDelete => "USERS_DELETE",
            Self::RolesAssign => "ROLES_ASSIGN",
            Self::AuditRead => "AUDIT_READ",
            Self::OrgsRead => "ORGS_READ",
            Self::OrgsCreate => "ORGS_CREATE",
            Self::UsersImpersonate => "USERS_IMPERSONATE",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

/// Where a request came from, recorded on the sessions it creates and on
/// the audit events of what it changes.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The `x-request-id` the edge assigned, for logs and masked errors.
    pub request_id: Option<String>,
    /// `Accept-Language`, for the mail an anonymous request causes.
    pub accept_language: Option<String>,
}

/// The authenticated caller of one request, loaded fresh from the database so
/// that revocations and role changes apply on the next request.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: entity::user::Model,
    /// The session (chain) id the access token names; nil for an API key.
    pub session_id: Uuid,
    /// The user's permissions, or for an API key the intersection of the
    /// key's and the user's current ones.
    pub permissions: BTreeSet<Permission>,
    /// The API key that authenticated the request, if one did.
    pub api_key: Option<Uuid>,
    /// Where the request came from (set with the request's data), so every
    /// change the viewer makes can be audited with it.
    pub origin: RequestMeta,
    /// The administrator acting as this user, when the session is an
    /// impersonation (`impersonateUser`).
    pub impersonation: Option<Impersonation>,
}

/// An administrator acting as the viewer, as the session's row says and
/// as it was re-checked on this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Impersonation {
    pub actor_id: Uuid,
    /// Every mutation but ending the session is refused.
    pub read_only: bool,
    /// When it ends, whatever refreshes it: no token outlives it.
    pub ends_at: chrono::DateTime<chrono::Utc>,
}

impl Viewer {
    pub fn id(&self) -> Uuid {
        self.user.id
    }

    /// The administrator acting as this user, if one is.
    pub fn impersonator(&self) -> Option<Uuid> {
        self.impersonation.map(|i| i.actor_id)
    }

    /// A superuser signed in with a session. An API key never carries the
    /// superuser-only powers, whoever its user is: only its permissions.
    pub fn is_superuser(&self) -> bool {
        self.user.is_superuser && self.api_key.is_none()
    }

    /// Credentials (password, email, second factor, API keys, sessions,
    /// deletion of the account) change only in a signed-in session: an API
    /// key, which a script holds, cannot touch them.
    pub fn require_session(&self) -> Result<()> {
        match self.api_key {
            None => Ok(()),
            Some(_) => Err(AppError::ApiKeyNotAllowed),
        }
    }

    /// The superuser-only powers (tiers, webhooks, roles' definitions,
    /// hard deletion, a factor's reset): the one check for them, which the
    /// `Superuser` guard and the services both call (guards do not run when
    /// a field is reached through an interface).
    pub fn require_superuser(&self) -> Result<()> {
        if self.is_superuser() {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// Whether this viewer reads user `id` whole (private fields included):
    /// themself, or a holder of `USERS_READ`. The one rule for it.
    pub fn reads_user(&self, id: Uuid) -> bool {
        self.id() == id || self.has(Permission::UsersRead)
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

#[cfg(test)]
mod tests {
    use async_graphql::EnumType;

    use super::*;

    /// `Permission::ALL` is written by hand: a variant missing from it would
    /// be silently absent from superusers, API keys and role checks.
    #[test]
    fn every_permission_is_in_all_under_its_graphql_name() {
        let items = <Permission as EnumType>::items();
        assert_eq!(items.len(), Permission::ALL.len());
        for item in items {
            assert!(Permission::ALL.contains(&item.value), "{}", item.name);
            assert_eq!(item.value.as_str(), item.name);
            assert_eq!(Permission::parse(item.name), Some(item.value));
        }
    }

    /// The permission lists people read name every permission.
    #[test]
    fn the_docs_list_every_permission() {
        for doc in ["README.md", "docs/api.md"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(doc);
            let text = std::fs::read_to_string(path).unwrap();
            let list = text
                .lines()
                .skip_while(|l| !l.contains("Permissions"))
                .take(3)
                .collect::<String>();
            for permission in Permission::ALL {
                assert!(
                    list.contains(permission.as_str()),
                    "{doc} misses {permission:?}"
                );
            }
        }
    }
}
