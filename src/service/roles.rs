//! Role lookups and the permission model: a user's permissions are the union
//! of its roles' permissions. Lookups for many users run as one `IN (…)` query.

use std::collections::{BTreeSet, HashMap};

use entity::{FromPosition, Repeated, role, user, user_role};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, JoinType,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, RelationTrait, Set, TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;

use super::{
    AppContext, NamePatch,
    audit::{Changes, Event, Target},
    now, require_superuser, users,
};
use crate::{
    auth::{Permission, Viewer},
    error::{AppError, Result, ResultExt},
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

/// Role names: 2–64 characters of `[a-z0-9_.-]`, like usernames.
fn role_name(raw: &str) -> Result<String> {
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

fn encode_permissions(permissions: &[Permission]) -> String {
    let names: BTreeSet<&str> = permissions.iter().map(|p| p.as_str()).collect();
    serde_json::to_string(&names).expect("a set of strings serialises")
}

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

pub async fn create(
    db: &DatabaseConnection,
    viewer: &Viewer,
    name: &str,
    description: Option<&str>,
    permissions: &[Permission],
) -> Result<role::Model> {
    require_superuser(viewer)?;
    let txn = db.begin().await?;
    let role = role::ActiveModel {
        id: Set(crate::ids::new_key()),
        name: Set(role_name(name)?),
        description: Set(super::description(description)?),
        permissions: Set(encode_permissions(permissions)),
        is_builtin: Set(false),
        created_at: Set(now()),
    }
    .insert(&txn)
    .await
    .on_constraint(super::name_taken("role"))?;
    Event::by(viewer, "role.created")
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
    db: &DatabaseConnection,
    viewer: &Viewer,
    id: Uuid,
    patch: NamePatch<'_>,
    new_permissions: Option<&[Permission]>,
) -> Result<role::Model> {
    require_superuser(viewer)?;
    let txn = db.begin().await?;
    let current = get(&txn, id).await?.ok_or(AppError::not_found("role"))?;
    let mut model = role::ActiveModel {
        id: Set(id),
        ..Default::default()
    };
    if let Some(name) = patch.name {
        let name = role_name(name)?;
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
        if current.is_builtin && requested != permissions(std::slice::from_ref(&current)) {
            return Err(AppError::Conflict(
                "the permissions of built-in roles cannot be changed".into(),
            ));
        }
        model.permissions = Set(encode_permissions(new_permissions));
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
        Event::by(viewer, "role.updated")
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
    require_superuser(viewer)?;
    let txn = ctx.db.begin().await?;
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
    Event::by(viewer, "role.deleted")
        .on(Target::Role(id))
        .change("name", role.name.clone(), Value::Null)
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
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
pub(super) async fn assign_locked(
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
        Event::by(viewer, "user.roles_changed")
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

/// Replaces a user's roles (`setUserRoles`), with the rules of `replace`; a
/// superuser's roles are for superusers to change.
pub async fn set_user_roles(
    ctx: &AppContext,
    viewer: &Viewer,
    user_id: Uuid,
    role_ids: &[Uuid],
) -> Result<(user::Model, Vec<role::Model>)> {
    viewer.require(Permission::RolesAssign)?;
    let txn = ctx.db.begin().await?;
    // Locked first, so concurrent replacements of one user's roles run one
    // after the other and the result is exactly one of the requested sets.
    let user = users::lock(&txn, user_id)
        .await?
        .ok_or(AppError::not_found("user"))?;
    users::check_target(viewer, &user)?;
    let assigned = assign_locked(&txn, viewer, user_id, role_ids).await?;
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
