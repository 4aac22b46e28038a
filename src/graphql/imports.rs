//! Bringing users in (service::imports): `importUsers`.

use async_graphql::{Context, Enum, ID, InputObject, Json, Object, SimpleObject};

use super::{
    guard::{Superuser, viewer},
    request::app,
    types::{DateTime, User, UserStatus},
};
use crate::service::imports::{self, Importer, OnConflict, Outcome, Record, SocialLinks};

/// A user to import: `createUser`'s fields, plus what a user brings from
/// the system they come from. The same fields, as JSON lines, are what
/// `usergraph import` reads and `usergraph export` writes.
#[derive(InputObject)]
pub struct ImportUserInput {
    /// Stored trimmed and lower-case.
    pub email: String,
    /// 2–20 characters of `[a-z0-9_.-]`; made from the email when absent.
    pub username: Option<String>,
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// In the clear, hashed with argon2id (at most 100 a call): prefer
    /// `passwordHash`. With neither, the account has no password (a mailed
    /// code, a provider or a reset signs it in).
    pub password: Option<String>,
    /// The hash the user's password has where they come from: PHC
    /// argon2id/argon2i, bcrypt (`$2a$`, `$2b$`, `$2y$`, cost ≤ 14), Django's
    /// `pbkdf2_sha256$`, `pbkdf2_sha1$`, `argon2$`, `bcrypt_sha256$`, PHC
    /// `$pbkdf2-sha256$` (≤ 1,000,000 iterations) or `$scrypt$` (≤ 128 MiB).
    /// The first right sign-in replaces it with argon2id.
    pub password_hash: Option<String>,
    pub avatar_url: Option<String>,
    pub social_links: Option<ImportSocialLinksInput>,
    /// `ACTIVE` when absent.
    pub status: Option<UserStatus>,
    /// `rol_…` ids, or `roleNames`; the `user` role when both are absent.
    pub role_ids: Option<Vec<ID>>,
    /// Role names (case-insensitive).
    pub role_names: Option<Vec<String>>,
    /// A `tir_…` id, or `tierName`.
    pub tier_id: Option<ID>,
    pub tier_name: Option<String>,
    pub is_superuser: Option<bool>,
    /// A JSON object of at most 8 KiB.
    pub metadata: Option<Json<serde_json::Value>>,
    /// A JSON object of at most 8 KiB.
    pub app_metadata: Option<Json<serde_json::Value>>,
    /// Whether the address counts as verified (false when absent).
    pub email_verified: Option<bool>,
    /// When the account was made where the user comes from (now when absent).
    pub created_at: Option<DateTime>,
    pub last_login_at: Option<DateTime>,
    /// A soft-deleted user's deletion: imported deleted.
    pub deleted_at: Option<DateTime>,
    /// The user's id where they come from: unique, kept as
    /// `User.externalId`, filterable (`UserFilter.externalId`), and matched
    /// first when a record names an existing user.
    pub external_id: Option<String>,
    /// A BCP 47 tag for the user's mail.
    pub locale: Option<String>,
}

/// Profile links of an imported user.
#[derive(InputObject)]
pub struct ImportSocialLinksInput {
    pub website: Option<String>,
    pub facebook: Option<String>,
    pub instagram: Option<String>,
    pub linkedin: Option<String>,
    pub x: Option<String>,
    pub youtube: Option<String>,
}

impl From<ImportUserInput> for Record {
    fn from(input: ImportUserInput) -> Self {
        Record {
            email: input.email,
            username: input.username,
            name: input.name,
            first_name: input.first_name,
            last_name: input.last_name,
            password: input.password,
            password_hash: input.password_hash,
            avatar_url: input.avatar_url,
            social_links: input.social_links.map(|l| SocialLinks {
                website: l.website,
                facebook: l.facebook,
                instagram: l.instagram,
                linkedin: l.linkedin,
                x: l.x,
                youtube: l.youtube,
            }),
            status: input.status.map(|s| {
                match s {
                    UserStatus::Active => "ACTIVE",
                    UserStatus::Inactive => "INACTIVE",
                    UserStatus::Suspended => "SUSPENDED",
                }
                .to_owned()
            }),
            role_ids: input
                .role_ids
                .map(|ids| ids.into_iter().map(|id| id.0).collect()),
            role_names: input.role_names,
            tier_id: input.tier_id.map(|id| id.0),
            tier_name: input.tier_name,
            is_superuser: input.is_superuser,
            metadata: input.metadata.map(|m| m.0),
            app_metadata: input.app_metadata.map(|m| m.0),
            email_verified: input.email_verified,
            created_at: input.created_at.map(|t| t.0),
            last_login_at: input.last_login_at.map(|t| t.0),
            deleted_at: input.deleted_at.map(|t| t.0),
            external_id: input.external_id,
            locale: input.locale,
        }
    }
}

/// What to do with a record naming a user who exists (by `externalId`,
/// email or username).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum ImportConflict {
    /// The batch fails whole: nothing is written.
    #[default]
    Fail,
    /// The record is passed over.
    Skip,
    /// The existing user takes the record's fields (its `createdAt` stays;
    /// a new password or status ends its sessions).
    Update,
}

impl From<ImportConflict> for OnConflict {
    fn from(value: ImportConflict) -> Self {
        match value {
            ImportConflict::Fail => OnConflict::Fail,
            ImportConflict::Skip => OnConflict::Skip,
            ImportConflict::Update => OnConflict::Update,
        }
    }
}

/// What happened to a record (in a dry run: what would).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ImportAction {
    Created,
    Updated,
    /// Passed over: a conflict with `SKIP`, or, when `FAIL` met a failure
    /// elsewhere in the batch, a record that was not written.
    Skipped,
    Failed,
}

/// Why a record failed: the code and field a mutation would answer.
#[derive(SimpleObject)]
pub struct ImportError {
    /// The contract's `extensions.code` (`BAD_USER_INPUT`,
    /// `DUPLICATE_EMAIL`, `NOT_FOUND`, …).
    pub code: String,
    /// The record's field at fault; null when the whole record is.
    pub field: Option<String>,
    pub message: String,
}

/// One record's result.
#[derive(SimpleObject)]
pub struct ImportUserResult {
    /// The record's position in `users`, from 0.
    pub index: i32,
    pub action: ImportAction,
    /// The user made or updated (in a dry run, as it would be: its id is
    /// not kept), or the existing one a skipped record named; null when the
    /// record failed, or was not written because another failed.
    pub user: Option<User>,
    /// Empty unless `action` is `FAILED`.
    pub errors: Vec<ImportError>,
}

/// `importUsers`' answer.
#[derive(SimpleObject)]
pub struct ImportUsersPayload {
    pub created: i32,
    pub updated: i32,
    pub skipped: i32,
    pub failed: i32,
    /// Whether nothing was written (`dryRun`).
    pub dry_run: bool,
    /// One per record, in order.
    pub results: Vec<ImportUserResult>,
}

#[derive(Default)]
pub struct ImportMutation;

#[Object]
impl ImportMutation {
    /// Imports up to 1000 users at once (a signed-in superuser; `usergraph
    /// import FILE` streams a file of any size). Every record is checked
    /// before anything is written: its fields as `createUser` checks them,
    /// `passwordHash`'s format and bounds (`BAD_USER_INPUT` on
    /// `passwordHash`), its roles and tier (`NOT_FOUND`), and its email,
    /// username and `externalId` against the database and the batch's other
    /// records (`DUPLICATE_EMAIL`, `DUPLICATE_USERNAME`, `BAD_USER_INPUT`
    /// on `externalId`), each in that record's `errors`. Then, unless
    /// `dryRun` (or `FAIL` met a failure), one transaction writes the batch
    /// and one audit event (`users.imported`, listing the users, which
    /// webhooks receive as one message). More than 1000 records, or more
    /// than 100 passwords in the clear, is `BAD_USER_INPUT` on `users`.
    #[graphql(guard = "Superuser")]
    async fn import_users(
        &self,
        ctx: &Context<'_>,
        users: Vec<ImportUserInput>,
        #[graphql(default)] on_conflict: ImportConflict,
        #[graphql(default)] dry_run: bool,
    ) -> async_graphql::Result<ImportUsersPayload> {
        let viewer = viewer(ctx)?;
        let records = users.into_iter().map(Record::from).collect();
        let results = imports::import(
            app(ctx),
            Importer::Viewer(viewer),
            &[],
            &Default::default(),
            records,
            on_conflict.into(),
            dry_run,
        )
        .await?;
        let count =
            |outcome: Outcome| results.iter().filter(|r| r.outcome == outcome).count() as i32;
        let written =
            !(dry_run || on_conflict == ImportConflict::Fail && count(Outcome::Failed) > 0);
        Ok(ImportUsersPayload {
            created: if written { count(Outcome::Created) } else { 0 },
            updated: if written { count(Outcome::Updated) } else { 0 },
            skipped: count(Outcome::Skipped),
            failed: count(Outcome::Failed),
            dry_run,
            results: results
                .into_iter()
                .map(|r| ImportUserResult {
                    index: r.index as i32,
                    action: match r.outcome {
                        Outcome::Created => ImportAction::Created,
                        Outcome::Updated => ImportAction::Updated,
                        Outcome::Skipped => ImportAction::Skipped,
                        Outcome::Failed => ImportAction::Failed,
                    },
                    user: r.user.map(|u| User::new(u, Some(viewer))),
                    errors: r
                        .errors
                        .iter()
                        .map(|e| ImportError {
                            code: e.code().to_owned(),
                            field: e.field().map(Into::into),
                            message: e.public_message(),
                        })
                        .collect(),
                })
                .collect(),
        })
    }
}
