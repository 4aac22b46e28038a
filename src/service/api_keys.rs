//! Personal API keys: `ugk_` and 43 random base62 characters (256 bits),
//! shown once and stored as a SHA-256. A key acts as its user with the
//! intersection of its permissions and the user's current ones, never with
//! the superuser-only powers, never on credentials (`Viewer::require_session`)
//! and never on a superuser (`users::check_target`). It dies with its user's
//! suspension or deletion, at its expiry and when revoked: every request
//! loads it afresh, in one statement, as a session is.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use entity::{FromPosition, api_key, role, user, user_role};
use rand::Rng;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, Iterable, JoinType,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, RelationTrait,
    sea_query::Expr,
};
use uuid::Uuid;

use serde_json::Value;

use super::{
    AppContext, access,
    audit::{Action, Event, Target},
    now, role_grants,
    tokens::hash_token,
    users,
};
use crate::{
    auth::{Permission, Viewer},
    error::{AppError, Result},
    validation,
};

/// What every key's secret starts with, so the edge can tell it from a JWT
/// (and secret scanners can find a leaked one).
pub const SECRET_PREFIX: &str = "ugk_";

/// Random characters after the prefix: 43 of base62 is 256 bits.
const SECRET_CHARS: usize = 43;

/// Characters of the secret kept as its `prefix`, for recognition.
const SHOWN: usize = SECRET_PREFIX.len() + 8;

/// Live keys one user may hold.
pub const MAX_KEYS_PER_USER: u64 = 50;

/// How stale `lastUsedAt` may get before a request writes it again: at most
/// one write a minute per key, never one per request.
const LAST_USED_GRANULARITY: chrono::Duration = chrono::Duration::seconds(60);

/// `createApiKey`'s input.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    pub permissions: Vec<Permission>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A new key and its secret, which exists nowhere else.
pub struct Created {
    pub key: api_key::Model,
    pub secret: String,
}

fn new_secret() -> String {
    const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let random: String = (0..SECRET_CHARS)
        .map(|_| BASE62[rng.random_range(0..BASE62.len())] as char)
        .collect();
    format!("{SECRET_PREFIX}{random}")
}

/// The permissions a key was given, from their stored form.
pub fn parse_permissions(stored: &str) -> BTreeSet<Permission> {
    serde_json::from_str::<Vec<String>>(stored)
        .unwrap_or_default()
        .iter()
        .filter_map(|name| Permission::parse(name))
        .collect()
}

/// `createApiKey`: only in a signed-in session, after the password step-up
/// (a stolen access token must not mint a credential that outlives it), for
/// an account whose address is verified, only with permissions the caller
/// holds, at most `MAX_KEYS_PER_USER` live keys.
#[tracing::instrument(name = "api_keys.create", skip_all, fields(user_id = %crate::ids::user(viewer.id())))]
pub async fn create(
    ctx: &AppContext,
    viewer: &Viewer,
    input: NewApiKey,
    password: &str,
) -> Result<Created> {
    viewer.require_session()?;
    users::require_verified(&viewer.user)?;
    let name = validation::optional_text(Some(&input.name), "name", 64)?
        .ok_or_else(|| AppError::bad_input("name", "name must not be empty"))?;
    if let Some(missing) = input.permissions.iter().find(|p| !viewer.has(**p)) {
        return Err(AppError::bad_input(
            "permissions",
            format!(
                "a key cannot have {}, which you do not hold",
                missing.as_str()
            ),
        ));
    }
    let ts = now();
    if input.expires_at.is_some_and(|at| at <= ts) {
        return Err(AppError::bad_input(
            "expiresAt",
            "expiresAt must be in the future",
        ));
    }
    super::credentials::confirm_password(ctx, viewer, password, "password").await?;
    // Counted under the user's lock, so racing creations cannot pass the cap,
    // and checked there: a suspension that committed meanwhile wins.
    let txn = ctx.begin().await?;
    let user = users::lock_usable(&txn, viewer.id()).await?;
    users::require_verified(&user)?;
    access::require_same_password(&user, &viewer.user, "password")?;
    access::require_live_session(&txn, viewer).await?;
    let live = api_key::Entity::find()
        .filter(api_key::Column::UserId.eq(viewer.id()))
        .filter(api_key::Column::RevokedAt.is_null())
        .filter(
            sea_orm::Condition::any()
                .add(api_key::Column::ExpiresAt.is_null())
                .add(api_key::Column::ExpiresAt.gt(ts)),
        )
        .count(&txn)
        .await?;
    if live >= MAX_KEYS_PER_USER {
        return Err(AppError::Conflict(format!(
            "at most {MAX_KEYS_PER_USER} live API keys per user: revoke one first"
        )));
    }
    let secret = new_secret();
    let names: BTreeSet<&str> = input.permissions.iter().map(|p| p.as_str()).collect();
    let key = api_key::ActiveModel {
        id: Set(crate::ids::new_key()),
        user_id: Set(viewer.id()),
        name: Set(name),
        prefix: Set(secret[..SHOWN].to_owned()),
        secret_hash: Set(hash_token(&secret)),
        permissions: Set(serde_json::to_string(&names).map_err(anyhow::Error::from)?),
        created_at: Set(ts),
        expires_at: Set(input.expires_at.map(|at| {
            use chrono::SubsecRound;
            at.trunc_subsecs(6)
        })),
        last_used_at: Set(None),
        revoked_at: Set(None),
    };
    let key = api_key::Entity::insert(key)
        .exec_with_returning(&txn)
        .await?;
    Event::by(viewer, Action::ApiKeyCreated)
        .on(Target::User(viewer.id()))
        .change(
            "apiKeyId",
            Value::Null,
            crate::ids::encode(crate::ids::API_KEY, key.id),
        )
        .change("name", Value::Null, key.name.clone())
        .change(
            "permissions",
            Value::Null,
            names.iter().map(|n| Value::from(*n)).collect::<Vec<_>>(),
        )
        .record(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!(key_id = %crate::ids::encode(crate::ids::API_KEY, key.id), "API key created");
    Ok(Created { key, secret })
}

/// A user's keys not revoked, newest first (expired ones included, so their
/// owner sees why a script stopped).
pub async fn of_user(conn: &impl ConnectionTrait, user_id: Uuid) -> Result<Vec<api_key::Model>> {
    Ok(api_key::Entity::find()
        .filter(api_key::Column::UserId.eq(user_id))
        .filter(api_key::Column::RevokedAt.is_null())
        .order_by_desc(api_key::Column::CreatedAt)
        .order_by_desc(api_key::Column::Id)
        .all(conn)
        .await?)
}

/// `apiKeys(userId)`: another user's keys, with `USERS_READ`.
pub async fn list_for(
    ctx: &AppContext,
    viewer: &Viewer,
    user_id: Uuid,
) -> Result<Vec<api_key::Model>> {
    if viewer.id() != user_id {
        viewer.require(Permission::UsersRead)?;
    }
    of_user(&ctx.db, user_id).await
}

/// `revokeApiKey`: one's own key, or (with `USERS_UPDATE`) anyone's but a
/// superuser's unless the caller is one. Only in a signed-in session.
/// `NOT_FOUND` for an unknown, revoked or hidden key.
#[tracing::instrument(name = "api_keys.revoke", skip_all, fields(by = %crate::ids::user(viewer.id())))]
pub async fn revoke(ctx: &AppContext, viewer: &Viewer, id: Uuid) -> Result<()> {
    viewer.require_session()?;
    let missing = || AppError::not_found("API key").with_field("id");
    let key = api_key::Entity::find_by_id(id)
        .one(&ctx.db)
        .await?
        .filter(|k| k.revoked_at.is_none())
        .ok_or_else(missing)?;
    if key.user_id != viewer.id() {
        if !viewer.has(Permission::UsersUpdate) {
            return Err(missing());
        }
        let owner = users::find(&ctx.db, key.user_id)
            .await?
            .ok_or_else(missing)?;
        users::check_target(viewer, &owner)?;
    }
    let txn = ctx.begin().await?;
    let revoked = api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(Some(now())))
        .filter(api_key::Column::Id.eq(id))
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if revoked.rows_affected == 0 {
        return Err(missing());
    }
    Event::by(viewer, Action::ApiKeyRevoked)
        .on(Target::User(key.user_id))
        .change(
            "apiKeyId",
            crate::ids::encode(crate::ids::API_KEY, id),
            Value::Null,
        )
        .record(&txn)
        .await?;
    txn.commit().await?;
    tracing::info!(key_id = %crate::ids::encode(crate::ids::API_KEY, id), "API key revoked");
    Ok(())
}

/// Resolves a key's secret to its viewer in one statement (the key, its
/// user and the user's roles, a row per role), as `sessions::load_viewer`
/// does for a JWT. `lastUsedAt` is written by a second statement only when
/// it is a minute old. An unknown or revoked key is `TOKEN_INVALID`, an
/// expired one `TOKEN_EXPIRED`.
#[tracing::instrument(name = "api_keys.load_viewer", skip_all)]
pub async fn load_viewer(conn: &impl ConnectionTrait, secret: &str) -> Result<Viewer> {
    if secret.len() != SECRET_PREFIX.len() + SECRET_CHARS {
        return Err(AppError::TokenInvalid);
    }
    let select = user::Entity::find()
        .join(JoinType::InnerJoin, user::Relation::ApiKey.def())
        .join(JoinType::LeftJoin, user::Relation::UserRole.def())
        .join(JoinType::LeftJoin, user_role::Relation::Role.def())
        .columns([
            api_key::Column::Id,
            api_key::Column::Permissions,
            api_key::Column::ExpiresAt,
            api_key::Column::RevokedAt,
            api_key::Column::LastUsedAt,
        ])
        .columns(role::Column::iter())
        .filter(api_key::Column::SecretHash.eq(hash_token(secret)));
    let rows = conn.query_all(&select.into_query()).await?;
    let Some(first) = rows.first() else {
        return Err(AppError::TokenInvalid);
    };
    let width = user::Model::WIDTH;
    let user = user::Model::from_position(first, 0)?;
    let key_id: Uuid = first.try_get_by_index(width)?;
    let key_permissions: String = first.try_get_by_index(width + 1)?;
    let expires_at: Option<DateTime<Utc>> = first.try_get_by_index(width + 2)?;
    let revoked_at: Option<DateTime<Utc>> = first.try_get_by_index(width + 3)?;
    let last_used_at: Option<DateTime<Utc>> = first.try_get_by_index(width + 4)?;
    let role_at = width + 5;
    let ts = now();
    if revoked_at.is_some() {
        return Err(AppError::TokenInvalid);
    }
    if expires_at.is_some_and(|at| at <= ts) {
        return Err(AppError::TokenExpired);
    }
    if user.is_deleted() {
        return Err(AppError::TokenInvalid);
    }
    if user.status != user::Status::Active {
        return Err(AppError::AccountDisabled);
    }
    let mut role_models = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get_by_index::<Option<Uuid>>(role_at)?.is_some() {
            role_models.push(role::Model::from_position(row, role_at)?);
        }
    }
    let held: BTreeSet<Permission> = if user.is_superuser {
        Permission::ALL.into_iter().collect()
    } else {
        role_grants::permissions(&role_models)
    };
    let granted = parse_permissions(&key_permissions);
    let stale = ts - LAST_USED_GRANULARITY;
    if last_used_at.is_none_or(|at| at <= stale) {
        // Conditional too: of requests racing on a stale value, one writes.
        api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(Some(ts)))
            .filter(api_key::Column::Id.eq(key_id))
            .filter(
                sea_orm::Condition::any()
                    .add(api_key::Column::LastUsedAt.is_null())
                    .add(api_key::Column::LastUsedAt.lte(stale)),
            )
            .exec(conn)
            .await?;
    }
    Ok(Viewer {
        user,
        session_id: Uuid::nil(),
        permissions: held.intersection(&granted).copied().collect(),
        api_key: Some(key_id),
        origin: crate::auth::RequestMeta::default(),
        impersonation: None,
    })
}
