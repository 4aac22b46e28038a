//! User administration: create, update, status, soft and hard delete, restore.
//! Each operation checks its permission here (not only in guards), hashes any
//! password before its transaction opens, and runs the last-superuser rule
//! inside that transaction.

use entity::user;
use sea_orm::{EntityTrait, Set};
use uuid::Uuid;

use super::{
    AppContext, access, account_mail,
    audit::{self, Action, Event, Target},
    credentials, erasure, memberships,
    new_account::{self, FirstRoles, NewAccount},
    now, role_grants,
    users::{self, ProfilePatch},
};
use crate::{
    auth::{Permission, Viewer},
    error::{AppError, Result},
    validation,
};

/// `createUser`'s input, as the service sees it.
#[derive(Debug, Default, Clone)]
pub struct NewUser {
    pub account: NewAccount,
    /// Avatar and social links (the account fields are in `account`).
    pub profile: ProfilePatch,
    pub status: Option<user::Status>,
    /// `None` gives the default `user` role.
    pub roles: Option<role_grants::Wanted>,
    pub tier_id: Option<Uuid>,
    pub is_superuser: bool,
    /// A whole object; `None` for `{}`.
    pub metadata: Option<serde_json::Value>,
    /// A whole object (`USERS_UPDATE`); `None` for `{}`.
    pub app_metadata: Option<serde_json::Value>,
}

/// `updateUser`'s input: profile fields plus the administrative ones.
#[derive(Debug, Default, Clone)]
pub struct UserPatch {
    pub profile: ProfilePatch,
    pub status: Option<user::Status>,
    pub password: Option<String>,
    pub is_superuser: Option<bool>,
    /// Top-level keys merged into `appMetadata` (`USERS_UPDATE`).
    pub app_metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// Replaces the user's roles, as `setUserRoles` does.
    pub roles: Option<role_grants::Wanted>,
}

async fn target(ctx: &AppContext, id: Uuid) -> Result<user::Model> {
    users::find(&ctx.db, id)
        .await?
        .ok_or(AppError::not_found("user"))
}

#[tracing::instrument(name = "admin.create_user", skip_all, fields(by = %crate::ids::user(viewer.id())))]
pub async fn create_user(ctx: &AppContext, viewer: &Viewer, input: NewUser) -> Result<user::Model> {
    viewer.require(Permission::UsersCreate)?;
    if input.is_superuser || input.tier_id.is_some() {
        viewer.require_superuser()?;
    }
    if input.roles.is_some() {
        viewer.require(Permission::RolesAssign)?;
    }
    if input.app_metadata.is_some() {
        viewer.require(Permission::UsersUpdate)?;
    }
    let mut model = new_account::account_row(ctx, &input.account).await?;
    users::apply_profile(&mut model, &input.profile)?;
    model.status = Set(input.status.unwrap_or(user::Status::Active));
    model.is_superuser = Set(input.is_superuser);
    model.tier_id = Set(input.tier_id);
    for (value, column, field) in [
        (&input.metadata, &mut model.metadata, "metadata"),
        (&input.app_metadata, &mut model.app_metadata, "appMetadata"),
    ] {
        if let Some(value) = value {
            *column = Set(serde_json::Value::Object(validation::metadata(
                value.clone(),
                field,
            )?));
        }
    }
    let email = validation::email(&input.account.email)?;
    let chosen = (input.account.username.as_deref())
        .map(validation::username)
        .transpose()?;
    let created = users::with_username(&ctx.db, chosen.as_deref(), &email, |username| {
        let mut model = model.clone();
        model.username = Set(username);
        insert_created(ctx, viewer, model, input.roles.as_ref())
    })
    .await?;
    tracing::info!(user_id = %crate::ids::user(created.id), "user created");
    Ok(created)
}

/// `createUser`'s transaction: the row, its roles, its event and, when
/// sign-in needs a verified address, its verification mail.
async fn insert_created(
    ctx: &AppContext,
    viewer: &Viewer,
    model: user::ActiveModel,
    wanted: Option<&role_grants::Wanted>,
) -> Result<user::Model> {
    let txn = ctx.begin().await?;
    let ids = match wanted {
        Some(wanted) => Some(wanted.keys(&txn).await?),
        None => None,
    };
    let roles = match &ids {
        None => FirstRoles::Default,
        Some(ids) => FirstRoles::Given(viewer, ids),
    };
    let created = new_account::insert_account(&txn, model, roles).await?;
    Event::by(viewer, Action::UserCreated)
        .on(Target::User(created.id))
        .with(audit::user_created(&created))
        .record(&txn)
        .await?;
    // When sign-in needs a verified address, the new user needs the link.
    let mails = ctx.config.require_email_verification;
    if mails {
        account_mail::queue_welcome_verification(&txn, ctx, &created).await?;
    }
    txn.commit().await?;
    if mails {
        super::outbox::wake(ctx);
    }
    Ok(created)
}

/// Profile fields for the user themself or `USERS_UPDATE`; status and
/// password need `USERS_UPDATE`; `isSuperuser` needs a superuser. A new
/// password or a non-ACTIVE status ends the user's sessions.
#[tracing::instrument(name = "admin.update_user", skip_all, fields(by = %crate::ids::user(viewer.id()), user_id = %crate::ids::user(id)))]
pub async fn update_user(
    ctx: &AppContext,
    viewer: &Viewer,
    id: Uuid,
    patch: UserPatch,
) -> Result<user::Model> {
    let administrative = patch.status.is_some()
        || patch.password.is_some()
        || patch.is_superuser.is_some()
        || patch.app_metadata.is_some();
    // Roles alone follow `setUserRoles`' rules (`ROLES_ASSIGN`, below);
    // anything else about another user needs `USERS_UPDATE`.
    let only_roles = patch.roles.is_some() && patch.profile == ProfilePatch::default();
    if (viewer.id() != id && !only_roles) || administrative {
        viewer.require(Permission::UsersUpdate)?;
    }
    if patch.is_superuser.is_some() {
        viewer.require_superuser()?;
    }
    if patch.roles.is_some() {
        viewer.require(Permission::RolesAssign)?;
    }
    let current = target(ctx, id).await?;
    users::check_target(viewer, &current)?;
    let changes_email = patch
        .profile
        .email
        .as_deref()
        .is_some_and(|e| validation::lookup_key(e).as_deref() != Some(current.email.as_str()));
    if changes_email || patch.password.is_some() {
        viewer.require_session()?;
    }
    if changes_email && !viewer.has(Permission::UsersUpdate) {
        // One's own address changes through the mailed link (updateMe,
        // requestEmailChange); only an administrator sets one at once.
        return Err(AppError::bad_input(
            "email",
            "change your own address with requestEmailChange",
        ));
    }

    let mut model = users::changes(&current);
    users::apply_profile(&mut model, &patch.profile)?;
    if changes_email {
        model.email_verified_at = Set(None);
    }
    if let Some(password) = &patch.password {
        let username = patch
            .profile
            .username
            .as_deref()
            .map(validation::username)
            .transpose()?;
        let email = patch
            .profile
            .email
            .as_deref()
            .map(validation::email)
            .transpose()?;
        credentials::judge_new_password(
            ctx,
            password,
            "password",
            username.as_deref().unwrap_or(&current.username),
            email.as_deref().unwrap_or(&current.email),
        )
        .await?;
        model.password_hash = Set(ctx.hasher.hash(password.clone()).await?);
        model.has_password = Set(true);
        model.password_changed_at = Set(now());
        // A password set by an administrator makes an invitation usable.
        model.invitation_pending = Set(false);
    }
    if let Some(status) = patch.status {
        model.status = Set(status);
    }
    if let Some(is_superuser) = patch.is_superuser {
        model.is_superuser = Set(is_superuser);
    }
    let demotes = patch.is_superuser == Some(false);
    let disables = patch.status.is_some_and(|s| s != user::Status::Active);

    let txn = ctx.begin().await?;
    // The organisations before any user's row (the superusers' included),
    // as every path that locks both takes them.
    if model.username.is_set() {
        memberships::lock_organizations_of(&txn, [id]).await?;
    }
    if demotes || disables {
        users::ensure_superuser_remains(&txn, id).await?;
    }
    // Locked first: the audit's old values are the row's as it is now.
    let before = users::lock(&txn, id)
        .await?
        .ok_or(AppError::not_found("user"))?;
    users::apply_metadata(
        &mut model,
        &before,
        patch.profile.metadata.as_ref(),
        patch.app_metadata.as_ref(),
    )?;
    if let Some(wanted) = &patch.roles {
        let ids = wanted.keys(&txn).await?;
        if role_grants::assign_locked(&txn, viewer, id, &ids)
            .await?
            .changed
        {
            // A change of roles is a change of the user (`updatedAt`).
            model.updated_at = Set(now());
        }
    }
    let updated = users::save_locked(&txn, before.clone(), model).await?;
    audit_update(&txn, viewer, &before, &updated, patch.password.is_some()).await?;
    if patch.password.is_some() || disables {
        access::revoke_sessions(&txn, id, None).await?;
    }
    // A new password, like the user's own change, ends every key too.
    if patch.password.is_some() || disables {
        access::revoke_keys(&txn, id).await?;
    }
    let mails = changes_email && ctx.config.require_email_verification;
    if changes_email {
        super::links::address_changed(&txn, id).await?;
        // When sign-in needs a verified address, the new one needs its link.
        if mails {
            account_mail::queue_welcome_verification(&txn, ctx, &updated).await?;
        }
    }
    txn.commit().await?;
    if mails {
        super::outbox::wake(ctx);
    }
    Ok(updated)
}

/// The events of an administrator's change to a user: a status change on its
/// own (`user.status_changed`), the other fields (`user.updated`), and a new
/// password (`auth.password_changed`, never with the password).
async fn audit_update(
    conn: &impl sea_orm::ConnectionTrait,
    viewer: &Viewer,
    before: &user::Model,
    after: &user::Model,
    password: bool,
) -> Result<()> {
    let mut changes = audit::user_changes(before, after);
    let target = Target::User(after.id);
    if let Some(status) = changes.remove("status") {
        let mut only = audit::Changes::new();
        only.insert("status".into(), status);
        Event::by(viewer, Action::UserStatusChanged)
            .on(target)
            .with(only)
            .record(conn)
            .await?;
    }
    if !changes.is_empty() {
        Event::by(viewer, Action::UserUpdated)
            .on(target)
            .with(changes)
            .record(conn)
            .await?;
    }
    if password {
        Event::by(viewer, Action::AuthPasswordChanged)
            .on(target)
            .record(conn)
            .await?;
    }
    Ok(())
}

pub async fn set_status(
    ctx: &AppContext,
    viewer: &Viewer,
    id: Uuid,
    status: user::Status,
) -> Result<user::Model> {
    viewer.require(Permission::UsersUpdate)?;
    update_user(
        ctx,
        viewer,
        id,
        UserPatch {
            status: Some(status),
            ..Default::default()
        },
    )
    .await
}

/// Soft delete: the row stays (username and email stay reserved), sessions
/// end, login is refused, and `users` hides it by default. Deleting a deleted
/// user changes nothing.
#[tracing::instrument(name = "admin.delete_user", skip_all, fields(by = %crate::ids::user(viewer.id()), user_id = %crate::ids::user(id)))]
pub async fn delete_user(ctx: &AppContext, viewer: &Viewer, id: Uuid) -> Result<user::Model> {
    viewer.require(Permission::UsersDelete)?;
    let current = target(ctx, id).await?;
    users::check_target(viewer, &current)?;
    if current.is_deleted() {
        return Ok(current);
    }
    let txn = ctx.begin().await?;
    memberships::lock_organizations_of(&txn, [id]).await?;
    users::ensure_superuser_remains(&txn, id).await?;
    let mut model = users::changes(&current);
    model.deleted_at = Set(Some(now()));
    let deleted = users::save(&txn, current.clone(), model).await?;
    access::revoke_sessions(&txn, id, None).await?;
    access::revoke_keys(&txn, id).await?;
    Event::by(viewer, Action::UserDeleted)
        .on(Target::User(id))
        .with(audit::user_changes(&current, &deleted))
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(deleted)
}

/// `eraseUser` (`USERS_DELETE`; a superuser only by a superuser, never the
/// last one): the person's data goes for good (`erasure`); the id stays
/// for the audit trail. Erasing an erased user does nothing.
#[tracing::instrument(name = "admin.erase_user", skip_all, fields(by = %crate::ids::user(viewer.id()), user_id = %crate::ids::user(id)))]
pub async fn erase_user(ctx: &AppContext, viewer: &Viewer, id: Uuid) -> Result<()> {
    viewer.require(Permission::UsersDelete)?;
    let current = target(ctx, id).await?;
    users::check_target(viewer, &current)?;
    if current.erased_at.is_some() {
        return Ok(());
    }
    let txn = ctx.begin().await?;
    memberships::lock_organizations_of(&txn, [id]).await?;
    users::ensure_superuser_remains(&txn, id).await?;
    let locked = users::lock(&txn, id)
        .await?
        .ok_or(AppError::not_found("user").with_field("id"))?;
    erasure::erase(&txn, locked).await?;
    Event::by(viewer, Action::UserErased)
        .on(Target::User(id))
        .record(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!("a user's data erased");
    Ok(())
}

pub async fn restore_user(ctx: &AppContext, viewer: &Viewer, id: Uuid) -> Result<user::Model> {
    viewer.require(Permission::UsersDelete)?;
    let current = target(ctx, id).await?;
    users::check_target(viewer, &current)?;
    if current.erased_at.is_some() {
        return Err(AppError::Conflict(
            "this user's data was erased: there is nothing to restore".into(),
        ));
    }
    let mut model = users::changes(&current);
    if current.is_deleted() {
        model.deleted_at = Set(None);
    }
    let txn = ctx.begin().await?;
    memberships::lock_organizations_of(&txn, [id]).await?;
    let was_deleted = current.is_deleted();
    let restored = users::save(&txn, current.clone(), model).await?;
    if was_deleted {
        Event::by(viewer, Action::UserRestored)
            .on(Target::User(id))
            .with(audit::user_changes(&current, &restored))
            .record(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(restored)
}

/// `revokeUserSessions` (`USERS_UPDATE`; a superuser's only by a
/// superuser): ends every session of the user, on every replica at their
/// next request; returns how many ended. API keys stay (`revokeApiKey`).
#[tracing::instrument(name = "admin.revoke_user_sessions", skip_all, fields(by = %crate::ids::user(viewer.id()), user_id = %crate::ids::user(id)))]
pub async fn revoke_user_sessions(ctx: &AppContext, viewer: &Viewer, id: Uuid) -> Result<u64> {
    viewer.require(Permission::UsersUpdate)?;
    let current = target(ctx, id).await?;
    users::check_target(viewer, &current)?;
    let txn = ctx.begin().await?;
    let ended = access::revoke_sessions(&txn, id, None).await?;
    Event::by(viewer, Action::SessionRevoked)
        .on(Target::User(id))
        .change("sessionsEnded", serde_json::Value::Null, ended)
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(ended)
}

/// `unlockUser` (`USERS_UPDATE`; a superuser only by a superuser): ends the
/// password lockout and its count, so the user may sign in again at once.
/// Unlocking an unlocked user changes nothing and records nothing.
#[tracing::instrument(name = "admin.unlock_user", skip_all, fields(by = %crate::ids::user(viewer.id()), user_id = %crate::ids::user(id)))]
pub async fn unlock_user(ctx: &AppContext, viewer: &Viewer, id: Uuid) -> Result<user::Model> {
    viewer.require(Permission::UsersUpdate)?;
    let current = target(ctx, id).await?;
    users::check_target(viewer, &current)?;
    let txn = ctx.begin().await?;
    let locked = users::lock(&txn, id)
        .await?
        .ok_or(AppError::not_found("user").with_field("id"))?;
    if locked.locked_until.is_none() && locked.failed_login_count == 0 {
        return Ok(locked);
    }
    let was_locked = locked.locked_until.is_some_and(|until| until > now());
    let unlocked = credentials::unlock(&txn, locked).await?;
    Event::by(viewer, Action::AuthUnlocked)
        .on(Target::User(id))
        .change("locked", was_locked, false)
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(unlocked)
}

/// Permanent removal with the user's sessions and role links (the foreign keys cascade).
#[tracing::instrument(name = "admin.hard_delete_user", skip_all, fields(by = %crate::ids::user(viewer.id()), user_id = %crate::ids::user(id)))]
pub async fn hard_delete_user(ctx: &AppContext, viewer: &Viewer, id: Uuid) -> Result<()> {
    viewer.require_superuser()?;
    let txn = ctx.begin().await?;
    memberships::lock_organizations_of(&txn, [id]).await?;
    users::ensure_superuser_remains(&txn, id).await?;
    let removed = user::Entity::delete_by_id(id)
        .exec(&txn)
        .await?
        .rows_affected;
    if removed == 0 {
        return Err(AppError::not_found("user"));
    }
    // The event keeps the id of a user who no longer exists.
    Event::by(viewer, Action::UserHardDeleted)
        .on(Target::User(id))
        .record(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!("user permanently deleted");
    Ok(())
}
