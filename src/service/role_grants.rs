//! Role grants, a building block: the permission model (a user's
//! permissions are the union of its roles'), a user's roles read for many
//! users at once, and giving or replacing a user's roles under the
//! no-escalation rule, in the caller's transaction.

use std::collections::{BTreeSet, HashMap};

use entity::{FromPosition, Repeated, role, user_role};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, RelationTrait, Set,
};
use uuid::Uuid;

use super::{
    audit::{Action, Event, Target},
    now,
};
use crate::{
    auth::{Permission, Viewer},
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

/// Someone on either side of an impersonation, as the rule below reads them.
#[derive(Debug)]
pub struct Principal {
    pub id: Uuid,
    /// Active and not deleted.
    pub usable: bool,
    pub is_superuser: bool,
    pub permissions: BTreeSet<Permission>,
}

impl Principal {
    pub fn of(user: &entity::user::Model, roles: &[role::Model]) -> Self {
        Self {
            id: user.id,
            usable: super::users::usable(user).is_ok(),
            is_superuser: user.is_superuser,
            permissions: permissions(roles),
        }
    }
}

/// Whether `actor` may act as `target` (`impersonateUser`): the one rule,
/// checked when an impersonation starts and again on each of its requests
/// and refreshes, so a suspended administrator, or one who lost
/// `USERS_IMPERSONATE` or a permission the target holds, acts no longer.
/// Support never reaches past its own powers through someone else's
/// account: not a superuser's, not one holding a permission the actor lacks.
pub fn may_impersonate(actor: &Principal, target: &Principal) -> Result<()> {
    let holds = |p: Permission| actor.is_superuser || actor.permissions.contains(&p);
    if !actor.usable || !holds(Permission::UsersImpersonate) {
        return Err(AppError::Forbidden);
    }
    if actor.id == target.id {
        return Err(AppError::bad_input("id", "you cannot impersonate yourself"));
    }
    if target.is_superuser {
        return Err(AppError::ForbiddenBecause(
            "a superuser cannot be impersonated",
        ));
    }
    if !target.usable {
        return Err(AppError::Conflict(
            "only an active user can be impersonated".into(),
        ));
    }
    if !target.permissions.iter().all(|p| holds(*p)) {
        return Err(AppError::ForbiddenBecause(
            "this user holds a permission you do not: they cannot be impersonated by you",
        ));
    }
    Ok(())
}

/// `may_impersonate` for two users as their rows say, reading both users'
/// roles in one statement.
pub async fn may_impersonate_users(
    conn: &impl ConnectionTrait,
    actor: &entity::user::Model,
    target: &entity::user::Model,
) -> Result<()> {
    let mut roles = of_users(conn, &[actor.id, target.id]).await?;
    may_impersonate(
        &Principal::of(actor, &roles.remove(&actor.id).unwrap_or_default()),
        &Principal::of(target, &roles.remove(&target.id).unwrap_or_default()),
    )
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
    // The role's columns, then the holder's id, read by position; a role
    // repeats on the row of each of its holders and is decoded once.
    let select = role::Entity::find()
        .join(JoinType::InnerJoin, role::Relation::UserRole.def())
        .column(user_role::Column::UserId)
        .filter(user_role::Column::UserId.is_in(user_ids.iter().copied()))
        .order_by_asc(role::Column::Name);
    let mut roles = Repeated::<role::Model>::default();
    for row in conn.query_all(&select.into_query()).await? {
        let user_id: Uuid = row.try_get_by_index(role::Model::WIDTH)?;
        if let Some(role) = roles.read(&row, 0)? {
            by_user.entry(user_id).or_default().push(role);
        }
    }
    Ok(by_user)
}

/// Gives `user_id` the built-in role called `name`.
/// The key of the built-in role `name`.
pub async fn builtin_id(conn: &impl ConnectionTrait, name: &str) -> Result<Uuid> {
    Ok(role::Entity::find()
        .filter(role::Column::Name.eq(name))
        .one(conn)
        .await?
        .ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "built-in role `{name}` is missing; run migrations"
            ))
        })?
        .id)
}

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

/// Roles as `createUser` and `updateUser` take them: by id (`roleIds`) or
/// by name (`roleNames`, as the seeds send them).
#[derive(Debug, Clone)]
pub enum Wanted {
    Ids(Vec<Uuid>),
    Names(Vec<String>),
}

impl Wanted {
    /// The keys of the wanted roles, in one statement for names: all of
    /// them, or `NOT_FOUND` on `roleNames` naming the first missing one.
    pub async fn keys(&self, conn: &impl ConnectionTrait) -> Result<Vec<Uuid>> {
        let names = match self {
            Wanted::Ids(ids) => return Ok(ids.clone()),
            Wanted::Names(names) => names,
        };
        let wanted: BTreeSet<String> = names.iter().map(|n| n.trim().to_lowercase()).collect();
        let found: Vec<(Uuid, String)> = role::Entity::find()
            .select_only()
            .columns([role::Column::Id, role::Column::Name])
            .filter(role::Column::Name.is_in(wanted.iter().cloned()))
            .into_tuple()
            .all(conn)
            .await?;
        if found.len() != wanted.len() {
            return Err(AppError::not_found("role").with_field("roleNames"));
        }
        Ok(found.into_iter().map(|(id, _)| id).collect())
    }
}

/// The roles with these ids, ordered by name: all of them, or `NOT_FOUND` on `roleIds`.
pub async fn by_ids(conn: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<role::Model>> {
    let wanted: BTreeSet<Uuid> = ids.iter().copied().collect();
    let found = role::Entity::find()
        .filter(role::Column::Id.is_in(wanted.iter().copied()))
        .order_by_asc(role::Column::Name)
        .all(conn)
        .await?;
    if found.len() != wanted.len() {
        return Err(AppError::not_found("role").with_field("roleIds"));
    }
    Ok(found)
}

/// Makes `wanted` the roles of `user_id`, whose roles are `current` (none
/// for a new user), in the caller's transaction. Every id must exist (else
/// `NOT_FOUND` on `roleIds`, nothing changed), and `viewer` must hold every
/// permission of each role it adds or removes, so nobody grants or strips
/// more power than they have. Returns the new roles, ordered by name.
pub async fn replace(
    conn: &impl ConnectionTrait,
    viewer: &Viewer,
    user_id: Uuid,
    current: &[role::Model],
    wanted: &[Uuid],
) -> Result<Vec<role::Model>> {
    let new_roles = by_ids(conn, wanted).await?;
    let current_ids: BTreeSet<Uuid> = current.iter().map(|r| r.id).collect();
    let mut changed = new_roles
        .iter()
        .filter(|r| !current_ids.contains(&r.id))
        .chain(current.iter().filter(|r| !wanted.contains(&r.id)));
    let escalates = changed.any(|role| {
        !permissions(std::slice::from_ref(role))
            .into_iter()
            .all(|p| viewer.has(p))
    });
    if escalates {
        return Err(AppError::Forbidden);
    }
    if !current.is_empty() {
        user_role::Entity::delete_many()
            .filter(user_role::Column::UserId.eq(user_id))
            .exec(conn)
            .await?;
    }
    if !new_roles.is_empty() {
        let ts = now();
        user_role::Entity::insert_many(new_roles.iter().map(|r| user_role::ActiveModel {
            user_id: Set(user_id),
            role_id: Set(r.id),
            created_at: Set(ts),
        }))
        .exec(conn)
        .await?;
    }
    Ok(new_roles)
}

/// A user's roles after `assign_locked`.
pub struct Assigned {
    /// By name.
    pub roles: Vec<role::Model>,
    /// Whether they differ from the roles before.
    pub changed: bool,
}

/// Makes `role_ids` the roles of `user_id`, whose row the caller has locked
/// in this transaction, with the rules of `replace`, and records the change.
/// The caller bumps the user's `updatedAt` when they changed.
pub async fn assign_locked(
    conn: &impl ConnectionTrait,
    viewer: &Viewer,
    user_id: Uuid,
    role_ids: &[Uuid],
) -> Result<Assigned> {
    let current = of_user(conn, user_id).await?;
    let new_roles = replace(conn, viewer, user_id, &current, role_ids).await?;
    let names =
        |roles: &[role::Model]| -> Vec<String> { roles.iter().map(|r| r.name.clone()).collect() };
    let (old, new) = (names(&current), names(&new_roles));
    let changed = old != new;
    if changed {
        Event::by(viewer, Action::UserRolesChanged)
            .on(Target::User(user_id))
            .change("roles", old, new)
            .record(conn)
            .await?;
    }
    Ok(Assigned {
        roles: new_roles,
        changed,
    })
}

/// Roles given to a new user, as a change from none (so "who made this
/// user an admin?" has an answer from the first day).
pub async fn audit_given(
    conn: &impl sea_orm::ConnectionTrait,
    viewer: &Viewer,
    user_id: Uuid,
    given: &[entity::role::Model],
) -> Result<()> {
    let names: Vec<String> = given.iter().map(|r| r.name.clone()).collect();
    Event::by(viewer, Action::UserRolesChanged)
        .on(Target::User(user_id))
        .change("roles", Vec::<String>::new(), names)
        .record(conn)
        .await
}

/// A role's name as stored: 2 to 64 characters of `a-z0-9_.-`, lower-cased.
pub fn role_name(raw: &str) -> Result<String> {
    let name = raw.trim().to_lowercase();
    let valid = (2..=64).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c));
    if valid {
        Ok(name)
    } else {
        Err(AppError::bad_input(
            "name",
            "name must be 2 to 64 characters of a-z, 0-9, '_', '.' and '-'",
        ))
    }
}

/// Permissions as a role row stores them: a sorted JSON array of names.
pub fn encode_permissions(permissions: &[Permission]) -> String {
    let names: BTreeSet<&str> = permissions.iter().map(|p| p.as_str()).collect();
    serde_json::to_string(&names).expect("a set of strings serialises")
}
