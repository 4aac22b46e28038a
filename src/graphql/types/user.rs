//! `User`: an account as a viewer may see it. Privacy-dependent fields are
//! decided when a `User` is built from the viewer, and every field checks
//! the `Reach` the `User` was built with, so no resolver path shows more.

use async_graphql::{ComplexObject, Context, Enum, ID, Json, SimpleObject};
use entity::{role, tier, user};

use super::{
    DateTime, ExternalIdentity, Passkey, Role, Tier,
    audit_event::{self, AuditEventConnection},
};
use crate::{
    auth::Viewer,
    error::AppError,
    graphql::{
        guard::viewer,
        loaders::{AuditOfUser, ByKey, IdentitiesOfUser, PasskeysOfUser, RolesOfUser},
        request::loader,
    },
    ids,
    service::{directory::Projected, role_grants::ADMIN_ROLE, users},
};

/// Whether an account may be used.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStatus {
    /// Can sign in and use the API.
    Active,
    /// Disabled, typically by the user or pending activation; cannot sign in.
    Inactive,
    /// Disabled by an administrator; cannot sign in.
    Suspended,
}

impl From<user::Status> for UserStatus {
    fn from(status: user::Status) -> Self {
        match status {
            user::Status::Active => Self::Active,
            user::Status::Inactive => Self::Inactive,
            user::Status::Suspended => Self::Suspended,
        }
    }
}

impl From<UserStatus> for user::Status {
    fn from(status: UserStatus) -> Self {
        match status {
            UserStatus::Active => Self::Active,
            UserStatus::Inactive => Self::Inactive,
            UserStatus::Suspended => Self::Suspended,
        }
    }
}

/// Links to a user's profiles elsewhere; each is an http(s) URL or null when unset.
#[derive(SimpleObject, Debug, Clone)]
pub struct SocialLinks {
    /// Null when unset.
    pub website: Option<String>,
    /// Null when unset.
    pub facebook: Option<String>,
    /// Null when unset.
    pub instagram: Option<String>,
    /// Null when unset.
    pub linkedin: Option<String>,
    /// Null when unset.
    pub x: Option<String>,
    /// Null when unset.
    pub youtube: Option<String>,
}

/// Which fields of a `User` the viewer may read. Decided when the `User` is
/// built, and checked by every field (`Readable`), so no resolver path
/// shows more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Reach {
    /// Every field (each still says when it is null for the viewer).
    #[default]
    Whole,
    /// The id and these fields (GraphQL names) only: a mutation's answer to
    /// a caller who may change a user but not read them (`ROLES_ASSIGN` or
    /// `USERS_UPDATE` without `USERS_READ`). Any other field is `FORBIDDEN`.
    Only(Vec<&'static str>),
}

impl Reach {
    fn allows(&self, field: &str) -> bool {
        match self {
            Self::Whole => true,
            Self::Only(fields) => field == "id" || field == "__typename" || fields.contains(&field),
        }
    }
}

/// What anyone sees of the administrator acting in their session
/// (`User::as_impersonator`), GraphQL names, besides the id.
pub const IMPERSONATOR_FIELDS: [&str; 2] = ["username", "name"];

/// The fields of a member's view (`User::as_member`), GraphQL names.
pub const MEMBER_FIELDS: [&str; 11] = [
    "username",
    "email",
    "name",
    "firstName",
    "lastName",
    "avatarUrl",
    "socialLinks",
    "status",
    "isActive",
    "createdAt",
    "metadata",
];

/// The guard on every `User` field: the field must be within the `User`'s `Reach`.
pub struct Readable<'a>(pub &'a Reach);

impl async_graphql::Guard for Readable<'_> {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        if self.0.allows(ctx.item.node.name.node.as_str()) {
            Ok(())
        } else {
            Err(AppError::Forbidden.into())
        }
    }
}

/// A user account.
// `serial`: the fields are plain data or one loader call each, and resolving
// them one after another instead of concurrently made a page of 50 users
// ~10% cheaper (BENCHMARKS.md). Lists still resolve their items concurrently,
// so loader calls from a list's users are still batched together.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex, serial, guard = "Readable(&self.reach)")]
pub struct User {
    /// Opaque id (`usr_…`).
    pub id: ID,
    /// Unique, lower-case, 2–20 characters of `[a-z0-9_.-]`.
    pub username: String,
    /// Null unless the viewer is this user or holds `USERS_READ`; shown to
    /// a fellow member reading them through an organisation
    /// (`Membership.user`).
    pub email: Option<String>,
    /// Display name: the chosen one, else "firstName lastName", else the username.
    pub name: String,
    /// Null when unset.
    pub first_name: Option<String>,
    /// Null when unset.
    pub last_name: Option<String>,
    /// Null when unset.
    pub avatar_url: Option<String>,
    /// Profile links; each is null when unset.
    pub social_links: SocialLinks,
    /// Whether the account may be used; see `isActive`.
    pub status: UserStatus,
    /// True when the status is ACTIVE and the user is not deleted.
    pub is_active: bool,
    /// Holds every permission and the superuser-only powers.
    pub is_superuser: bool,
    /// True once soft-deleted.
    pub is_deleted: bool,
    /// When the user was soft-deleted; null unless deleted.
    pub deleted_at: Option<DateTime>,
    /// When the account was created (date joined).
    pub created_at: DateTime,
    /// When the account last changed.
    pub updated_at: DateTime,
    /// Null unless the viewer is this user or holds `USERS_READ`, and null before the first login.
    /// Out of reach (`FORBIDDEN`) in a member's view (`Membership.user`).
    pub last_login_at: Option<DateTime>,
    /// Whether the user proved they receive mail at their address (a link
    /// from `register`'s or `sendVerificationEmail`'s mail, a password reset,
    /// an accepted invitation or a confirmed email change). An
    /// administrator's change of the address makes it false again.
    pub email_verified: bool,
    /// When the address was verified; null while unverified, and null unless
    /// the viewer is this user or holds `USERS_READ`.
    pub email_verified_at: Option<DateTime>,
    /// Invited (`inviteUser`) and not yet accepted: the user has no password
    /// and cannot sign in.
    pub invitation_pending: bool,
    /// A second factor (TOTP) is on: sign-in needs a code after the password.
    pub mfa_enabled: bool,
    /// The language the user reads mail in (a BCP 47 tag, set with
    /// `updateMe`); null for the default, and null unless the viewer is
    /// this user or holds `USERS_READ`.
    pub locale: Option<String>,
    /// The user's own JSON object (at most 8 KiB), which they write with
    /// `updateMe` (administrators with `updateUser`); `{}` when unset.
    /// Whoever may see the user reads it: keep secrets out of it.
    pub metadata: Json<serde_json::Value>,
    /// Administrators' JSON object about the user (at most 8 KiB), written
    /// with `USERS_UPDATE`; the user cannot change it. `{}` when unset, and
    /// `{}` unless the viewer is this user or holds `USERS_READ`; out of
    /// reach (`FORBIDDEN`) in a member's view (`Membership.user`).
    pub app_metadata: Json<serde_json::Value>,
    #[graphql(skip)]
    pub key: uuid::Uuid,
    #[graphql(skip)]
    pub tier_key: Option<uuid::Uuid>,
    /// Whether the viewer is this user or holds `USERS_READ`.
    #[graphql(skip)]
    pub private: bool,
    #[graphql(skip)]
    pub has_password_value: bool,
    #[graphql(skip)]
    pub external_id_value: Option<String>,
    /// The user's roles once known: set by a page's prefetch, else loaded on
    /// first use. `roles` and `isStaff` share it, as fields of a `User`
    /// resolve one after another (`serial`) and would otherwise ask twice.
    #[graphql(skip)]
    pub roles: tokio::sync::OnceCell<Vec<Role>>,
    /// The tier fetched with the page; `None` means ask the loader.
    #[graphql(skip)]
    pub prefetched_tier: Option<Option<tier::Model>>,
    /// What the viewer may read of this user.
    #[graphql(skip)]
    pub reach: Reach,
}

impl User {
    /// Builds the API view of `model` as `viewer` may see it.
    pub fn new(model: user::Model, viewer: Option<&Viewer>) -> Self {
        let private = viewer.is_some_and(|v| v.reads_user(model.id));
        Self::build(model, private)
    }

    /// Builds the API view of a user read through a projection, with the
    /// tier when it was read too.
    pub fn projected(projected: Projected, viewer: Option<&Viewer>) -> Self {
        let mut user = Self::new(projected.user, viewer);
        user.prefetched_tier = projected.tier;
        match projected.roles {
            Some(roles) => user.with_roles(roles),
            None => user,
        }
    }

    /// Builds the view a user gets of themself.
    pub fn owned(model: user::Model) -> Self {
        Self::build(model, true)
    }

    /// Builds a mutation's answer about `model`, which `viewer` changed: the
    /// whole user when the viewer may read it (themself, or `USERS_READ`),
    /// else only its id and the fields `changed` (GraphQL names), so that a
    /// right to change a user is no right to read them.
    pub fn changed(model: user::Model, viewer: &Viewer, changed: Vec<&'static str>) -> Self {
        let readable = viewer.reads_user(model.id);
        if readable {
            return Self::new(model, Some(viewer));
        }
        // The changed fields show what the caller wrote, private or not.
        let mut user = Self::build(model, true);
        user.reach = Reach::Only(changed);
        user
    }

    /// Builds the view a user has of the administrator acting in one of
    /// their sessions (`Session.impersonator`): whole for whoever may read
    /// them, else their id, username and name, so everyone knows who it was.
    pub fn as_impersonator(model: user::Model, viewer: &Viewer) -> Self {
        if viewer.reads_user(model.id) {
            return Self::new(model, Some(viewer));
        }
        let mut user = Self::build(model, false);
        user.reach = Reach::Only(IMPERSONATOR_FIELDS.to_vec());
        user
    }

    /// Builds the view an organisation's member (or admin) has of another
    /// member they may not read whole: the profile and the address, never
    /// `appMetadata`, sign-in times, roles, keys or other organisations.
    pub fn as_member(model: user::Model) -> Self {
        let mut user = Self::build(model, true);
        // Out of reach anyway; emptied so no later field can show them.
        user.private = false;
        user.last_login_at = None;
        user.email_verified_at = None;
        user.locale = None;
        user.app_metadata = Json(serde_json::json!({}));
        user.reach = Reach::Only(MEMBER_FIELDS.to_vec());
        user
    }

    fn build(model: user::Model, private: bool) -> Self {
        let name = users::effective_name(
            model.display_name.as_deref(),
            model.first_name.as_deref(),
            model.last_name.as_deref(),
            &model.username,
        );
        Self {
            id: ids::encode(ids::USER, model.id).into(),
            is_active: model.status == user::Status::Active && !model.is_deleted(),
            is_deleted: model.is_deleted(),
            email: private.then_some(model.email),
            last_login_at: if private {
                model.last_login_at.map(Into::into)
            } else {
                None
            },
            email_verified: model.email_verified_at.is_some(),
            email_verified_at: if private {
                model.email_verified_at.map(Into::into)
            } else {
                None
            },
            invitation_pending: model.invitation_pending,
            mfa_enabled: model.mfa_enabled,
            locale: if private { model.locale.clone() } else { None },
            metadata: Json(model.metadata),
            app_metadata: Json(if private {
                model.app_metadata
            } else {
                serde_json::json!({})
            }),
            username: model.username,
            name,
            first_name: model.first_name,
            last_name: model.last_name,
            avatar_url: model.avatar_url,
            social_links: SocialLinks {
                website: model.website,
                facebook: model.facebook,
                instagram: model.instagram,
                linkedin: model.linkedin,
                x: model.x,
                youtube: model.youtube,
            },
            status: model.status.into(),
            is_superuser: model.is_superuser,
            deleted_at: model.deleted_at.map(Into::into),
            created_at: model.created_at.into(),
            updated_at: model.updated_at.into(),
            key: model.id,
            tier_key: model.tier_id,
            private,
            has_password_value: model.has_password,
            external_id_value: model.external_id,
            roles: tokio::sync::OnceCell::new(),
            prefetched_tier: None,
            reach: Reach::Whole,
        }
    }
}

impl User {
    /// Sets the user's roles, fetched with the page or by a mutation.
    pub fn with_roles(mut self, roles: Vec<role::Model>) -> Self {
        self.roles =
            tokio::sync::OnceCell::new_with(Some(roles.into_iter().map(Role::from).collect()));
        self
    }

    /// The roles of this user: from the page's prefetch when a list made one,
    /// else from the request's loader, once.
    async fn held_roles(&self, ctx: &Context<'_>) -> Result<&[Role], AppError> {
        let roles = self
            .roles
            .get_or_try_init(|| async {
                Ok::<_, AppError>(
                    loader(ctx)?
                        .load_one(RolesOfUser(self.key))
                        .await?
                        .unwrap_or_default()
                        .into_iter()
                        .map(Role::from)
                        .collect(),
                )
            })
            .await?;
        Ok(roles)
    }
}

#[ComplexObject(guard = "Readable(&self.reach)")]
impl User {
    /// The user's roles, ordered by name. Lists fetch them for the whole page at
    /// once; elsewhere they are batched per request.
    async fn roles(&self, ctx: &Context<'_>) -> async_graphql::Result<&[Role]> {
        Ok(self.held_roles(ctx).await?)
    }

    /// Events about this user, newest first (`AUDIT_READ`): what was done to
    /// the account and by whom. Without `after`, a page of users asks for
    /// all its users' events in one statement.
    #[graphql(
        complexity = "crate::graphql::cost::STATEMENT + first.unwrap_or(20).clamp(0, 100) as usize * child_complexity"
    )]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<AuditEventConnection> {
        let viewer = viewer(ctx)?;
        crate::service::audit::require_reader(viewer)?;
        if after.is_some() {
            let filter = crate::service::audit::Filter {
                target_id: Some(self.key),
                ..Default::default()
            };
            return audit_event::connection(ctx, filter, first, after).await;
        }
        let size = crate::service::audit::page_size(first)?;
        let mut rows = loader(ctx)?
            .load_one(AuditOfUser(self.key, size))
            .await
            .map_err(AppError::from)?
            .unwrap_or_default();
        let more = rows.len() as u64 > size;
        rows.truncate(size as usize);
        Ok(AuditEventConnection::of(rows, more, false))
    }

    /// The user's tier; null when the user has none. Fetched per page or batched per request.
    async fn tier(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Tier>> {
        if let Some(tier) = &self.prefetched_tier {
            return Ok(tier.clone().map(Tier::from));
        }
        let Some(key) = self.tier_key else {
            return Ok(None);
        };
        let tier = loader(ctx)?
            .load_one(ByKey::<tier::Entity>::new(key))
            .await
            .map_err(AppError::from)?;
        Ok(tier.map(Tier::from))
    }

    /// Whether the account has a password: false for one made through
    /// another provider until `setPassword`, and for an invitation not yet
    /// accepted. The user themself or `USERS_READ`; `FORBIDDEN` otherwise.
    async fn has_password(&self) -> async_graphql::Result<bool> {
        if !self.private {
            return Err(AppError::Forbidden.into());
        }
        Ok(self.has_password_value)
    }

    /// The user's id in the system they were imported from
    /// (`importUsers`); null for users made here, and unless the viewer is
    /// the user or holds `USERS_READ`.
    async fn external_id(&self) -> Option<&str> {
        self.private
            .then_some(self.external_id_value.as_deref())
            .flatten()
    }

    /// The provider accounts linked to the user, oldest first (empty when
    /// none). The user themself or `USERS_READ`; `FORBIDDEN` otherwise.
    /// Batched per request: a page of users asks once.
    async fn identities(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ExternalIdentity>> {
        if !self.private {
            return Err(AppError::Forbidden.into());
        }
        let identities = loader(ctx)?
            .load_one(IdentitiesOfUser(self.key))
            .await
            .map_err(AppError::from)?
            .unwrap_or_default();
        let app = crate::graphql::request::app(ctx);
        Ok(identities
            .into_iter()
            .map(|identity| ExternalIdentity::new(app, identity))
            .collect())
    }

    /// The user's live sessions, most recently used first (empty when
    /// none): the user themself or `USERS_READ`; `FORBIDDEN` otherwise.
    /// `current` marks the caller's own. Batched per request.
    async fn sessions(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<super::Session>> {
        let viewer = viewer(ctx)?;
        crate::service::sessions::may_list_sessions(viewer, self.key)?;
        Ok(loader(ctx)?
            .load_one(crate::graphql::loaders::SessionsOfUser(self.key))
            .await
            .map_err(AppError::from)?
            .unwrap_or_default()
            .into_iter()
            .map(|s| super::Session::new(s, viewer.session_id))
            .collect())
    }

    /// The organisations the user belongs to, oldest membership first
    /// (empty when none). The user themself, or holders of `ORGS_READ`
    /// and `USERS_READ`; `FORBIDDEN` otherwise (an organisation's admin
    /// never sees a member's other organisations). Batched per request.
    async fn memberships(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<super::Membership>> {
        super::organization::memberships_of(ctx, self.key).await
    }

    /// The user's passkeys, oldest first (empty when none). The user
    /// themself or `USERS_READ`; `FORBIDDEN` otherwise. Batched per
    /// request: a page of users asks once.
    async fn passkeys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Passkey>> {
        if !self.private {
            return Err(AppError::Forbidden.into());
        }
        let passkeys = loader(ctx)?
            .load_one(PasskeysOfUser(self.key))
            .await
            .map_err(AppError::from)?
            .unwrap_or_default();
        Ok(passkeys.into_iter().map(Passkey::from).collect())
    }

    /// True when the user holds the built-in `admin` role or is a superuser.
    async fn is_staff(&self, ctx: &Context<'_>) -> async_graphql::Result<bool> {
        if self.is_superuser {
            return Ok(true);
        }
        Ok(self
            .held_roles(ctx)
            .await?
            .iter()
            .any(|r| r.model().name == ADMIN_ROLE))
    }
}
