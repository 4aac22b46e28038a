//! User lookups, profile changes and the last-superuser rule, shared by the
//! account and administration operations.

use entity::user;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect, Set,
};
use uuid::Uuid;

use super::now;
use crate::auth::{Permission, Viewer};
use crate::{
    error::{AppError, Result, ResultExt},
    validation,
};

/// A requested change to one optional field: `None` keeps it, `Some(None)`
/// clears it, `Some(Some(v))` sets it.
pub type Patch<T> = Option<Option<T>>;

/// Profile fields a user may change about themself. Required fields
/// (`username`, `email`) cannot be cleared.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ProfilePatch {
    pub username: Option<String>,
    pub email: Option<String>,
    pub name: Patch<String>,
    pub first_name: Patch<String>,
    pub last_name: Patch<String>,
    pub avatar_url: Patch<String>,
    pub website: Patch<String>,
    pub facebook: Patch<String>,
    pub instagram: Patch<String>,
    pub linkedin: Patch<String>,
    pub x: Patch<String>,
    pub youtube: Patch<String>,
    /// Top-level keys merged into `metadata`; a key set to null is removed.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// The language mail is written in (a BCP 47 tag); null for the default.
    pub locale: Patch<String>,
}

/// The row of a new active user with every optional field empty; callers
/// fill in what they have, and `insert` (or `set_derived`, for rows written
/// another way) sets the derived columns from the result.
pub fn new_row(
    username: String,
    email: String,
    password_hash: String,
    at: chrono::DateTime<chrono::Utc>,
) -> user::ActiveModel {
    user::ActiveModel {
        id: Set(crate::ids::new_key()),
        username: Set(username),
        email: Set(email),
        password_hash: Set(password_hash),
        display_name: Set(None),
        first_name: Set(None),
        last_name: Set(None),
        avatar_url: Set(None),
        website: Set(None),
        facebook: Set(None),
        instagram: Set(None),
        linkedin: Set(None),
        x: Set(None),
        youtube: Set(None),
        status: Set(user::Status::Active),
        is_superuser: Set(false),
        tier_id: Set(None),
        failed_login_count: Set(0),
        locked_until: Set(None),
        password_changed_at: Set(at),
        last_login_at: Set(None),
        deleted_at: Set(None),
        created_at: Set(at),
        updated_at: Set(at),
        name_key: Set(String::new()),
        search_text: Set(String::new()),
        email_verified_at: Set(None),
        invitation_pending: Set(false),
        mfa_enabled: Set(false),
        metadata: Set(serde_json::json!({})),
        app_metadata: Set(serde_json::json!({})),
        first_name_key: Set(String::new()),
        last_name_key: Set(String::new()),
        has_password: Set(true),
        locale: Set(None),
        external_id: Set(None),
        erased_at: Set(None),
    }
}

/// Inserts a new user's row, with the derived columns computed from it.
/// Username and email collisions come from the unique indexes.
pub async fn insert(
    conn: &impl ConnectionTrait,
    mut model: user::ActiveModel,
) -> Result<user::Model> {
    set_derived(&mut model, None);
    model.insert(conn).await.on_constraint(user_uniqueness)
}

/// The name the API shows: the chosen display name, else "first last", else the username.
pub fn effective_name(
    display: Option<&str>,
    first: Option<&str>,
    last: Option<&str>,
    username: &str,
) -> String {
    match (display, first, last) {
        (Some(name), _, _) => name.to_owned(),
        (None, Some(first), Some(last)) => format!("{first} {last}"),
        (None, Some(one), None) | (None, None, Some(one)) => one.to_owned(),
        (None, None, None) => username.to_owned(),
    }
}

fn current_or<T: Clone + Into<sea_orm::Value>>(value: &ActiveValue<T>, current: &T) -> T {
    match value {
        ActiveValue::Set(v) | ActiveValue::Unchanged(v) => v.clone(),
        ActiveValue::NotSet => current.clone(),
    }
}

/// Sets the derived `name_key` and `search_text` columns from the values the
/// row will have once `model` is written over `current` (`None` for an insert,
/// where every source column is set).
pub fn set_derived(model: &mut user::ActiveModel, current: Option<&user::Model>) {
    let pick = |value: &ActiveValue<Option<String>>, cur: Option<&Option<String>>| match cur {
        Some(cur) => current_or(value, cur),
        None => current_or(value, &None),
    };
    let username = current_or(
        &model.username,
        &current.map(|c| c.username.clone()).unwrap_or_default(),
    );
    let email = current_or(
        &model.email,
        &current.map(|c| c.email.clone()).unwrap_or_default(),
    );
    let display = pick(&model.display_name, current.map(|c| &c.display_name));
    let first = pick(&model.first_name, current.map(|c| &c.first_name));
    let last = pick(&model.last_name, current.map(|c| &c.last_name));
    let name = effective_name(
        display.as_deref(),
        first.as_deref(),
        last.as_deref(),
        &username,
    );
    let search = [
        Some(username.as_str()),
        Some(email.as_str()),
        first.as_deref(),
        last.as_deref(),
        display.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    model.name_key = ActiveValue::Set(name.to_lowercase());
    model.first_name_key = ActiveValue::Set(first.unwrap_or_default().to_lowercase());
    model.last_name_key = ActiveValue::Set(last.unwrap_or_default().to_lowercase());
    model.search_text = ActiveValue::Set(search.to_lowercase());
}

/// The typed error for a violation of the `users` table's unique indexes
/// (for `ResultExt::on_constraint`), judged from the index name (PostgreSQL)
/// or the column (SQLite) in the driver's message.
pub fn user_uniqueness(detail: &str) -> Option<AppError> {
    if detail.contains("email") {
        Some(AppError::DuplicateEmail)
    } else if detail.contains("username") {
        Some(AppError::DuplicateUsername)
    } else if detail.contains("external_id") {
        Some(AppError::bad_input(
            "externalId",
            "another user has this externalId",
        ))
    } else {
        None
    }
}

/// Only superusers act on superusers (other than a superuser on themself), so
/// an administrator cannot take over or lock out a superuser account; an API
/// key never acts on a superuser, its own user included.
pub fn check_target(viewer: &Viewer, target: &user::Model) -> Result<()> {
    let by_key = viewer.api_key.is_some();
    if target.is_superuser && (by_key || (!viewer.is_superuser() && viewer.id() != target.id)) {
        return Err(AppError::Forbidden);
    }
    Ok(())
}

/// `user` as `viewer` may see it. Holders of `USERS_READ` see everyone,
/// soft-deleted users included, and get `None` for a user that does not exist.
/// Anyone else sees only themself: every other user, live, deleted or
/// missing, is `NOT_FOUND`, so the answer never tells whether an account exists.
pub fn visible(viewer: &Viewer, user: Option<user::Model>) -> Result<Option<user::Model>> {
    if viewer.has(Permission::UsersRead) {
        return Ok(user);
    }
    match user {
        Some(user) if user.id == viewer.id() && !user.is_deleted() => Ok(Some(user)),
        _ => Err(AppError::not_found("user")),
    }
}

pub async fn find(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<user::Model>> {
    Ok(user::Entity::find_by_id(id).one(conn).await?)
}

/// The user's row, locked until the transaction `conn` ends (PostgreSQL;
/// SQLite runs one write transaction at a time). Every change that must not
/// interleave with another on the same user (session rotation and
/// revocation, role replacement, profile writes, sign-in) takes it first.
pub async fn lock(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<user::Model>> {
    Ok(user::Entity::find_by_id(id)
        .lock_exclusive()
        .one(conn)
        .await?)
}

/// Locks `id`'s row for a change that gives the account a way in (a
/// session, an API key, a second factor): the row as the lock reads it must
/// be live, so a suspension or deletion that committed while the request
/// ran wins, and the grant is not written (`UNAUTHENTICATED` for a deleted
/// or missing user, `ACCOUNT_DISABLED` for one not active).
pub async fn lock_usable(conn: &impl ConnectionTrait, id: Uuid) -> Result<user::Model> {
    let user = lock(conn, id)
        .await?
        .filter(|u| !u.is_deleted())
        .ok_or(AppError::Unauthenticated)?;
    usable(&user)?;
    Ok(user)
}

/// Whether `user`, as read under its lock, may be given a way in.
pub fn usable(user: &user::Model) -> Result<()> {
    if user.is_deleted() {
        return Err(AppError::Unauthenticated);
    }
    if user.status != user::Status::Active {
        return Err(AppError::AccountDisabled);
    }
    Ok(())
}

/// What only the holder of a proven address may set up (API keys, second
/// factors): with an unverified address, anyone could have registered it,
/// and what they set up would outlive the owner's password reset.
/// `EMAIL_NOT_VERIFIED` until the address is verified.
pub fn require_verified(user: &user::Model) -> Result<()> {
    if user.email_verified_at.is_none() {
        return Err(AppError::EmailNotVerified);
    }
    Ok(())
}

/// The target of an administrator's mail: found, not a superuser unless the
/// viewer is one, not deleted and active (a suspended user could not use
/// the link).
pub async fn lock_mail_target(
    txn: &impl ConnectionTrait,
    viewer: &Viewer,
    id: Uuid,
) -> Result<user::Model> {
    let user = lock(txn, id)
        .await?
        .ok_or(AppError::not_found("user").with_field("id"))?;
    check_target(viewer, &user)?;
    if user.is_deleted() {
        return Err(AppError::Conflict("the user is deleted".into()));
    }
    if user.status != user::Status::Active {
        return Err(AppError::Conflict(
            "the user is not active: set their status to ACTIVE first".into(),
        ));
    }
    Ok(user)
}

/// The users with these (normalised) usernames, in one statement.
pub async fn by_usernames(
    conn: &impl ConnectionTrait,
    usernames: impl IntoIterator<Item = String>,
) -> Result<Vec<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::Username.is_in(usernames))
        .into_model::<entity::ByPosition<user::Model>>()
        .all(conn)
        .await?
        .into_iter()
        .map(|found| found.0)
        .collect())
}

/// `base`, or `base` with the lowest number from 2 that makes it free (cut
/// so the result is at most 20 characters), from one statement. Two
/// requests may pick the same name: the insert's unique index decides, and
/// the loser asks again.
pub async fn free_username(conn: &impl ConnectionTrait, base: &str) -> Result<String> {
    free_username_avoiding(conn, base, &std::collections::HashSet::new()).await
}

/// `free_username`, also avoiding the names in `also` (a batch's own).
pub async fn free_username_avoiding(
    conn: &impl ConnectionTrait,
    base: &str,
    also: &std::collections::HashSet<String>,
) -> Result<String> {
    let mut taken: std::collections::HashSet<String> = usernames_starting_with(base)
        .into_tuple()
        .all(conn)
        .await?
        .into_iter()
        .collect();
    taken.extend(also.iter().cloned());
    if !taken.contains(base) {
        return Ok(base.to_owned());
    }
    for n in 2u32.. {
        let suffix = n.to_string();
        let stem: String = base
            .chars()
            .take(validation::USERNAME_MAX - suffix.len())
            .collect();
        let candidate = format!("{stem}{suffix}");
        if !taken.contains(&candidate) {
            return Ok(candidate);
        }
    }
    unreachable!("some number is free")
}

/// The usernames that start with `base`. `_` and `%` are LIKE's
/// wildcards, and usernames may hold `_`: escaped, so `__` reads the names
/// that start with `__`, not every name.
fn usernames_starting_with(base: &str) -> sea_orm::Select<user::Entity> {
    use sea_orm::sea_query::{Expr, ExprTrait as _, LikeExpr};
    let escaped = base
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    user::Entity::find()
        .select_only()
        .column(user::Column::Username)
        .filter(
            Expr::col(user::Column::Username)
                .like(LikeExpr::new(format!("{escaped}%")).escape('\\')),
        )
}

/// How many usernames made from one address are tried before giving up.
const USERNAME_ATTEMPTS: usize = 5;

/// Runs `create` with the `chosen` username, or with a free one made from
/// `email`'s local part (`username_from_email`, a number appended when
/// taken). Two requests may make up the same name at once: the unique index
/// refuses the second insert, and it asks for a free name again.
pub async fn with_username<T, F, Fut>(
    conn: &impl ConnectionTrait,
    chosen: Option<&str>,
    email: &str,
    mut create: F,
) -> Result<T>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    if let Some(chosen) = chosen {
        return create(chosen.to_owned()).await;
    }
    let base = validation::username_from_email(email);
    let mut attempt = 0;
    loop {
        let username = free_username(conn, &base).await?;
        match create(username).await {
            Err(AppError::DuplicateUsername) if attempt < USERNAME_ATTEMPTS => attempt += 1,
            result => return result,
        }
    }
}

/// Merges top-level keys into a metadata object: a key set to null is
/// removed, any other value replaces the key's. The result is checked
/// against the metadata bound (`BAD_USER_INPUT` on `field`).
pub fn merge_metadata(
    current: &serde_json::Value,
    patch: &serde_json::Map<String, serde_json::Value>,
    field: &'static str,
) -> Result<serde_json::Value> {
    let mut merged = current.as_object().cloned().unwrap_or_default();
    for (key, value) in patch {
        if value.is_null() {
            merged.remove(key);
        } else {
            merged.insert(key.clone(), value.clone());
        }
    }
    Ok(serde_json::Value::Object(validation::metadata(
        serde_json::Value::Object(merged),
        field,
    )?))
}

/// Sets the metadata merges of `patch` (and `app_metadata`, an
/// administrator's) on `model`, merged into `locked`: the row as read under
/// its lock, so two merges of different keys at once both stay.
pub fn apply_metadata(
    model: &mut user::ActiveModel,
    locked: &user::Model,
    metadata: Option<&serde_json::Map<String, serde_json::Value>>,
    app_metadata: Option<&serde_json::Map<String, serde_json::Value>>,
) -> Result<()> {
    if let Some(patch) = metadata {
        model.metadata = Set(merge_metadata(&locked.metadata, patch, "metadata")?);
    }
    if let Some(patch) = app_metadata {
        model.app_metadata = Set(merge_metadata(&locked.app_metadata, patch, "appMetadata")?);
    }
    Ok(())
}

/// Finds a user by username or, when `login` holds an `@`, by email.
pub async fn find_by_login(
    conn: &impl ConnectionTrait,
    login: &str,
) -> Result<Option<user::Model>> {
    let Some(login) = validation::lookup_key(login) else {
        return Ok(None);
    };
    let column = if login.contains('@') {
        user::Column::Email
    } else {
        user::Column::Username
    };
    Ok(user::Entity::find()
        .filter(column.eq(login))
        .one(conn)
        .await?)
}

/// Validates every field of `patch` and sets it on `model`; nothing is written.
pub fn apply_profile(model: &mut user::ActiveModel, patch: &ProfilePatch) -> Result<()> {
    if let Some(username) = &patch.username {
        model.username = Set(validation::username(username)?);
    }
    if let Some(email) = &patch.email {
        model.email = Set(validation::email(email)?);
    }
    for (value, patch, field, max) in [
        (
            &mut model.display_name,
            &patch.name,
            "name",
            validation::DISPLAY_NAME_MAX,
        ),
        (
            &mut model.first_name,
            &patch.first_name,
            "firstName",
            validation::PERSON_NAME_MAX,
        ),
        (
            &mut model.last_name,
            &patch.last_name,
            "lastName",
            validation::PERSON_NAME_MAX,
        ),
    ] {
        if let Some(patch) = patch {
            *value = Set(validation::optional_text(patch.as_deref(), field, max)?);
        }
    }
    for (value, patch, field) in [
        (&mut model.avatar_url, &patch.avatar_url, "avatarUrl"),
        (&mut model.website, &patch.website, "website"),
        (&mut model.facebook, &patch.facebook, "facebook"),
        (&mut model.instagram, &patch.instagram, "instagram"),
        (&mut model.linkedin, &patch.linkedin, "linkedin"),
        (&mut model.x, &patch.x, "x"),
        (&mut model.youtube, &patch.youtube, "youtube"),
    ] {
        if let Some(patch) = patch {
            *value = Set(validation::optional_url(patch.as_deref(), field)?);
        }
    }
    if let Some(locale) = &patch.locale {
        model.locale = Set(locale
            .as_deref()
            .map(|l| validation::locale(l, "locale"))
            .transpose()?);
    }
    Ok(())
}

/// An empty change set for `current`, to fill and then `save`.
pub fn changes(current: &user::Model) -> user::ActiveModel {
    user::ActiveModel {
        id: ActiveValue::Unchanged(current.id),
        ..Default::default()
    }
}

/// Writes `model` over `current`, keeping the derived columns and
/// `updated_at` right; `conn` must be a transaction, which holds the user's
/// lock until it ends. Username and email collisions come from the unique
/// indexes.
pub async fn save(
    conn: &impl ConnectionTrait,
    current: user::Model,
    model: user::ActiveModel,
) -> Result<user::Model> {
    if !model.is_changed() {
        return Ok(current);
    }
    // The derived columns come from the row as it is now, under its lock: two
    // edits of different fields at once would otherwise each compute them
    // from the row they read before, and the search would miss one.
    let locked = lock(conn, current.id)
        .await?
        .ok_or(AppError::not_found("user"))?;
    save_locked(conn, locked, model).await
}

/// As `save`, for a caller that has locked the row (`lock`) in the same
/// transaction and passes it as `locked`: no second lock.
pub async fn save_locked(
    conn: &impl ConnectionTrait,
    locked: user::Model,
    mut model: user::ActiveModel,
) -> Result<user::Model> {
    if !model.is_changed() {
        return Ok(locked);
    }
    set_derived(&mut model, Some(&locked));
    model.updated_at = Set(now());
    model.update(conn).await.on_constraint(user_uniqueness)
}

/// Refuses to remove the last active superuser (`CONFLICT`). Call it inside
/// the transaction that demotes, suspends or deletes `user_id`: on PostgreSQL
/// it locks the active superusers' rows, so two superusers demoting each other
/// at once cannot both succeed (SQLite runs one transaction at a time).
pub async fn ensure_superuser_remains(conn: &impl ConnectionTrait, user_id: Uuid) -> Result<()> {
    let active: Vec<Uuid> = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::IsSuperuser.eq(true))
        .filter(user::Column::DeletedAt.is_null())
        .filter(user::Column::Status.eq(user::Status::Active))
        .lock_exclusive()
        .into_tuple()
        .all(conn)
        .await?;
    if active.contains(&user_id) && active.len() == 1 {
        return Err(AppError::Conflict(
            "the last active superuser cannot be removed".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_made_up_username_lookup_escapes_like_wildcards() {
        use sea_orm::{DbBackend, QueryTrait};
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            let statement = usernames_starting_with("a_b__").build(backend);
            assert!(statement.sql.contains("ESCAPE"), "{}", statement.sql);
            let values = format!("{:?}", statement.values);
            assert!(values.contains(r#"a\\_b\\_\\_%"#), "{values}");
        }
    }

    #[test]
    fn unique_violations_become_typed_errors() {
        assert!(matches!(
            user_uniqueness("duplicate key value violates unique constraint \"ux_users_email\""),
            Some(AppError::DuplicateEmail)
        ));
        assert!(matches!(
            user_uniqueness("UNIQUE constraint failed: users.username"),
            Some(AppError::DuplicateUsername)
        ));
        assert!(user_uniqueness("UNIQUE constraint failed: roles.name").is_none());
    }
}
