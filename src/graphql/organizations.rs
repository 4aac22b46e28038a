//! Organisations: `organization`, `organizationBySlug`, `myOrganizations`,
//! `organizations`, and the mutations that create and run them. Every
//! rule is the service's (`service::organizations`).

use async_graphql::{Context, ID, InputObject, Json, Object, SimpleObject};

use super::{
    cost,
    guard::{Authenticated, HasPermission, Superuser, viewer},
    request::{app, meta, request},
    types::{
        AuthPayload, DateTime, Membership, OrgRole, Organization, OrganizationInvitation, PageInfo,
        Session,
    },
};
use crate::{
    auth::{Permission, org::OrgPermission},
    error::AppError,
    ids,
    service::organizations::{self, NewOrganization, OrganizationPatch},
};

/// A new organisation.
#[derive(InputObject)]
pub struct CreateOrganizationInput {
    /// 1–100 characters.
    pub name: String,
    /// Unique: 2–48 characters of `a-z`, `0-9` and `-` (stored lower case).
    pub slug: String,
    /// A JSON object of at most 8 KiB; `{}` when absent.
    pub metadata: Option<Json<serde_json::Value>>,
}

/// Changes to an organisation; absent fields are kept.
#[derive(InputObject)]
pub struct UpdateOrganizationInput {
    /// 1–100 characters.
    pub name: Option<String>,
    /// A new unique slug.
    pub slug: Option<String>,
    /// Top-level keys to set; a key set to null is removed.
    pub metadata: Option<Json<serde_json::Value>>,
}

/// A new org role of one organisation.
#[derive(InputObject)]
pub struct CreateOrgRoleInput {
    /// The organisation (`org_…`).
    pub organization_id: ID,
    /// Unique in the organisation, 1–64 characters; not `owner`, `admin` or `member`.
    pub name: String,
    /// At most 255 characters.
    pub description: Option<String>,
    /// What its holders may do there; each must be one the caller holds.
    pub permissions: Vec<OrgPermission>,
}

/// What an invitation's link shows before it is accepted
/// (`organizationInvitation(token)`).
#[derive(SimpleObject)]
pub struct OrganizationInvitationPreview {
    /// The address invited: accepting signs in or makes this account.
    pub email: String,
    /// The organisation's name.
    pub organization_name: String,
    /// The organisation's slug.
    pub organization_slug: String,
    /// When the link stops working.
    pub expires_at: DateTime,
    /// Whether an account has the address: then accepting needs its
    /// password (or being signed in as it); otherwise a new password makes
    /// the account.
    pub account_exists: bool,
}

/// A page of organisations.
#[derive(SimpleObject)]
pub struct OrganizationConnection {
    /// The page's organisations, by slug.
    pub nodes: Vec<Organization>,
    /// `endCursor` is the last slug; pass it as `after`.
    pub page_info: PageInfo,
}

fn organization_id(id: &ID, field: &'static str) -> Result<uuid::Uuid, AppError> {
    ids::decode(ids::ORGANIZATION, id, field)
}

fn org_role_ids(list: &[ID], field: &'static str) -> Result<Vec<uuid::Uuid>, AppError> {
    ids::decode_all(ids::ORG_ROLE, list, field)
}

#[derive(Default)]
pub struct OrganizationQuery;

#[Object]
impl OrganizationQuery {
    /// An organisation by id, for its members, holders of `ORGS_READ` and
    /// superusers; `NOT_FOUND` for anyone else, whether or not it exists.
    #[graphql(guard = "Authenticated", complexity = "cost::lookup(child_complexity)")]
    async fn organization(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Organization> {
        let key = organization_id(&id, "id")?;
        let (org, held) = organizations::visible(&app(ctx).db, viewer(ctx)?, key).await?;
        Ok(Organization::with_held(org, held))
    }

    /// An organisation by slug (any case), with `organization`'s rules.
    #[graphql(guard = "Authenticated", complexity = "cost::lookup(child_complexity)")]
    async fn organization_by_slug(
        &self,
        ctx: &Context<'_>,
        slug: String,
    ) -> async_graphql::Result<Organization> {
        let (org, held) = organizations::visible_by_slug(&app(ctx).db, viewer(ctx)?, &slug).await?;
        Ok(Organization::with_held(org, held))
    }

    /// The pending invitation a mailed link's `token` names, for the page
    /// that link opens (anyone holding the token; counted with the recovery
    /// requests): which organisation, which address, and whether that
    /// address has an account, so the page asks for the right password.
    /// `TOKEN_INVALID` for an unknown, used, revoked or replaced token,
    /// `TOKEN_EXPIRED` after its lifetime.
    #[graphql(complexity = "cost::lookup(child_complexity)")]
    async fn organization_invitation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `token` parameter of the mailed link.")] token: String,
    ) -> async_graphql::Result<OrganizationInvitationPreview> {
        let preview = organizations::preview(app(ctx), &token, meta(ctx)?).await?;
        Ok(OrganizationInvitationPreview {
            email: preview.invitation.email,
            organization_name: preview.organization.name,
            organization_slug: preview.organization.slug,
            expires_at: preview.invitation.expires_at.into(),
            account_exists: preview.account_exists,
        })
    }

    /// The caller's memberships, by organisation name (empty when none).
    #[graphql(
        guard = "Authenticated",
        complexity = "cost::STATEMENT + organizations::MAX_MEMBERSHIPS as usize * child_complexity"
    )]
    async fn my_organizations(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Membership>> {
        Ok(organizations::mine(&app(ctx).db, viewer(ctx)?)
            .await?
            .into_iter()
            .map(|(m, org)| Membership::new(m, Some(std::sync::Arc::new(org))))
            .collect())
    }

    /// Every organisation, by slug (`ORGS_READ`). `first` defaults to 20, at
    /// most 100; `search` matches name or slug, case-insensitively.
    #[graphql(
        guard = "HasPermission(Permission::OrgsRead)",
        complexity = "cost::STATEMENT + first.unwrap_or(20).clamp(0, 100) as usize * child_complexity"
    )]
    async fn organizations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
    ) -> async_graphql::Result<OrganizationConnection> {
        let first = super::inputs::page_size(first, "first")?;
        let (rows, more) = organizations::list(
            &app(ctx).db,
            viewer(ctx)?,
            first,
            after.as_deref(),
            search.as_deref(),
        )
        .await?;
        Ok(OrganizationConnection {
            page_info: PageInfo {
                has_next_page: more,
                has_previous_page: after.is_some(),
                start_cursor: rows.first().map(|o| o.slug.clone()),
                end_cursor: rows.last().map(|o| o.slug.clone()),
            },
            nodes: rows.into_iter().map(Organization::from).collect(),
        })
    }
}

#[derive(Default)]
pub struct OrganizationMutation;

#[Object]
impl OrganizationMutation {
    /// Creates an organisation, with the caller as its owner: any
    /// signed-in user when `ORG_SELF_SERVICE=true`, else `ORGS_CREATE`.
    /// `CONFLICT` when the slug is taken or the caller belongs to 100
    /// organisations already.
    #[graphql(guard = "Authenticated")]
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        input: CreateOrganizationInput,
    ) -> async_graphql::Result<Organization> {
        let created = organizations::create(
            app(ctx),
            viewer(ctx)?,
            NewOrganization {
                name: input.name,
                slug: input.slug,
                metadata: input.metadata.map(|m| m.0),
            },
        )
        .await?;
        Ok(created.into())
    }

    /// Changes an organisation's name, slug or metadata (`ORG_UPDATE` there).
    #[graphql(guard = "Authenticated")]
    async fn update_organization(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateOrganizationInput,
    ) -> async_graphql::Result<Organization> {
        let key = organization_id(&id, "id")?;
        let updated = organizations::update(
            app(ctx),
            viewer(ctx)?,
            key,
            OrganizationPatch {
                name: input.name,
                slug: input.slug,
                metadata: input.metadata.map(|m| m.0),
            },
        )
        .await?;
        Ok(updated.into())
    }

    /// Deletes an organisation (`ORG_DELETE` there): its memberships, org
    /// roles and invitations end, and sessions acting in it act in none.
    #[graphql(guard = "Authenticated")]
    async fn delete_organization(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let key = organization_id(&id, "id")?;
        organizations::delete(app(ctx), viewer(ctx)?, key).await?;
        Ok(true)
    }

    /// Puts an organisation on a tier, or none (superuser).
    #[graphql(guard = "Superuser")]
    async fn set_organization_tier(
        &self,
        ctx: &Context<'_>,
        id: ID,
        tier_id: Option<ID>,
    ) -> async_graphql::Result<Organization> {
        let key = organization_id(&id, "id")?;
        let tier = ids::decode_opt(ids::TIER, tier_id, "tierId")?;
        Ok(organizations::set_tier(app(ctx), viewer(ctx)?, key, tier)
            .await?
            .into())
    }

    /// Invites an address to an organisation (`MEMBERS_INVITE` there, and
    /// every permission of the roles given; `member` when none are). The
    /// link is mailed; an address with no account makes one on accepting.
    /// A pending invitation of the address is replaced. `CONFLICT` when the
    /// address's account is a member already; `RATE_LIMITED` past the
    /// address's mail budget or 100 invitations an hour by one caller.
    #[graphql(guard = "Authenticated")]
    async fn invite_to_organization(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
        email: String,
        role_ids: Option<Vec<ID>>,
    ) -> async_graphql::Result<OrganizationInvitation> {
        let key = self::organization_id(&organization_id, "organizationId")?;
        let roles = role_ids
            .as_deref()
            .map(|list| org_role_ids(list, "roleIds"))
            .transpose()?;
        Ok(
            organizations::invite(app(ctx), viewer(ctx)?, key, &email, roles.as_deref())
                .await?
                .into(),
        )
    }

    /// Withdraws a pending invitation (`MEMBERS_INVITE` there); its link
    /// stops working.
    #[graphql(guard = "Authenticated")]
    async fn revoke_organization_invitation(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<bool> {
        let key = ids::decode(ids::ORG_INVITATION, &id, "id")?;
        organizations::revoke_invitation(app(ctx), viewer(ctx)?, key).await?;
        Ok(true)
    }

    /// Joins the organisation a mailed invitation names, answering with a
    /// new session that acts in it (a session the caller already had stays
    /// as it was). `organizationInvitation(token)` tells the page which case
    /// it is in:
    /// - signed in as the invited address's account: no password;
    /// - signed in as another account: `BAD_USER_INPUT` on `token`;
    /// - not signed in, an account has the address: its `password`, with
    ///   `login`'s lockout (`INVALID_CREDENTIALS`, also for an account
    ///   without a password: sign in another way, then accept signed in);
    ///   with a second factor on, `MFA_REQUIRED` after joining, and the
    ///   session `verifyMfa` starts acts in no organisation until
    ///   `setActiveOrganization`;
    /// - not signed in, no account: `password` (and `username`, else one is
    ///   made from the address) make one, its address proven; `FORBIDDEN`
    ///   when `REGISTRATION_ENABLED=false`.
    ///
    /// Without a password where one is needed, `BAD_USER_INPUT` on
    /// `password`. `TOKEN_INVALID` for an unknown, used, revoked or replaced
    /// token, or one whose inviter can no longer give its roles;
    /// `TOKEN_EXPIRED` after its lifetime; `CONFLICT` when the account is a
    /// member already or belongs to 100 organisations.
    async fn accept_organization_invitation(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The `token` parameter of the mailed link.")] token: String,
        #[graphql(desc = "Not needed when signed in as the invited account.")] password: Option<
            String,
        >,
        #[graphql(
            desc = "A new account's username (`register`'s rules); null makes one from the address. Ignored for an existing account."
        )]
        username: Option<String>,
    ) -> async_graphql::Result<AuthPayload> {
        let viewer = request(ctx)?.viewer.as_ref();
        Ok(organizations::accept_invitation(
            app(ctx),
            viewer,
            &token,
            password.as_deref(),
            username.as_deref(),
            meta(ctx)?,
        )
        .await?
        .into())
    }

    /// Gives a member exactly these org roles (`MEMBERS_MANAGE` there). No
    /// one gives or takes a role holding a permission they lack, or changes
    /// a member holding one; the last owner keeps `owner` (`CONFLICT`).
    #[graphql(guard = "Authenticated")]
    async fn set_member_roles(
        &self,
        ctx: &Context<'_>,
        membership_id: ID,
        role_ids: Vec<ID>,
    ) -> async_graphql::Result<Membership> {
        let key = ids::decode(ids::MEMBERSHIP, &membership_id, "membershipId")?;
        let roles = org_role_ids(&role_ids, "roleIds")?;
        let changed = organizations::set_member_roles(app(ctx), viewer(ctx)?, key, &roles).await?;
        Ok(Membership::new(changed, None))
    }

    /// Removes a member (`MEMBERS_MANAGE` there, and every permission the
    /// member holds); their sessions stop acting in it. The last owner
    /// cannot be removed (`CONFLICT`).
    #[graphql(guard = "Authenticated")]
    async fn remove_member(
        &self,
        ctx: &Context<'_>,
        membership_id: ID,
    ) -> async_graphql::Result<bool> {
        let key = ids::decode(ids::MEMBERSHIP, &membership_id, "membershipId")?;
        organizations::remove_member(app(ctx), viewer(ctx)?, key).await?;
        Ok(true)
    }

    /// Leaves an organisation; the last owner cannot (`CONFLICT`).
    #[graphql(guard = "Authenticated")]
    async fn leave_organization(
        &self,
        ctx: &Context<'_>,
        organization_id: ID,
    ) -> async_graphql::Result<bool> {
        let key = self::organization_id(&organization_id, "organizationId")?;
        organizations::leave(app(ctx), viewer(ctx)?, key).await?;
        Ok(true)
    }

    /// The organisation the caller's session acts in (one they belong to),
    /// or none with null. Access tokens the session gets from its next
    /// `refreshToken` on carry it as `org` and `org_roles`; refresh to use
    /// it. A session, not an API key.
    #[graphql(guard = "Authenticated")]
    async fn set_active_organization(
        &self,
        ctx: &Context<'_>,
        organization_id: Option<ID>,
    ) -> async_graphql::Result<Session> {
        let key = organization_id
            .map(|id| self::organization_id(&id, "organizationId"))
            .transpose()?;
        let viewer = viewer(ctx)?;
        let row = organizations::set_active(app(ctx), viewer, key).await?;
        Ok(Session::new(row, viewer.session_id))
    }

    /// Defines an org role of one organisation (`MEMBERS_MANAGE` there, and
    /// every permission it gives). `CONFLICT` for a name taken there or past
    /// 50 roles.
    #[graphql(guard = "Authenticated")]
    async fn create_org_role(
        &self,
        ctx: &Context<'_>,
        input: CreateOrgRoleInput,
    ) -> async_graphql::Result<OrgRole> {
        let key = organization_id(&input.organization_id, "organizationId")?;
        Ok(organizations::create_role(
            app(ctx),
            viewer(ctx)?,
            key,
            &input.name,
            input.description.as_deref(),
            &input.permissions,
        )
        .await?
        .into())
    }

    /// Deletes an organisation's own org role (`MEMBERS_MANAGE` there, and
    /// every permission it gives); members holding it lose it.
    #[graphql(guard = "Authenticated")]
    async fn delete_org_role(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let key = ids::decode(ids::ORG_ROLE, &id, "id")?;
        organizations::delete_role(app(ctx), viewer(ctx)?, key).await?;
        Ok(true)
    }
}
