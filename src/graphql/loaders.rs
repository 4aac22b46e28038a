//! The per-request DataLoader: one loader over the service layer, with a
//! newtype key per relation, each batch one `IN (…)` query. It is created for
//! every request, so nothing cached crosses requests or users. Pages of users
//! prefetch their roles instead (graphql/types/user_connection.rs).

use std::{collections::HashMap, marker::PhantomData, sync::Arc};

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{audit_event, external_identity, role, session, user};
use sea_orm::{DatabaseConnection, DbErr};
use uuid::Uuid;

use crate::{
    error::AppError,
    service::{
        self, Keyed, audit,
        directory::{self, Projected, Projection},
        external, role_grants, sessions, users,
    },
};

/// The roles of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RolesOfUser(pub Uuid);

/// A user by key, read through the projection its selection needs. One
/// batch reads what all its keys' projections need together.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserById(pub Uuid, pub Projection);

/// The provider accounts linked to a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdentitiesOfUser(pub Uuid);

/// A user's passkeys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PasskeysOfUser(pub Uuid);

/// A user by (normalised) username.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserByUsername(pub String);

/// A row of a table keyed by one UUID (roles, tiers, API keys, audit
/// events, webhooks); one batch per table.
pub struct ByKey<E>(pub Uuid, PhantomData<fn() -> E>);

impl<E> ByKey<E> {
    pub fn new(key: Uuid) -> Self {
        Self(key, PhantomData)
    }
}

// By hand: derived impls would ask the same of `E`.
impl<E> Clone for ByKey<E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for ByKey<E> {}
impl<E> PartialEq for ByKey<E> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl<E> Eq for ByKey<E> {}
impl<E> std::hash::Hash for ByKey<E> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

/// The newest row of a session chain (`ses_…` names a chain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionChain(pub Uuid);

/// The newest `1` + 1 audit events about user `0` (one more than a page, to
/// tell whether another follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuditOfUser(pub Uuid, pub u64);

pub struct DbLoader {
    db: DatabaseConnection,
}

/// A loader error, shareable across the fields that awaited the batch.
#[derive(Debug, Clone)]
pub struct LoadError(Arc<AppError>);

impl From<LoadError> for AppError {
    fn from(err: LoadError) -> Self {
        AppError::Internal(anyhow::anyhow!("batch load failed: {}", err.0))
    }
}

impl From<DbErr> for LoadError {
    fn from(err: DbErr) -> Self {
        Self(Arc::new(err.into()))
    }
}

impl From<AppError> for LoadError {
    fn from(err: AppError) -> Self {
        Self(Arc::new(err))
    }
}

pub fn new_loader(db: DatabaseConnection) -> DataLoader<DbLoader> {
    DataLoader::new(DbLoader { db }, tokio::spawn)
}

impl Loader<RolesOfUser> for DbLoader {
    type Value = Vec<role::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[RolesOfUser],
    ) -> Result<HashMap<RolesOfUser, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let mut found = role_grants::of_users(&self.db, &ids).await?;
        Ok(keys
            .iter()
            .map(|k| (*k, found.remove(&k.0).unwrap_or_default()))
            .collect())
    }
}

impl Loader<UserById> for DbLoader {
    type Value = Projected;
    type Error = LoadError;

    async fn load(&self, keys: &[UserById]) -> Result<HashMap<UserById, Self::Value>, Self::Error> {
        let Some(first) = keys.first() else {
            return Ok(HashMap::new());
        };
        let projection = (keys.iter().skip(1)).fold(first.1.clone(), |all, k| all.union(&k.1));
        let found: HashMap<Uuid, Projected> =
            directory::by_ids(&self.db, keys.iter().map(|k| k.0), &projection)
                .await?
                .into_iter()
                .map(|p| (p.user.id, p))
                .collect();
        Ok(keys
            .iter()
            .filter_map(|k| Some((k.clone(), found.get(&k.0)?.clone())))
            .collect())
    }
}

impl Loader<UserByUsername> for DbLoader {
    type Value = user::Model;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[UserByUsername],
    ) -> Result<HashMap<UserByUsername, Self::Value>, Self::Error> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let found = users::by_usernames(&self.db, keys.iter().map(|k| k.0.clone())).await?;
        Ok(found
            .into_iter()
            .map(|u| (UserByUsername(u.username.clone()), u))
            .collect())
    }
}

impl<E> Loader<ByKey<E>> for DbLoader
where
    E: Keyed + 'static,
    E::Model: Clone + Send + Sync,
{
    type Value = E::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[ByKey<E>]) -> Result<HashMap<ByKey<E>, Self::Value>, Self::Error> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let found = service::by_keys::<E>(&self.db, keys.iter().map(|k| k.0)).await?;
        Ok(found
            .into_iter()
            .map(|row| (ByKey::new(E::key(&row)), row))
            .collect())
    }
}

impl Loader<SessionChain> for DbLoader {
    type Value = session::Model;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[SessionChain],
    ) -> Result<HashMap<SessionChain, Self::Value>, Self::Error> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let found = sessions::newest_of_chains(&self.db, keys.iter().map(|k| k.0)).await?;
        Ok(found
            .into_iter()
            .map(|row| (SessionChain(row.chain_id), row))
            .collect())
    }
}

impl Loader<AuditOfUser> for DbLoader {
    type Value = Vec<audit_event::Model>;
    type Error = LoadError;

    /// One statement per page size asked for (a page of users asks one).
    async fn load(
        &self,
        keys: &[AuditOfUser],
    ) -> Result<HashMap<AuditOfUser, Self::Value>, Self::Error> {
        let mut sizes: Vec<u64> = keys.iter().map(|k| k.1).collect();
        sizes.sort_unstable();
        sizes.dedup();
        let mut out = HashMap::new();
        for size in sizes {
            let users: Vec<Uuid> = keys.iter().filter(|k| k.1 == size).map(|k| k.0).collect();
            let mut found = audit::newest_about_users(&self.db, &users, size + 1).await?;
            for user in users {
                out.insert(
                    AuditOfUser(user, size),
                    found.remove(&user).unwrap_or_default(),
                );
            }
        }
        Ok(out)
    }
}

impl Loader<IdentitiesOfUser> for DbLoader {
    type Value = Vec<external_identity::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[IdentitiesOfUser],
    ) -> Result<HashMap<IdentitiesOfUser, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let mut out: HashMap<IdentitiesOfUser, Self::Value> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        for identity in external::identities_of(&self.db, &ids).await? {
            if let Some(list) = out.get_mut(&IdentitiesOfUser(identity.user_id)) {
                list.push(identity);
            }
        }
        Ok(out)
    }
}

impl Loader<PasskeysOfUser> for DbLoader {
    type Value = Vec<entity::passkey::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[PasskeysOfUser],
    ) -> Result<HashMap<PasskeysOfUser, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let mut out: HashMap<PasskeysOfUser, Self::Value> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        for passkey in service::credentials::passkey::of_users(&self.db, &ids).await? {
            if let Some(list) = out.get_mut(&PasskeysOfUser(passkey.user_id)) {
                list.push(passkey);
            }
        }
        Ok(out)
    }
}

/// A user's standing in an organisation: their membership there and the
/// org permissions its roles give (`memberships::held_from` turns it into
/// what a viewer holds). One batch per user asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StandingIn {
    pub user: Uuid,
    pub organization: Uuid,
}

impl Loader<StandingIn> for DbLoader {
    type Value = (
        entity::membership::Model,
        std::collections::BTreeSet<crate::auth::org::OrgPermission>,
    );
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[StandingIn],
    ) -> Result<HashMap<StandingIn, Self::Value>, Self::Error> {
        let mut users: Vec<Uuid> = keys.iter().map(|k| k.user).collect();
        users.sort_unstable();
        users.dedup();
        let mut out = HashMap::new();
        for user in users {
            let orgs: Vec<Uuid> = keys
                .iter()
                .filter(|k| k.user == user)
                .map(|k| k.organization)
                .collect();
            for (organization, standing) in
                service::memberships::standings(&self.db, user, &orgs).await?
            {
                out.insert(StandingIn { user, organization }, standing);
            }
        }
        Ok(out)
    }
}

/// The org roles a membership holds, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RolesOfMembership(pub Uuid);

impl Loader<RolesOfMembership> for DbLoader {
    type Value = Vec<entity::org_role::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[RolesOfMembership],
    ) -> Result<HashMap<RolesOfMembership, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let mut found = service::memberships::roles_of_many(&self.db, &ids).await?;
        Ok(keys
            .iter()
            .map(|k| (*k, found.remove(&k.0).unwrap_or_default()))
            .collect())
    }
}

/// A user's memberships.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MembershipsOfUser(pub Uuid);

impl Loader<MembershipsOfUser> for DbLoader {
    type Value = Vec<entity::membership::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[MembershipsOfUser],
    ) -> Result<HashMap<MembershipsOfUser, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let mut out: HashMap<MembershipsOfUser, Self::Value> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        for membership in service::memberships::of_users(&self.db, &ids).await? {
            if let Some(list) = out.get_mut(&MembershipsOfUser(membership.user_id)) {
                list.push(membership);
            }
        }
        Ok(out)
    }
}

/// The roles an organisation offers (built-in and its own), by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RolesOfOrganization(pub Uuid);

impl Loader<RolesOfOrganization> for DbLoader {
    type Value = Vec<entity::org_role::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[RolesOfOrganization],
    ) -> Result<HashMap<RolesOfOrganization, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let mut found = service::organizations::roles_of_organizations(&self.db, &ids).await?;
        Ok(keys
            .iter()
            .map(|k| (*k, found.remove(&k.0).unwrap_or_default()))
            .collect())
    }
}

/// An organisation's pending invitations, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InvitationsOf(pub Uuid);

impl Loader<InvitationsOf> for DbLoader {
    type Value = Vec<entity::organization_invitation::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[InvitationsOf],
    ) -> Result<HashMap<InvitationsOf, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let mut out: HashMap<InvitationsOf, Self::Value> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        for invitation in service::organizations::pending_invitations(&self.db, &ids).await? {
            if let Some(list) = out.get_mut(&InvitationsOf(invitation.organization_id)) {
                list.push(invitation);
            }
        }
        Ok(out)
    }
}

/// A user's live sessions, most recently used first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionsOfUser(pub Uuid);

impl Loader<SessionsOfUser> for DbLoader {
    type Value = Vec<session::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[SessionsOfUser],
    ) -> Result<HashMap<SessionsOfUser, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let mut out: HashMap<SessionsOfUser, Self::Value> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        for row in sessions::live_of_users(&self.db, &ids).await? {
            if let Some(list) = out.get_mut(&SessionsOfUser(row.user_id)) {
                list.push(row);
            }
        }
        Ok(out)
    }
}
