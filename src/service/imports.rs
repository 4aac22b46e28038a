//! Bringing users in: `importUsers` and `usergraph import`. A batch of at
//! most 1000 records (the JSON lines `usergraph export` writes) is checked
//! whole before anything is written: each record's fields, its password or
//! imported hash (bounded: `auth::imported_hash`), its roles and tier, and
//! its uniqueness within the batch and against the database. Then, unless
//! it is a dry run (or `FAIL` met a failure), one transaction writes it,
//! with one audit event (`users.imported`, which webhooks receive as one
//! message listing the users).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use entity::{role, tier, user, user_role};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{
    AppContext, RequestMeta,
    audit::{Action, Event},
    now, role_grants, users,
};
use crate::{
    auth::{Viewer, imported_hash},
    error::{AppError, Result, ResultExt},
    ids, validation,
};

/// The most records one call takes.
pub const MAX_BATCH: usize = 1000;

/// One user as imported and exported: the JSON lines of `usergraph import`
/// and `usergraph export`, and `ImportUserInput`'s fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Record {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// In the clear: hashed with argon2id (prefer `passwordHash`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// A hash from the system the user comes from (`auth::imported_hash`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub social_links: Option<SocialLinks>,
    /// `ACTIVE` (the default), `INACTIVE` or `SUSPENDED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `rol_…` ids; or `roleNames`. Absent: the `user` role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_names: Option<Vec<String>>,
    /// A `tir_…` id; or `tierName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_superuser: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<DateTime<Utc>>,
    /// A soft-deleted user's deletion (export and import keep it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// The user's id in the system they come from (unique here too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

/// Profile links.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SocialLinks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facebook: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instagram: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linkedin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub youtube: Option<String>,
}

/// A role or a tier a batch's users need, as `usergraph export` writes
/// them before its users (`{"role": {…}}`, `{"tier": {…}}`): made when no
/// entry of that name exists (an existing one is kept as it is).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum CatalogueLine {
    Role {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(default)]
        permissions: Vec<String>,
    },
    Tier {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
}

/// What to do with a record that names a user who exists already (by
/// `externalId`, email or username).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnConflict {
    /// The batch fails whole: nothing is written.
    #[default]
    Fail,
    /// The record is passed over.
    Skip,
    /// The existing user takes the record's fields.
    Update,
}

/// What happened to a record (or, in a dry run, would).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    /// A conflict passed over with `SKIP`, or, when `FAIL` met a failure
    /// elsewhere in the batch, a record that was not written.
    Skipped,
    Failed,
}

/// One record's result.
#[derive(Debug)]
pub struct Imported {
    pub index: usize,
    pub outcome: Outcome,
    /// The user made or updated (as it is, or would be), or the one a
    /// skipped record named.
    pub user: Option<user::Model>,
    pub errors: Vec<AppError>,
}

/// Who imports: a signed-in superuser, or the shell (`usergraph import`).
#[derive(Clone, Copy)]
pub enum Importer<'a> {
    Viewer(&'a Viewer),
    Shell,
}

/// The most passwords in the clear one batch hashes (each is argon2id's
/// full cost; hashes are checked, not computed).
const MAX_PLAIN_PASSWORDS: usize = 100;

/// A record checked on its own.
struct Candidate {
    model: user::ActiveModel,
    email: String,
    username: Option<String>,
    external_id: Option<String>,
    roles: Option<role_grants::Wanted>,
    tier: Option<TierRef>,
    plain_password: Option<String>,
    /// Fields the record gave, for an update.
    given: Given,
}

#[derive(Default)]
struct Given {
    is_superuser: Option<bool>,
    status: bool,
    metadata: bool,
    app_metadata: bool,
    password: bool,
    email_verified: Option<bool>,
    last_login_at: bool,
}

enum TierRef {
    Id(Uuid),
    Name(String),
}

/// `importUsers` and `usergraph import`: see the module's comment.
/// `reserved_usernames` are usernames records elsewhere ask for (a file's
/// later batches): a username made from an email avoids them.
#[tracing::instrument(name = "imports.import", skip_all, fields(records = records.len(), dry_run))]
pub async fn import(
    ctx: &AppContext,
    importer: Importer<'_>,
    catalogue: &[CatalogueLine],
    reserved_usernames: &HashSet<String>,
    records: Vec<Record>,
    on_conflict: OnConflict,
    dry_run: bool,
) -> Result<Vec<Imported>> {
    if let Importer::Viewer(viewer) = importer {
        viewer.require_session()?;
        viewer.require_superuser()?;
    }
    if records.len() > MAX_BATCH {
        return Err(AppError::bad_input(
            "users",
            format!(
                "at most {MAX_BATCH} users a call (usergraph import streams a file in batches)"
            ),
        ));
    }
    let plain = records.iter().filter(|r| r.password.is_some()).count();
    if plain > MAX_PLAIN_PASSWORDS {
        return Err(AppError::bad_input(
            "users",
            format!(
                "at most {MAX_PLAIN_PASSWORDS} passwords in the clear a call (each costs a full argon2id hash); send passwordHash, or smaller batches"
            ),
        ));
    }
    let mut results: Vec<Imported> = (0..records.len())
        .map(|index| Imported {
            index,
            outcome: Outcome::Created,
            user: None,
            errors: Vec::new(),
        })
        .collect();
    let mut candidates: Vec<Option<Candidate>> = records
        .into_iter()
        .zip(results.iter_mut())
        .map(|(record, result)| match candidate(record) {
            Ok(candidate) => Some(candidate),
            Err(err) => {
                result.errors.push(err);
                None
            }
        })
        .collect();
    let (roles, tiers, missing) = catalogue_with(ctx, catalogue).await?;
    resolve_references(&roles, &tiers, &mut candidates, &mut results);
    within_batch(&mut candidates, &mut results);
    let existing = existing_users(ctx, &candidates).await?;
    for (candidate, result) in candidates.iter_mut().zip(results.iter_mut()) {
        let Some(c) = candidate else { continue };
        let matched: Vec<&user::Model> = existing
            .iter()
            .filter(|u| {
                c.external_id.is_some() && u.external_id == c.external_id
                    || u.email == c.email
                    || c.username.as_ref().is_some_and(|name| &u.username == name)
            })
            .collect();
        match (matched.as_slice(), on_conflict) {
            ([], _) => {}
            ([one], OnConflict::Skip) => {
                result.outcome = Outcome::Skipped;
                result.user = Some((*one).clone());
                *candidate = None;
            }
            // A username alone does not say it is the same person: a
            // source's `admin` is not this service's.
            ([one], OnConflict::Update)
                if one.email != c.email
                    && !(c.external_id.is_some() && one.external_id == c.external_id) =>
            {
                result.errors.push(AppError::Conflict(format!(
                    "the username {} is a local user's, whose email and externalId differ: give this record another username, or match by email or externalId",
                    one.username
                )));
                *candidate = None;
            }
            ([one], OnConflict::Update) => {
                result.outcome = Outcome::Updated;
                result.user = Some((*one).clone());
            }
            ([one], OnConflict::Fail) => {
                result.errors.push(if one.email == c.email {
                    AppError::DuplicateEmail
                } else if c.username.as_ref() == Some(&one.username) {
                    AppError::DuplicateUsername
                } else {
                    AppError::bad_input("externalId", "a user with this externalId exists")
                });
                *candidate = None;
            }
            (_, _) => {
                result.errors.push(AppError::Conflict(
                    "this record's externalId, email and username name different existing users"
                        .into(),
                ));
                *candidate = None;
            }
        }
    }
    let failed = results.iter().any(|r| !r.errors.is_empty());
    for result in &mut results {
        if !result.errors.is_empty() {
            result.outcome = Outcome::Failed;
            result.user = None;
        } else if failed && on_conflict == OnConflict::Fail {
            result.outcome = Outcome::Skipped;
        }
    }
    if dry_run || (failed && on_conflict == OnConflict::Fail) {
        for (candidate, result) in candidates.into_iter().zip(results.iter_mut()) {
            if let (Some(c), Outcome::Created) = (candidate, result.outcome) {
                result.user = Some(preview(c.model));
            }
        }
        return Ok(results);
    }
    hash_plain_passwords(ctx, &mut candidates).await?;
    write(
        ctx,
        importer,
        &missing,
        reserved_usernames,
        candidates,
        &mut results,
    )
    .await?;
    Ok(results)
}

/// A record's fields checked on their own, into the row it would insert.
fn candidate(record: Record) -> Result<Candidate> {
    let email = validation::email(&record.email)?;
    let username = record
        .username
        .as_deref()
        .map(validation::username)
        .transpose()?;
    if record.password.is_some() && record.password_hash.is_some() {
        return Err(AppError::bad_input(
            "passwordHash",
            "give password or passwordHash, not both",
        ));
    }
    if let Some(hash) = &record.password_hash {
        imported_hash::check(hash)
            .map_err(|problem| AppError::bad_input("passwordHash", problem))?;
    }
    if let Some(password) = &record.password
        && (password.is_empty() || password.chars().count() > validation::PASSWORD_MAX)
    {
        return Err(AppError::bad_input(
            "password",
            format!("1 to {} characters", validation::PASSWORD_MAX),
        ));
    }
    let external_id = record
        .external_id
        .as_deref()
        .map(|id| {
            let id = id.trim();
            if id.is_empty() || id.len() > 255 || id.chars().any(char::is_control) {
                Err(AppError::bad_input(
                    "externalId",
                    "1 to 255 characters, without control characters",
                ))
            } else {
                Ok(id.to_owned())
            }
        })
        .transpose()?;
    let ts = now();
    for (at, field) in [
        (record.created_at, "createdAt"),
        (record.last_login_at, "lastLoginAt"),
        (record.deleted_at, "deletedAt"),
    ] {
        if at.is_some_and(|at| at > ts) {
            return Err(AppError::bad_input(field, "a time in the future"));
        }
    }
    let has_password = record.password.is_some() || record.password_hash.is_some();
    let mut model = users::new_row(
        username.clone().unwrap_or_default(),
        email.clone(),
        record.password_hash.clone().unwrap_or_default(),
        record.created_at.unwrap_or(ts),
    );
    model.has_password = Set(has_password);
    model.external_id = Set(external_id.clone());
    model.last_login_at = Set(record.last_login_at);
    model.deleted_at = Set(record.deleted_at);
    model.email_verified_at = Set(record
        .email_verified
        .unwrap_or(false)
        .then(|| record.created_at.unwrap_or(ts)));
    let links = record.social_links.clone().unwrap_or_default();
    let profile = users::ProfilePatch {
        name: record.name.clone().map(Some),
        first_name: record.first_name.clone().map(Some),
        last_name: record.last_name.clone().map(Some),
        avatar_url: record.avatar_url.clone().map(Some),
        website: links.website.map(Some),
        facebook: links.facebook.map(Some),
        instagram: links.instagram.map(Some),
        linkedin: links.linkedin.map(Some),
        x: links.x.map(Some),
        youtube: links.youtube.map(Some),
        locale: record.locale.clone().map(Some),
        ..Default::default()
    };
    users::apply_profile(&mut model, &profile)?;
    if let Some(status) = &record.status {
        model.status = Set(match status.to_ascii_uppercase().as_str() {
            "ACTIVE" => user::Status::Active,
            "INACTIVE" => user::Status::Inactive,
            "SUSPENDED" => user::Status::Suspended,
            _ => {
                return Err(AppError::bad_input(
                    "status",
                    "ACTIVE, INACTIVE or SUSPENDED",
                ));
            }
        });
    }
    model.is_superuser = Set(record.is_superuser.unwrap_or(false));
    for (value, column, field) in [
        (&record.metadata, &mut model.metadata, "metadata"),
        (&record.app_metadata, &mut model.app_metadata, "appMetadata"),
    ] {
        if let Some(value) = value {
            *column = Set(Value::Object(validation::metadata(value.clone(), field)?));
        }
    }
    let roles = match (&record.role_ids, &record.role_names) {
        (Some(_), Some(_)) => {
            return Err(AppError::bad_input(
                "roleNames",
                "give roleIds or roleNames, not both",
            ));
        }
        (Some(list), None) => Some(role_grants::Wanted::Ids(ids::decode_all(
            ids::ROLE,
            list,
            "roleIds",
        )?)),
        (None, Some(names)) => Some(role_grants::Wanted::Names(names.clone())),
        (None, None) => None,
    };
    let tier = match (&record.tier_id, &record.tier_name) {
        (Some(_), Some(_)) => {
            return Err(AppError::bad_input(
                "tierName",
                "give tierId or tierName, not both",
            ));
        }
        (Some(id), None) => Some(TierRef::Id(ids::decode(ids::TIER, id, "tierId")?)),
        (None, Some(name)) => Some(TierRef::Name(name.trim().to_lowercase())),
        (None, None) => None,
    };
    Ok(Candidate {
        model,
        email,
        username,
        external_id,
        roles,
        tier,
        plain_password: record.password.clone(),
        given: Given {
            is_superuser: record.is_superuser,
            status: record.status.is_some(),
            metadata: record.metadata.is_some(),
            app_metadata: record.app_metadata.is_some(),
            password: has_password,
            email_verified: record.email_verified,
            last_login_at: record.last_login_at.is_some(),
        },
    })
}

/// The roles and tiers there are, read once for the batch, with those of
/// `catalogue` that do not exist yet (checked, and given their keys now);
/// the rows to insert for the latter.
async fn catalogue_with(
    ctx: &AppContext,
    catalogue: &[CatalogueLine],
) -> Result<(Vec<role::Model>, Vec<tier::Model>, Vec<Missing>)> {
    let mut roles = role::Entity::find().all(&ctx.db).await?;
    let mut tiers = tier::Entity::find().all(&ctx.db).await?;
    let mut missing = Vec::new();
    let ts = now();
    for line in catalogue {
        match line {
            CatalogueLine::Role {
                name,
                description,
                permissions,
            } => {
                let name = role_grants::role_name(name)?;
                if roles.iter().any(|r| r.name == name) {
                    continue;
                }
                let permissions = permissions_named(permissions)?;
                let role = role::Model {
                    id: ids::new_key(),
                    name,
                    description: super::description(description.as_deref())?,
                    permissions: role_grants::encode_permissions(&permissions),
                    is_builtin: false,
                    created_at: ts,
                };
                missing.push(Missing::Role(role.clone()));
                roles.push(role);
            }
            CatalogueLine::Tier { name, description } => {
                let name = super::tier_name(name)?;
                if tiers.iter().any(|t| t.name.eq_ignore_ascii_case(&name)) {
                    continue;
                }
                let tier = tier::Model {
                    id: ids::new_key(),
                    name,
                    description: super::description(description.as_deref())?,
                    created_at: ts,
                };
                missing.push(Missing::Tier(tier.clone()));
                tiers.push(tier);
            }
        }
    }
    Ok((roles, tiers, missing))
}

/// A catalogue role's permissions, by name.
fn permissions_named(names: &[String]) -> Result<Vec<crate::auth::Permission>> {
    names
        .iter()
        .map(|p| {
            crate::auth::Permission::parse(p).ok_or_else(|| {
                AppError::bad_input("permissions", format!("no permission is called {p}"))
            })
        })
        .collect()
}

/// A role or tier line checked on its own (`usergraph import` reports a
/// bad one by its line).
pub fn check_catalogue_line(line: &CatalogueLine) -> Result<()> {
    match line {
        CatalogueLine::Role {
            name,
            description,
            permissions,
        } => {
            role_grants::role_name(name)?;
            super::description(description.as_deref())?;
            permissions_named(permissions)?;
        }
        CatalogueLine::Tier { name, description } => {
            super::tier_name(name)?;
            super::description(description.as_deref())?;
        }
    }
    Ok(())
}

/// A catalogue entry to make with the batch.
enum Missing {
    Role(role::Model),
    Tier(tier::Model),
}

/// Roles and tiers named by id or name.
fn resolve_references(
    roles: &[role::Model],
    tiers: &[tier::Model],
    candidates: &mut [Option<Candidate>],
    results: &mut [Imported],
) {
    for (candidate, result) in candidates.iter_mut().zip(results.iter_mut()) {
        let Some(c) = candidate else { continue };
        let mut problem = None;
        if let Some(wanted) = &c.roles {
            let found: Result<Vec<Uuid>> = match wanted {
                role_grants::Wanted::Ids(ids) => ids
                    .iter()
                    .map(|id| {
                        roles
                            .iter()
                            .find(|r| r.id == *id)
                            .map(|r| r.id)
                            .ok_or(AppError::not_found("role").with_field("roleIds"))
                    })
                    .collect(),
                role_grants::Wanted::Names(names) => names
                    .iter()
                    .map(|name| {
                        roles
                            .iter()
                            .find(|r| r.name.eq_ignore_ascii_case(name.trim()))
                            .map(|r| r.id)
                            .ok_or(AppError::not_found("role").with_field("roleNames"))
                    })
                    .collect(),
            };
            match found {
                Ok(ids) => c.roles = Some(role_grants::Wanted::Ids(ids)),
                Err(err) => problem = Some(err),
            }
        }
        if let Some(tier_ref) = &c.tier {
            let found = match tier_ref {
                TierRef::Id(id) => tiers.iter().find(|t| t.id == *id),
                TierRef::Name(name) => tiers.iter().find(|t| t.name.eq_ignore_ascii_case(name)),
            };
            match (found, tier_ref) {
                (Some(t), _) => c.model.tier_id = Set(Some(t.id)),
                (None, TierRef::Id(_)) => {
                    problem = Some(AppError::not_found("tier").with_field("tierId"))
                }
                (None, TierRef::Name(_)) => {
                    problem = Some(AppError::not_found("tier").with_field("tierName"))
                }
            }
        }
        if let Some(err) = problem {
            result.errors.push(err);
            *candidate = None;
        }
    }
}

/// The second of two records with one email, username or externalId fails.
fn within_batch(candidates: &mut [Option<Candidate>], results: &mut [Imported]) {
    let (mut emails, mut usernames, mut externals) =
        (HashSet::new(), HashSet::new(), HashSet::new());
    for (candidate, result) in candidates.iter_mut().zip(results.iter_mut()) {
        let Some(c) = candidate else { continue };
        let err = if !emails.insert(c.email.clone()) {
            Some(AppError::DuplicateEmail)
        } else if c
            .username
            .as_ref()
            .is_some_and(|u| !usernames.insert(u.clone()))
        {
            Some(AppError::DuplicateUsername)
        } else if c
            .external_id
            .as_ref()
            .is_some_and(|e| !externals.insert(e.clone()))
        {
            Some(AppError::bad_input(
                "externalId",
                "another record of this batch has this externalId",
            ))
        } else {
            None
        };
        if let Some(err) = err {
            result.errors.push(err);
            *candidate = None;
        }
    }
}

/// The users any record names, in one statement.
async fn existing_users(
    ctx: &AppContext,
    candidates: &[Option<Candidate>],
) -> Result<Vec<user::Model>> {
    let live: Vec<&Candidate> = candidates.iter().flatten().collect();
    if live.is_empty() {
        return Ok(Vec::new());
    }
    let emails: Vec<String> = live.iter().map(|c| c.email.clone()).collect();
    let names: Vec<String> = live.iter().filter_map(|c| c.username.clone()).collect();
    let externals: Vec<String> = live.iter().filter_map(|c| c.external_id.clone()).collect();
    Ok(user::Entity::find()
        .filter(
            Condition::any()
                .add(user::Column::Email.is_in(emails))
                .add(user::Column::Username.is_in(names))
                .add(user::Column::ExternalId.is_in(externals)),
        )
        .all(&ctx.db)
        .await?)
}

/// Passwords given in the clear, hashed on the bounded pool.
async fn hash_plain_passwords(
    ctx: &AppContext,
    candidates: &mut [Option<Candidate>],
) -> Result<()> {
    for c in candidates.iter_mut().flatten() {
        if let Some(password) = c.plain_password.take() {
            c.model.password_hash = Set(ctx.hasher.hash(password).await?);
        }
    }
    Ok(())
}

/// A row as it would be inserted, for a dry run's answer.
fn preview(mut model: user::ActiveModel) -> user::Model {
    users::set_derived(&mut model, None);
    let mut user = user::Model::blank();
    macro_rules! take {
        ($($field:ident),+) => {$(
            if let Set(value) | sea_orm::ActiveValue::Unchanged(value) = model.$field {
                user.$field = value;
            }
        )+};
    }
    take!(
        id,
        username,
        email,
        display_name,
        first_name,
        last_name,
        avatar_url,
        status,
        is_superuser,
        tier_id,
        created_at,
        updated_at,
        email_verified_at,
        metadata,
        app_metadata,
        has_password,
        locale,
        external_id,
        last_login_at
    );
    user
}

/// The batch's one transaction: new users (their usernames made free
/// where a record gave none), their roles, updates, and the audit event.
async fn write(
    ctx: &AppContext,
    importer: Importer<'_>,
    missing: &[Missing],
    reserved_usernames: &HashSet<String>,
    candidates: Vec<Option<Candidate>>,
    results: &mut [Imported],
) -> Result<()> {
    use sea_orm::{ActiveModelTrait, IntoActiveModel};
    let txn = ctx.begin().await?;
    // The organisations of every user the batch may rename, in one
    // statement before it locks any user (`lock_organizations_of`).
    let renamed = candidates
        .iter()
        .zip(results.iter())
        .filter(|(c, r)| {
            r.outcome == Outcome::Updated
                && c.as_ref()
                    .is_some_and(|c| matches!(&c.model.username, Set(name) if !name.is_empty()))
        })
        .filter_map(|(_, r)| r.user.as_ref().map(|u| u.id))
        .collect::<Vec<_>>();
    if !renamed.is_empty() {
        super::memberships::lock_organizations_of(&txn, renamed).await?;
    }
    for entry in missing {
        // Made meanwhile by another import: its key is not the one the
        // batch's users name, so the batch fails (`CONFLICT`) and can run again.
        match entry {
            Missing::Role(role) => role
                .clone()
                .into_active_model()
                .insert(&txn)
                .await
                .map(drop),
            Missing::Tier(tier) => tier
                .clone()
                .into_active_model()
                .insert(&txn)
                .await
                .map(drop),
        }
        .on_constraint(super::name_taken("role or tier"))?;
    }
    let default_role = role_grants::builtin_id(&txn, role_grants::DEFAULT_ROLE).await?;
    // A username made from an email must not take one a record asks for,
    // in this batch or (from `usergraph import`) a later one.
    let mut taken: HashSet<String> = reserved_usernames.clone();
    taken.extend(
        candidates
            .iter()
            .flatten()
            .filter_map(|c| c.username.clone()),
    );
    let (mut created, mut updated) = (Vec::new(), Vec::new());
    let mut grants: Vec<(Uuid, Vec<Uuid>)> = Vec::new();
    for (candidate, result) in candidates.into_iter().zip(results.iter_mut()) {
        let Some(mut c) = candidate else { continue };
        let roles = match c.roles.take() {
            Some(role_grants::Wanted::Ids(ids)) => Some(ids),
            _ => None,
        };
        match result.outcome {
            Outcome::Created => {
                if c.username.is_none() {
                    let base = validation::username_from_email(&c.email);
                    let name = users::free_username_avoiding(&txn, &base, &taken).await?;
                    c.model.username = Set(name);
                }
                if let Set(name) = &c.model.username {
                    taken.insert(name.clone());
                }
                let user = users::insert(&txn, c.model).await?;
                grants.push((user.id, roles.unwrap_or_else(|| vec![default_role])));
                created.push(user.id);
                result.user = Some(user);
            }
            Outcome::Updated => {
                let current = result.user.take().ok_or_else(|| {
                    AppError::Internal(anyhow::anyhow!("an update without its user"))
                })?;
                let user = update_existing(&txn, current, c.model, &c.given).await?;
                if let Some(ids) = roles {
                    grants.push((user.id, ids));
                }
                updated.push(user.id);
                result.user = Some(user);
            }
            Outcome::Skipped | Outcome::Failed => {}
        }
    }
    let replaced: Vec<Uuid> = grants.iter().map(|(user, _)| *user).collect();
    user_role::Entity::delete_many()
        .filter(user_role::Column::UserId.is_in(replaced))
        .exec(&txn)
        .await?;
    let rows: Vec<user_role::ActiveModel> = grants
        .iter()
        .flat_map(|(user, roles)| {
            roles.iter().map(|role| user_role::ActiveModel {
                user_id: Set(*user),
                role_id: Set(*role),
                created_at: Set(now()),
            })
        })
        .collect();
    for chunk in rows.chunks(500) {
        user_role::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    let skipped = results
        .iter()
        .filter(|r| r.outcome == Outcome::Skipped)
        .count();
    let failed = results
        .iter()
        .filter(|r| r.outcome == Outcome::Failed)
        .count();
    let event =
        match importer {
            Importer::Viewer(viewer) => Event::by(viewer, Action::UsersImported),
            Importer::Shell => Event::anonymous(&RequestMeta::default(), Action::UsersImported)
                .change("via", Value::Null, "usergraph import"),
        };
    event
        .change("created", Value::Null, created.len())
        .change("updated", Value::Null, updated.len())
        .change("skipped", Value::Null, skipped)
        .change("failed", Value::Null, failed)
        .change(
            "createdIds",
            Value::Null,
            created.iter().map(|id| ids::user(*id)).collect::<Vec<_>>(),
        )
        .change(
            "updatedIds",
            Value::Null,
            updated.iter().map(|id| ids::user(*id)).collect::<Vec<_>>(),
        )
        .record(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!(
        created = created.len(),
        updated = updated.len(),
        skipped,
        failed,
        "users imported"
    );
    Ok(())
}

/// An update of an existing user with the fields a record gave (its
/// `createdAt` stays; a new password hash ends its sessions).
async fn update_existing(
    conn: &impl ConnectionTrait,
    current: user::Model,
    row: user::ActiveModel,
    given: &Given,
) -> Result<user::Model> {
    let current = users::lock(conn, current.id)
        .await?
        .ok_or(AppError::Conflict(
            "a user this batch updates was deleted meanwhile".into(),
        ))?;
    let mut model = users::changes(&current);
    macro_rules! copy_if_set {
        ($($field:ident),+) => {$(
            if let Set(value) = &row.$field {
                if *value != current.$field {
                    model.$field = Set(value.clone());
                }
            }
        )+};
    }
    copy_if_set!(
        email,
        display_name,
        first_name,
        last_name,
        avatar_url,
        website,
        facebook
    );
    copy_if_set!(
        instagram,
        linkedin,
        x,
        youtube,
        locale,
        external_id,
        tier_id
    );
    if let Set(name) = &row.username
        && !name.is_empty()
        && *name != current.username
    {
        model.username = Set(name.clone());
    }
    // A new address is proven only if the record says so.
    if let Set(email) = &row.email
        && *email != current.email
        && given.email_verified != Some(true)
    {
        model.email_verified_at = Set(None);
    }
    if given.status {
        model.status = row.status.clone();
    }
    if let Some(superuser) = given.is_superuser {
        model.is_superuser = Set(superuser);
    }
    if given.metadata {
        model.metadata = row.metadata.clone();
    }
    if given.app_metadata {
        model.app_metadata = row.app_metadata.clone();
    }
    // A password the user has here (set here, or an imported one already
    // replaced at a sign-in) is theirs: a re-run of the import keeps it,
    // and so does the same imported hash again.
    let keeps_password = current.has_password
        && (imported_hash::is_current(&current.password_hash)
            || row.password_hash.as_ref() == &current.password_hash);
    if given.password && !keeps_password {
        model.password_hash = row.password_hash.clone();
        model.has_password = Set(true);
        model.password_changed_at = Set(now());
    }
    if given.email_verified == Some(true) && current.email_verified_at.is_none() {
        model.email_verified_at = Set(Some(now()));
    }
    if given.last_login_at {
        model.last_login_at = row.last_login_at.clone();
    }
    let password_changed = model.password_hash.is_set();
    let demoted = current.is_superuser
        && (given.is_superuser == Some(false)
            || (given.status && model.status.as_ref() != &user::Status::Active));
    if demoted {
        users::ensure_superuser_remains(conn, current.id).await?;
    }
    let status_changed = given.status && model.status.as_ref() != &current.status;
    let user = users::save_locked(conn, current, model).await?;
    if password_changed || status_changed {
        super::access::revoke_sessions(conn, user.id, None).await?;
    }
    Ok(user)
}

/// The roles made here (not the built-in ones) and every tier, as
/// `usergraph export` writes them before its users.
pub async fn export_catalogue(conn: &impl ConnectionTrait) -> Result<Vec<CatalogueLine>> {
    use sea_orm::QueryOrder;
    let roles = role::Entity::find()
        .filter(role::Column::IsBuiltin.eq(false))
        .order_by_asc(role::Column::Name)
        .all(conn)
        .await?;
    let tiers = tier::Entity::find()
        .order_by_asc(tier::Column::Name)
        .all(conn)
        .await?;
    Ok(roles
        .into_iter()
        .map(|r| CatalogueLine::Role {
            permissions: r.permission_names(),
            name: r.name,
            description: r.description,
        })
        .chain(tiers.into_iter().map(|t| CatalogueLine::Tier {
            name: t.name,
            description: t.description,
        }))
        .collect())
}

/// Users as `usergraph export` writes them: every live account (not
/// erased), with its roles and tier by name, oldest first; `with_hashes`
/// adds each password hash (the shell only, never over GraphQL).
pub async fn export_page(
    conn: &impl ConnectionTrait,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
    with_hashes: bool,
) -> Result<Vec<(Uuid, DateTime<Utc>, Record)>> {
    use sea_orm::{QueryOrder, QuerySelect};
    let mut query = user::Entity::find()
        .filter(user::Column::ErasedAt.is_null())
        .order_by_asc(user::Column::CreatedAt)
        .order_by_asc(user::Column::Id)
        .limit(limit);
    if let Some((at, id)) = after {
        query = query.filter(
            Condition::any().add(user::Column::CreatedAt.gt(at)).add(
                Condition::all()
                    .add(user::Column::CreatedAt.eq(at))
                    .add(user::Column::Id.gt(id)),
            ),
        );
    }
    let page = query.all(conn).await?;
    let keys: Vec<Uuid> = page.iter().map(|u| u.id).collect();
    let roles = role::Entity::find().all(conn).await?;
    let tiers: HashMap<Uuid, String> = tier::Entity::find()
        .all(conn)
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect();
    let mut granted: HashMap<Uuid, Vec<String>> = HashMap::new();
    for grant in user_role::Entity::find()
        .filter(user_role::Column::UserId.is_in(keys))
        .all(conn)
        .await?
    {
        if let Some(role) = roles.iter().find(|r| r.id == grant.role_id) {
            granted
                .entry(grant.user_id)
                .or_default()
                .push(role.name.clone());
        }
    }
    Ok(page
        .into_iter()
        .map(|u| {
            let mut role_names = granted.remove(&u.id).unwrap_or_default();
            role_names.sort();
            let record = Record {
                email: u.email.clone(),
                username: Some(u.username.clone()),
                name: u.display_name.clone(),
                first_name: u.first_name.clone(),
                last_name: u.last_name.clone(),
                password: None,
                password_hash: (with_hashes && u.has_password).then(|| u.password_hash.clone()),
                avatar_url: u.avatar_url.clone(),
                social_links: Some(SocialLinks {
                    website: u.website.clone(),
                    facebook: u.facebook.clone(),
                    instagram: u.instagram.clone(),
                    linkedin: u.linkedin.clone(),
                    x: u.x.clone(),
                    youtube: u.youtube.clone(),
                })
                .filter(|l| {
                    [
                        &l.website,
                        &l.facebook,
                        &l.instagram,
                        &l.linkedin,
                        &l.x,
                        &l.youtube,
                    ]
                    .iter()
                    .any(|v| v.is_some())
                }),
                status: Some(
                    match u.status {
                        user::Status::Active => "ACTIVE",
                        user::Status::Inactive => "INACTIVE",
                        user::Status::Suspended => "SUSPENDED",
                    }
                    .into(),
                ),
                role_ids: None,
                role_names: Some(role_names),
                tier_id: None,
                tier_name: u.tier_id.and_then(|t| tiers.get(&t).cloned()),
                is_superuser: Some(u.is_superuser),
                metadata: Some(u.metadata.clone()),
                app_metadata: Some(u.app_metadata.clone()),
                email_verified: Some(u.email_verified_at.is_some()),
                created_at: Some(u.created_at),
                last_login_at: u.last_login_at,
                deleted_at: u.deleted_at,
                external_id: u.external_id.clone(),
                locale: u.locale.clone(),
            };
            (u.id, u.created_at, record)
        })
        .collect())
}
