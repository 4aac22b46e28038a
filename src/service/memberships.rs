//! Memberships, a building block of the organisation flows (#32): the
//! built-in org roles, the permissions a user holds in an organisation, and
//! the rule that an organisation keeps an owner, held under a lock on the
//! organisation's row so that owners demoting each other at once leave one.

use std::collections::BTreeSet;

use entity::{membership, membership_role, org_role, organization, session};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    auth::{Permission, Viewer, org::OrgPermission},
    error::{AppError, Result},
};

/// What a viewer may do in one organisation: their membership there, if
/// any, and the org permissions they hold in it. Membership permissions act
/// in a signed-in session only (an API key carries only the service
/// permissions it lists); a superuser holds every org permission in every
/// organisation, `ORGS_READ` reads members and `AUDIT_READ` the trail of
/// any organisation.
#[derive(Debug, Clone, Default)]
pub struct Held {
    pub membership: Option<membership::Model>,
    pub permissions: BTreeSet<OrgPermission>,
    /// Sees the organisation by a service permission (`ORGS_READ`, a
    /// superuser), member or not.
    pub reads_every_organization: bool,
}

impl Held {
    /// Whether the viewer may see the organisation at all: its members
    /// (whatever their roles), `ORGS_READ` and superusers. `AUDIT_READ`
    /// alone reads an organisation's trail, not the organisation.
    pub fn sees_organization(&self) -> bool {
        self.membership.is_some() || self.reads_every_organization
    }

    /// `FORBIDDEN` unless `permission` is held here.
    pub fn require(&self, permission: OrgPermission) -> Result<()> {
        if self.permissions.contains(&permission) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }

    /// `FORBIDDEN` when `wanted` holds a permission not held here: no one
    /// grants (or takes away) more than they have.
    pub fn require_all(&self, wanted: &BTreeSet<OrgPermission>) -> Result<()> {
        if wanted.is_subset(&self.permissions) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }
}

/// A user's list of memberships (`User.memberships`) is theirs, and
/// readable with `ORGS_READ` by those who read the user whole; `FORBIDDEN`
/// otherwise, so no one learns another's other organisations.
pub fn may_list_memberships(viewer: &Viewer, user_id: Uuid) -> Result<()> {
    if viewer.id() == user_id || (viewer.has(Permission::OrgsRead) && viewer.reads_user(user_id)) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// What `viewer` holds in `organization_id` (see `Held`).
pub async fn held(
    conn: &impl ConnectionTrait,
    viewer: &Viewer,
    organization_id: Uuid,
) -> Result<Held> {
    Ok(held_from(
        viewer,
        standing(conn, organization_id, viewer.id()).await?,
    ))
}

/// `Held` from the viewer's standing in one organisation (read with
/// `standing`, or in a batch): the one rule of what a viewer holds there.
pub fn held_from(
    viewer: &Viewer,
    standing: Option<(membership::Model, BTreeSet<OrgPermission>)>,
) -> Held {
    let mut held = Held::default();
    if let Some((membership, permissions)) = standing {
        held.membership = Some(membership);
        if viewer.api_key.is_none() {
            held.permissions = permissions;
        }
        // An impersonation sees the user's organisations as they do and
        // changes none of them: support never takes over an organisation
        // through its owner's account.
        if viewer.impersonation.is_some() {
            held.permissions
                .retain(|p| *p == OrgPermission::MembersRead);
        }
    }
    if viewer.is_superuser() {
        held.permissions.extend(OrgPermission::ALL);
    }
    if viewer.has(Permission::OrgsRead) {
        held.permissions.insert(OrgPermission::MembersRead);
        held.reads_every_organization = true;
    }
    if viewer.has(Permission::AuditRead) {
        held.permissions.insert(OrgPermission::OrgAuditRead);
    }
    held
}

/// What a user holds in an organisation as an inviter, whatever the
/// request: every org permission for a superuser, else their membership's.
/// An invitation is good only while its inviter still could send it.
pub async fn held_by_user(
    conn: &impl ConnectionTrait,
    user: &entity::user::Model,
    organization_id: Uuid,
) -> Result<BTreeSet<OrgPermission>> {
    if user.is_superuser && !user.is_deleted() {
        return Ok(OrgPermission::ALL.into_iter().collect());
    }
    Ok(standing(conn, organization_id, user.id)
        .await?
        .map(|(_, held)| held)
        .unwrap_or_default())
}

/// An organisation, with a user's membership of it and the membership's
/// org roles (by name); `None` when the user is not a member.
pub type WithMembership = (organization::Model, Option<MembershipWithRoles>);

/// A membership and its org roles, by name.
pub type MembershipWithRoles = (membership::Model, Vec<org_role::Model>);

/// A row of a membership joined to its org roles: one per role held, the
/// membership alone when it holds none, nothing (both `None`) when the
/// user is no member.
#[derive(sea_orm::FromQueryResult)]
struct HeldRow {
    #[sea_orm(nested(prefix = "m_"))]
    membership: Option<membership::Model>,
    #[sea_orm(nested(prefix = "r_"))]
    role: Option<org_role::Model>,
}

/// Joins the roles of the `memberships` in `select` and selects both, as
/// `HeldRow` reads them.
fn select_held(select: &mut sea_orm::sea_query::SelectStatement) {
    use sea_orm::{
        IdenStatic, Iterable, JoinType,
        sea_query::{Alias, ExprTrait},
    };
    select
        .join(
            JoinType::LeftJoin,
            membership_role::Entity,
            Expr::col((
                membership_role::Entity,
                membership_role::Column::MembershipId,
            ))
            .equals((membership::Entity, membership::Column::Id)),
        )
        .join(
            JoinType::LeftJoin,
            org_role::Entity,
            Expr::col((org_role::Entity, org_role::Column::Id))
                .equals((membership_role::Entity, membership_role::Column::OrgRoleId)),
        );
    for column in membership::Column::iter() {
        select.expr_as(
            Expr::col((membership::Entity, column)),
            Alias::new(format!("m_{}", column.as_str())),
        );
    }
    for column in org_role::Column::iter() {
        select.expr_as(
            Expr::col((org_role::Entity, column)),
            Alias::new(format!("r_{}", column.as_str())),
        );
    }
}

/// Gathers `rows` (in no promised order) by `key`: each key once, in the
/// order first seen, with its membership's roles sorted by name.
fn gather<K: std::hash::Hash + Eq + Copy, T>(
    rows: impl IntoIterator<Item = (K, T, HeldRow)>,
) -> Vec<(T, Option<MembershipWithRoles>)> {
    let mut found: Vec<(T, Option<MembershipWithRoles>)> = Vec::new();
    let mut at_of: std::collections::HashMap<K, usize> = std::collections::HashMap::new();
    for (key, item, row) in rows {
        let at = *at_of.entry(key).or_insert_with(|| {
            found.push((item, row.membership.map(|m| (m, Vec::new()))));
            found.len() - 1
        });
        if let (Some((_, roles)), Some(role)) = (&mut found[at].1, row.role) {
            roles.push(role);
        }
    }
    for (_, held) in &mut found {
        if let Some((_, roles)) = held {
            roles.sort_by(|a, b| a.name.cmp(&b.name));
        }
    }
    found
}

/// The organisations matching `condition` (on `organizations`), each with
/// `user_id`'s membership and its org roles, in one statement: the
/// organisation a request names and the caller's standing in it cost one
/// round trip, not three.
pub async fn organizations_with_membership(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    condition: impl sea_orm::sea_query::IntoCondition,
) -> Result<Vec<WithMembership>> {
    use sea_orm::{
        FromQueryResult, Iterable, JoinType,
        sea_query::{ExprTrait, Query},
    };
    #[derive(FromQueryResult)]
    struct Row {
        #[sea_orm(nested)]
        organization: organization::Model,
        #[sea_orm(nested)]
        held: HeldRow,
    }
    let mut select = Query::select();
    select
        .from(organization::Entity)
        .join(
            JoinType::LeftJoin,
            membership::Entity,
            Expr::col((membership::Entity, membership::Column::OrganizationId))
                .equals((organization::Entity, organization::Column::Id))
                .and(Expr::col((membership::Entity, membership::Column::UserId)).eq(user_id)),
        )
        .cond_where(condition);
    for column in organization::Column::iter() {
        select.column((organization::Entity, column));
    }
    select_held(&mut select);
    let statement = conn.get_database_backend().build(&select);
    let rows = Row::find_by_statement(statement).all(conn).await?;
    Ok(gather(rows.into_iter().map(|row| {
        (row.organization.id, row.organization, row.held)
    })))
}

/// The memberships matching `condition` (on `memberships`), each with its
/// org roles, in one statement (the organisations' rows are not read).
async fn memberships_where(
    conn: &impl ConnectionTrait,
    condition: impl sea_orm::sea_query::IntoCondition,
) -> Result<Vec<MembershipWithRoles>> {
    use sea_orm::{FromQueryResult, sea_query::Query};
    let mut select = Query::select();
    select.from(membership::Entity).cond_where(condition);
    select_held(&mut select);
    let statement = conn.get_database_backend().build(&select);
    let rows = HeldRow::find_by_statement(statement).all(conn).await?;
    Ok(gather(rows.into_iter().filter_map(|row| {
        let id = row.membership.as_ref()?.id;
        Some((id, (), row))
    }))
    .into_iter()
    .filter_map(|((), held)| held)
    .collect())
}

/// `user_id`'s membership of each of `organizations` with its org roles,
/// in one statement whatever their number.
pub async fn memberships_with_roles(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    organizations: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, MembershipWithRoles>> {
    if organizations.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let condition = sea_orm::Condition::all()
        .add(membership::Column::UserId.eq(user_id))
        .add(membership::Column::OrganizationId.is_in(organizations.iter().copied()));
    Ok(memberships_where(conn, condition)
        .await?
        .into_iter()
        .map(|held| (held.0.organization_id, held))
        .collect())
}

/// `user_id`'s standing in each of `organizations`: their membership and
/// what its roles let them do, in one statement whatever their number.
pub async fn standings(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    organizations: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, (membership::Model, BTreeSet<OrgPermission>)>> {
    Ok(memberships_with_roles(conn, user_id, organizations)
        .await?
        .into_iter()
        .map(|(org, (m, roles))| (org, (m, permissions(&roles))))
        .collect())
}

/// The memberships of each of `users`, oldest first, in one statement.
pub async fn of_users(
    conn: &impl ConnectionTrait,
    users: &[Uuid],
) -> Result<Vec<membership::Model>> {
    use sea_orm::QueryOrder;
    Ok(membership::Entity::find()
        .filter(membership::Column::UserId.is_in(users.iter().copied()))
        .order_by_asc(membership::Column::JoinedAt)
        .all(conn)
        .await?)
}

/// The org roles of each of `memberships`, sorted by name, in one
/// statement (none for no membership).
pub async fn roles_of_many(
    conn: &impl ConnectionTrait,
    memberships: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Vec<org_role::Model>>> {
    if memberships.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    Ok(memberships_where(
        conn,
        membership::Column::Id.is_in(memberships.iter().copied()),
    )
    .await?
    .into_iter()
    .map(|(membership, roles)| (membership.id, roles))
    .collect())
}

/// Org roles one member may hold: access tokens carry their names.
pub const MAX_ROLES_PER_MEMBER: usize = 10;

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

/// The org roles a membership holds, by name.
pub async fn roles_of(
    conn: &impl ConnectionTrait,
    membership_id: Uuid,
) -> Result<Vec<org_role::Model>> {
    Ok(roles_of_many(conn, &[membership_id])
        .await?
        .remove(&membership_id)
        .unwrap_or_default())
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
    Ok(standings(conn, user_id, &[organization_id])
        .await?
        .remove(&organization_id))
}

/// Locks, in id order, the rows of the organisations `users` belong to,
/// for a change to the user's deletion (a soft delete, a restore, an
/// erasure, a permanent deletion) or username, which the caller makes
/// next (for several users, in one statement, before any of them): the
/// database's triggers then change those organisations' head
/// counts, or the username's copy in each membership. A member change locks
/// its organisation first and its member's row after (the foreign key's
/// check, the count's trigger), so a deletion or a rename must take the
/// organisations before the user too, or the two could deadlock.
pub async fn lock_organizations_of(
    conn: &impl ConnectionTrait,
    users: impl IntoIterator<Item = Uuid>,
) -> Result<()> {
    let _: Vec<Uuid> = organization::Entity::find()
        .select_only()
        .column(organization::Column::Id)
        .filter(
            organization::Column::Id.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(membership::Column::OrganizationId)
                    .from(membership::Entity)
                    .and_where(membership::Column::UserId.is_in(users))
                    .to_owned(),
            ),
        )
        .order_by_asc(organization::Column::Id)
        .lock_exclusive()
        .into_tuple()
        .all(conn)
        .await?;
    Ok(())
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
