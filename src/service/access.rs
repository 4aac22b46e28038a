//! The ways into an account, a building block: starting a session (a chain
//! of refresh tokens and the access tokens it hands out), and ending every
//! session or API key of a user, in the caller's transaction.

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use entity::{api_key, session, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set,
    sea_query::Expr,
};
use sha2::Sha256;
use uuid::Uuid;

use super::{
    AppContext, RequestMeta, now, signing,
    tokens::{hash_token, random_token},
    users,
};
use crate::{auth::Impersonation, error::Result, ids};

/// The credentials handed to a client after login, registration or refresh.
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub user: user::Model,
}

/// Starts a new session chain for `user` and returns its tokens. `user` is
/// the row as the caller's transaction locked (or inserted) it: a user
/// suspended or deleted meanwhile gets no session.
pub async fn start(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    user: user::Model,
    meta: &RequestMeta,
) -> Result<Tokens> {
    start_in(conn, ctx, user, meta, None).await
}

/// `start`, with the session acting in `organization` (one `user` belongs
/// to, as the caller checked).
pub async fn start_in(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    user: user::Model,
    meta: &RequestMeta,
    organization: Option<Uuid>,
) -> Result<Tokens> {
    users::usable(&user)?;
    let chain = Chain {
        id: ids::new_key(),
        created_at: now(),
        active_organization_id: organization,
        impersonation: None,
    };
    insert_link(conn, ctx, user, chain, random_token(), meta).await
}

/// A session chain, as each of its links repeats it.
pub struct Chain {
    pub id: Uuid,
    /// The first sign-in: the chain's absolute lifetime counts from it.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The organisation the session acts in, carried across refreshes.
    pub active_organization_id: Option<Uuid>,
    /// The administrator acting as the user, for an impersonation.
    pub impersonation: Option<Impersonating>,
}

/// An impersonation, as each link of its chain repeats it.
#[derive(Debug, Clone)]
pub struct Impersonating {
    pub who: Impersonation,
    /// Why it was started, as the administrator wrote it.
    pub reason: String,
}

impl Chain {
    /// The chain a stored link belongs to.
    pub fn of(link: &session::Model) -> Self {
        let impersonation =
            link.impersonator_id
                .zip(link.impersonation_ends_at)
                .map(|(actor_id, ends_at)| Impersonating {
                    who: Impersonation {
                        actor_id,
                        read_only: link.read_only,
                        ends_at,
                    },
                    reason: link.impersonation_reason.clone().unwrap_or_default(),
                });
        Self {
            id: link.chain_id,
            created_at: link.created_at,
            active_organization_id: link.active_organization_id,
            impersonation,
        }
    }
}

/// The refresh token that succeeds `token` in its chain: an HMAC of it under
/// the server's secret, so within `REFRESH_REUSE_INTERVAL_SECS` the server can
/// hand a second tab the same successor without storing any token.
pub fn successor_token(ctx: &AppContext, token: &str) -> String {
    use hmac::{Hmac, Mac};
    use secrecy::ExposeSecret;
    let mut mac = Hmac::<Sha256>::new_from_slice(ctx.config.jwt_secret.expose_secret().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(b"usergraph refresh successor\0");
    mac.update(token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The access token of `chain` for `user`, handed out with `refresh_token`.
/// An impersonation's token never outlives the impersonation.
pub async fn tokens(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    user: user::Model,
    chain: &Chain,
    refresh_token: String,
) -> Result<Tokens> {
    let who = chain.impersonation.as_ref().map(|i| &i.who);
    let access_token = signing::issue(
        conn,
        ctx,
        &user,
        chain.id,
        chain.active_organization_id,
        who,
    )
    .await?;
    let left = who.map_or(u64::MAX, |who| {
        u64::try_from((who.ends_at - now()).num_seconds()).unwrap_or(0)
    });
    Ok(Tokens {
        access_token,
        refresh_token,
        expires_in: ctx.jwt.ttl.as_secs().min(left),
        user,
    })
}

pub async fn insert_link(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    user: user::Model,
    chain: Chain,
    refresh_token: String,
    meta: &RequestMeta,
) -> Result<Tokens> {
    let ts = now();
    let impersonation = chain.impersonation.as_ref();
    let mut expires_at = expiry(ctx, ts, chain.created_at);
    if let Some(i) = impersonation {
        expires_at = expires_at.min(i.who.ends_at);
    }
    session::ActiveModel {
        id: Set(ids::new_key()),
        chain_id: Set(chain.id),
        user_id: Set(user.id),
        refresh_token_hash: Set(hash_token(&refresh_token)),
        created_at: Set(chain.created_at),
        last_used_at: Set(ts),
        expires_at: Set(expires_at),
        rotated_at: Set(None),
        revoked_at: Set(None),
        // An impersonation's client is the administrator's: the user's
        // session list does not show where their support staff sit.
        user_agent: Set(meta.user_agent.clone().filter(|_| impersonation.is_none())),
        ip: Set(meta.ip.clone().filter(|_| impersonation.is_none())),
        active_organization_id: Set(chain.active_organization_id),
        impersonator_id: Set(impersonation.map(|i| i.who.actor_id)),
        read_only: Set(impersonation.is_some_and(|i| i.who.read_only)),
        impersonation_reason: Set(impersonation.map(|i| i.reason.clone())),
        impersonation_ends_at: Set(impersonation.map(|i| i.who.ends_at)),
    }
    .insert(conn)
    .await?;
    tokens(conn, ctx, user, &chain, refresh_token).await
}

/// A link lives one refresh lifetime, but never past the chain's absolute
/// lifetime counted from sign-in (RFC 9700 §4.14.2).
fn expiry(
    ctx: &AppContext,
    now: chrono::DateTime<chrono::Utc>,
    signed_in: chrono::DateTime<chrono::Utc>,
) -> chrono::DateTime<chrono::Utc> {
    let sliding =
        now + Duration::from_std(ctx.config.refresh_token_ttl).unwrap_or(Duration::days(30));
    let absolute = signed_in
        + Duration::from_std(ctx.config.session_max_lifetime).unwrap_or(Duration::days(90));
    sliding.min(absolute)
}

/// The user's live links: the newest row of each chain not revoked or expired.
pub fn live_links(user_id: Uuid, ts: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(session::Column::UserId.eq(user_id))
        .add(session::Column::RotatedAt.is_null())
        .add(session::Column::RevokedAt.is_null())
        .add(session::Column::ExpiresAt.gt(ts))
}

/// Revokes every row of one of `user_id`'s session chains; the caller holds
/// the user's lock. Returns whether a live session ended.
pub async fn end_chain(conn: &impl ConnectionTrait, user_id: Uuid, chain_id: Uuid) -> Result<bool> {
    let result = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(now()))
        .filter(session::Column::ChainId.eq(chain_id))
        .filter(session::Column::UserId.eq(user_id))
        .filter(session::Column::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Ends the user's live sessions, optionally keeping one, and the
/// impersonations they started as an administrator (a suspension, a
/// deletion, a password change or `logoutAll` ends those too); returns how
/// many ended. Call it inside the transaction of the change that causes it.
///
/// A refresh of an impersonation locks its administrator's row before its
/// user's, so it either committed before this (and its new link is ended
/// here) or runs after and finds its chain ended.
pub async fn revoke_sessions(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    keep: Option<Uuid>,
) -> Result<u64> {
    users::lock(conn, user_id).await?;
    let ts = now();
    let started = Condition::all()
        .add(session::Column::ImpersonatorId.eq(user_id))
        .add(session::Column::RotatedAt.is_null())
        .add(session::Column::RevokedAt.is_null())
        .add(session::Column::ExpiresAt.gt(ts));
    let mut update = session::Entity::update_many()
        .col_expr(session::Column::RevokedAt, Expr::value(ts))
        .filter(Condition::any().add(live_links(user_id, ts)).add(started));
    if let Some(keep) = keep {
        update = update.filter(session::Column::ChainId.ne(keep));
    }
    Ok(update.exec(conn).await?.rows_affected)
}

/// Revokes every live key of `user_id`, in the caller's transaction: a
/// suspension or a deletion ends its keys for good, as it ends its sessions
/// (a later reactivation or restore does not bring them back).
pub async fn revoke_keys(conn: &impl ConnectionTrait, user_id: Uuid) -> Result<u64> {
    Ok(api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(Some(now())))
        .filter(api_key::Column::UserId.eq(user_id))
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(conn)
        .await?
        .rows_affected)
}

/// Refuses (`TOKEN_INVALID`) a grant made in a session that has ended:
/// read in the caller's transaction after the user's row is locked, so a
/// `logoutAll`, a password change or reset (which lock it first) either
/// committed before, and is seen here, or waits for the grant and then
/// revokes what it made. `Ok` for a request by API key (keys make no grants).
pub async fn require_live_session(
    conn: &impl ConnectionTrait,
    viewer: &crate::auth::Viewer,
) -> Result<()> {
    if viewer.api_key.is_some() {
        return Ok(());
    }
    let live = session::Entity::find()
        .filter(live_links(viewer.id(), now()))
        .filter(session::Column::ChainId.eq(viewer.session_id))
        .one(conn)
        .await?;
    match live {
        Some(_) => Ok(()),
        None => Err(crate::error::AppError::TokenInvalid),
    }
}

/// Refuses (`BAD_USER_INPUT` on `field`) a grant whose step-up password is
/// no longer the user's: `locked` is the user's row as the caller's
/// transaction locked it, and `confirmed` the row whose password the
/// step-up checked. A password changed in between ended the sessions and
/// keys made with the old one; nothing new may be made with it.
pub fn require_same_password(
    locked: &user::Model,
    confirmed: &user::Model,
    field: &'static str,
) -> Result<()> {
    if locked.password_hash != confirmed.password_hash {
        return Err(crate::error::AppError::bad_input(
            field,
            "the password is not correct",
        ));
    }
    Ok(())
}
