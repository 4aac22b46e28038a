//! New accounts, a building block: the one way an account row is made
//! (every field validated, the password judged and hashed before any
//! transaction opens) and inserted with its first roles (the default role,
//! or roles given under `setUserRoles`' rules), shared by registration,
//! administrators' `createUser`, invitations and the superuser bootstrap.

use entity::user;
use sea_orm::{ConnectionTrait, Set};
use uuid::Uuid;

use super::{AppContext, credentials, now, role_grants, users};
use crate::{
    auth::Viewer,
    error::{AppError, Result, is_foreign_key_violation},
    validation,
};

/// A new account's fields, as submitted.
#[derive(Debug, Default, Clone)]
pub struct NewAccount {
    /// `None` (only `createUser` allows it) makes one from the email.
    pub username: Option<String>,
    pub email: String,
    /// Display name.
    pub name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// In the clear: hashed by `new_user_row`, never stored.
    pub password: String,
}

/// Validates every field and hashes the password; returns the row to insert.
pub async fn account_row(ctx: &AppContext, input: &NewAccount) -> Result<user::ActiveModel> {
    let email = validation::email(&input.email)?;
    let username = match &input.username {
        Some(username) => validation::username(username)?,
        // Made up from the address; `users::with_username` makes it free.
        None => validation::username_from_email(&email),
    };
    credentials::judge_new_password(ctx, &input.password, "password", &username, &email).await?;
    let name =
        validation::optional_text(input.name.as_deref(), "name", validation::DISPLAY_NAME_MAX)?;
    let first_name = validation::optional_text(
        input.first_name.as_deref(),
        "firstName",
        validation::PERSON_NAME_MAX,
    )?;
    let last_name = validation::optional_text(
        input.last_name.as_deref(),
        "lastName",
        validation::PERSON_NAME_MAX,
    )?;
    let password_hash = ctx.hasher.hash(input.password.clone()).await?;
    let mut model = users::new_row(username, email, password_hash, now());
    model.display_name = Set(name);
    model.first_name = Set(first_name);
    model.last_name = Set(last_name);
    Ok(model)
}

/// The roles a new account starts with.
#[derive(Debug, Clone, Copy)]
pub enum FirstRoles<'a> {
    /// The default role (`user`).
    Default,
    /// These roles, given by `viewer` under `setUserRoles`' rules (no one
    /// grants a role holding a permission they lack), and audited as given.
    Given(&'a Viewer, &'a [Uuid]),
}

/// Inserts a new account's row and gives it its first roles, in the
/// caller's transaction. A tier that does not exist is `NOT_FOUND` on
/// `tierId`; username and email collisions come from the unique indexes.
pub async fn insert_account(
    conn: &impl ConnectionTrait,
    model: user::ActiveModel,
    roles: FirstRoles<'_>,
) -> Result<user::Model> {
    let user = match users::insert(conn, model).await {
        Err(AppError::Database(err)) if is_foreign_key_violation(&err) => {
            return Err(AppError::not_found("tier").with_field("tierId"));
        }
        result => result?,
    };
    match roles {
        FirstRoles::Default => {
            role_grants::grant_builtin(conn, user.id, role_grants::DEFAULT_ROLE).await?
        }
        FirstRoles::Given(viewer, ids) => {
            let given = role_grants::replace(conn, viewer, user.id, &[], ids).await?;
            role_grants::audit_given(conn, viewer, user.id, &given).await?;
        }
    }
    Ok(user)
}

/// The row of a new account without a password (made through another
/// provider, or by a mailed sign-in code): no hash matches it, and
/// `has_password` says so; the address verified when `verified`.
pub fn passwordless_row(username: String, email: &str, verified: bool) -> user::ActiveModel {
    let mut model = users::new_row(username, email.to_owned(), String::new(), now());
    model.has_password = Set(false);
    if verified {
        model.email_verified_at = Set(Some(now()));
    }
    model
}

/// Inserts a sign-up's account (`passwordless_row`) with the default role
/// and records `user.registered` with how it came (`method`), in the
/// caller's transaction. An address registered a moment ago by someone
/// else is `CONFLICT` with reason `EMAIL_IN_USE`.
pub async fn register_passwordless(
    conn: &impl ConnectionTrait,
    model: user::ActiveModel,
    meta: &super::RequestMeta,
    method: &str,
) -> Result<user::Model> {
    use super::audit::{Action, Event, Target};
    let user = insert_account(conn, model, FirstRoles::Default)
        .await
        .map_err(|err| match err {
            AppError::DuplicateEmail => AppError::ConflictBecause {
                reason: crate::error::reason::EMAIL_IN_USE,
                message: "an account with this email address exists: sign in to it".into(),
            },
            other => other,
        })?;
    Event::anonymous(meta, Action::UserRegistered)
        .on(Target::User(user.id))
        .with(super::audit::user_created(&user))
        .change("method", serde_json::Value::Null, method.to_owned())
        .record(conn)
        .await?;
    Ok(user)
}
