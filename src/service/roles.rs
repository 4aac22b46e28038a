//! Role lookups and the permission model: a user's permissions are the union
//! of its roles' permissions. Lookups for many users run as one `IN (…)` query.

use std::collections::{BTreeSet, HashMap};

use entity::{role, user_role};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use super::now;
use crate::{
    auth::Permission,
    error::{AppError, Result},
};

/// The role every new user gets.
pub const DEFAULT_ROLE: &str = "user";
/// The built-in role whose holders count as staff.
pub const ADMIN_ROLE: &str = "admin";

pub fn permissions(roles: &[role::Model]) -> BTreeSet<Permission> {
    roles
        .iter()
        .flat_map(|role| role.permission_names())
        .filter_map(|name| Permission::parse(&name))
        .collect()
}

pub async fn of_user(conn: &impl ConnectionTrait, user_id: Uuid) -> Result<Vec<role::Model>> {
    Ok(of_users(conn, &[user_id])
        .await?
        .remove(&user_id)
        .unwrap_or_default())
}

/// The roles of each of `user_ids`, in one statement, each list ordered by name.
pub async fn of_users(
    conn: &impl ConnectionTrait,
    user_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<role::Model>>> {
    let mut by_user: HashMap<Uuid, Vec<role::Model>> = HashMap::new();
    if user_ids.is_empty() {
        return Ok(by_user);
    }
    let rows = user_role::Entity::find()
        .filter(user_role::Column::UserId.is_in(user_ids.iter().copied()))
        .find_also_related(role::Entity)
        .order_by_asc(role::Column::Name)
        .all(conn)
        .await?;
    for (link, role) in rows {
        if let Some(role) = role {
            by_user.entry(link.user_id).or_default().push(role);
        }
    }
    Ok(by_user)
}

/// Gives `user_id` the built-in role called `name`.
pub async fn grant_builtin(conn: &impl ConnectionTrait, user_id: Uuid, name: &str) -> Result<()> {
    let role = role::Entity::find()
        .filter(role::Column::Name.eq(name))
        .one(conn)
        .await?
        .ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "built-in role `{name}` is missing; run migrations"
            ))
        })?;
    user_role::Entity::insert(user_role::ActiveModel {
        user_id: Set(user_id),
        role_id: Set(role.id),
        created_at: Set(now()),
    })
    .exec(conn)
    .await?;
    Ok(())
}
