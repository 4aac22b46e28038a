//! Passkeys: registering one (signed in, after a password step-up, never
//! with an API key), listing, renaming and deleting them (never the last
//! way in), and signing in with one, by login or without (a discoverable
//! credential). The credential checks are `credentials::passkey`'s.

use entity::passkey;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::Value;
use uuid::Uuid;
use webauthn_rs::prelude::{PasskeyRegistration, RegisterPublicKeyCredential};

use super::{
    AppContext, RequestMeta, access,
    audit::{Action, Event, Target},
    credentials::{
        self, Method, WayIn,
        passkey::{self as keys, Ceremony},
    },
    limits, now, users,
};
use crate::{
    auth::Viewer,
    error::{AppError, Result, ResultExt},
    ids,
};

/// A ceremony begun: its id, the options for the browser and its expiry.
pub struct Challenge {
    pub id: Uuid,
    pub options: Value,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// The longest passkey name.
const NAME_CHARS: usize = 64;

/// The most passkeys one account holds: each is listed to anyone who
/// starts a sign-in with its login.
pub const MAX_PER_USER: usize = 20;

/// A passkey's name as given: trimmed, 1 to 64 characters.
fn name(raw: Option<&str>, field: &'static str) -> Result<Option<String>> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > NAME_CHARS || name.chars().any(char::is_control) {
        return Err(AppError::bad_input(
            field,
            format!("a passkey's name is 1 to {NAME_CHARS} characters, without control characters"),
        ));
    }
    Ok(Some(name.to_owned()))
}

/// `startPasskeyRegistration`: after the password step-up (a stolen access
/// token must not be able to add its own key), options that exclude the
/// caller's passkeys already registered and ask for a discoverable,
/// user-verified credential.
#[tracing::instrument(name = "passkeys.start_registration", skip_all, fields(user_id = %ids::user(viewer.id())))]
pub async fn start_registration(
    ctx: &AppContext,
    viewer: &Viewer,
    password: &str,
) -> Result<Challenge> {
    viewer.require_session()?;
    let rp = keys::relying_party(ctx)?;
    users::require_verified(&viewer.user)?;
    credentials::confirm_password(ctx, viewer, password, "password").await?;
    let user = &viewer.user;
    let existing = keys::of_user(&ctx.db, user.id).await?;
    if existing.len() >= MAX_PER_USER {
        return Err(AppError::Conflict(format!(
            "an account holds at most {MAX_PER_USER} passkeys: delete one first"
        )));
    }
    let exclude = existing
        .iter()
        .map(keys::stored)
        .map(|key| key.map(|key| key.cred_id().clone()))
        .collect::<Result<Vec<_>>>()?;
    let display = users::effective_name(
        user.display_name.as_deref(),
        user.first_name.as_deref(),
        user.last_name.as_deref(),
        &user.username,
    );
    let (options, state) = rp
        .start_passkey_registration(user.id, &user.username, &display, Some(exclude))
        .map_err(|err| AppError::Internal(anyhow::anyhow!("passkey options: {err}")))?;
    let mut options =
        serde_json::to_value(options.public_key).map_err(|err| AppError::Internal(err.into()))?;
    // A passkey the authenticator can offer without a login where it can
    // (webauthn-rs asks for none, for security keys with little room).
    if let Some(selection) = options.get_mut("authenticatorSelection") {
        selection["residentKey"] = "preferred".into();
    }
    let (id, expires_at) =
        keys::save_challenge(&ctx.db, Ceremony::Register, Some(user.id), false, &state).await?;
    Ok(Challenge {
        id,
        options,
        expires_at,
    })
}

/// `finishPasskeyRegistration`: the browser's answer to the options. The
/// challenge is used up whatever the outcome; `TOKEN_INVALID` when it is
/// unknown, used, expired or another user's.
#[tracing::instrument(name = "passkeys.finish_registration", skip_all, fields(user_id = %ids::user(viewer.id())))]
pub async fn finish_registration(
    ctx: &AppContext,
    viewer: &Viewer,
    challenge_id: Uuid,
    credential: &Value,
    requested_name: Option<&str>,
) -> Result<passkey::Model> {
    viewer.require_session()?;
    let rp = keys::relying_party(ctx)?;
    let label = name(requested_name, "name")?;
    let answer: RegisterPublicKeyCredential = keys::parse_credential(credential)?;
    let txn = ctx.begin().await?;
    let user = users::lock_usable(&txn, viewer.id()).await?;
    access::require_live_session(&txn, viewer).await?;
    let claimed =
        keys::claim_challenge(&txn, challenge_id, Ceremony::Register, Some(user.id)).await?;
    let state: PasskeyRegistration = keys::state_of(&claimed)?;
    let key = match rp.finish_passkey_registration(&answer, &state) {
        Ok(key) => key,
        Err(err) => {
            tracing::info!(error = %err, "passkey registration refused");
            // The challenge stays used: the ceremony begins again.
            txn.commit().await?;
            return Err(AppError::bad_input(
                "credential",
                "the authenticator's answer does not verify (wrong site or challenge, or no user verification)",
            ));
        }
    };
    if key.cred_id().len() > keys::MAX_CREDENTIAL_ID {
        txn.commit().await?;
        return Err(AppError::bad_input(
            "credential",
            "a credential id longer than the specification's 1023 bytes",
        ));
    }
    let count = keys::of_user(&txn, user.id).await?.len();
    if count >= MAX_PER_USER {
        return Err(AppError::Conflict(format!(
            "an account holds at most {MAX_PER_USER} passkeys: delete one first"
        )));
    }
    // webauthn-rs keeps the flags to itself; its record says them.
    let backed_up = serde_json::to_value(&key)
        .ok()
        .and_then(|v| v["cred"]["backup_state"].as_bool())
        .unwrap_or(false);
    let ts = now();
    let row = passkey::ActiveModel {
        id: Set(ids::new_key()),
        user_id: Set(user.id),
        credential_id: Set(keys::credential_id(key.cred_id())),
        name: Set(label.unwrap_or_else(|| format!("Passkey {}", count + 1))),
        credential: Set(serde_json::to_string(&key).map_err(anyhow::Error::from)?),
        sign_count: Set(0),
        backed_up: Set(backed_up),
        created_at: Set(ts),
        last_used_at: Set(None),
    };
    let row = passkey::Entity::insert(row)
        .exec_with_returning(&txn)
        .await
        .on_constraint(|_| {
            Some(AppError::Conflict(
                "this passkey is registered already".into(),
            ))
        })?;
    Event::by(viewer, Action::PasskeyRegistered)
        .on(Target::User(user.id))
        .change("passkeyId", Value::Null, ids::encode(ids::PASSKEY, row.id))
        .change("name", Value::Null, row.name.clone())
        .record(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!("passkey registered");
    Ok(row)
}

/// The caller's passkey `id`, or `NOT_FOUND` on `id`.
async fn own(ctx: &AppContext, viewer: &Viewer, id: Uuid) -> Result<passkey::Model> {
    passkey::Entity::find_by_id(id)
        .one(&ctx.db)
        .await?
        .filter(|row| row.user_id == viewer.id())
        .ok_or(AppError::NotFound {
            what: "passkey",
            field: Some("id"),
        })
}

/// `renamePasskey`: one of the caller's passkeys.
pub async fn rename(
    ctx: &AppContext,
    viewer: &Viewer,
    id: Uuid,
    new_name: &str,
) -> Result<passkey::Model> {
    viewer.require_session()?;
    let new_name = name(Some(new_name), "name")?.unwrap_or_default();
    let row = own(ctx, viewer, id).await?;
    let txn = ctx.begin().await?;
    let renamed = passkey::Entity::update_many()
        .col_expr(passkey::Column::Name, Expr::value(new_name.clone()))
        .filter(passkey::Column::Id.eq(row.id))
        .filter(passkey::Column::UserId.eq(viewer.id()))
        .exec_with_returning(&txn)
        .await?
        .into_iter()
        .next()
        .ok_or(AppError::NotFound {
            what: "passkey",
            field: Some("id"),
        })?;
    Event::by(viewer, Action::PasskeyRenamed)
        .on(Target::User(viewer.id()))
        .change("passkeyId", Value::Null, ids::encode(ids::PASSKEY, row.id))
        .change("name", row.name, new_name)
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(renamed)
}

/// `deletePasskey`: after the password step-up; never the account's last
/// way to sign in (`CONFLICT`).
#[tracing::instrument(name = "passkeys.delete", skip_all, fields(user_id = %ids::user(viewer.id())))]
pub async fn delete(ctx: &AppContext, viewer: &Viewer, id: Uuid, password: &str) -> Result<()> {
    viewer.require_session()?;
    let row = own(ctx, viewer, id).await?;
    credentials::confirm_password(ctx, viewer, password, "password").await?;
    let txn = ctx.begin().await?;
    let user = users::lock_usable(&txn, viewer.id()).await?;
    if !credentials::another_way_in(&txn, ctx, &user, WayIn::Passkey(row.id)).await? {
        return Err(AppError::Conflict(
            "this is the account's last way to sign in: set a password, add another passkey or link a provider first".into(),
        ));
    }
    let removed = passkey::Entity::delete_many()
        .filter(passkey::Column::Id.eq(row.id))
        .filter(passkey::Column::UserId.eq(user.id))
        .exec(&txn)
        .await?
        .rows_affected;
    if removed == 0 {
        return Err(AppError::NotFound {
            what: "passkey",
            field: Some("id"),
        });
    }
    Event::by(viewer, Action::PasskeyDeleted)
        .on(Target::User(user.id))
        .change("passkeyId", ids::encode(ids::PASSKEY, row.id), Value::Null)
        .change("name", row.name, Value::Null)
        .record(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!("passkey deleted");
    Ok(())
}

/// `startPasskeySignIn`: with a login, options naming its passkeys (or,
/// for a login nobody has or one without passkeys, a decoy the same for
/// that login every time, after the same statements); without one, options
/// any passkey of this site may answer. Limited per client address like
/// `login`.
#[tracing::instrument(name = "passkeys.start_sign_in", skip_all)]
pub async fn start_sign_in(
    ctx: &AppContext,
    login: Option<&str>,
    meta: &RequestMeta,
) -> Result<Challenge> {
    limits::hit(ctx, limits::Limited::Login, meta).await?;
    keys::relying_party(ctx)?;
    let (user_id, allowed) = match login.map(str::trim) {
        None | Some("") => (None, None),
        Some(login) => {
            let found = users::find_by_login(&ctx.db, login)
                .await?
                .filter(|user| !user.is_deleted());
            let passkeys = keys::of_user(
                &ctx.db,
                found.as_ref().map_or_else(Uuid::nil, |user| user.id),
            )
            .await?;
            match found {
                Some(user) if !passkeys.is_empty() => (
                    Some(user.id),
                    Some(passkeys.into_iter().map(|p| p.credential_id).collect()),
                ),
                _ => (None, Some(vec![keys::decoy_credential(ctx, login)])),
            }
        }
    };
    let by_login = allowed.is_some();
    let (options, state) = keys::sign_in_options(ctx, allowed)?;
    let (id, expires_at) =
        keys::save_challenge(&ctx.db, Ceremony::SignIn, user_id, by_login, &state).await?;
    Ok(Challenge {
        id,
        options,
        expires_at,
    })
}

/// `finishPasskeySignIn`: the browser's answer. The challenge is used up
/// first (`TOKEN_INVALID` when it is unknown, used or expired); the
/// passkey's account must be active; a passkey is both factors, so a
/// second factor is not asked for.
#[tracing::instrument(name = "passkeys.finish_sign_in", skip_all)]
pub async fn finish_sign_in(
    ctx: &AppContext,
    challenge_id: Uuid,
    credential: &Value,
    meta: &RequestMeta,
) -> Result<access::Tokens> {
    limits::hit(ctx, limits::Limited::Login, meta).await?;
    keys::relying_party(ctx)?;
    let claimed = keys::claim_challenge(&ctx.db, challenge_id, Ceremony::SignIn, None).await?;
    let key = keys::verify_assertion(ctx, &claimed, credential, meta).await?;
    let txn = ctx.begin().await?;
    let Some(user) = users::lock(&txn, key.user_id)
        .await?
        .filter(|u| !u.is_deleted())
    else {
        return Err(AppError::bad_input(
            "credential",
            "this passkey cannot sign in here",
        ));
    };
    credentials::complete_sign_in(txn, ctx, user, meta, Method::Passkey).await
}
