//! Sessions and refresh tokens. A session is a chain of rows, one per refresh
//! token; only the newest row of a live chain has `rotated_at` null. Refresh
//! tokens are 32 random bytes and only their SHA-256 is stored.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use entity::{FromPosition, Repeated, role, session, user, user_role};
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, EntityTrait, Iterable, JoinType, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, RelationTrait,
    sea_query::{Alias, Expr, ExprTrait},
};
use uuid::Uuid;

use super::{
    AppContext, RequestMeta,
    access::{self, Tokens, end_chain, insert_link, live_links, successor_token, tokens},
    audit::{Action, Event, Target},
    now, role_grants,
    tokens::hash_token,
    users,
};
use crate::{
    auth::{Impersonation, Permission, Viewer, jwt::Claims},
    error::{AppError, Result},
    ids,
};
use serde_json::Value;

/// Exchanges a refresh token for a new pair. The old token stops working; a
/// token that was already rotated revokes its whole chain (RFC 9700 §4.14),
/// unless it was rotated within `REFRESH_REUSE_INTERVAL_SECS` and its
/// successor is still live, when the successor is handed out again (two tabs
/// refreshing at once).
///
/// Rotation and revocation exclude each other through the user's row: both
/// lock it first in their transaction, so a revocation either sees the link a
/// rotation inserted or makes the rotation find its token revoked, and no
/// chain outlives a `logoutAll`, a password change or a suspension.
#[tracing::instrument(name = "sessions.refresh", skip_all)]
pub async fn refresh(ctx: &AppContext, token: &str, meta: &RequestMeta) -> Result<Tokens> {
    let hash = hash_token(token);
    let txn = ctx.begin().await?;
    let ts = now();
    let presented = session::Entity::find()
        .filter(session::Column::RefreshTokenHash.eq(hash.as_str()))
        .one(&txn)
        .await?
        .ok_or(AppError::TokenInvalid)?;
    // An impersonation's administrator is locked before its user, as
    // `access::revoke_sessions` locks them, so ending their sessions and
    // refreshing this one exclude each other.
    let actor = match presented.impersonator_id {
        Some(id) => Some(users::lock(&txn, id).await?.ok_or(AppError::TokenInvalid)?),
        None => None,
    };
    let user = users::lock(&txn, presented.user_id)
        .await?
        .ok_or(AppError::TokenInvalid)?;
    // The conditional update decides: of concurrent refreshes of one token,
    // exactly one sees a row affected.
    let claimed = session::Entity::update_many()
        .col_expr(session::Column::RotatedAt, Expr::value(ts))
        .filter(session::Column::Id.eq(presented.id))
        .filter(session::Column::RotatedAt.is_null())
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(ts))
        .exec(&txn)
        .await?
        .rows_affected
        == 1;
    if !claimed {
        // Read again under the lock: the row as the last writer left it.
        let row = session::Entity::find_by_id(presented.id)
            .one(&txn)
            .await?
            .ok_or(AppError::TokenInvalid)?;
        if row.rotated_at.is_some() && row.revoked_at.is_none() {
            if let Some(tokens) =
                reissue_successor(&txn, ctx, &row, token, user, actor.as_ref(), ts).await?
            {
                return Ok(tokens);
            }
            tracing::warn!(user_id = %crate::ids::user(row.user_id), session_id = %crate::ids::session(row.chain_id), "refresh token reuse; revoking the session");
            end_chain(&txn, row.user_id, row.chain_id).await?;
            Event::anonymous(meta, Action::SessionReused)
                .on(Target::User(row.user_id))
                .change("sessionIds", Value::Null, vec![ids::session(row.chain_id)])
                .record(&txn)
                .await?;
            txn.commit().await?;
            return Err(AppError::TokenInvalid);
        }
        return Err(if row.revoked_at.is_none() && row.expires_at <= ts {
            AppError::TokenExpired
        } else {
            AppError::TokenInvalid
        });
    }
    if user.is_deleted() {
        end_chain(&txn, user.id, presented.chain_id).await?;
        txn.commit().await?;
        return Err(AppError::TokenInvalid);
    }
    if user.status != user::Status::Active {
        return Err(AppError::AccountDisabled);
    }
    let chain = access::Chain::of(&presented);
    require_actor(&txn, &user, actor.as_ref()).await?;
    let successor = successor_token(ctx, token);
    let tokens = insert_link(&txn, ctx, user, chain, successor, meta).await?;
    txn.commit().await?;
    Ok(tokens)
}

/// Within the reuse interval after `row` was rotated, its successor again,
/// when that successor is still the chain's live link and its user may sign in.
async fn reissue_successor(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    row: &session::Model,
    token: &str,
    user: user::Model,
    actor: Option<&user::Model>,
    ts: DateTime<Utc>,
) -> Result<Option<Tokens>> {
    let interval = Duration::from_std(ctx.config.refresh_reuse_interval).unwrap_or_default();
    let within = row.rotated_at.is_some_and(|at| ts - at <= interval);
    if interval.is_zero() || !within || user.is_deleted() || user.status != user::Status::Active {
        return Ok(None);
    }
    let successor = successor_token(ctx, token);
    let live = session::Entity::find()
        .filter(session::Column::RefreshTokenHash.eq(hash_token(&successor)))
        .filter(session::Column::ChainId.eq(row.chain_id))
        .filter(session::Column::RotatedAt.is_null())
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(ts))
        .one(conn)
        .await?;
    match live {
        Some(live) => {
            let chain = access::Chain::of(&live);
            require_actor(conn, &user, actor).await?;
            tokens(conn, ctx, user, &chain, successor).await.map(Some)
        }
        None => Ok(None),
    }
}

/// Refuses (`TOKEN_INVALID`) to refresh an impersonation of `target` whose
/// administrator, `actor` as locked, may no longer act as them
/// (`role_grants::may_impersonate`). `Ok` for a user's own session.
async fn require_actor(
    conn: &impl ConnectionTrait,
    target: &user::Model,
    actor: Option<&user::Model>,
) -> Result<()> {
    let Some(actor) = actor else {
        return Ok(());
    };
    role_grants::may_impersonate_users(conn, actor, target)
        .await
        .map_err(|_| AppError::TokenInvalid)
}

/// `logout`: ends the viewer's current session and, when `refresh_token` is
/// one of the viewer's, that token's session too.
pub async fn logout(ctx: &AppContext, viewer: &Viewer, refresh_token: Option<&str>) -> Result<()> {
    viewer.require_session()?;
    let txn = ctx.begin().await?;
    users::lock(&txn, viewer.id()).await?;
    end_chain(&txn, viewer.id(), viewer.session_id).await?;
    let mut ended = vec![Value::from(ids::session(viewer.session_id))];
    if let Some(token) = refresh_token
        && let Some(chain) = chain_of(&txn, viewer.id(), token).await?
        && chain != viewer.session_id
    {
        end_chain(&txn, viewer.id(), chain).await?;
        ended.push(ids::session(chain).into());
    }
    Event::by(viewer, Action::AuthLogout)
        .on(Target::User(viewer.id()))
        .change("sessionIds", Value::Null, ended)
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// `logoutAll`: ends every session of the viewer, and with
/// `include_api_keys` revokes their API keys too; returns how many sessions
/// ended.
pub async fn logout_all(ctx: &AppContext, viewer: &Viewer, include_api_keys: bool) -> Result<u64> {
    viewer.require_session()?;
    let txn = ctx.begin().await?;
    let ended = access::revoke_sessions(&txn, viewer.id(), None).await?;
    let mut event = Event::by(viewer, Action::AuthLogout)
        .on(Target::User(viewer.id()))
        .change("sessionsEnded", Value::Null, ended);
    if include_api_keys {
        let revoked = access::revoke_keys(&txn, viewer.id()).await?;
        event = event.change("apiKeysRevoked", Value::Null, revoked);
    }
    event.record(&txn).await?;
    txn.commit().await?;
    Ok(ended)
}

/// `logoutOthers`: ends every session of the viewer but the current one
/// (API keys stay); returns how many ended.
pub async fn logout_others(ctx: &AppContext, viewer: &Viewer) -> Result<u64> {
    viewer.require_session()?;
    let txn = ctx.begin().await?;
    let ended = access::revoke_sessions(&txn, viewer.id(), Some(viewer.session_id)).await?;
    Event::by(viewer, Action::AuthLogout)
        .on(Target::User(viewer.id()))
        .change("sessionsEnded", Value::Null, ended)
        .change(
            "keptSessionId",
            Value::Null,
            ids::session(viewer.session_id),
        )
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(ended)
}

/// `User.sessions`: the user's live sessions, for the user themself and
/// holders of `USERS_READ` (`FORBIDDEN` otherwise).
pub fn may_list_sessions(viewer: &Viewer, user_id: Uuid) -> Result<()> {
    if viewer.reads_user(user_id) {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// The live sessions of each of `users`, most recently used first, in one
/// statement.
pub async fn live_of_users(
    conn: &impl ConnectionTrait,
    users: &[Uuid],
) -> Result<Vec<session::Model>> {
    let ts = now();
    Ok(session::Entity::find()
        .filter(session::Column::UserId.is_in(users.iter().copied()))
        .filter(session::Column::RotatedAt.is_null())
        .filter(session::Column::RevokedAt.is_null())
        .filter(session::Column::ExpiresAt.gt(ts))
        .order_by_desc(session::Column::LastUsedAt)
        .all(conn)
        .await?)
}

/// Ends one of the viewer's own sessions; another user's session is `NOT_FOUND`.
pub async fn revoke_own(ctx: &AppContext, viewer: &Viewer, chain_id: Uuid) -> Result<()> {
    viewer.require_session()?;
    let txn = ctx.begin().await?;
    users::lock(&txn, viewer.id()).await?;
    let ended = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now()))
        .filter(session::Column::ChainId.eq(chain_id))
        .filter(live_links(viewer.id(), now()))
        .exec(&txn)
        .await?
        .rows_affected;
    if ended == 0 {
        return Err(AppError::not_found("session"));
    }
    Event::by(viewer, Action::SessionRevoked)
        .on(Target::User(viewer.id()))
        .change("sessionId", Value::Null, ids::session(chain_id))
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// The chain a refresh token belongs to, if it is one of `user_id`'s.
pub async fn chain_of(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    token: &str,
) -> Result<Option<Uuid>> {
    Ok(session::Entity::find()
        .filter(session::Column::RefreshTokenHash.eq(hash_token(token)))
        .filter(session::Column::UserId.eq(user_id))
        .one(conn)
        .await?
        .map(|row| row.chain_id))
}

/// The newest row of each of these chains (its live row, if it has one),
/// in one statement.
pub async fn newest_of_chains(
    conn: &impl ConnectionTrait,
    chains: impl IntoIterator<Item = Uuid>,
) -> Result<Vec<session::Model>> {
    Ok(session::Entity::find()
        .filter(session::Column::ChainId.is_in(chains))
        .filter(session::Column::RotatedAt.is_null())
        .all(conn)
        .await?)
}

/// The user's live sessions, most recently used first (the live row of each chain).
pub async fn list_live(conn: &impl ConnectionTrait, user_id: Uuid) -> Result<Vec<session::Model>> {
    Ok(session::Entity::find()
        .filter(live_links(user_id, now()))
        .order_by_desc(session::Column::LastUsedAt)
        .all(conn)
        .await?)
}

/// Resolves verified claims to the viewer in one statement: the session's
/// live row with its user and the user's roles, a row per role, and for an
/// impersonation the administrator's standing and roles beside them (a row
/// per pair: both hold a few). Rows are read by position, as this runs on
/// every authenticated request: the user and the session's lifetime from
/// the first row, a role from each row that has one.
///
/// An impersonation is re-checked here, on every request and replica: once
/// its administrator is suspended or deleted, or may no longer act as this
/// user (`role_grants::may_impersonate`), its tokens stop working.
#[tracing::instrument(name = "sessions.load_viewer", skip_all)]
pub async fn load_viewer(conn: &impl ConnectionTrait, claims: &Claims) -> Result<Viewer> {
    let user_id = ids::decode(ids::USER, &claims.sub, "sub").map_err(|_| AppError::TokenInvalid)?;
    let chain_id =
        ids::decode(ids::SESSION, &claims.sid, "sid").map_err(|_| AppError::TokenInvalid)?;
    let actor = Alias::new("actor");
    let actor_grant = Alias::new("actor_grant");
    let actor_role = Alias::new("actor_role");
    let mut select = user::Entity::find()
        .join(JoinType::InnerJoin, user::Relation::Session.def())
        .join(JoinType::LeftJoin, user::Relation::UserRole.def())
        .join(JoinType::LeftJoin, user_role::Relation::Role.def())
        .column(session::Column::RevokedAt)
        .column(session::Column::ExpiresAt)
        .column(session::Column::ImpersonatorId)
        .column(session::Column::ReadOnly)
        .column(session::Column::ImpersonationEndsAt)
        .columns(role::Column::iter())
        .filter(session::Column::ChainId.eq(chain_id))
        .filter(session::Column::RotatedAt.is_null())
        .into_query();
    select
        .join_as(
            JoinType::LeftJoin,
            user::Entity,
            actor.clone(),
            Expr::col((actor.clone(), user::Column::Id))
                .equals((session::Entity, session::Column::ImpersonatorId)),
        )
        .join_as(
            JoinType::LeftJoin,
            user_role::Entity,
            actor_grant.clone(),
            Expr::col((actor_grant.clone(), user_role::Column::UserId))
                .equals((actor.clone(), user::Column::Id)),
        )
        .join_as(
            JoinType::LeftJoin,
            role::Entity,
            actor_role.clone(),
            Expr::col((actor_role.clone(), role::Column::Id))
                .equals((actor_grant, user_role::Column::RoleId)),
        )
        .expr(Expr::col((actor.clone(), user::Column::Status)))
        .expr(Expr::col((actor.clone(), user::Column::DeletedAt)))
        .expr(Expr::col((actor, user::Column::IsSuperuser)));
    for column in role::Column::iter() {
        select.expr(Expr::col((actor_role.clone(), column)));
    }
    let rows = conn.query_all(&select).await?;
    let Some(first) = rows.first() else {
        return Err(AppError::Unauthenticated);
    };
    let width = user::Model::WIDTH;
    let user = user::Model::from_position(first, 0)?;
    let revoked_at: Option<DateTime<Utc>> = first.try_get_by_index(width)?;
    let expires_at: DateTime<Utc> = first.try_get_by_index(width + 1)?;
    let impersonator: Option<Uuid> = first.try_get_by_index(width + 2)?;
    let read_only: bool = first.try_get_by_index(width + 3)?;
    let ends_at: Option<DateTime<Utc>> = first.try_get_by_index(width + 4)?;
    let role_at = width + 5;
    let actor_at = role_at + role::Model::WIDTH;
    let actor_role_at = actor_at + 3;
    let mut roles = Repeated::<role::Model>::default();
    let mut actor_roles = Repeated::<role::Model>::default();
    let (mut held, mut actor_held) = (Vec::new(), Vec::new());
    for row in &rows {
        if let Some(role) = roles.read(row, role_at)? {
            held.push(role);
        }
        if let Some(role) = actor_roles.read(row, actor_role_at)? {
            actor_held.push(role);
        }
    }
    if user.id != user_id || revoked_at.is_some() || expires_at <= now() {
        return Err(AppError::Unauthenticated);
    }
    if user.is_deleted() {
        return Err(AppError::Unauthenticated);
    }
    if user.status != user::Status::Active {
        return Err(AppError::AccountDisabled);
    }
    let permissions: BTreeSet<Permission> = role_grants::permissions(&held);
    let claimed_actor = claims.act.as_ref().map(|act| act.sub.as_str());
    if claimed_actor != impersonator.map(ids::user).as_deref() {
        return Err(AppError::Unauthenticated);
    }
    let impersonation = match impersonator {
        None => None,
        Some(actor_id) => {
            let status: Option<String> = first.try_get_by_index(actor_at)?;
            let deleted_at: Option<DateTime<Utc>> = first.try_get_by_index(actor_at + 1)?;
            let is_superuser: Option<bool> = first.try_get_by_index(actor_at + 2)?;
            let actor = role_grants::Principal {
                id: actor_id,
                usable: deleted_at.is_none()
                    && status.as_deref() == Some(user::Status::Active.to_value().as_str()),
                is_superuser: is_superuser.unwrap_or(false),
                permissions: role_grants::permissions(&actor_held),
            };
            let target = role_grants::Principal {
                id: user.id,
                usable: true,
                is_superuser: user.is_superuser,
                permissions: permissions.clone(),
            };
            if role_grants::may_impersonate(&actor, &target).is_err() {
                tracing::info!(session_id = %ids::session(chain_id), "an impersonation whose administrator may no longer act is refused");
                return Err(AppError::Unauthenticated);
            }
            Some(Impersonation {
                actor_id,
                read_only,
                ends_at: ends_at.ok_or(AppError::Unauthenticated)?,
            })
        }
    };
    Ok(Viewer {
        user,
        session_id: chain_id,
        permissions,
        api_key: None,
        origin: RequestMeta::default(),
        impersonation,
    })
}
