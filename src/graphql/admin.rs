//! User administration: `createUser`, `updateUser`, `setUserStatus`,
//! `deleteUser`, `restoreUser` and `hardDeleteUser`.

use async_graphql::{Context, ID, InputObject, Json, Object};

use super::guard::{Authenticated, HasPermission, Superuser, viewer};
use super::{
    inputs::{SocialLinksInput, UpdateProfileInput, metadata_patch, new_account},
    request::app,
    types::{User, UserStatus},
};
use crate::{
    auth::Permission,
    error::AppError,
    ids,
    service::{admin, role_grants, users::ProfilePatch},
};

/// A new user, created by an administrator.
#[derive(InputObject)]
pub struct CreateUserInput {
    /// Stored trimmed and lower-case.
    pub email: String,
    /// 2–20 characters of `[a-z0-9_.-]`; stored lower-case. When absent, one
    /// is made from the email's local part (before any `+tag`, folded to that
    /// alphabet, cut to 16 characters, `user` appended when shorter than 2),
    /// with the lowest number from 2 appended when taken:
    /// `jane@example.com` becomes `jane`, then `jane2`.
    pub username: Option<String>,
    /// At most 64 characters.
    pub first_name: Option<String>,
    /// At most 64 characters.
    pub last_name: Option<String>,
    /// Display name; defaults to "firstName lastName", else the username.
    pub name: Option<String>,
    /// The same rules as for `register`.
    pub password: String,
    /// An http(s) URL of at most 255 characters.
    pub avatar_url: Option<String>,
    /// Profile links.
    pub social_links: Option<SocialLinksInput>,
    /// Defaults to ACTIVE.
    pub status: Option<UserStatus>,
    /// Defaults to the `user` role; giving roles needs `ROLES_ASSIGN` and every
    /// permission those roles hold.
    pub role_ids: Option<Vec<ID>>,
    /// The roles by name (case-insensitive), instead of `roleIds`, with the
    /// same rules; `NOT_FOUND` on `roleNames` when one does not exist.
    pub role_names: Option<Vec<String>>,
    /// Superuser only.
    pub tier_id: Option<ID>,
    /// Superuser only.
    #[graphql(default)]
    pub is_superuser: bool,
    /// The user's metadata, a JSON object of at most 8 KiB; `{}` by default.
    pub metadata: Option<Json<serde_json::Value>>,
    /// Administrators' metadata (`USERS_UPDATE`), a JSON object of at most
    /// 8 KiB; `{}` by default.
    pub app_metadata: Option<Json<serde_json::Value>>,
}

/// `roleIds` or `roleNames`, not both (`BAD_USER_INPUT` on `roleNames`).
fn wanted_roles(
    role_ids: Option<Vec<ID>>,
    role_names: Option<Vec<String>>,
) -> Result<Option<role_grants::Wanted>, AppError> {
    match (role_ids, role_names) {
        (Some(_), Some(_)) => Err(AppError::bad_input(
            "roleNames",
            "give roleIds or roleNames, not both",
        )),
        (Some(list), None) => Ok(Some(role_grants::Wanted::Ids(ids::decode_all(
            ids::ROLE,
            &list,
            "roleIds",
        )?))),
        (None, Some(names)) => Ok(Some(role_grants::Wanted::Names(names))),
        (None, None) => Ok(None),
    }
}

/// Changes to a user. Profile fields work as in `updateMe` (absent keeps,
/// null clears); `status` and `password` need `USERS_UPDATE`; `isSuperuser`
/// needs a superuser.
#[derive(InputObject)]
pub struct UpdateUserInput {
    #[graphql(flatten)]
    pub profile: UpdateProfileInput,
    /// A non-ACTIVE status ends all of the user's sessions.
    pub status: Option<UserStatus>,
    /// A new password; ends all of the user's sessions.
    pub password: Option<String>,
    /// Superuser only; the last active superuser cannot be demoted.
    pub is_superuser: Option<bool>,
    /// Keys merged into `appMetadata` (`USERS_UPDATE`), as `metadata` merges:
    /// a key set to null is removed; the result stays within 8 KiB.
    pub app_metadata: Option<Json<serde_json::Value>>,
    /// Replaces the user's roles in the same transaction as the other
    /// changes, with `setUserRoles`' rules (`ROLES_ASSIGN`, and only roles
    /// whose permissions the caller holds). A change moves `updatedAt`.
    pub role_ids: Option<Vec<ID>>,
    /// As `roleIds`, by name (case-insensitive); not with `roleIds`.
    pub role_names: Option<Vec<String>>,
}

/// The fields a soft delete or a restore changes.
const DELETION_FIELDS: [&str; 3] = ["isDeleted", "deletedAt", "updatedAt"];

/// The `User` fields (GraphQL names) whose whole value `patch` writes: all
/// that `updateUser` answers to a caller who may not read the user. A field
/// that only part of the input makes (`name` from `firstName`, a merged
/// metadata object, one of the social links, `isActive`) would show what
/// the caller did not write, so it is not among them.
fn changed_fields(patch: &admin::UserPatch) -> Vec<&'static str> {
    let profile = &patch.profile;
    let mut fields = vec!["updatedAt"];
    let mut add = |on: bool, names: &[&'static str]| {
        if on {
            fields.extend_from_slice(names);
        }
    };
    add(profile.username.is_some(), &["username"]);
    add(profile.email.is_some(), &["email", "emailVerified"]);
    add(matches!(profile.name, Some(Some(_))), &["name"]);
    add(profile.first_name.is_some(), &["firstName"]);
    add(profile.last_name.is_some(), &["lastName"]);
    add(profile.avatar_url.is_some(), &["avatarUrl"]);
    add(patch.status.is_some(), &["status"]);
    add(patch.is_superuser.is_some(), &["isSuperuser"]);
    add(patch.roles.is_some(), &["roles"]);
    fields
}

fn user_key(id: &ID) -> Result<uuid::Uuid, AppError> {
    ids::decode(ids::USER, id, "id")
}

#[derive(Default)]
pub struct AdminMutation;

#[Object]
impl AdminMutation {
    /// Creates a user (`USERS_CREATE`).
    #[graphql(guard = "HasPermission(Permission::UsersCreate)")]
    async fn create_user(
        &self,
        ctx: &Context<'_>,
        input: CreateUserInput,
    ) -> async_graphql::Result<User> {
        let viewer = viewer(ctx)?;
        let links = UpdateProfileInput {
            social_links: input.social_links,
            ..Default::default()
        }
        .into_patch()?;
        let profile = ProfilePatch {
            avatar_url: input.avatar_url.map(Some),
            ..links
        };
        let new_user = admin::NewUser {
            roles: wanted_roles(input.role_ids, input.role_names)?,
            tier_id: ids::decode_opt(ids::TIER, input.tier_id, "tierId")?,
            is_superuser: input.is_superuser,
            status: input.status.map(Into::into),
            metadata: input.metadata.map(|m| m.0),
            app_metadata: input.app_metadata.map(|m| m.0),
            account: new_account!(input),
            profile,
        };
        let created = admin::create_user(app(ctx), viewer, new_user).await?;
        Ok(User::new(created, Some(viewer)))
    }

    /// Updates a user: the user themself for profile fields, `USERS_UPDATE` for
    /// anyone and for `status`, `password` and `appMetadata`, `ROLES_ASSIGN`
    /// for `roleIds`/`roleNames` (roles alone need nothing else, as
    /// `setUserRoles`); everything in one transaction (a refused role leaves
    /// the profile unchanged too). Only superusers change
    /// superusers. A new password or a non-ACTIVE status ends the user's
    /// sessions; the last active superuser cannot be demoted or disabled
    /// (`CONFLICT`). Without `USERS_READ` (and on someone else), the answer
    /// shows only the user's `id`, `updatedAt` and the fields whose whole
    /// value the input writes (not `name` from `firstName`, merged metadata,
    /// social links or `isActive`); any other field is `FORBIDDEN`.
    #[graphql(guard = "Authenticated")]
    async fn update_user(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateUserInput,
    ) -> async_graphql::Result<User> {
        let viewer = viewer(ctx)?;
        let patch = admin::UserPatch {
            profile: input.profile.into_patch()?,
            status: input.status.map(Into::into),
            password: input.password,
            is_superuser: input.is_superuser,
            app_metadata: metadata_patch(input.app_metadata, "appMetadata")?,
            roles: wanted_roles(input.role_ids, input.role_names)?,
        };
        let changed = changed_fields(&patch);
        let updated = admin::update_user(app(ctx), viewer, user_key(&id)?, patch).await?;
        Ok(User::changed(updated, viewer, changed))
    }

    /// Sets a user's status (`USERS_UPDATE`); a non-ACTIVE status ends its
    /// sessions. Without `USERS_READ`, the answer shows only the user's
    /// `id`, `status` and `updatedAt`.
    #[graphql(guard = "HasPermission(Permission::UsersUpdate)")]
    async fn set_user_status(
        &self,
        ctx: &Context<'_>,
        id: ID,
        status: UserStatus,
    ) -> async_graphql::Result<User> {
        let viewer = viewer(ctx)?;
        let updated = admin::set_status(app(ctx), viewer, user_key(&id)?, status.into()).await?;
        Ok(User::changed(updated, viewer, vec!["status", "updatedAt"]))
    }

    /// Soft-deletes a user (`USERS_DELETE`): its sessions end, it cannot log
    /// in, its username and email stay reserved, and `users` hides it by
    /// default. Without `USERS_READ`, the answer shows only the user's `id`,
    /// `isDeleted`, `deletedAt` and `updatedAt`.
    #[graphql(guard = "HasPermission(Permission::UsersDelete)")]
    async fn delete_user(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<User> {
        let viewer = viewer(ctx)?;
        let deleted = admin::delete_user(app(ctx), viewer, user_key(&id)?).await?;
        Ok(User::changed(deleted, viewer, DELETION_FIELDS.to_vec()))
    }

    /// Undoes a soft delete (`USERS_DELETE`). Without `USERS_READ`, the
    /// answer shows only what `deleteUser`'s does.
    #[graphql(guard = "HasPermission(Permission::UsersDelete)")]
    async fn restore_user(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<User> {
        let viewer = viewer(ctx)?;
        let restored = admin::restore_user(app(ctx), viewer, user_key(&id)?).await?;
        Ok(User::changed(restored, viewer, DELETION_FIELDS.to_vec()))
    }

    /// Erases a user's data for good (`USERS_DELETE`; a superuser only by a
    /// superuser, and never the last one: `CONFLICT`): as `deleteMe(erase:
    /// true)` does, the id staying for the audit trail. Audited
    /// (`user.erased`, without the erased values). `NOT_FOUND` on `id`.
    #[graphql(guard = "HasPermission(Permission::UsersDelete)")]
    async fn erase_user(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        admin::erase_user(app(ctx), viewer(ctx)?, user_key(&id)?).await?;
        Ok(true)
    }

    /// Ends every session of a user (`USERS_UPDATE`; a superuser's only by a
    /// superuser); their next request with any of them is `UNAUTHENTICATED`,
    /// on every replica. API keys stay. Returns how many ended; audited as
    /// `session.revoked`. `NOT_FOUND` on `id`.
    #[graphql(guard = "HasPermission(Permission::UsersUpdate)")]
    async fn revoke_user_sessions(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<i32> {
        let ended = admin::revoke_user_sessions(app(ctx), viewer(ctx)?, user_key(&id)?).await?;
        Ok(i32::try_from(ended).unwrap_or(i32::MAX))
    }

    /// Ends a user's password lockout (`USERS_UPDATE`; a superuser only by a
    /// superuser): they may sign in at once. Audited as `auth.unlocked` when
    /// there was a lockout or a count to clear. `NOT_FOUND` on `id`.
    #[graphql(guard = "HasPermission(Permission::UsersUpdate)")]
    async fn unlock_user(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<User> {
        let viewer = viewer(ctx)?;
        let unlocked = admin::unlock_user(app(ctx), viewer, user_key(&id)?).await?;
        Ok(User::changed(unlocked, viewer, vec![]))
    }

    /// Deletes a user for good, with its sessions and role links (superuser).
    #[graphql(guard = "Superuser")]
    async fn hard_delete_user(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        admin::hard_delete_user(app(ctx), viewer(ctx)?, user_key(&id)?).await?;
        Ok(true)
    }
}
