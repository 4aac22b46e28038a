//! The caller's own account: `me`, `updateMe` and `deleteMe`.

use async_graphql::{Context, InputObject, MaybeUndefined, Object};

use super::{app, types::User};
use crate::{
    auth::guard::{Authenticated, viewer},
    error::AppError,
    service::{accounts, users},
};

/// Profile links; for each field, null clears it and an absent field is kept.
#[derive(InputObject, Default)]
pub struct SocialLinksInput {
    pub website: MaybeUndefined<String>,
    pub facebook: MaybeUndefined<String>,
    pub instagram: MaybeUndefined<String>,
    pub linkedin: MaybeUndefined<String>,
    pub x: MaybeUndefined<String>,
    pub youtube: MaybeUndefined<String>,
}

/// Changes to one's own profile. An absent field is kept; an explicit null
/// clears an optional field (and is refused for `username` and `email`).
#[derive(InputObject, Default)]
pub struct UpdateProfileInput {
    pub username: MaybeUndefined<String>,
    pub email: MaybeUndefined<String>,
    /// Display name; null restores the default ("firstName lastName", else username).
    pub name: MaybeUndefined<String>,
    pub first_name: MaybeUndefined<String>,
    pub last_name: MaybeUndefined<String>,
    pub avatar_url: MaybeUndefined<String>,
    pub social_links: Option<SocialLinksInput>,
}

fn patch(value: MaybeUndefined<String>) -> users::Patch<String> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

fn required(
    value: MaybeUndefined<String>,
    field: &'static str,
) -> Result<Option<String>, AppError> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Err(AppError::bad_input(
            field,
            format!("{field} cannot be null"),
        )),
        MaybeUndefined::Value(v) => Ok(Some(v)),
    }
}

impl UpdateProfileInput {
    pub fn into_patch(self) -> Result<users::ProfilePatch, AppError> {
        let links = self.social_links.unwrap_or_default();
        Ok(users::ProfilePatch {
            username: required(self.username, "username")?,
            email: required(self.email, "email")?,
            name: patch(self.name),
            first_name: patch(self.first_name),
            last_name: patch(self.last_name),
            avatar_url: patch(self.avatar_url),
            website: patch(links.website),
            facebook: patch(links.facebook),
            instagram: patch(links.instagram),
            linkedin: patch(links.linkedin),
            x: patch(links.x),
            youtube: patch(links.youtube),
        })
    }
}

#[derive(Default)]
pub struct UserQuery;

#[Object]
impl UserQuery {
    /// The signed-in user. `UNAUTHENTICATED` without a valid session.
    #[graphql(guard = "Authenticated")]
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<User> {
        Ok(User::owned(viewer(ctx)?.user.clone()))
    }
}

#[derive(Default)]
pub struct UserMutation;

#[Object]
impl UserMutation {
    /// Updates the caller's own profile. Cannot change status, roles, tier or superuser.
    #[graphql(guard = "Authenticated")]
    async fn update_me(
        &self,
        ctx: &Context<'_>,
        input: UpdateProfileInput,
    ) -> async_graphql::Result<User> {
        let viewer = viewer(ctx)?;
        let updated =
            users::update_profile(&app(ctx).db, viewer.user.clone(), &input.into_patch()?).await?;
        Ok(User::owned(updated))
    }

    /// Soft-deletes the caller's account after checking its password, and ends
    /// all its sessions. `CONFLICT` for the last active superuser.
    #[graphql(guard = "Authenticated")]
    async fn delete_me(&self, ctx: &Context<'_>, password: String) -> async_graphql::Result<bool> {
        accounts::delete_me(app(ctx), viewer(ctx)?, &password).await?;
        Ok(true)
    }
}
