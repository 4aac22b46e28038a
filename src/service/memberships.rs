//! Memberships, a building block of the organisation flows (#32): the
//! built-in org roles, the permissions a user holds in an organisation, and
//! the rule that an organisation keeps an owner, held under a lock on the
//! organisation's row so that owners demoting each other at once leave one.

use std::collections::BTreeSet;

use entity::{membership, membership_role, org_role, organization, session};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect,
    sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    auth::org::OrgPermission,
    error::{AppError, Result},
};

/// The built-in org roles.
pub const OWNER: &str = "owner";
pub const ADMIN: &str = "admin";
pub const MEMBER: &str = "member";

/// The built-in org role `name`.
pub async fn builtin_role(conn: &impl ConnectionTrait, name: &str) -> Result<org_role::Model> {
    org_role::Entity::find()
        .filter(org_role::Column::IsBuiltin.eq(true))
        .filter(org_role::Column::Name.eq(name))
        .one(conn)
        .await?
        .ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!(
                "built-in org role `{name}` is missing; run migrations"
            ))
        })
}

/// The org roles a membership holds.
pub async fn roles_of(
    conn: &impl ConnectionTrait,
    membership_id: Uuid,
) -> Result<Vec<org_role::Model>> {
    let keys: Vec<Uuid> = membership_role::Entity::find()
        .filter(membership_role::Column::MembershipId.eq(membership_id))
        .all(conn)
        .await?
        .into_iter()
        .map(|r| r.org_role_id)
        .collect();
    Ok(org_role::Entity::find()
        .filter(org_role::Column::Id.is_in(keys))
        .all(conn)
        .await?)
}

/// What `roles` let their holder do.
pub fn permissions(roles: &[org_role::Model]) -> BTreeSet<OrgPermission> {
    roles
        .iter()
        .flat_map(org_role::Model::permission_names)
        .filter_map(|name| OrgPermission::parse(&name))
        .collect()
}

/// `user_id`'s membership of `organization_id` and what it lets them do;
/// `None` for someone outside it.
pub async fn standing(
    conn: &impl ConnectionTrait,
    organization_id: Uuid,
    user_id: Uuid,
) -> Result<Option<(membership::Model, BTreeSet<OrgPermission>)>> {
    let Some(found) = membership::Entity::find()
        .filter(membership::Column::OrganizationId.eq(organization_id))
        .filter(membership::Column::UserId.eq(user_id))
        .one(conn)
        .await?
    else {
        return Ok(None);
    };
    let held = permissions(&roles_of(conn, found.id).await?);
    Ok(Some((found, held)))
}

/// Locks the organisation's row for the caller's transaction: every change
/// of who owns it goes through this lock. `NOT_FOUND` when there is none.
pub async fn lock_organization(
    conn: &impl ConnectionTrait,
    organization_id: Uuid,
) -> Result<organization::Model> {
    organization::Entity::find_by_id(organization_id)
        .lock_exclusive()
        .one(conn)
        .await?
        .ok_or(AppError::NotFound {
            what: "organization",
            field: Some("organizationId"),
        })
}

/// The memberships holding `owner` in the organisation.
async fn owners(conn: &impl ConnectionTrait, organization_id: Uuid) -> Result<Vec<Uuid>> {
    let owner = builtin_role(conn, OWNER).await?;
    let held: Vec<Uuid> = membership_role::Entity::find()
        .filter(membership_role::Column::OrgRoleId.eq(owner.id))
        .all(conn)
        .await?
        .into_iter()
        .map(|r| r.membership_id)
        .collect();
    Ok(membership::Entity::find()
        .filter(membership::Column::OrganizationId.eq(organization_id))
        .filter(membership::Column::Id.is_in(held))
        .all(conn)
        .await?
        .into_iter()
        .map(|m| m.id)
        .collect())
}

/// Refuses (`CONFLICT`) a change that would leave the organisation without
/// an owner once `leaving` stops being one; under the organisation's lock.
pub async fn keep_an_owner(
    conn: &impl ConnectionTrait,
    organization_id: Uuid,
    leaving: Uuid,
) -> Result<()> {
    lock_organization(conn, organization_id).await?;
    let owners = owners(conn, organization_id).await?;
    if owners.contains(&leaving) && owners.len() == 1 {
        return Err(AppError::Conflict(
            "the organisation's last owner cannot leave, be removed or lose the owner role: make someone else an owner first".into(),
        ));
    }
    Ok(())
}

/// Gives `membership` exactly `role_ids` (checked by the caller), keeping
/// an owner, in the caller's transaction.
pub async fn set_roles(
    conn: &impl ConnectionTrait,
    membership: &membership::Model,
    role_ids: &[Uuid],
) -> Result<()> {
    let owner = builtin_role(conn, OWNER).await?;
    if !role_ids.contains(&owner.id) {
        keep_an_owner(conn, membership.organization_id, membership.id).await?;
    }
    membership_role::Entity::delete_many()
        .filter(membership_role::Column::MembershipId.eq(membership.id))
        .exec(conn)
        .await?;
    if !role_ids.is_empty() {
        membership_role::Entity::insert_many(role_ids.iter().map(|role| {
            membership_role::ActiveModel {
                membership_id: Set(membership.id),
                org_role_id: Set(*role),
            }
        }))
        .exec_without_returning(conn)
        .await?;
    }
    Ok(())
}

/// Ends a membership (leaving, or removed), keeping an owner; the user's
/// sessions stop acting in the organisation.
pub async fn remove(conn: &impl ConnectionTrait, membership: &membership::Model) -> Result<()> {
    keep_an_owner(conn, membership.organization_id, membership.id).await?;
    membership::Entity::delete_by_id(membership.id)
        .exec(conn)
        .await?;
    session::Entity::update_many()
        .col_expr(
            session::Column::ActiveOrganizationId,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(session::Column::UserId.eq(membership.user_id))
        .filter(session::Column::ActiveOrganizationId.eq(membership.organization_id))
        .exec(conn)
        .await?;
    Ok(())
}
