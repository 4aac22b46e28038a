//! Roles: the catalogue (superuser-managed, built-ins fixed) and replacing
//! a user's roles (`setUserRoles`). The permission model and the grants
//! themselves are `role_grants`.

use std::collections::BTreeSet;

use entity::{role, user, user_role};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde_json::Value;
use uuid::Uuid;

use super::{
    AppContext, NamePatch,
    audit::{Action, Changes, Event, Target},
    now, role_grants, users,
};
use crate::{
    auth::{Permission, Viewer},
    error::{AppError, Result, ResultExt},
};

/// Role names: 2–64 characters of `[a-z0-9_.-]`, like usernames.
/// Every role, ordered by name.
pub async fn list(conn: &impl ConnectionTrait) -> Result<Vec<role::Model>> {
    super::all_by_name::<role::Entity>(conn, role::Column::Name).await
}

pub async fn get(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<role::Model>> {
    super::by_key::<role::Entity>(conn, id).await
}

/// The role with this name, case-insensitively (names are stored
/// lower-case); `None` when none.
pub async fn by_name(conn: &impl ConnectionTrait, name: &str) -> Result<Option<role::Model>> {
    super::by_name::<role::Entity>(conn, role::Column::Name, &name.trim().to_lowercase()).await
}

pub async fn create(
    ctx: &AppContext,
    viewer: &Viewer,
    name: &str,
    description: Option<&str>,
    permissions: &[Permission],
) -> Result<role::Model> {
    viewer.require_superuser()?;
    let txn = ctx.begin().await?;
    let role = role::ActiveModel {
        id: Set(crate::ids::new_key()),
        name: Set(role_grants::role_name(name)?),
        description: Set(super::description(description)?),
        permissions: Set(role_grants::encode_permissions(permissions)),
        is_builtin: Set(false),
        created_at: Set(now()),
    }
    .insert(&txn)
    .await
    .on_constraint(super::name_taken("role"))?;
    Event::by(viewer, Action::RoleCreated)
        .on(Target::Role(role.id))
        .with(audit_fields(None, &role))
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(role)
}

/// A role's name, description and permissions as changes (from nothing
/// for a new role, to nothing for a deleted one).
fn audit_fields(before: Option<&role::Model>, after: &role::Model) -> Changes {
    let fields = |role: Option<&role::Model>| -> [(&str, Value); 3] {
        [
            ("name", role.map(|r| r.name.clone()).into()),
            (
                "description",
                role.and_then(|r| r.description.clone()).into(),
            ),
            (
                "permissions",
                role.map(|r| Value::from(r.permission_names()))
                    .unwrap_or(Value::Null),
            ),
        ]
    };
    super::audit::diff(fields(before), fields(Some(after)))
}

/// Changes a role. Built-in roles keep their name and permissions (the
/// contract defines them); only their description may change.
pub async fn update(
    ctx: &AppContext,
    viewer: &Viewer,
    id: Uuid,
    patch: NamePatch<'_>,
    new_permissions: Option<&[Permission]>,
) -> Result<role::Model> {
    viewer.require_superuser()?;
    let txn = ctx.begin().await?;
    let current = get(&txn, id).await?.ok_or(AppError::not_found("role"))?;
    let mut model = role::ActiveModel {
        id: Set(id),
        ..Default::default()
    };
    if let Some(name) = patch.name {
        let name = role_grants::role_name(name)?;
        if current.is_builtin && name != current.name {
            return Err(AppError::Conflict(
                "built-in roles cannot be renamed".into(),
            ));
        }
        model.name = Set(name);
    }
    if let Some(description) = patch.description {
        model.description = Set(super::description(description)?);
    }
    if let Some(new_permissions) = new_permissions {
        let requested: BTreeSet<Permission> = new_permissions.iter().copied().collect();
        if current.is_builtin
            && requested != role_grants::permissions(std::slice::from_ref(&current))
        {
            return Err(AppError::Conflict(
                "the permissions of built-in roles cannot be changed".into(),
            ));
        }
        model.permissions = Set(role_grants::encode_permissions(new_permissions));
    }
    if !model.is_changed() {
        return Ok(current);
    }
    let updated = model
        .update(&txn)
        .await
        .on_constraint(super::name_taken("role"))?;
    let changes = audit_fields(Some(&current), &updated);
    if !changes.is_empty() {
        Event::by(viewer, Action::RoleUpdated)
            .on(Target::Role(id))
            .with(changes)
            .record(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(updated)
}

/// Deletes a custom role and, in the same transaction, its links to users.
pub async fn delete(ctx: &AppContext, viewer: &Viewer, id: Uuid) -> Result<()> {
    viewer.require_superuser()?;
    let txn = ctx.begin().await?;
    let role = get(&txn, id).await?.ok_or(AppError::not_found("role"))?;
    if role.is_builtin {
        return Err(AppError::Conflict(
            "built-in roles cannot be deleted".into(),
        ));
    }
    user_role::Entity::delete_many()
        .filter(user_role::Column::RoleId.eq(id))
        .exec(&txn)
        .await?;
    role::Entity::delete_by_id(id).exec(&txn).await?;
    Event::by(viewer, Action::RoleDeleted)
        .on(Target::Role(id))
        .change("name", role.name.clone(), Value::Null)
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Replaces a user's roles (`setUserRoles`), with the rules of `replace`; a
/// superuser's roles are for superusers to change.
pub async fn set_user_roles(
    ctx: &AppContext,
    viewer: &Viewer,
    user_id: Uuid,
    role_ids: &[Uuid],
) -> Result<(user::Model, Vec<role::Model>)> {
    viewer.require(Permission::RolesAssign)?;
    let txn = ctx.begin().await?;
    // Locked first, so concurrent replacements of one user's roles run one
    // after the other and the result is exactly one of the requested sets.
    let user = users::lock(&txn, user_id)
        .await?
        .ok_or(AppError::not_found("user"))?;
    users::check_target(viewer, &user)?;
    let assigned = role_grants::assign_locked(&txn, viewer, user_id, role_ids).await?;
    let user = if assigned.changed {
        // A change of roles is a change of the user (`updatedAt`).
        let mut touched = users::changes(&user);
        touched.updated_at = Set(now());
        users::save_locked(&txn, user, touched).await?
    } else {
        user
    };
    txn.commit().await?;
    Ok((user, assigned.roles))
}
