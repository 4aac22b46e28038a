//! Organisations (#32): companies users belong to. Their owners and admins
//! manage their own members (invitations, org roles, removal) and nothing
//! outside them: every flow here authorises with what the viewer holds in
//! that organisation (`memberships::held`), and an organisation keeps an
//! owner under a lock on its row.

use std::collections::BTreeSet;

use entity::{
    membership, membership_role, org_role, organization, organization_invitation, session,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, sea_query::Expr,
};
use serde_json::Value;
use uuid::Uuid;

use super::{
    AppContext, RequestMeta, access, account_mail,
    audit::{Action, Event, Target},
    credentials::{self, Checked},
    limits, memberships,
    memberships::Held,
    new_account::{self, FirstRoles},
    now, outbox,
    tokens::{hash_token, random_token},
    users,
};
use crate::{
    auth::{Permission, Viewer, org::OrgPermission},
    error::{AppError, Result, ResultExt},
    ids,
    mail::{Queued, Template},
    validation,
};

/// Organisations one user may belong to: bounds what one account can make
/// with `ORG_SELF_SERVICE`.
pub const MAX_MEMBERSHIPS: u64 = 100;
use memberships::MAX_ROLES_PER_MEMBER;
/// Custom org roles one organisation may define.
pub const MAX_ORG_ROLES: u64 = 50;
/// Pending invitations one organisation may hold.
pub const MAX_PENDING_INVITATIONS: u64 = 500;
/// Invitations one inviter may send per hour, over all organisations.
const INVITATIONS_PER_HOUR: u32 = 100;

/// `createOrganization`'s input.
#[derive(Debug, Clone, Default)]
pub struct NewOrganization {
    pub name: String,
    pub slug: String,
    pub metadata: Option<Value>,
}

/// `updateOrganization`'s input: absent fields are kept; metadata keys set
/// to null are removed.
#[derive(Debug, Clone, Default)]
pub struct OrganizationPatch {
    pub name: Option<String>,
    pub slug: Option<String>,
    pub metadata: Option<Value>,
}

/// An organisation's name: 1 to 100 characters.
fn name(raw: &str) -> Result<String> {
    validation::optional_text(Some(raw), "name", 100)?
        .ok_or_else(|| AppError::bad_input("name", "name must not be empty"))
}

/// A slug: 2 to 48 characters of `a-z`, `0-9` and `-`, starting and ending
/// with a letter or digit; stored lower case.
pub fn slug(raw: &str) -> Result<String> {
    let slug = raw.trim().to_ascii_lowercase();
    let valid = (2..=48).contains(&slug.len())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if valid {
        Ok(slug)
    } else {
        Err(AppError::bad_input(
            "slug",
            "slug must be 2-48 characters of a-z, 0-9 and -, starting and ending with a letter or digit",
        ))
    }
}

fn slug_taken(detail: &str) -> Option<AppError> {
    detail
        .contains("slug")
        .then(|| AppError::Conflict("an organisation with this slug already exists".into()))
}

fn not_found() -> AppError {
    AppError::NotFound {
        what: "organization",
        field: Some("organizationId"),
    }
}

/// The organisation `id` if `viewer` may see it, with what they hold there;
/// `NOT_FOUND` otherwise, whether or not it exists.
pub async fn visible(
    conn: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> Result<(organization::Model, Held)> {
    visible_where(conn, viewer, organization::Column::Id.eq(id)).await
}

/// The one organisation `condition` picks, with what the viewer holds in
/// it, in one statement; `NOT_FOUND` as `visible`.
async fn visible_where(
    conn: &impl ConnectionTrait,
    viewer: &Viewer,
    condition: sea_orm::sea_query::SimpleExpr,
) -> Result<(organization::Model, Held)> {
    let Some((found, standing)) =
        memberships::organizations_with_membership(conn, viewer.id(), condition)
            .await?
            .into_iter()
            .next()
    else {
        return Err(not_found());
    };
    let held = memberships::held_from(
        viewer,
        standing.map(|(membership, roles)| (membership, memberships::permissions(&roles))),
    );
    // Whether or not it exists, to one who may not see it.
    if !held.sees_organization() {
        return Err(not_found());
    }
    Ok((found, held))
}

/// `organizationBySlug`: as `visible`, by slug (any case); a string that
/// is no slug is `NOT_FOUND` with no query.
pub async fn visible_by_slug(
    conn: &impl ConnectionTrait,
    viewer: &Viewer,
    raw: &str,
) -> Result<(organization::Model, Held)> {
    let Ok(slug) = slug(raw) else {
        return Err(not_found());
    };
    visible_where(conn, viewer, organization::Column::Slug.eq(slug)).await
}

/// An organisation's audit trail (`auditEvents(filter: { organizationId })`):
/// `ORG_AUDIT_READ` there (which `AUDIT_READ` holds everywhere).
pub async fn require_trail_reader(
    conn: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> Result<()> {
    memberships::held(conn, viewer, id)
        .await?
        .require(OrgPermission::OrgAuditRead)
}

/// `organizations` (`ORGS_READ`): a page ordered by slug, after the slug
/// `after`, whose name or slug contains `search` (case-insensitively).
pub async fn list(
    conn: &impl ConnectionTrait,
    viewer: &Viewer,
    first: u64,
    after: Option<&str>,
    search: Option<&str>,
) -> Result<(Vec<organization::Model>, bool)> {
    viewer.require(Permission::OrgsRead)?;
    let mut query = organization::Entity::find();
    if let Some(after) = after {
        query = query.filter(organization::Column::Slug.gt(after));
    }
    if let Some(term) = search.map(str::trim).filter(|t| !t.is_empty()) {
        if term.chars().count() > 100 || term.chars().any(char::is_control) {
            return Err(AppError::bad_input(
                "search",
                "search is at most 100 characters",
            ));
        }
        let pattern = format!(
            "%{}%",
            term.to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        query = query.filter(
            Condition::any()
                .add(Expr::cust_with_values(
                    r#"LOWER("organizations"."name") LIKE ? ESCAPE '\'"#,
                    [pattern.clone()],
                ))
                .add(Expr::cust_with_values(
                    r#""organizations"."slug" LIKE ? ESCAPE '\'"#,
                    [pattern],
                )),
        );
    }
    super::first_rows(conn, query.order_by_asc(organization::Column::Slug), first).await
}

/// The viewer's memberships with their organisations, by organisation name.
pub async fn mine(
    conn: &impl ConnectionTrait,
    viewer: &Viewer,
) -> Result<Vec<(membership::Model, organization::Model)>> {
    let found = membership::Entity::find()
        .filter(membership::Column::UserId.eq(viewer.id()))
        .all(conn)
        .await?;
    let orgs =
        super::by_keys::<organization::Entity>(conn, found.iter().map(|m| m.organization_id))
            .await?;
    let mut paired: Vec<_> = found
        .into_iter()
        .filter_map(|m| {
            let org = orgs.iter().find(|o| o.id == m.organization_id)?.clone();
            Some((m, org))
        })
        .collect();
    paired.sort_by(|a, b| a.1.name.cmp(&b.1.name).then(a.1.id.cmp(&b.1.id)));
    Ok(paired)
}

/// `createOrganization`: any signed-in user with `ORG_SELF_SERVICE`, else
/// `ORGS_CREATE`; the creator is its owner.
#[tracing::instrument(name = "organizations.create", skip_all, fields(by = %ids::user(viewer.id())))]
pub async fn create(
    ctx: &AppContext,
    viewer: &Viewer,
    input: NewOrganization,
) -> Result<organization::Model> {
    if !viewer.has(Permission::OrgsCreate) {
        // Self-service is for people: a key creates only with ORGS_CREATE.
        if !ctx.config.org_self_service {
            return Err(AppError::Forbidden);
        }
        viewer.require_session()?;
    }
    let name = name(&input.name)?;
    let slug = slug(&input.slug)?;
    let metadata = match input.metadata {
        Some(value) => Value::Object(validation::metadata(value, "metadata")?),
        None => serde_json::json!({}),
    };
    let txn = ctx.begin().await?;
    let creator = users::lock(&txn, viewer.id())
        .await?
        .filter(|u| !u.is_deleted())
        .ok_or(AppError::Unauthenticated)?;
    require_room(&txn, creator.id).await?;
    let ts = now();
    let org = organization::Model {
        id: ids::new_key(),
        name,
        slug,
        metadata,
        tier_id: None,
        created_at: ts,
        updated_at: ts,
    };
    organization::Entity::insert(organization::ActiveModel::from(org.clone()))
        .exec_without_returning(&txn)
        .await
        .on_constraint(slug_taken)?;
    let owner = memberships::builtin_role(&txn, memberships::OWNER).await?;
    join(&txn, org.id, creator.id, &[owner.id]).await?;
    Event::by(viewer, Action::OrganizationCreated)
        .on(Target::Organization(org.id))
        .change("name", Value::Null, org.name.clone())
        .change("slug", Value::Null, org.slug.clone())
        .record(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!(organization_id = %ids::encode(ids::ORGANIZATION, org.id), "organisation created");
    Ok(org)
}

/// `CONFLICT` when `user_id` already belongs to `MAX_MEMBERSHIPS` organisations.
async fn require_room(conn: &impl ConnectionTrait, user_id: Uuid) -> Result<()> {
    use sea_orm::PaginatorTrait;
    let held = membership::Entity::find()
        .filter(membership::Column::UserId.eq(user_id))
        .count(conn)
        .await?;
    if held >= MAX_MEMBERSHIPS {
        return Err(AppError::Conflict(format!(
            "an account belongs to at most {MAX_MEMBERSHIPS} organisations"
        )));
    }
    Ok(())
}

/// Makes `user_id` a member holding `roles`, in the caller's transaction.
async fn join(
    conn: &impl ConnectionTrait,
    organization_id: Uuid,
    user_id: Uuid,
    roles: &[Uuid],
) -> Result<membership::Model> {
    let joined = membership::Model {
        id: ids::new_key(),
        organization_id,
        user_id,
        joined_at: now(),
    };
    membership::Entity::insert(membership::ActiveModel::from(joined.clone()))
        .exec_without_returning(conn)
        .await
        .on_constraint(|_| {
            Some(AppError::Conflict(
                "already a member of this organisation".into(),
            ))
        })?;
    if !roles.is_empty() {
        membership_role::Entity::insert_many(roles.iter().map(|role| {
            membership_role::ActiveModel {
                membership_id: Set(joined.id),
                org_role_id: Set(*role),
            }
        }))
        .exec_without_returning(conn)
        .await?;
    }
    Ok(joined)
}

/// `updateOrganization` (`ORG_UPDATE` there).
#[tracing::instrument(name = "organizations.update", skip_all, fields(by = %ids::user(viewer.id())))]
pub async fn update(
    ctx: &AppContext,
    viewer: &Viewer,
    id: Uuid,
    patch: OrganizationPatch,
) -> Result<organization::Model> {
    let (_, held) = visible(&ctx.db, viewer, id).await?;
    held.require(OrgPermission::OrgUpdate)?;
    let new_name = patch.name.as_deref().map(name).transpose()?;
    let new_slug = patch.slug.as_deref().map(slug).transpose()?;
    let metadata = patch
        .metadata
        .map(|m| validation::metadata(m, "metadata"))
        .transpose()?;
    let txn = ctx.begin().await?;
    let before = memberships::lock_organization(&txn, id).await?;
    let mut after = before.clone();
    if let Some(name) = new_name {
        after.name = name;
    }
    if let Some(slug) = new_slug {
        after.slug = slug;
    }
    if let Some(patch) = &metadata {
        after.metadata = users::merge_metadata(&before.metadata, patch, "metadata")?;
    }
    if after == before {
        return Ok(before);
    }
    after.updated_at = now();
    let mut model = organization::ActiveModel::from(after.clone());
    model.id = sea_orm::ActiveValue::Unchanged(id);
    organization::Entity::update(model)
        .exec(&txn)
        .await
        .on_constraint(slug_taken)?;
    let mut event = Event::by(viewer, Action::OrganizationUpdated).on(Target::Organization(id));
    if before.name != after.name {
        event = event.change("name", before.name.clone(), after.name.clone());
    }
    if before.slug != after.slug {
        event = event.change("slug", before.slug.clone(), after.slug.clone());
    }
    if before.metadata != after.metadata {
        event = event.change("metadata", before.metadata.clone(), after.metadata.clone());
    }
    event.record(&txn).await?;
    txn.commit().await?;
    Ok(after)
}

/// `deleteOrganization` (`ORG_DELETE` there): its memberships, org roles and
/// invitations go with it, and sessions acting in it stop.
#[tracing::instrument(name = "organizations.delete", skip_all, fields(by = %ids::user(viewer.id())))]
pub async fn delete(ctx: &AppContext, viewer: &Viewer, id: Uuid) -> Result<()> {
    let (_, held) = visible(&ctx.db, viewer, id).await?;
    held.require(OrgPermission::OrgDelete)?;
    let txn = ctx.begin().await?;
    let org = memberships::lock_organization(&txn, id).await?;
    session::Entity::update_many()
        .col_expr(
            session::Column::ActiveOrganizationId,
            Expr::value(Option::<Uuid>::None),
        )
        .filter(session::Column::ActiveOrganizationId.eq(id))
        .exec(&txn)
        .await?;
    organization::Entity::delete_by_id(id).exec(&txn).await?;
    Event::by(viewer, Action::OrganizationDeleted)
        .on(Target::Organization(id))
        .change("name", org.name, Value::Null)
        .change("slug", org.slug, Value::Null)
        .record(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!(organization_id = %ids::encode(ids::ORGANIZATION, id), "organisation deleted");
    Ok(())
}

/// `setOrganizationTier` (superuser).
pub async fn set_tier(
    ctx: &AppContext,
    viewer: &Viewer,
    id: Uuid,
    tier_id: Option<Uuid>,
) -> Result<organization::Model> {
    viewer.require_superuser()?;
    let txn = ctx.begin().await?;
    let before = memberships::lock_organization(&txn, id).await?;
    if let Some(tier) = tier_id
        && super::by_key::<entity::tier::Entity>(&txn, tier)
            .await?
            .is_none()
    {
        return Err(AppError::not_found("tier").with_field("tierId"));
    }
    if before.tier_id == tier_id {
        return Ok(before);
    }
    let after = organization::Model {
        tier_id,
        updated_at: now(),
        ..before.clone()
    };
    organization::Entity::update(organization::ActiveModel::from(after.clone()))
        .exec(&txn)
        .await?;
    Event::by(viewer, Action::OrganizationTierChanged)
        .on(Target::Organization(id))
        .change(
            "tierId",
            before.tier_id.map(|t| ids::encode(ids::TIER, t)),
            tier_id.map(|t| ids::encode(ids::TIER, t)),
        )
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(after)
}

/// The org roles `ids` names, each built-in or the organisation's own;
/// `NOT_FOUND` on `field` for any other.
async fn roles_for(
    conn: &impl ConnectionTrait,
    organization_id: Uuid,
    keys: &[Uuid],
    field: &'static str,
) -> Result<Vec<org_role::Model>> {
    let mut wanted: Vec<Uuid> = keys.to_vec();
    wanted.sort();
    wanted.dedup();
    if wanted.len() > MAX_ROLES_PER_MEMBER {
        return Err(AppError::bad_input(
            field,
            format!("a member holds at most {MAX_ROLES_PER_MEMBER} org roles"),
        ));
    }
    let found: Vec<org_role::Model> =
        super::by_keys::<org_role::Entity>(conn, wanted.iter().copied())
            .await?
            .into_iter()
            .filter(|r| r.is_builtin || r.organization_id == Some(organization_id))
            .collect();
    if found.len() != wanted.len() {
        return Err(AppError::not_found("org role").with_field(field));
    }
    Ok(found)
}

/// The roles each of `organizations` offers: the built-in ones and its
/// own, by name, in one statement.
pub async fn roles_of_organizations(
    conn: &impl ConnectionTrait,
    organizations: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, Vec<org_role::Model>>> {
    let found = org_role::Entity::find()
        .filter(
            Condition::any()
                .add(org_role::Column::IsBuiltin.eq(true))
                .add(org_role::Column::OrganizationId.is_in(organizations.iter().copied())),
        )
        .order_by_asc(org_role::Column::Name)
        .all(conn)
        .await?;
    Ok(organizations
        .iter()
        .map(|org| {
            let offered = found
                .iter()
                .filter(|r| r.is_builtin || r.organization_id == Some(*org))
                .cloned()
                .collect();
            (*org, offered)
        })
        .collect())
}

/// `createOrgRole` (`MEMBERS_MANAGE` there, and every permission it gives).
pub async fn create_role(
    ctx: &AppContext,
    viewer: &Viewer,
    organization_id: Uuid,
    role_name: &str,
    description: Option<&str>,
    permissions: &[OrgPermission],
) -> Result<org_role::Model> {
    let (_, held) = visible(&ctx.db, viewer, organization_id).await?;
    held.require(OrgPermission::MembersManage)?;
    let given: BTreeSet<OrgPermission> = permissions.iter().copied().collect();
    held.require_all(&given)?;
    let role_name = org_role_name(role_name)?;
    if [memberships::OWNER, memberships::ADMIN, memberships::MEMBER].contains(&role_name.as_str()) {
        return Err(AppError::Conflict(
            "a built-in org role has this name".into(),
        ));
    }
    let description = validation::optional_text(description, "description", 255)?;
    let txn = ctx.begin().await?;
    memberships::lock_organization(&txn, organization_id).await?;
    {
        use sea_orm::PaginatorTrait;
        let defined = org_role::Entity::find()
            .filter(org_role::Column::OrganizationId.eq(organization_id))
            .count(&txn)
            .await?;
        if defined >= MAX_ORG_ROLES {
            return Err(AppError::Conflict(format!(
                "an organisation defines at most {MAX_ORG_ROLES} roles"
            )));
        }
    }
    let names: Vec<&str> = given.iter().map(|p| p.as_str()).collect();
    let role = org_role::Model {
        id: ids::new_key(),
        organization_id: Some(organization_id),
        name: role_name,
        description,
        permissions: serde_json::to_string(&names).map_err(anyhow::Error::from)?,
        is_builtin: false,
        created_at: now(),
    };
    org_role::Entity::insert(org_role::ActiveModel::from(role.clone()))
        .exec_without_returning(&txn)
        .await
        .on_constraint(super::name_taken("org role"))?;
    Event::by(viewer, Action::OrgRoleCreated)
        .on(Target::Organization(organization_id))
        .change("role", Value::Null, role.name.clone())
        .change("permissions", Value::Null, names)
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(role)
}

/// A custom org role's name: 1 to 64 of `a-z`, `0-9`, `_`, `-` and `.`,
/// stored lower case, so no name can pass for a built-in one (`Owner`,
/// `owner` with an invisible character) where tokens carry it.
fn org_role_name(raw: &str) -> Result<String> {
    let name = raw.trim().to_ascii_lowercase();
    let valid = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(name)
    } else {
        Err(AppError::bad_input(
            "name",
            "an org role's name is 1-64 characters of a-z, 0-9, _, - and .",
        ))
    }
}

/// `deleteOrgRole` (`MEMBERS_MANAGE` there, and every permission the role
/// gives); members holding it lose it.
pub async fn delete_role(ctx: &AppContext, viewer: &Viewer, id: Uuid) -> Result<()> {
    let role = super::by_key::<org_role::Entity>(&ctx.db, id)
        .await?
        .filter(|r| !r.is_builtin);
    let Some(organization_id) = role.as_ref().and_then(|r| r.organization_id) else {
        return Err(AppError::not_found("org role").with_field("id"));
    };
    let (_, held) = visible(&ctx.db, viewer, organization_id)
        .await
        .map_err(|_| AppError::not_found("org role").with_field("id"))?;
    held.require(OrgPermission::MembersManage)?;
    let role = role.unwrap_or_else(|| unreachable!("checked above"));
    held.require_all(&memberships::permissions(std::slice::from_ref(&role)))?;
    let txn = ctx.begin().await?;
    memberships::lock_organization(&txn, organization_id).await?;
    org_role::Entity::delete_by_id(id).exec(&txn).await?;
    Event::by(viewer, Action::OrgRoleDeleted)
        .on(Target::Organization(organization_id))
        .change("role", role.name, Value::Null)
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// A membership and what `viewer` holds in its organisation; `NOT_FOUND`
/// on `field` unless the viewer sees that organisation's members.
async fn membership_for(
    conn: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
    field: &'static str,
) -> Result<(membership::Model, Held)> {
    let missing = || AppError::not_found("membership").with_field(field);
    let found = super::by_key::<membership::Entity>(conn, id)
        .await?
        .ok_or_else(missing)?;
    let held = memberships::held(conn, viewer, found.organization_id).await?;
    if found.user_id != viewer.id() && !held.permissions.contains(&OrgPermission::MembersRead) {
        return Err(missing());
    }
    Ok((found, held))
}

/// A membership to change, its organisation locked in `txn`, and what the
/// viewer holds there as of that lock (`MEMBERS_MANAGE` required): a
/// manager removed or demoted meanwhile, or a membership gone, is seen.
async fn locked_membership(
    txn: &impl ConnectionTrait,
    viewer: &Viewer,
    membership_id: Uuid,
) -> Result<(membership::Model, Held)> {
    // The row only, to know which organisation to lock; who may see it is
    // decided under the lock.
    let found = super::by_key::<membership::Entity>(txn, membership_id)
        .await?
        .ok_or_else(|| AppError::not_found("membership").with_field("membershipId"))?;
    memberships::lock_organization(txn, found.organization_id).await?;
    let (target, held) = membership_for(txn, viewer, membership_id, "membershipId").await?;
    held.require(OrgPermission::MembersManage)?;
    Ok((target, held))
}

/// Names of `roles`, sorted, for events.
fn role_names(roles: &[org_role::Model]) -> Vec<String> {
    let mut names: Vec<String> = roles.iter().map(|r| r.name.clone()).collect();
    names.sort();
    names
}

/// `setMemberRoles` (`MEMBERS_MANAGE` there): no one gives or takes a role
/// holding a permission they lack, or changes a member who holds one; the
/// last owner keeps the owner role.
#[tracing::instrument(name = "organizations.set_member_roles", skip_all, fields(by = %ids::user(viewer.id())))]
pub async fn set_member_roles(
    ctx: &AppContext,
    viewer: &Viewer,
    membership_id: Uuid,
    role_ids: &[Uuid],
) -> Result<membership::Model> {
    let txn = ctx.begin().await?;
    let (target, held) = locked_membership(&txn, viewer, membership_id).await?;
    let before = memberships::roles_of(&txn, target.id).await?;
    let after = roles_for(&txn, target.organization_id, role_ids, "roleIds").await?;
    held.require_all(&memberships::permissions(&before))?;
    held.require_all(&memberships::permissions(&after))?;
    let keys: Vec<Uuid> = after.iter().map(|r| r.id).collect();
    memberships::set_roles(&txn, &target, &keys).await?;
    Event::by(viewer, Action::MembershipRolesChanged)
        .on(Target::Organization(target.organization_id))
        .change("userId", Value::Null, ids::user(target.user_id))
        .change("roles", role_names(&before), role_names(&after))
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(target)
}

/// `removeMember` (`MEMBERS_MANAGE` there, and every permission the member
/// holds); the last owner stays.
#[tracing::instrument(name = "organizations.remove_member", skip_all, fields(by = %ids::user(viewer.id())))]
pub async fn remove_member(ctx: &AppContext, viewer: &Viewer, membership_id: Uuid) -> Result<()> {
    let txn = ctx.begin().await?;
    let (target, held) = locked_membership(&txn, viewer, membership_id).await?;
    held.require_all(&memberships::permissions(
        &memberships::roles_of(&txn, target.id).await?,
    ))?;
    memberships::remove(&txn, &target).await?;
    Event::by(viewer, Action::MembershipRemoved)
        .on(Target::Organization(target.organization_id))
        .change("userId", ids::user(target.user_id), Value::Null)
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// `leaveOrganization`: the viewer's own membership ends; the last owner
/// cannot leave.
#[tracing::instrument(name = "organizations.leave", skip_all, fields(by = %ids::user(viewer.id())))]
pub async fn leave(ctx: &AppContext, viewer: &Viewer, organization_id: Uuid) -> Result<()> {
    viewer.require_session()?;
    let txn = ctx.begin().await?;
    memberships::lock_organization(&txn, organization_id)
        .await
        .map_err(|_| not_found())?;
    let Some((own, _)) = memberships::standing(&txn, organization_id, viewer.id()).await? else {
        return Err(not_found());
    };
    memberships::remove(&txn, &own).await?;
    Event::by(viewer, Action::MembershipLeft)
        .on(Target::Organization(organization_id))
        .change("userId", ids::user(viewer.id()), Value::Null)
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// `setActiveOrganization`: the organisation the viewer's session acts in
/// (one they belong to), or none; the session's later access tokens carry
/// it as `org` and `org_roles`. Returns the session's current row.
pub async fn set_active(
    ctx: &AppContext,
    viewer: &Viewer,
    organization_id: Option<Uuid>,
) -> Result<session::Model> {
    viewer.require_session()?;
    let txn = ctx.begin().await?;
    // Under the organisation's lock, as a removal: no membership ends
    // between the check and the session's change.
    if let Some(org) = organization_id {
        memberships::lock_organization(&txn, org)
            .await
            .map_err(|_| not_found())?;
    }
    if let Some(org) = organization_id
        && memberships::standing(&txn, org, viewer.id())
            .await?
            .is_none()
    {
        return Err(not_found());
    }
    session::Entity::update_many()
        .col_expr(
            session::Column::ActiveOrganizationId,
            Expr::value(organization_id),
        )
        .filter(session::Column::ChainId.eq(viewer.session_id))
        .filter(session::Column::UserId.eq(viewer.id()))
        .exec(&txn)
        .await?;
    let current = session::Entity::find()
        .filter(access::live_links(viewer.id(), now()))
        .filter(session::Column::ChainId.eq(viewer.session_id))
        .one(&txn)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    txn.commit().await?;
    Ok(current)
}

/// `inviteToOrganization` (`MEMBERS_INVITE` there, and every permission of
/// the roles given; `member` when none are). Mails a single-use link to the
/// address, which need not have an account yet; a pending invitation of the
/// same address to the same organisation is replaced.
#[tracing::instrument(name = "organizations.invite", skip_all, fields(by = %ids::user(viewer.id())))]
pub async fn invite(
    ctx: &AppContext,
    viewer: &Viewer,
    organization_id: Uuid,
    email: &str,
    role_ids: Option<&[Uuid]>,
) -> Result<organization_invitation::Model> {
    let (org, held) = visible(&ctx.db, viewer, organization_id).await?;
    held.require(OrgPermission::MembersInvite)?;
    let email = validation::email(email)?;
    let roles = match role_ids {
        Some(keys) if !keys.is_empty() => roles_for(&ctx.db, org.id, keys, "roleIds").await?,
        _ => vec![memberships::builtin_role(&ctx.db, memberships::MEMBER).await?],
    };
    held.require_all(&memberships::permissions(&roles))?;
    limits::spend_account_budget(
        ctx,
        "organization_invitation",
        viewer.id(),
        crate::config::Rate {
            hits: INVITATIONS_PER_HOUR,
            per: std::time::Duration::from_secs(3600),
        },
    )
    .await?;
    let txn = ctx.begin().await?;
    memberships::lock_organization(&txn, org.id).await?;
    if let Some(existing) = users::find_by_login(&txn, &email).await?
        && memberships::standing(&txn, org.id, existing.id)
            .await?
            .is_some()
    {
        return Err(
            AppError::Conflict("this address's account is already a member".into())
                .with_field("email"),
        );
    }
    account_mail::require_budget(&txn, ctx, &email, Template::OrganizationInvitation).await?;
    {
        use sea_orm::PaginatorTrait;
        let pending = organization_invitation::Entity::find()
            .filter(organization_invitation::Column::OrganizationId.eq(org.id))
            .filter(organization_invitation::Column::AcceptedAt.is_null())
            .filter(organization_invitation::Column::ExpiresAt.gt(now()))
            .count(&txn)
            .await?;
        if pending >= MAX_PENDING_INVITATIONS {
            return Err(AppError::Conflict(format!(
                "an organisation holds at most {MAX_PENDING_INVITATIONS} pending invitations: revoke some first"
            )));
        }
    }
    organization_invitation::Entity::delete_many()
        .filter(organization_invitation::Column::OrganizationId.eq(org.id))
        .filter(organization_invitation::Column::Email.eq(email.clone()))
        .filter(organization_invitation::Column::AcceptedAt.is_null())
        .exec(&txn)
        .await?;
    let token = random_token();
    let ts = now();
    let ttl = ctx.config.mail.invitation_ttl;
    let keys: Vec<String> = roles.iter().map(|r| r.id.to_string()).collect();
    let invitation = organization_invitation::Model {
        id: ids::new_key(),
        organization_id: org.id,
        email: email.clone(),
        role_ids: serde_json::to_string(&keys).map_err(anyhow::Error::from)?,
        invited_by: Some(viewer.id()),
        token_hash: hash_token(&token),
        created_at: ts,
        expires_at: ts + chrono::Duration::from_std(ttl).unwrap_or_default(),
        accepted_at: None,
    };
    organization_invitation::Entity::insert(organization_invitation::ActiveModel::from(
        invitation.clone(),
    ))
    .exec_without_returning(&txn)
    .await?;
    let locale = account_mail::locale_for(ctx, None, viewer.origin.accept_language.as_deref());
    let mut values = serde_json::Map::new();
    values.insert("lifetime".into(), crate::mail::lifetime(ttl, locale).into());
    // Anyone may name an organisation under ORG_SELF_SERVICE, and mail to
    // a stranger's address carries only words the operator chose.
    if !ctx.config.org_self_service {
        values.insert("organization".into(), org.name.clone().into());
    }
    account_mail::queue(
        &txn,
        ctx,
        Queued {
            template: Template::OrganizationInvitation,
            locale: Some(locale.to_owned()),
            to: email.clone(),
            values,
            sealed_token: None,
        },
        Some(&token),
    )
    .await?;
    Event::by(viewer, Action::MembershipInvited)
        .on(Target::Organization(org.id))
        .change("email", Value::Null, email)
        .change("roles", Value::Null, role_names(&roles))
        .record(&txn)
        .await?;
    txn.commit().await?;
    outbox::wake(ctx);
    Ok(invitation)
}

/// Who reads an organisation's pending invitations: `MEMBERS_INVITE` there.
pub fn require_invitations_reader(held: &Held) -> Result<()> {
    held.require(OrgPermission::MembersInvite)
}

/// The pending invitations of each of `organizations`, newest first, in
/// one statement.
pub async fn pending_invitations(
    conn: &impl ConnectionTrait,
    organizations: &[Uuid],
) -> Result<Vec<organization_invitation::Model>> {
    Ok(organization_invitation::Entity::find()
        .filter(
            organization_invitation::Column::OrganizationId.is_in(organizations.iter().copied()),
        )
        .filter(organization_invitation::Column::AcceptedAt.is_null())
        .filter(organization_invitation::Column::ExpiresAt.gt(now()))
        .order_by_desc(organization_invitation::Column::CreatedAt)
        .all(conn)
        .await?)
}

/// The org roles an invitation gives.
pub fn invitation_role_keys(invitation: &organization_invitation::Model) -> Vec<Uuid> {
    serde_json::from_str::<Vec<String>>(&invitation.role_ids)
        .unwrap_or_default()
        .iter()
        .filter_map(|k| Uuid::try_parse(k).ok())
        .collect()
}

/// `revokeOrganizationInvitation` (`MEMBERS_INVITE` there).
pub async fn revoke_invitation(ctx: &AppContext, viewer: &Viewer, id: Uuid) -> Result<()> {
    let missing = || AppError::not_found("invitation").with_field("id");
    let found = super::by_key::<organization_invitation::Entity>(&ctx.db, id)
        .await?
        .filter(|i| i.accepted_at.is_none())
        .ok_or_else(missing)?;
    let held = memberships::held(&ctx.db, viewer, found.organization_id).await?;
    if !held.sees_organization() {
        return Err(missing());
    }
    held.require(OrgPermission::MembersInvite)?;
    let txn = ctx.begin().await?;
    let gone = organization_invitation::Entity::delete_many()
        .filter(organization_invitation::Column::Id.eq(id))
        .filter(organization_invitation::Column::AcceptedAt.is_null())
        .exec(&txn)
        .await?;
    if gone.rows_affected == 0 {
        return Err(missing());
    }
    Event::by(viewer, Action::MembershipInvitationRevoked)
        .on(Target::Organization(found.organization_id))
        .change("email", found.email, Value::Null)
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// The unaccepted, unexpired invitation `token` names.
async fn find_invitation(
    conn: &impl ConnectionTrait,
    token: &str,
) -> Result<organization_invitation::Model> {
    if token.is_empty() || token.len() > 128 {
        return Err(AppError::TokenInvalid);
    }
    let found = organization_invitation::Entity::find()
        .filter(organization_invitation::Column::TokenHash.eq(hash_token(token)))
        .one(conn)
        .await?
        .filter(|i| i.accepted_at.is_none())
        .ok_or(AppError::TokenInvalid)?;
    if found.expires_at <= now() {
        return Err(AppError::TokenExpired);
    }
    Ok(found)
}

/// What an invitation's link shows its holder before they accept: the
/// organisation, the address, and whether an account has it (the holder
/// reads that address's mail, so this tells them nothing new).
pub struct Preview {
    pub invitation: organization_invitation::Model,
    pub organization: organization::Model,
    pub account_exists: bool,
}

/// `organizationInvitation(token)`: the pending invitation `token` names,
/// for the page its link opens; `TOKEN_INVALID` or `TOKEN_EXPIRED` as
/// accepting would answer. Counted with the recovery requests.
pub async fn preview(ctx: &AppContext, token: &str, meta: &RequestMeta) -> Result<Preview> {
    limits::hit(ctx, limits::Limited::Recovery, meta).await?;
    let invitation = find_invitation(&ctx.db, token).await?;
    let organization = organization::Entity::find_by_id(invitation.organization_id)
        .one(&ctx.db)
        .await?
        .ok_or(AppError::TokenInvalid)?;
    let account_exists = users::find_by_login(&ctx.db, &invitation.email)
        .await?
        .is_some_and(|u| !u.is_deleted());
    Ok(Preview {
        invitation,
        organization,
        account_exists,
    })
}

/// Uses the invitation up (one conditional update: of racing accepts, one
/// wins) and makes `user_id` a member with its roles that still exist.
async fn redeem(
    conn: &impl ConnectionTrait,
    invitation: &organization_invitation::Model,
    user_id: Uuid,
    meta_event: Event,
) -> Result<membership::Model> {
    let ts = now();
    let used = organization_invitation::Entity::update_many()
        .col_expr(
            organization_invitation::Column::AcceptedAt,
            Expr::value(Some(ts)),
        )
        .filter(organization_invitation::Column::Id.eq(invitation.id))
        .filter(organization_invitation::Column::AcceptedAt.is_null())
        .filter(organization_invitation::Column::ExpiresAt.gt(ts))
        .exec(conn)
        .await?;
    if used.rows_affected != 1 {
        return Err(AppError::TokenInvalid);
    }
    // The organisation may have gone since the token was read.
    memberships::lock_organization(conn, invitation.organization_id)
        .await
        .map_err(|_| AppError::TokenInvalid)?;
    require_room(conn, user_id).await?;
    let roles = super::by_keys::<org_role::Entity>(conn, invitation_role_keys(invitation)).await?;
    // Good only while its inviter could still send it: an owner removed or
    // demoted since cannot come back through an invitation they sent.
    let inviter = match invitation.invited_by {
        Some(id) => users::find(conn, id).await?,
        None => None,
    };
    let still = match &inviter {
        Some(inviter) if !inviter.is_deleted() => {
            memberships::held_by_user(conn, inviter, invitation.organization_id).await?
        }
        _ => BTreeSet::new(),
    };
    if !still.contains(&OrgPermission::MembersInvite)
        || !memberships::permissions(&roles).is_subset(&still)
    {
        return Err(AppError::TokenInvalid);
    }
    let roles: Vec<Uuid> = roles.into_iter().map(|r| r.id).collect();
    let joined = join(conn, invitation.organization_id, user_id, &roles).await?;
    meta_event
        .on(Target::Organization(invitation.organization_id))
        .change("userId", Value::Null, ids::user(user_id))
        .change(
            "invitationId",
            Value::Null,
            ids::encode(ids::ORG_INVITATION, invitation.id),
        )
        .record(conn)
        .await?;
    Ok(joined)
}

/// `acceptOrganizationInvitation`: joins the organisation the mailed token
/// names, and answers with a session acting in it.
/// - Signed in (a session) as the account with the invited address: no
///   password; a new session starts, acting in the organisation.
/// - Not signed in, and the address has an account: its `password`, with
///   the account lockout and second factor of `login` (`MFA_REQUIRED`
///   after joining when one is on).
/// - No account has the address: `password` makes one (registration must
///   be open), its address proven by the token.
#[tracing::instrument(name = "organizations.accept_invitation", skip_all)]
pub async fn accept_invitation(
    ctx: &AppContext,
    viewer: Option<&Viewer>,
    token: &str,
    password: Option<&str>,
    username: Option<&str>,
    meta: &RequestMeta,
) -> Result<access::Tokens> {
    limits::hit(ctx, limits::Limited::Recovery, meta).await?;
    let invitation = find_invitation(&ctx.db, token).await?;
    let username = username.map(validation::username).transpose()?;
    if let Some(viewer) = viewer {
        viewer.require_session()?;
        if viewer.user.email != invitation.email {
            return Err(AppError::bad_input(
                "token",
                "this invitation is for another address: sign out, or sign in as its account",
            ));
        }
        let txn = ctx.begin().await?;
        let user = users::lock(&txn, viewer.id())
            .await?
            .ok_or(AppError::Unauthenticated)?;
        redeem(
            &txn,
            &invitation,
            user.id,
            Event::by(viewer, Action::MembershipJoined),
        )
        .await?;
        let tokens =
            access::start_in(&txn, ctx, user, meta, Some(invitation.organization_id)).await?;
        txn.commit().await?;
        return Ok(tokens);
    }
    let password = password
        .filter(|p| !p.is_empty())
        .ok_or_else(|| AppError::bad_input("password", "password is required unless signed in"))?;
    match users::find_by_login(&ctx.db, &invitation.email).await? {
        Some(user) => {
            if user.is_deleted() || user.invitation_pending || !user.has_password {
                ctx.hasher.verify(password.to_owned(), None).await?;
                return Err(AppError::InvalidCredentials);
            }
            let checked =
                credentials::sign_in_check(ctx, &user, password, !user.mfa_enabled, meta).await?;
            if !matches!(checked, Checked::Right) {
                return Err(AppError::InvalidCredentials);
            }
            let txn = ctx.begin().await?;
            let verified = user.password_hash.clone();
            let user = users::lock(&txn, user.id)
                .await?
                .filter(|u| !u.is_deleted() && u.password_hash == verified)
                .ok_or(AppError::InvalidCredentials)?;
            redeem(
                &txn,
                &invitation,
                user.id,
                Event::anonymous(meta, Action::MembershipJoined).as_user(user.id),
            )
            .await?;
            credentials::complete_sign_in(txn, ctx, user, meta, credentials::Method::Password).await
        }
        None => {
            if !ctx.config.registration_enabled {
                return Err(AppError::Forbidden);
            }
            let email = invitation.email.clone();
            credentials::judge_new_password(
                ctx,
                password,
                "password",
                username.as_deref().unwrap_or(&email),
                &email,
            )
            .await?;
            let hash = ctx.hasher.hash(password.to_owned()).await?;
            users::with_username(&ctx.db, username.as_deref(), &email, |username| {
                let mut model = users::new_row(username, email.clone(), hash.clone(), now());
                model.email_verified_at = Set(Some(now()));
                let invitation = &invitation;
                async move {
                    let txn = ctx.begin().await?;
                    let user =
                        new_account::insert_account(&txn, model, FirstRoles::Default).await?;
                    Event::anonymous(meta, Action::UserRegistered)
                        .as_user(user.id)
                        .with(super::audit::user_created(&user))
                        .record(&txn)
                        .await?;
                    redeem(
                        &txn,
                        invitation,
                        user.id,
                        Event::anonymous(meta, Action::MembershipJoined).as_user(user.id),
                    )
                    .await?;
                    let tokens =
                        access::start_in(&txn, ctx, user, meta, Some(invitation.organization_id))
                            .await?;
                    txn.commit().await?;
                    Ok(tokens)
                }
            })
            .await
        }
    }
}

/// Ends invitations a day past their expiry or acceptance; safe from every
/// replica at once.
pub async fn prune(conn: &impl ConnectionTrait) -> Result<u64> {
    let cutoff = now() - chrono::Duration::days(1);
    Ok(organization_invitation::Entity::delete_many()
        .filter(
            Condition::any()
                .add(organization_invitation::Column::ExpiresAt.lt(cutoff))
                .add(organization_invitation::Column::AcceptedAt.lt(cutoff)),
        )
        .exec(conn)
        .await?
        .rows_affected)
}
