//! Input types and patch helpers that more than one root takes: the profile
//! fields, metadata, names, and the account fields of `register` and
//! `createUser`.

use async_graphql::{ID, InputObject, Json, MaybeUndefined};

use super::types::{DateTime, UserStatus};
use crate::{
    error::AppError,
    ids,
    service::{
        directory,
        users::{self},
    },
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

/// A condition on one top-level key of `appMetadata`.
#[derive(InputObject)]
pub struct MetadataMatch {
    /// The top-level key.
    pub key: String,
    /// The value the key must hold, compared as JSON; required. A user
    /// without the key does not match, and `null` matches a key holding
    /// null. PostgreSQL compares numbers by value (`1` equals `1.0`); SQLite
    /// compares them as written.
    pub equals: MaybeUndefined<Json<serde_json::Value>>,
}

/// Which users `users` returns. Every condition given must hold; `and`,
/// `or` and `not` nest filters (at most 5 levels and 50 filters in all).
/// Soft-deleted users are left out unless some level sets `includeDeleted`
/// or `onlyDeleted`.
#[derive(InputObject, Default)]
pub struct UserFilter {
    /// Matches username, email, first, last and display name, case-insensitively;
    /// `%` and `_` are literal characters.
    pub search: Option<String>,
    /// Holders of the role with this name.
    pub role: Option<String>,
    /// Users with this status.
    pub status: Option<UserStatus>,
    /// Users on this tier.
    pub tier_id: Option<ID>,
    /// Members of this organisation (`org_…`).
    pub organization_id: Option<ID>,
    /// The user imported with this `externalId`.
    pub external_id: Option<String>,
    /// Superusers only (or, when false, everyone else).
    pub is_superuser: Option<bool>,
    /// Superusers and holders of the `admin` role (or, when false, everyone else).
    pub is_staff: Option<bool>,
    /// Include soft-deleted users (they are hidden by default).
    #[graphql(default)]
    pub include_deleted: bool,
    /// Only soft-deleted users.
    #[graphql(default)]
    pub only_deleted: bool,
    /// Created at or after this instant.
    pub created_after: Option<DateTime>,
    /// Created before this instant.
    pub created_before: Option<DateTime>,
    /// Last logged in before this instant (users who never logged in do not match).
    pub last_login_before: Option<DateTime>,
    /// Last logged in at or after this instant.
    pub last_login_after: Option<DateTime>,
    /// Users with these ids (at most 1000).
    pub ids: Option<Vec<ID>>,
    /// The user with this email address, exactly but case-insensitively.
    pub email: Option<String>,
    /// The user with this username, exactly but case-insensitively.
    pub username: Option<String>,
    /// Users who never logged in (or, when false, who did).
    pub never_logged_in: Option<bool>,
    /// Changed at or after this instant.
    pub updated_after: Option<DateTime>,
    /// Changed before this instant.
    pub updated_before: Option<DateTime>,
    /// Users whose address is verified (or, when false, is not).
    pub email_verified: Option<bool>,
    /// Users with a second factor on (or, when false, off).
    pub mfa_enabled: Option<bool>,
    /// Every match must hold on `appMetadata`.
    pub metadata: Option<Vec<MetadataMatch>>,
    /// Every one of these filters holds.
    pub and: Option<Vec<UserFilter>>,
    /// At least one of these filters holds.
    pub or: Option<Vec<UserFilter>>,
    /// This filter does not hold.
    pub not: Option<Box<UserFilter>>,
}

fn nested(list: Option<Vec<UserFilter>>) -> Result<Vec<directory::Filter>, AppError> {
    list.unwrap_or_default()
        .into_iter()
        .map(UserFilter::into_service)
        .collect()
}

impl UserFilter {
    pub fn into_service(self) -> Result<directory::Filter, AppError> {
        let time = |t: Option<DateTime>| t.map(|t| t.0);
        Ok(directory::Filter {
            search: self.search,
            role: self.role,
            status: self.status.map(Into::into),
            tier_id: ids::decode_opt(ids::TIER, self.tier_id, "tierId")?,
            organization_id: ids::decode_opt(
                ids::ORGANIZATION,
                self.organization_id,
                "organizationId",
            )?,
            external_id: self.external_id,
            is_superuser: self.is_superuser,
            is_staff: self.is_staff,
            include_deleted: self.include_deleted,
            only_deleted: self.only_deleted,
            created_after: self.created_after.map(|t| t.0),
            created_before: self.created_before.map(|t| t.0),
            last_login_after: self.last_login_after.map(|t| t.0),
            last_login_before: self.last_login_before.map(|t| t.0),
            ids: self
                .ids
                .map(|ids| ids::decode_all(ids::USER, &ids, "ids"))
                .transpose()?,
            email: self.email,
            username: self.username,
            never_logged_in: self.never_logged_in,
            updated_after: time(self.updated_after),
            updated_before: time(self.updated_before),
            email_verified: self.email_verified,
            mfa_enabled: self.mfa_enabled,
            metadata: (self.metadata.unwrap_or_default().into_iter())
                .map(|m| {
                    let equals = match m.equals {
                        MaybeUndefined::Value(v) => v.0,
                        MaybeUndefined::Null => serde_json::Value::Null,
                        MaybeUndefined::Undefined => {
                            return Err(AppError::bad_input("metadata", "equals is required"));
                        }
                    };
                    Ok(directory::MetadataMatch { key: m.key, equals })
                })
                .collect::<Result<_, _>>()?,
            and: nested(self.and)?,
            or: nested(self.or)?,
            not: self
                .not
                .map(|f| f.into_service().map(Box::new))
                .transpose()?,
        })
    }
}

/// A page size argument (`first`, `last`): 0 to 100, 20 when absent.
pub fn page_size(value: Option<i32>, field: &'static str) -> Result<u64, AppError> {
    match value {
        None => Ok(directory::DEFAULT_PAGE),
        Some(n) if (0..=directory::MAX_PAGE as i32).contains(&n) => Ok(n as u64),
        Some(_) => Err(AppError::bad_input(
            field,
            format!("{field} must be between 0 and {}", directory::MAX_PAGE),
        )),
    }
}
