//! The account lifecycle: registration, login with lockout, password change,
//! self-deletion and the superuser bootstrap. Passwords are hashed before any
//! transaction opens, so no connection is held while argon2 runs.

use entity::user;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set, sea_query::Expr};
use secrecy::{ExposeSecret, SecretString};

use super::{
    AppContext, RequestMeta, access, account_mail,
    audit::{self, Action, Event, Target},
    credentials::{self, Checked},
    erasure, limits, memberships,
    new_account::{self, FirstRoles, NewAccount},
    now, outbox, users,
};
use crate::{
    auth::{Viewer, imported_hash},
    error::{AppError, Result},
    validation,
};

/// Creates an account with the default role, queues its verification mail,
/// and signs it in. With `REQUIRE_EMAIL_VERIFICATION` the account is
/// created and mailed but not signed in: the answer is `EMAIL_NOT_VERIFIED`.
#[tracing::instrument(name = "accounts.register", skip_all)]
pub async fn register(
    ctx: &AppContext,
    viewer: Option<&Viewer>,
    input: &NewAccount,
    meta: &RequestMeta,
) -> Result<access::Tokens> {
    if !ctx.config.registration_enabled
        && !viewer.is_some_and(|v| v.has(crate::auth::Permission::UsersCreate))
    {
        return Err(AppError::Forbidden);
    }
    limits::hit(ctx, limits::Limited::Register, meta).await?;
    let model = new_account::account_row(ctx, input).await?;
    let txn = ctx.begin().await?;
    let user = new_account::insert_account(&txn, model, FirstRoles::Default).await?;
    Event::anonymous(meta, Action::UserRegistered)
        .as_user(user.id)
        .with(audit::user_created(&user))
        .record(&txn)
        .await?;
    account_mail::queue_welcome_verification(&txn, ctx, &user).await?;
    if ctx.config.require_email_verification {
        txn.commit().await?;
        outbox::wake(ctx);
        tracing::info!(user_id = %crate::ids::user(user.id), ip = meta.ip.as_deref(), "registered; waiting for email verification");
        return Err(AppError::EmailNotVerified);
    }
    let tokens = access::start(&txn, ctx, user, meta).await?;
    txn.commit().await?;
    outbox::wake(ctx);
    tracing::info!(user_id = %crate::ids::user(tokens.user.id), ip = meta.ip.as_deref(), "registered");
    Ok(tokens)
}

/// Signs in with a username or email. Unknown users, soft-deleted users,
/// locked accounts and wrong passwords all cost one argon2 verification and
/// give `INVALID_CREDENTIALS`.
#[tracing::instrument(name = "accounts.login", skip_all)]
pub async fn login(
    ctx: &AppContext,
    login: &str,
    password: &str,
    meta: &RequestMeta,
) -> Result<access::Tokens> {
    let outcome = sign_in(ctx, login, password, meta).await;
    let label = match &outcome {
        Ok(_) => "success",
        Err(AppError::InvalidCredentials) => "invalid_credentials",
        Err(AppError::AccountDisabled) => "disabled",
        Err(AppError::RateLimited { .. }) => "rate_limited",
        Err(AppError::MfaRequired { .. }) => "mfa_required",
        Err(AppError::EmailNotVerified) => "email_not_verified",
        Err(_) => "error",
    };
    metrics::counter!(crate::metrics::LOGINS, "outcome" => label).increment(1);
    outcome
}

async fn sign_in(
    ctx: &AppContext,
    login: &str,
    password: &str,
    meta: &RequestMeta,
) -> Result<access::Tokens> {
    limits::hit(ctx, limits::Limited::Login, meta).await?;
    // An invitation not yet accepted, or an account made through another
    // provider, has no password: as good as no user.
    let found = users::find_by_login(&ctx.db, login)
        .await?
        .filter(|u| !u.is_deleted() && !u.invitation_pending && u.has_password);
    let Some(user) = found else {
        ctx.hasher.verify(password.to_owned(), None).await?;
        tracing::info!(
            ip = meta.ip.as_deref(),
            request_id = meta.request_id.as_deref(),
            "login failed: unknown user"
        );
        return Err(AppError::InvalidCredentials);
    };
    // With a second factor on, a right password is half a sign-in: it
    // leaves the lockout count as it was until the code is right too, or the
    // password alone would reset the count between code guesses.
    match credentials::sign_in_check(ctx, &user, password, !user.mfa_enabled, meta).await? {
        Checked::Right => {}
        Checked::Locked => {
            tracing::info!(user_id = %crate::ids::user(user.id), ip = meta.ip.as_deref(), request_id = meta.request_id.as_deref(), "login refused: account locked");
            return Err(AppError::InvalidCredentials);
        }
        Checked::Wrong => {
            tracing::info!(user_id = %crate::ids::user(user.id), ip = meta.ip.as_deref(), request_id = meta.request_id.as_deref(), "login failed: wrong password");
            return Err(AppError::InvalidCredentials);
        }
    }
    // An imported hash (bcrypt, PBKDF2, …) is replaced by argon2id now that
    // the password is known, on the hashing pool like every hash.
    let upgrade = if imported_hash::is_current(&user.password_hash) {
        None
    } else {
        Some(ctx.hasher.hash(password.to_owned()).await?)
    };
    let txn = ctx.begin().await?;
    // Locked and read again: a user deleted, hard-deleted or given a new
    // password while the hash ran is refused (the password checked is no
    // longer theirs, and the change has ended every session), and a hard
    // delete or password change waits for this sign-in to commit. A racing
    // first sign-in's upgrade is no change of password: it keeps
    // `password_changed_at`.
    let (verified_hash, verified_at) = (user.password_hash, user.password_changed_at);
    let Some(mut user) = users::lock(&txn, user.id).await?.filter(|u| {
        !u.is_deleted()
            && (u.password_hash == verified_hash
                || (upgrade.is_some() && u.password_changed_at == verified_at))
    }) else {
        return Err(AppError::InvalidCredentials);
    };
    if let Some(hash) = upgrade
        && user.password_hash == verified_hash
    {
        user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(hash.clone()))
            .filter(user::Column::Id.eq(user.id))
            .filter(user::Column::PasswordHash.eq(verified_hash))
            .exec(&txn)
            .await?;
        user.password_hash = hash;
        tracing::info!(user_id = %crate::ids::user(user.id), "an imported password hash is replaced by argon2id");
    }
    credentials::complete_sign_in(txn, ctx, user, meta, credentials::Method::Password).await
}

/// Changes the viewer's password, ends every other session and revokes
/// every API key.
#[tracing::instrument(name = "accounts.change_password", skip_all, fields(user_id = %crate::ids::user(viewer.id())))]
pub async fn change_password(
    ctx: &AppContext,
    viewer: &Viewer,
    current: &str,
    new: &str,
) -> Result<()> {
    viewer.require_session()?;
    // The current password first: every guess counts toward the lockout
    // before any other work, and only its holder can make the server
    // estimate a new password's strength.
    credentials::confirm_password(ctx, viewer, current, "currentPassword").await?;
    credentials::judge_new_password(
        ctx,
        new,
        "newPassword",
        &viewer.user.username,
        &viewer.user.email,
    )
    .await?;
    let hash = ctx.hasher.hash(new.to_owned()).await?;
    let ts = now();
    let txn = ctx.begin().await?;
    let locked = users::lock(&txn, viewer.id())
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if locked.password_hash != viewer.user.password_hash {
        // Changed meanwhile: the password just confirmed is no longer current.
        return Err(AppError::bad_input(
            "currentPassword",
            "the password is not correct",
        ));
    }
    user::ActiveModel {
        id: Set(viewer.id()),
        password_hash: Set(hash),
        password_changed_at: Set(ts),
        updated_at: Set(ts),
        ..Default::default()
    }
    .update(&txn)
    .await?;
    access::revoke_sessions(&txn, viewer.id(), Some(viewer.session_id)).await?;
    // A key made with the old password may be what an intruder kept.
    let keys = access::revoke_keys(&txn, viewer.id()).await?;
    Event::by(viewer, Action::AuthPasswordChanged)
        .on(Target::User(viewer.id()))
        .change(
            "keptSessionId",
            serde_json::Value::Null,
            crate::ids::session(viewer.session_id),
        )
        .change("apiKeysRevoked", serde_json::Value::Null, keys)
        .record(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!("password changed");
    Ok(())
}

/// `updateMe`: the profile fields change at once; a new `email` starts the
/// email-change flow instead (the address changes when the mailed link is
/// followed), after the `currentPassword` step-up, as `requestEmailChange`.
#[tracing::instrument(name = "accounts.update_me", skip_all, fields(user_id = %crate::ids::user(viewer.id())))]
pub async fn update_me(
    ctx: &AppContext,
    viewer: &Viewer,
    mut patch: users::ProfilePatch,
    current_password: Option<&str>,
) -> Result<user::Model> {
    // A key never acts on a superuser, its own included.
    users::check_target(viewer, &viewer.user)?;
    let new_email = patch
        .email
        .take()
        .filter(|e| validation::lookup_key(e).as_deref() != Some(viewer.user.email.as_str()));
    let mut model = users::changes(&viewer.user);
    users::apply_profile(&mut model, &patch)?;
    let new_email = match new_email {
        None => None,
        Some(email) => {
            // A malformed address is named before the password is asked for.
            validation::email(&email)?;
            let password = current_password.ok_or_else(|| {
                AppError::bad_input(
                    "currentPassword",
                    "currentPassword is required to change the email address",
                )
            })?;
            Some(
                account_mail::check_email_change(
                    ctx,
                    viewer,
                    &email,
                    password,
                    "currentPassword",
                    "email",
                )
                .await?,
            )
        }
    };
    let txn = ctx.begin().await?;
    if model.username.is_set() {
        memberships::lock_organizations_of(&txn, [viewer.id()]).await?;
    }
    // Locked first: the audit's old values, and the mail budget, are read
    // under the lock.
    let before = users::lock(&txn, viewer.id())
        .await?
        .ok_or(AppError::Unauthenticated)?;
    users::apply_metadata(&mut model, &before, patch.metadata.as_ref(), None)?;
    let updated = users::save_locked(&txn, before.clone(), model).await?;
    let changes = audit::user_changes(&before, &updated);
    if !changes.is_empty() {
        Event::by(viewer, Action::UserUpdated)
            .on(Target::User(viewer.id()))
            .with(changes)
            .record(&txn)
            .await?;
    }
    if let Some(email) = &new_email {
        account_mail::queue_email_change(&txn, ctx, viewer, &updated, email).await?;
    }
    txn.commit().await?;
    if new_email.is_some() {
        outbox::wake(ctx);
    }
    Ok(updated)
}

/// `deleteMe`: after the password, the caller's account is soft-deleted
/// and its sessions and keys end; with `erase`, the person's data goes for
/// good as well (`erasure`), the id staying for the audit trail.
#[tracing::instrument(name = "accounts.delete_me", skip_all, fields(user_id = %crate::ids::user(viewer.id()), erase))]
pub async fn delete_me(
    ctx: &AppContext,
    viewer: &Viewer,
    password: &str,
    erase: bool,
) -> Result<()> {
    viewer.require_session()?;
    credentials::confirm_password(ctx, viewer, password, "password").await?;
    let ts = now();
    let txn = ctx.begin().await?;
    memberships::lock_organizations_of(&txn, [viewer.id()]).await?;
    users::ensure_superuser_remains(&txn, viewer.id()).await?;
    let locked = users::lock(&txn, viewer.id())
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if erase {
        erasure::erase(&txn, locked).await?;
        // The person's own request: its address and browser are theirs.
        let mut event = Event::by(viewer, Action::UserErased).on(Target::User(viewer.id()));
        event.meta = RequestMeta::default();
        event.record(&txn).await?;
        txn.commit().await?;
        tracing::info!("account deleted and erased by its owner");
        return Ok(());
    }
    user::ActiveModel {
        id: Set(viewer.id()),
        deleted_at: Set(Some(ts)),
        updated_at: Set(ts),
        ..Default::default()
    }
    .update(&txn)
    .await?;
    access::revoke_sessions(&txn, viewer.id(), None).await?;
    access::revoke_keys(&txn, viewer.id()).await?;
    let mut after = viewer.user.clone();
    after.deleted_at = Some(ts);
    Event::by(viewer, Action::UserDeleted)
        .on(Target::User(viewer.id()))
        .with(audit::user_changes(&viewer.user, &after))
        .record(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!("account deleted by its owner");
    Ok(())
}

/// `exportMyData`: everything kept about the caller, as one JSON document
/// (a session only: never an API key).
pub async fn export_my_data(ctx: &AppContext, viewer: &Viewer) -> Result<serde_json::Value> {
    use entity::{api_key, external_identity, session, tier};
    use sea_orm::QueryOrder;
    use serde_json::json;
    viewer.require_session()?;
    let id = viewer.id();
    let user = users::find(&ctx.db, id)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let roles: Vec<String> = super::role_grants::of_user(&ctx.db, id)
        .await?
        .into_iter()
        .map(|r| r.name)
        .collect();
    let tier = match user.tier_id {
        Some(key) => tier::Entity::find_by_id(key)
            .one(&ctx.db)
            .await?
            .map(|t| t.name),
        None => None,
    };
    let time =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let sessions: Vec<serde_json::Value> = session::Entity::find()
        .filter(session::Column::UserId.eq(id))
        .order_by_asc(session::Column::CreatedAt)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|s| {
            json!({
                "id": crate::ids::session(s.chain_id), "createdAt": time(s.created_at),
                "lastUsedAt": time(s.last_used_at), "expiresAt": time(s.expires_at),
                "endedAt": s.revoked_at.or(s.rotated_at).map(time),
                "ip": s.ip, "userAgent": s.user_agent,
            })
        })
        .collect();
    let api_keys: Vec<serde_json::Value> = api_key::Entity::find()
        .filter(api_key::Column::UserId.eq(id))
        .order_by_asc(api_key::Column::CreatedAt)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|k| {
            json!({
                "id": crate::ids::encode(crate::ids::API_KEY, k.id), "name": k.name, "prefix": k.prefix,
                "permissions": serde_json::from_str::<serde_json::Value>(&k.permissions).unwrap_or_default(),
                "createdAt": time(k.created_at), "expiresAt": k.expires_at.map(time),
                "lastUsedAt": k.last_used_at.map(time), "revokedAt": k.revoked_at.map(time),
            })
        })
        .collect();
    let identities: Vec<serde_json::Value> = external_identity::Entity::find()
        .filter(external_identity::Column::UserId.eq(id))
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|i| {
            json!({
                "id": crate::ids::encode(crate::ids::EXTERNAL_IDENTITY, i.id), "provider": i.provider,
                "subject": i.subject, "email": i.email, "linkedAt": time(i.linked_at),
                "lastUsedAt": i.last_used_at.map(time),
            })
        })
        .collect();
    let passkeys: Vec<serde_json::Value> = credentials::passkey::of_user(&ctx.db, id)
        .await?
        .into_iter()
        .map(|p| {
            json!({
                "id": crate::ids::encode(crate::ids::PASSKEY, p.id), "name": p.name,
                "createdAt": time(p.created_at), "lastUsedAt": p.last_used_at.map(time),
                "backedUp": p.backed_up,
            })
        })
        .collect();
    let events: Vec<serde_json::Value> = entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::TargetKind.eq("user"))
        .filter(entity::audit_event::Column::TargetId.eq(id))
        .order_by_asc(entity::audit_event::Column::CreatedAt)
        .all(&ctx.db)
        .await?
        .into_iter()
        .filter(|e| Action::parse(&e.action).is_some_and(Action::is_security))
        .map(|mut e| {
            audit::as_own_history(viewer, &mut e);
            audit::public(&e)
        })
        .collect();
    // An email change not yet confirmed: the new address is theirs too.
    let pending_email = entity::account_token::Entity::find()
        .filter(entity::account_token::Column::UserId.eq(id))
        .filter(entity::account_token::Column::UsedAt.is_null())
        .filter(entity::account_token::Column::ExpiresAt.gt(now()))
        .filter(entity::account_token::Column::Address.ne(user.email.as_str()))
        .order_by_desc(entity::account_token::Column::CreatedAt)
        .one(&ctx.db)
        .await?
        .map(|t| t.address);
    let u = &user;
    Ok(json!({
        "exportedAt": time(now()),
        "user": {
            "id": crate::ids::user(u.id), "username": u.username, "email": u.email,
            "emailVerifiedAt": u.email_verified_at.map(time), "name": u.display_name,
            "firstName": u.first_name, "lastName": u.last_name, "avatarUrl": u.avatar_url,
            "socialLinks": { "website": u.website, "facebook": u.facebook, "instagram": u.instagram,
                             "linkedin": u.linkedin, "x": u.x, "youtube": u.youtube },
            "locale": u.locale, "status": format!("{:?}", u.status).to_uppercase(),
            "metadata": u.metadata, "appMetadata": u.app_metadata,
            "pendingEmail": pending_email, "externalId": u.external_id, "mfaEnabled": u.mfa_enabled,
            "hasPassword": u.has_password, "createdAt": time(u.created_at),
            "updatedAt": time(u.updated_at), "lastLoginAt": u.last_login_at.map(time),
            "roles": roles, "tier": tier,
        },
        "sessions": sessions,
        "apiKeys": api_keys,
        "identities": identities,
        "passkeys": passkeys,
        "securityEvents": events,
    }))
}

/// Creates a superuser (used by `create-superuser` and the `ADMIN_*` bootstrap).
/// The password rules are the same as for everyone.
#[tracing::instrument(name = "accounts.create_superuser", skip_all)]
pub async fn create_superuser(
    ctx: &AppContext,
    username: &str,
    email: &str,
    password: &SecretString,
) -> Result<user::Model> {
    let input = NewAccount {
        username: Some(username.to_owned()),
        email: email.to_owned(),
        password: password.expose_secret().to_owned(),
        ..Default::default()
    };
    let mut model = new_account::account_row(ctx, &input).await?;
    model.is_superuser = Set(true);
    // The operator who runs this vouches for the address, so the first
    // superuser can sign in under REQUIRE_EMAIL_VERIFICATION.
    model.email_verified_at = Set(Some(now()));
    let txn = ctx.begin().await?;
    let user = new_account::insert_account(&txn, model, FirstRoles::Default).await?;
    Event::anonymous(&RequestMeta::default(), Action::UserCreated)
        .on(Target::User(user.id))
        .with(audit::user_created(&user))
        .record(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!(user_id = %crate::ids::user(user.id), "superuser created");
    Ok(user)
}

/// The `ADMIN_*` bootstrap: creates the superuser when it does not exist yet.
pub async fn bootstrap_admin(ctx: &AppContext) -> Result<()> {
    let Some(admin) = ctx.config.admin.clone() else {
        return Ok(());
    };
    if users::find_by_login(&ctx.db, &admin.username)
        .await?
        .is_some()
    {
        return Ok(());
    }
    match create_superuser(ctx, &admin.username, &admin.email, &admin.password).await {
        Ok(_) | Err(AppError::DuplicateUsername) => Ok(()),
        Err(err) => Err(err),
    }
}
