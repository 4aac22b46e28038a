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
