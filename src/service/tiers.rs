//! Tiers (plans): superuser-managed, one per user at most. A tier that users
//! hold cannot be deleted; the foreign key refuses it, not a prior count.

use entity::{tier, user};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};
use serde_json::Value;
use uuid::Uuid;

use super::{
    AppContext, NamePatch,
    audit::{Action, Changes, Event, Target},
    now, users,
};
use crate::{
    auth::Viewer,
    error::{AppError, Result, ResultExt, is_foreign_key_violation},
    ids,
};

/// Every tier, ordered by name.
pub async fn list(conn: &impl ConnectionTrait) -> Result<Vec<tier::Model>> {
    super::all_by_name::<tier::Entity>(conn, tier::Column::Name).await
}

pub async fn get(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<tier::Model>> {
    super::by_key::<tier::Entity>(conn, id).await
}

/// The tier with this name (as stored: trimmed, case kept); `None` when none.
pub async fn by_name(conn: &impl ConnectionTrait, name: &str) -> Result<Option<tier::Model>> {
    super::by_name::<tier::Entity>(conn, tier::Column::Name, name.trim()).await
}

pub async fn create(
    ctx: &AppContext,
    viewer: &Viewer,
    name: &str,
    description: Option<&str>,
) -> Result<tier::Model> {
    viewer.require_superuser()?;
    let txn = ctx.begin().await?;
    let tier = tier::ActiveModel {
        id: Set(ids::new_key()),
        name: Set(super::tier_name(name)?),
        description: Set(super::description(description)?),
        created_at: Set(now()),
    }
    .insert(&txn)
    .await
    .on_constraint(super::name_taken("tier"))?;
    Event::by(viewer, Action::TierCreated)
        .on(Target::Tier(tier.id))
        .with(audit_fields(None, &tier))
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(tier)
}

/// A tier's name and description as changes.
fn audit_fields(before: Option<&tier::Model>, after: &tier::Model) -> Changes {
    let fields = |tier: Option<&tier::Model>| -> [(&str, Value); 2] {
        [
            ("name", tier.map(|t| t.name.clone()).into()),
            (
                "description",
                tier.and_then(|t| t.description.clone()).into(),
            ),
        ]
    };
    super::audit::diff(fields(before), fields(Some(after)))
}

/// Renames or re-describes a tier; `description: Some(None)` clears it.
pub async fn update(
    ctx: &AppContext,
    viewer: &Viewer,
    id: Uuid,
    patch: NamePatch<'_>,
) -> Result<tier::Model> {
    viewer.require_superuser()?;
    let txn = ctx.begin().await?;
    let current = get(&txn, id).await?.ok_or(AppError::not_found("tier"))?;
    let mut model = tier::ActiveModel {
        id: Set(id),
        ..Default::default()
    };
    if let Some(name) = patch.name {
        model.name = Set(super::tier_name(name)?);
    }
    if let Some(description) = patch.description {
        model.description = Set(super::description(description)?);
    }
    if !model.is_changed() {
        return Ok(current);
    }
    let updated = model
        .update(&txn)
        .await
        .on_constraint(super::name_taken("tier"))?;
    let changes = audit_fields(Some(&current), &updated);
    if !changes.is_empty() {
        Event::by(viewer, Action::TierUpdated)
            .on(Target::Tier(id))
            .with(changes)
            .record(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(updated)
}

/// Deletes an unused tier; `CONFLICT` while any user holds it.
pub async fn delete(ctx: &AppContext, viewer: &Viewer, id: Uuid) -> Result<()> {
    viewer.require_superuser()?;
    let txn = ctx.begin().await?;
    let result = tier::Entity::delete_by_id(id)
        .exec(&txn)
        .await
        .map_err(|err| {
            if is_foreign_key_violation(&err) {
                AppError::Conflict(
                    "the tier is held by users; move them to another tier first".into(),
                )
            } else {
                err.into()
            }
        })?;
    if result.rows_affected == 0 {
        return Err(AppError::not_found("tier"));
    }
    Event::by(viewer, Action::TierDeleted)
        .on(Target::Tier(id))
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Puts a user on a tier, or off any tier with `None`. An unknown tier is
/// refused by the foreign key, so a concurrent delete cannot slip through.
pub async fn set_user_tier(
    ctx: &AppContext,
    viewer: &Viewer,
    user_id: Uuid,
    tier_id: Option<Uuid>,
) -> Result<user::Model> {
    viewer.require_superuser()?;
    let txn = ctx.begin().await?;
    let before = users::lock(&txn, user_id)
        .await?
        .ok_or(AppError::not_found("user"))?;
    let after = user::ActiveModel {
        id: Set(user_id),
        tier_id: Set(tier_id),
        updated_at: Set(now()),
        ..Default::default()
    }
    .update(&txn)
    .await
    .map_err(|err| {
        if is_foreign_key_violation(&err) {
            AppError::not_found("tier").with_field("tierId")
        } else {
            AppError::from(err)
        }
    })?;
    if before.tier_id != after.tier_id {
        let id = |t: Option<Uuid>| t.map(|t| ids::encode(ids::TIER, t));
        Event::by(viewer, Action::UserTierChanged)
            .on(Target::User(user_id))
            .change("tierId", id(before.tier_id), id(after.tier_id))
            .record(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(after)
}
