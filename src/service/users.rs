//! User lookups and profile changes shared by the account and (later)
//! administration operations.

use entity::user;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set,
};
use uuid::Uuid;

use super::now;
use crate::auth::{Permission, Viewer};
use crate::{
    error::{AppError, Result, ResultExt, user_uniqueness},
    validation,
};

/// A requested change to one optional field: `None` keeps it, `Some(None)`
/// clears it, `Some(Some(v))` sets it.
pub type Patch<T> = Option<Option<T>>;

/// Profile fields a user may change about themself. Required fields
/// (`username`, `email`) cannot be cleared.
#[derive(Debug, Default, Clone)]
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
    model.search_text = ActiveValue::Set(search.to_lowercase());
}

/// `user` as `viewer` may see it: themself, or anyone with `USERS_READ`
/// (soft-deleted users only with `USERS_READ`). Others are `FORBIDDEN`;
/// a user the viewer may not know about is `None`.
pub fn visible(viewer: &Viewer, user: Option<user::Model>) -> Result<Option<user::Model>> {
    let Some(user) = user else { return Ok(None) };
    if viewer.has(Permission::UsersRead) {
        return Ok(Some(user));
    }
    if viewer.id() == user.id && !user.is_deleted() {
        return Ok(Some(user));
    }
    Err(AppError::Forbidden)
}

pub async fn find(conn: &impl ConnectionTrait, id: Uuid) -> Result<Option<user::Model>> {
    Ok(user::Entity::find_by_id(id).one(conn).await?)
}

pub async fn find_by_username(
    conn: &impl ConnectionTrait,
    username: &str,
) -> Result<Option<user::Model>> {
    let username = username.trim().to_lowercase();
    Ok(user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(conn)
        .await?)
}

/// Finds a user by username or, when `login` holds an `@`, by email.
pub async fn find_by_login(
    conn: &impl ConnectionTrait,
    login: &str,
) -> Result<Option<user::Model>> {
    let login = login.trim().to_lowercase();
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

fn text(
    patch: &Patch<String>,
    field: &'static str,
    max: usize,
) -> Result<ActiveValue<Option<String>>> {
    Ok(match patch {
        None => ActiveValue::NotSet,
        Some(value) => Set(validation::optional_text(value.as_deref(), field, max)?),
    })
}

fn url(patch: &Patch<String>, field: &'static str) -> Result<ActiveValue<Option<String>>> {
    Ok(match patch {
        None => ActiveValue::NotSet,
        Some(value) => Set(validation::optional_url(value.as_deref(), field)?),
    })
}

/// Validates the whole patch before writing anything, then applies it in one
/// statement. Username and email collisions come from the unique indexes.
pub async fn update_profile(
    conn: &impl ConnectionTrait,
    current: user::Model,
    patch: &ProfilePatch,
) -> Result<user::Model> {
    let mut model = user::ActiveModel {
        id: Set(current.id),
        ..Default::default()
    };
    if let Some(username) = &patch.username {
        model.username = Set(validation::username(username)?);
    }
    if let Some(email) = &patch.email {
        model.email = Set(validation::email(email)?);
    }
    model.display_name = text(&patch.name, "name", validation::DISPLAY_NAME_MAX)?;
    model.first_name = text(&patch.first_name, "firstName", validation::PERSON_NAME_MAX)?;
    model.last_name = text(&patch.last_name, "lastName", validation::PERSON_NAME_MAX)?;
    model.avatar_url = url(&patch.avatar_url, "avatarUrl")?;
    model.website = url(&patch.website, "website")?;
    model.facebook = url(&patch.facebook, "facebook")?;
    model.instagram = url(&patch.instagram, "instagram")?;
    model.linkedin = url(&patch.linkedin, "linkedin")?;
    model.x = url(&patch.x, "x")?;
    model.youtube = url(&patch.youtube, "youtube")?;
    if !model.is_changed() {
        return Ok(current);
    }
    set_derived(&mut model, Some(&current));
    model.updated_at = Set(now());
    model.update(conn).await.on_constraint(user_uniqueness)
}

/// Whether `user` is the only active, undeleted superuser left.
pub async fn is_last_active_superuser(
    conn: &impl ConnectionTrait,
    user: &user::Model,
) -> Result<bool> {
    if !user.is_superuser || user.is_deleted() || user.status != user::Status::Active {
        return Ok(false);
    }
    let others = user::Entity::find()
        .filter(user::Column::IsSuperuser.eq(true))
        .filter(user::Column::DeletedAt.is_null())
        .filter(user::Column::Status.eq(user::Status::Active))
        .filter(user::Column::Id.ne(user.id))
        .one(conn)
        .await?;
    Ok(others.is_none())
}

/// Refuses to remove the last active superuser (`CONFLICT`).
pub async fn ensure_not_last_superuser(
    conn: &impl ConnectionTrait,
    user: &user::Model,
) -> Result<()> {
    if is_last_active_superuser(conn, user).await? {
        return Err(AppError::Conflict(
            "the last active superuser cannot be removed".into(),
        ));
    }
    Ok(())
}
