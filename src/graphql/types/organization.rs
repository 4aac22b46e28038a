//! `Organization`, `Membership`, `OrgRole` and `OrganizationInvitation`:
//! organisations as a viewer may see them. Each object is built only after
//! its visibility was decided (`service::memberships::held_from`), and a
//! member seen by someone who may not read users whole is a member's view
//! of them (`User::as_member`).

use std::{borrow::Cow, sync::Arc};

use async_graphql::{ComplexObject, Context, ID, Json, Object, SimpleObject};
use entity::{membership, org_role, organization, organization_invitation, user};
use uuid::Uuid;

use super::{DateTime, PageInfo, Tier, User};
use crate::{
    auth::{Viewer, org::OrgPermission},
    error::AppError,
    graphql::{
        guard::viewer,
        loaders::{
            ByKey, InvitationsOf, MembershipsOfUser, RolesOfMembership, RolesOfOrganization,
            StandingIn, UserById,
        },
        request::{app, loader},
    },
    ids,
    service::{
        directory::{self, Projected},
        memberships::{self, Held},
        organizations,
    },
};

/// What the viewer holds in `organization`, through the request's loader.
pub async fn held_in(ctx: &Context<'_>, organization: Uuid) -> Result<Held, AppError> {
    let viewer = viewer(ctx)?;
    let standing = loader(ctx)?
        .load_one(StandingIn {
            user: viewer.id(),
            organization,
        })
        .await?;
    Ok(memberships::held_from(viewer, standing))
}

/// A user as a viewer reaches them through an organisation: whole when
/// the viewer may read them, else a member's view of an active member
/// (a suspended, inactive or deleted one is `FORBIDDEN`, as they drop out
/// of member lists).
fn member_user(viewer: &Viewer, projected: Projected) -> Result<User, AppError> {
    if viewer.reads_user(projected.user.id) {
        return Ok(User::projected(projected, Some(viewer)));
    }
    if projected.user.is_deleted() || projected.user.status != user::Status::Active {
        return Err(AppError::Forbidden);
    }
    Ok(User::as_member(projected.user))
}

/// The columns a member's view decides on, beyond the selection's.
fn with_standing(projection: directory::Projection) -> directory::Projection {
    projection
        .with(user::Column::Status)
        .with(user::Column::DeletedAt)
}

/// A company users belong to. Its members see it; so do holders of
/// `ORGS_READ` and superusers.
#[derive(Clone)]
pub struct Organization {
    id: ID,
    pub model: organization::Model,
    /// What the viewer holds here, when the resolver that found the
    /// organisation read it already (else the request's loader reads it).
    held: Option<Held>,
}

impl From<organization::Model> for Organization {
    fn from(model: organization::Model) -> Self {
        Self {
            id: ids::encode(ids::ORGANIZATION, model.id).into(),
            model,
            held: None,
        }
    }
}

impl Organization {
    /// An organisation found with what the viewer holds there.
    pub fn with_held(model: organization::Model, held: Held) -> Self {
        Self {
            held: Some(held),
            ..model.into()
        }
    }

    async fn held(&self, ctx: &Context<'_>) -> Result<Held, AppError> {
        match &self.held {
            Some(held) => Ok(held.clone()),
            None => held_in(ctx, self.model.id).await,
        }
    }
}

#[Object]
impl Organization {
    /// Opaque id (`org_…`).
    pub async fn id(&self) -> &ID {
        &self.id
    }

    /// 1–100 characters.
    async fn name(&self) -> &str {
        &self.model.name
    }

    /// Unique, lower case: 2–48 characters of `a-z`, `0-9` and `-`.
    async fn slug(&self) -> &str {
        &self.model.slug
    }

    /// The organisation's own JSON object (at most 8 KiB), written with
    /// `updateOrganization`; `{}` when unset. Every member reads it.
    async fn metadata(&self) -> Json<serde_json::Value> {
        Json(self.model.metadata.clone())
    }

    /// The organisation's tier (`setOrganizationTier`); null when it has none.
    async fn tier(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Tier>> {
        let Some(tier) = self.model.tier_id else {
            return Ok(None);
        };
        Ok(loader(ctx)?
            .load_one(ByKey::<entity::tier::Entity>::new(tier))
            .await
            .map_err(AppError::from)?
            .map(Tier::from))
    }

    /// When the organisation was created.
    async fn created_at(&self) -> DateTime {
        self.model.created_at.into()
    }

    /// When its name, slug, metadata or tier last changed.
    async fn updated_at(&self) -> DateTime {
        self.model.updated_at.into()
    }

    /// What the viewer may do here: their org roles' permissions (in a
    /// signed-in session), every one for a superuser, `MEMBERS_READ` with
    /// `ORGS_READ` and `ORG_AUDIT_READ` with `AUDIT_READ`.
    async fn viewer_permissions(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<OrgPermission>> {
        Ok(self.held(ctx).await?.permissions.into_iter().collect())
    }

    /// The viewer's own membership; null when they are not a member.
    async fn viewer_membership(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Membership>> {
        Ok(self
            .held(ctx)
            .await?
            .membership
            .map(|m| Membership::new(m, Some(Arc::new(self.model.clone())))))
    }

    /// The roles members can hold here: the built-in `owner`, `admin` and
    /// `member`, and the organisation's own, by name.
    #[graphql(complexity = "crate::graphql::cost::list(child_complexity)")]
    async fn roles(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<OrgRole>> {
        Ok(loader(ctx)?
            .load_one(RolesOfOrganization(self.model.id))
            .await
            .map_err(AppError::from)?
            .unwrap_or_default()
            .into_iter()
            .map(OrgRole::from)
            .collect())
    }

    /// The active members, by username (`MEMBERS_READ` here; others get
    /// `FORBIDDEN`: check `viewerPermissions` before selecting it). Forward
    /// paging: `pageInfo.hasPreviousPage` is true when `after` was given. Suspended, inactive and deleted users drop out; find
    /// them with `users(filter: { organizationId })`. `first` defaults to
    /// 20, at most 100. Without `USERS_READ` the filter takes only search,
    /// email, username, ids, createdAfter and createdBefore (and/or/not of
    /// them). A fixed number of statements whatever the page size.
    #[graphql(complexity = "crate::graphql::cost::connection(first, None, child_complexity)")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<crate::graphql::inputs::UserFilter>,
    ) -> async_graphql::Result<MembershipConnection> {
        let viewer = viewer(ctx)?;
        let first = crate::graphql::inputs::page_size(first, "first")?;
        let paging = directory::Paging::Forward { first, after };
        let filter = filter.unwrap_or_default().into_service()?;
        let look = ctx.look_ahead();
        let user = [
            look.field("nodes").field("user"),
            look.field("edges").field("node").field("user"),
        ];
        // The members' roles in the page's statement, when selected: no
        // statement or loader round trip of their own.
        let roles_selected = look.field("nodes").field("roles").exists()
            || look.field("edges").field("node").field("roles").exists();
        let mut columns = with_standing(crate::graphql::types::user_connection::projection(&[
            &user[0], &user[1],
        ]))
        .with(user::Column::Username);
        if roles_selected {
            columns = columns.with_member_roles();
        }
        let db = &app(ctx).db;
        let held = self.held(ctx).await?;
        let (page, scoped) =
            directory::members(db, viewer, &held, self.model.id, filter, &paging, &columns).await?;
        // One organisation for every row of the page.
        let organization = Arc::new(self.model.clone());
        let edges = page
            .users
            .into_iter()
            .filter_map(|mut projected| {
                // Each row of a members page carries its membership.
                let member = projected.membership.take()?;
                let cursor = directory::encode_member_cursor(
                    &projected.user,
                    &member.listed_as,
                    &page.order,
                );
                let mut node = Membership::new(member.model, Some(organization.clone()));
                node.roles = member
                    .roles
                    .map(|roles| roles.into_iter().map(OrgRole::from).collect());
                // The page holds active members only.
                node.user = member_user(viewer, projected).ok();
                Some(MembershipEdge { cursor, node })
            })
            .collect::<Vec<_>>();
        Ok(MembershipConnection {
            page_info: PageInfo {
                has_next_page: page.has_next,
                has_previous_page: page.has_previous,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
            scoped,
            total: tokio::sync::OnceCell::new(),
        })
    }

    /// Pending invitations, newest first; expired ones are left out
    /// (`MEMBERS_INVITE` here; others get `FORBIDDEN`: check
    /// `viewerPermissions` before selecting it); at most 500.
    #[graphql(complexity = "crate::graphql::cost::list(child_complexity)")]
    async fn invitations(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<OrganizationInvitation>> {
        organizations::require_invitations_reader(&self.held(ctx).await?)?;
        Ok(loader(ctx)?
            .load_one(InvitationsOf(self.model.id))
            .await
            .map_err(AppError::from)?
            .unwrap_or_default()
            .into_iter()
            .map(OrganizationInvitation::from)
            .collect())
    }
}

/// A user's membership of an organisation.
#[derive(Clone)]
pub struct Membership {
    id: ID,
    pub model: membership::Model,
    /// The member, when the page that found the membership read them.
    pub user: Option<User>,
    /// The organisation, when known already (one for a page's rows).
    pub organization: Option<Arc<organization::Model>>,
    /// The member's org roles, when the page read them.
    pub roles: Option<Vec<OrgRole>>,
}

impl Membership {
    pub fn new(model: membership::Model, organization: Option<Arc<organization::Model>>) -> Self {
        Self {
            id: ids::encode(ids::MEMBERSHIP, model.id).into(),
            model,
            user: None,
            organization,
            roles: None,
        }
    }
}

#[Object]
impl Membership {
    /// Opaque id (`mem_…`).
    pub async fn id(&self) -> &ID {
        &self.id
    }

    /// The member: whole for the member themself and holders of
    /// `USERS_READ`. Anyone else gets a member's view: `id`, `username`,
    /// `email`, `name`, `firstName`, `lastName`, `avatarUrl`, `socialLinks`,
    /// `status`, `isActive`, `createdAt` and `metadata`; any other field is
    /// `FORBIDDEN` (select only these in a members list), and a suspended,
    /// inactive or deleted member is `FORBIDDEN` whole.
    async fn user(&self, ctx: &Context<'_>) -> async_graphql::Result<Cow<'_, User>> {
        if let Some(user) = &self.user {
            return Ok(Cow::Borrowed(user));
        }
        let viewer = viewer(ctx)?;
        let columns = with_standing(crate::graphql::types::user_connection::projection(&[
            &ctx.look_ahead()
        ]));
        let found = loader(ctx)?
            .load_one(UserById(self.model.user_id, columns))
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| AppError::not_found("user"))?;
        Ok(Cow::Owned(member_user(viewer, found)?))
    }

    /// The organisation.
    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Organization> {
        if let Some(org) = &self.organization {
            return Ok(org.as_ref().clone().into());
        }
        Ok(loader(ctx)?
            .load_one(ByKey::<organization::Entity>::new(
                self.model.organization_id,
            ))
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| AppError::not_found("organization"))?
            .into())
    }

    /// The member's org roles, by name.
    async fn roles(&self, ctx: &Context<'_>) -> async_graphql::Result<Cow<'_, Vec<OrgRole>>> {
        if let Some(roles) = &self.roles {
            return Ok(Cow::Borrowed(roles));
        }
        Ok(Cow::Owned(
            loader(ctx)?
                .load_one(RolesOfMembership(self.model.id))
                .await
                .map_err(AppError::from)?
                .unwrap_or_default()
                .into_iter()
                .map(OrgRole::from)
                .collect(),
        ))
    }

    /// When the user joined.
    async fn joined_at(&self) -> DateTime {
        self.model.joined_at.into()
    }
}

/// What members holding it may do inside their organisation.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct OrgRole {
    /// Opaque id (`orl_…`).
    pub id: ID,
    /// Unique in its organisation; the built-in ones are `owner`, `admin`
    /// and `member`.
    pub name: String,
    /// Null when unset.
    pub description: Option<String>,
    /// True for `owner`, `admin` and `member`, which every organisation has.
    pub is_builtin: bool,
    #[graphql(skip)]
    pub model: org_role::Model,
}

#[ComplexObject]
impl OrgRole {
    /// What it lets its holders do.
    async fn permissions(&self) -> Vec<OrgPermission> {
        memberships::permissions(std::slice::from_ref(&self.model))
            .into_iter()
            .collect()
    }
}

impl From<org_role::Model> for OrgRole {
    fn from(model: org_role::Model) -> Self {
        Self {
            id: ids::encode(ids::ORG_ROLE, model.id).into(),
            name: model.name.clone(),
            description: model.description.clone(),
            is_builtin: model.is_builtin,
            model,
        }
    }
}

/// An address asked to join an organisation, until it accepts.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct OrganizationInvitation {
    /// Opaque id (`oin_…`).
    pub id: ID,
    /// The address invited.
    pub email: String,
    /// Who invited (an id: their profile shows among the members, if they
    /// are one); null once their account is gone.
    pub invited_by_id: Option<ID>,
    /// When it was sent.
    pub created_at: DateTime,
    /// When its link stops working.
    pub expires_at: DateTime,
    #[graphql(skip)]
    pub model: organization_invitation::Model,
}

#[ComplexObject]
impl OrganizationInvitation {
    /// The org roles the member will hold, by name (those deleted since
    /// are left out).
    async fn roles(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<OrgRole>> {
        let keys = organizations::invitation_role_keys(&self.model);
        let mut found: Vec<org_role::Model> = loader(ctx)?
            .load_many(keys.into_iter().map(ByKey::<org_role::Entity>::new))
            .await
            .map_err(AppError::from)?
            .into_values()
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found.into_iter().map(OrgRole::from).collect())
    }

    /// The organisation it is to.
    async fn organization(&self, ctx: &Context<'_>) -> async_graphql::Result<Organization> {
        Ok(loader(ctx)?
            .load_one(ByKey::<organization::Entity>::new(
                self.model.organization_id,
            ))
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| AppError::not_found("organization"))?
            .into())
    }
}

impl From<organization_invitation::Model> for OrganizationInvitation {
    fn from(model: organization_invitation::Model) -> Self {
        Self {
            id: ids::encode(ids::ORG_INVITATION, model.id).into(),
            email: model.email.clone(),
            invited_by_id: model.invited_by.map(|u| ids::user(u).into()),
            created_at: model.created_at.into(),
            expires_at: model.expires_at.into(),
            model,
        }
    }
}

/// One member of a page, with the cursor that points at it.
#[derive(SimpleObject, Clone)]
pub struct MembershipEdge {
    /// Opaque; pass it as `after` to page from here.
    pub cursor: String,
    /// The membership.
    pub node: Membership,
}

/// A page of an organisation's members.
pub struct MembershipConnection {
    pub edges: Vec<MembershipEdge>,
    pub page_info: PageInfo,
    scoped: directory::Filter,
    total: tokio::sync::OnceCell<u64>,
}

#[Object]
impl MembershipConnection {
    /// The page's memberships with their cursors.
    async fn edges(&self) -> &[MembershipEdge] {
        &self.edges
    }

    /// The page's memberships, without cursors.
    async fn nodes(&self) -> Vec<&Membership> {
        self.edges.iter().map(|e| &e.node).collect()
    }

    /// Where this page sits in the whole list.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// How many active members match the filter across all pages; counted
    /// only when selected (one statement).
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        let total = self
            .total
            .get_or_try_init(|| directory::count_members(&app(ctx).db, &self.scoped))
            .await?;
        Ok(i64::try_from(*total).unwrap_or(i64::MAX))
    }
}

/// `User.memberships`: for the user themself and holders of `ORGS_READ`
/// (who read users whole); `FORBIDDEN` for anyone else.
pub async fn memberships_of(
    ctx: &Context<'_>,
    user_id: Uuid,
) -> async_graphql::Result<Vec<Membership>> {
    let viewer = viewer(ctx)?;
    memberships::may_list_memberships(viewer, user_id)?;
    Ok(loader(ctx)?
        .load_one(MembershipsOfUser(user_id))
        .await
        .map_err(AppError::from)?
        .unwrap_or_default()
        .into_iter()
        .map(|m| Membership::new(m, None))
        .collect())
}
