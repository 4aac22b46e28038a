//! Input types and patch helpers that more than one root takes: the profile
//! fields, metadata, names, and the account fields of `register` and
//! `createUser`.

use async_graphql::{InputObject, Json, MaybeUndefined};

use crate::{
    error::AppError,
    service::users::{self},
};

/// The service's `NewAccount` from the account fields that `RegisterInput`
/// and `CreateUserInput` share (their descriptions differ, so neither
/// flattens the other).
macro_rules! new_account {
    ($input:expr) => {
        $crate::service::new_account::NewAccount {
            username: $input.username.into(),
            email: $input.email,
            password: $input.password,
            name: $input.name,
            first_name: $input.first_name,
            last_name: $input.last_name,
        }
    };
}
pub(crate) use new_account;

/// Profile links; for each field, null clears it and an absent field is kept.
#[derive(InputObject, Default)]
pub struct SocialLinksInput {
    /// An http(s) URL; null clears.
    pub website: MaybeUndefined<String>,
    /// An http(s) URL; null clears.
    pub facebook: MaybeUndefined<String>,
    /// An http(s) URL; null clears.
    pub instagram: MaybeUndefined<String>,
    /// An http(s) URL; null clears.
    pub linkedin: MaybeUndefined<String>,
    /// An http(s) URL; null clears.
    pub x: MaybeUndefined<String>,
    /// An http(s) URL; null clears.
    pub youtube: MaybeUndefined<String>,
}

/// Changes to one's own profile. An absent field is kept; an explicit null
/// clears an optional field (and is refused for `username` and `email`).
#[derive(InputObject, Default)]
pub struct UpdateProfileInput {
    /// 2–20 characters of `[a-z0-9_.-]`; stored lower-case.
    pub username: MaybeUndefined<String>,
    /// Stored trimmed and lower-case.
    pub email: MaybeUndefined<String>,
    /// Display name; null restores the default ("firstName lastName", else username).
    pub name: MaybeUndefined<String>,
    /// At most 64 characters; null clears.
    pub first_name: MaybeUndefined<String>,
    /// At most 64 characters; null clears.
    pub last_name: MaybeUndefined<String>,
    /// An http(s) URL of at most 255 characters; null clears.
    pub avatar_url: MaybeUndefined<String>,
    /// Profile links; each field as described there.
    pub social_links: Option<SocialLinksInput>,
    /// Keys merged into `metadata` (a JSON object of at most 8 KiB): each
    /// key given replaces the stored one, a key set to null is removed,
    /// other keys are kept. The result must stay within 8 KiB.
    pub metadata: Option<Json<serde_json::Value>>,
    /// The language mail is written in: a BCP 47 tag such as `de` or
    /// `de-AT` (mail falls back to English when `MAIL_LOCALES` lacks it);
    /// null restores the default.
    pub locale: MaybeUndefined<String>,
}

/// An optional input field as a change: absent keeps, null clears, a value sets.
/// A role's or tier's name and description change, as the service takes it.
pub(crate) fn name_patch<'a>(
    name: Option<&'a str>,
    description: &'a users::Patch<String>,
) -> crate::service::NamePatch<'a> {
    crate::service::NamePatch {
        name,
        description: description.as_ref().map(Option::as_deref),
    }
}

pub(crate) fn patch(value: MaybeUndefined<String>) -> users::Patch<String> {
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
            metadata: metadata_patch(self.metadata, "metadata")?,
            locale: patch(self.locale),
        })
    }
}

/// A metadata merge as given: a JSON object within the metadata bound, else
/// `BAD_USER_INPUT` on `field`.
pub(crate) fn metadata_patch(
    value: Option<Json<serde_json::Value>>,
    field: &'static str,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, AppError> {
    value
        .map(|v| crate::validation::metadata(v.0, field))
        .transpose()
}
