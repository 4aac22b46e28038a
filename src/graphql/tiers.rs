//! Tiers: `tiers`, `tier`, `userTier`, and the superuser's `createTier`,
//! `updateTier`, `deleteTier` and `setUserTier`.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};

use super::guard::{Authenticated, Superuser, viewer};
use super::{
    cost,
    inputs::{name_patch, patch},
    loaders::ByKey,
    request::app,
    request::{loader, user_by_username},
    types::{Tier, User},
};
use crate::{
    error::AppError,
    ids,
    service::{tiers, users},
};

/// A new tier.
#[derive(InputObject)]
pub struct CreateTierInput {
    /// Unique; 1–64 characters.
    pub name: String,
    /// At most 255 characters.
    pub description: Option<String>,
}

/// Changes to a tier. Absent fields are kept; a null description clears it.
#[derive(InputObject)]
pub struct UpdateTierInput {
    /// A new, unique name.
    pub name: Option<String>,
    /// At most 255 characters; null clears.
    pub description: MaybeUndefined<String>,
}

#[derive(Default)]
pub struct TierQuery;

#[Object]
impl TierQuery {
    /// Every tier, ordered by name. Any signed-in user.
    #[graphql(guard = "Authenticated", complexity = "cost::list(child_complexity)")]
    async fn tiers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Tier>> {
        Ok(tiers::list(&app(ctx).db)
            .await?
            .into_iter()
            .map(Tier::from)
            .collect())
    }

    /// A tier by id; null when there is none. Any signed-in user.
    #[graphql(guard = "Authenticated", complexity = "cost::lookup(child_complexity)")]
    async fn tier(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Tier>> {
        let key = ids::decode(ids::TIER, &id, "id")?;
        Ok(tiers::get(&app(ctx).db, key).await?.map(Tier::from))
    }

    /// A tier by name, exactly as created (trimmed; case matters); null when
    /// there is none. Any signed-in user.
    #[graphql(guard = "Authenticated", complexity = "cost::lookup(child_complexity)")]
    async fn tier_by_name(
        &self,
        ctx: &Context<'_>,
        name: String,
    ) -> async_graphql::Result<Option<Tier>> {
        Ok(tiers::by_name(&app(ctx).db, &name).await?.map(Tier::from))
    }

    /// The tier of the user with this username, as `userByUsername { tier }`:
    /// for the user themself or holders of `USERS_READ` (others get `NOT_FOUND`).
    /// Null when the user has no tier, or for `USERS_READ`, does not exist.
    #[graphql(guard = "Authenticated", complexity = "cost::lookup(child_complexity)")]
    async fn user_tier(
        &self,
        ctx: &Context<'_>,
        username: String,
    ) -> async_graphql::Result<Option<Tier>> {
        let found = user_by_username(ctx, &username).await?;
        let Some(tier_id) = users::visible(viewer(ctx)?, found)?.and_then(|u| u.tier_id) else {
            return Ok(None);
        };
        let tier = loader(ctx)?
            .load_one(ByKey::<entity::tier::Entity>::new(tier_id))
            .await
            .map_err(AppError::from)?;
        Ok(tier.map(Tier::from))
    }
}

#[derive(Default)]
pub struct TierMutation;

#[Object]
impl TierMutation {
    /// Creates a tier. Superuser only; `CONFLICT` when the name is taken.
    #[graphql(guard = "Superuser")]
    async fn create_tier(
        &self,
        ctx: &Context<'_>,
        input: CreateTierInput,
    ) -> async_graphql::Result<Tier> {
        let tier = tiers::create(
            app(ctx),
            viewer(ctx)?,
            &input.name,
            input.description.as_deref(),
        )
        .await?;
        Ok(tier.into())
    }

    /// Changes a tier. Superuser only.
    #[graphql(guard = "Superuser")]
    async fn update_tier(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateTierInput,
    ) -> async_graphql::Result<Tier> {
        let key = ids::decode(ids::TIER, &id, "id")?;
        let description = patch(input.description);
        let tier = tiers::update(
            app(ctx),
            viewer(ctx)?,
            key,
            name_patch(input.name.as_deref(), &description),
        )
        .await?;
        Ok(tier.into())
    }

    /// Deletes a tier. Superuser only; `CONFLICT` while users hold it.
    #[graphql(guard = "Superuser")]
    async fn delete_tier(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let key = ids::decode(ids::TIER, &id, "id")?;
        tiers::delete(app(ctx), viewer(ctx)?, key).await?;
        Ok(true)
    }

    /// Puts a user on a tier; a null `tierId` takes the user off any tier.
    /// Superuser only; an unknown tier is `NOT_FOUND`.
    #[graphql(guard = "Superuser")]
    async fn set_user_tier(
        &self,
        ctx: &Context<'_>,
        id: ID,
        tier_id: Option<ID>,
    ) -> async_graphql::Result<User> {
        let user_key = ids::decode(ids::USER, &id, "id")?;
        let tier_key = ids::decode_opt(ids::TIER, tier_id, "tierId")?;
        let viewer = viewer(ctx)?;
        let user = tiers::set_user_tier(app(ctx), viewer, user_key, tier_key).await?;
        Ok(User::new(user, Some(viewer)))
    }
}
