//! The per-request DataLoader: one loader over the database, with a newtype
//! key per relation, each batch one `IN (…)` query. It is created for every
//! request, so nothing cached crosses requests or users.

use std::{collections::HashMap, sync::Arc};

use async_graphql::{
    Context,
    dataloader::{DataLoader, Loader},
};
use entity::{role, tier};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::{error::AppError, service::roles};

/// The roles of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RolesOfUser(pub Uuid);

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
