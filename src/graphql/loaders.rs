//! The per-request DataLoader: one loader over the database, with a newtype
//! key per relation, each batch one `IN (…)` query. It is created for every
//! request, so nothing cached crosses requests or users. List resolvers use
//! `prefetch_users` instead, which fetches a whole page's roles up front.

use std::{collections::HashMap, sync::Arc};

use async_graphql::{
    Context, Lookahead,
    dataloader::{DataLoader, Loader},
};
use entity::{ByPosition, role, tier, user};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::types::User;
use crate::{
    auth::Viewer,
    error::AppError,
    service::{
        directory::{self, Projected, Projection},
        roles,
    },
};

/// The roles of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RolesOfUser(pub Uuid);

/// A user by key, read through the projection its selection needs. One
/// batch reads what all its keys' projections need together.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserById(pub Uuid, pub Projection);

/// A user by (normalised) username.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserByUsername(pub String);

/// A tier by its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TierById(pub Uuid);

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

/// The request's loader; the HTTP handler always installs one.
pub fn loader<'a>(ctx: &'a Context<'_>) -> &'a DataLoader<DbLoader> {
    ctx.data_unchecked::<DataLoader<DbLoader>>()
}

/// The user with this username (trimmed, any case), through the loader, so
/// any number of lookups in one request cost one statement. A username with
/// a control character is no user, and no query.
pub async fn user_by_username(
    ctx: &Context<'_>,
    username: &str,
) -> Result<Option<user::Model>, AppError> {
    match crate::validation::lookup_key(username) {
        Some(key) => Ok(loader(ctx)
            .load_one(UserByUsername(key))
            .await
            .map_err(AppError::from)?),
        None => Ok(None),
    }
}

impl Loader<RolesOfUser> for DbLoader {
    type Value = Vec<role::Model>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[RolesOfUser],
    ) -> Result<HashMap<RolesOfUser, Self::Value>, Self::Error> {
        let ids: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let mut found = roles::of_users(&self.db, &ids).await?;
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
        let found = user::Entity::find()
            .filter(user::Column::Username.is_in(keys.iter().map(|k| k.0.clone())))
            .into_model::<ByPosition<user::Model>>()
            .all(&self.db)
            .await?;
        Ok(found
            .into_iter()
            .map(|u| (UserByUsername(u.0.username.clone()), u.0))
            .collect())
    }
}

impl Loader<TierById> for DbLoader {
    type Value = tier::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[TierById]) -> Result<HashMap<TierById, Self::Value>, Self::Error> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let tiers = tier::Entity::find()
            .filter(tier::Column::Id.is_in(keys.iter().map(|k| k.0)))
            .all(&self.db)
            .await?;
        Ok(tiers.into_iter().map(|t| (TierById(t.id), t)).collect())
    }
}

/// Whether a selection of `User` fields asks for the user's roles.
pub fn wants_roles(user: &Lookahead<'_>) -> bool {
    user.field("roles").exists() || user.field("isStaff").exists()
}

/// The columns each `User` field is built from, beyond the id. A field not
/// listed needs only the id (or a relation fetched apart). A test compares
/// every field of a page with the same user read whole, so a field missing
/// here cannot go unnoticed.
const FIELD_COLUMNS: &[(&str, &[user::Column])] = {
    use user::Column::*;
    &[
        ("username", &[Username]),
        ("email", &[Email]),
        ("name", &[DisplayName, FirstName, LastName, Username]),
        ("firstName", &[FirstName]),
        ("lastName", &[LastName]),
        ("avatarUrl", &[AvatarUrl]),
        (
            "socialLinks",
            &[Website, Facebook, Instagram, Linkedin, X, Youtube],
        ),
        ("status", &[Status]),
        ("isActive", &[Status, DeletedAt]),
        ("isSuperuser", &[IsSuperuser]),
        ("isStaff", &[IsSuperuser]),
        ("isDeleted", &[DeletedAt]),
        ("deletedAt", &[DeletedAt]),
        ("createdAt", &[CreatedAt]),
        ("updatedAt", &[UpdatedAt]),
        ("lastLoginAt", &[LastLoginAt]),
        ("tier", &[TierId]),
    ]
};

/// The columns that selections of `User` fields need, with the users' tiers
/// when a selection asks for them.
pub fn projection(users: &[&Lookahead<'_>]) -> Projection {
    let projection = Projection::of(
        FIELD_COLUMNS
            .iter()
            .filter(|(field, _)| users.iter().any(|u| u.field(field).exists()))
            .flat_map(|(_, columns)| columns.iter().copied()),
    );
    if users.iter().any(|u| u.field("tier").exists()) {
        projection.with_tiers()
    } else {
        projection
    }
}

/// Builds a page of users, fetching the roles the selection asks for with
/// one query, whatever the page size; the tiers come with the page. Loader
/// batches split under load; an explicit prefetch does not.
pub async fn prefetch_users(
    db: &DatabaseConnection,
    users: Vec<Projected>,
    viewer: Option<&Viewer>,
    with_roles: bool,
) -> Result<Vec<User>, AppError> {
    let mut roles = if with_roles {
        let ids: Vec<Uuid> = users.iter().map(|p| p.user.id).collect();
        Some(roles::of_users(db, &ids).await?)
    } else {
        None
    };
    Ok(users
        .into_iter()
        .map(|projected| {
            let id = projected.user.id;
            let user = User::projected(projected, viewer);
            match roles.as_mut() {
                Some(roles) => user.with_roles(roles.remove(&id).unwrap_or_default()),
                None => user,
            }
        })
        .collect())
}
