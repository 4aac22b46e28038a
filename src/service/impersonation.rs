//! Impersonation, a flow: a support administrator holding
//! `USERS_IMPERSONATE` acts as a user in a session of its own
//! (`impersonateUser`), read-only unless asked otherwise, for at most an
//! hour, and ends it (`endImpersonation`). Who may act as whom is
//! `role_grants::may_impersonate`, checked here, on every request
//! (`sessions::load_viewer`) and on every refresh; what an impersonation
//! may not run is refused before execution (`http::guardrails`). The user
//! sees the session, its events and, with `IMPERSONATION_NOTIFY`, a mail.

use chrono::Duration;
use serde_json::Value;
use uuid::Uuid;

use super::{
    AppContext, RequestMeta,
    access::{self, Chain, Impersonating, Tokens},
    account_mail::{self, ImpersonationNotice},
    audit::{Action, Event, Target},
    credentials, now, outbox, role_grants,
    tokens::random_token,
    users,
};
use crate::{
    auth::{Impersonation, Permission, Viewer},
    error::{AppError, Result},
    ids, validation,
};

/// An impersonation lasts at most an hour, and at least a minute.
pub const MAX_TTL_SECS: i32 = 3600;
pub const MIN_TTL_SECS: i32 = 60;
/// The longest reason kept.
pub const MAX_REASON: usize = 500;

/// What `impersonateUser` asks for.
pub struct Request<'a> {
    pub target: Uuid,
    pub reason: &'a str,
    pub read_only: bool,
    pub ttl_seconds: i32,
    /// The administrator's own password, as a step-up.
    pub password: &'a str,
}

/// `impersonateUser`: a new session of `target` in which `viewer` acts,
/// after a step-up with the viewer's password. Refused with an API key,
/// from inside another impersonation, and for whom `may_impersonate`
/// refuses.
pub async fn start(
    ctx: &AppContext,
    viewer: &Viewer,
    request: Request<'_>,
    meta: &RequestMeta,
) -> Result<Tokens> {
    viewer.require_session()?;
    if viewer.impersonation.is_some() {
        return Err(AppError::ForbiddenBecause(
            "an impersonation cannot start another: end it first",
        ));
    }
    viewer.require(Permission::UsersImpersonate)?;
    let reason = validation::optional_text(Some(request.reason), "reason", MAX_REASON)?
        .ok_or_else(|| AppError::bad_input("reason", "say why you act as this user"))?;
    if !(MIN_TTL_SECS..=MAX_TTL_SECS).contains(&request.ttl_seconds) {
        return Err(AppError::bad_input(
            "ttlSeconds",
            format!("ttlSeconds must be between {MIN_TTL_SECS} and {MAX_TTL_SECS}"),
        ));
    }
    if request.target == viewer.id() {
        return Err(AppError::bad_input("id", "you cannot impersonate yourself"));
    }
    credentials::confirm_password(ctx, viewer, request.password, "password").await?;
    let txn = ctx.begin().await?;
    // The administrator before the user, as every impersonation locks them
    // (`access::revoke_sessions`): a suspension of either that committed
    // meanwhile wins.
    let actor = users::lock_usable(&txn, viewer.id()).await?;
    access::require_same_password(&actor, &viewer.user, "password")?;
    access::require_live_session(&txn, viewer).await?;
    let target = users::lock(&txn, request.target)
        .await?
        .filter(|u| !u.is_deleted())
        .ok_or_else(|| AppError::not_found("user").with_field("id"))?;
    role_grants::may_impersonate_users(&txn, &actor, &target).await?;
    let ts = now();
    let ends_at = ts + Duration::seconds(i64::from(request.ttl_seconds));
    let chain = Chain {
        id: ids::new_key(),
        created_at: ts,
        active_organization_id: None,
        impersonation: Some(Impersonating {
            who: Impersonation {
                actor_id: actor.id,
                read_only: request.read_only,
                ends_at,
            },
            reason: reason.clone(),
        }),
    };
    let session_id = chain.id;
    if ctx.config.impersonation_notify {
        let notice = ImpersonationNotice {
            actor: &actor.username,
            reason: &reason,
            read_only: request.read_only,
            lifetime: std::time::Duration::from_secs(request.ttl_seconds.unsigned_abs().into()),
        };
        account_mail::queue_impersonation_notice(&txn, ctx, &target, notice).await?;
    }
    let target_id = target.id;
    let tokens = access::insert_link(&txn, ctx, target, chain, random_token(), meta).await?;
    Event::by(viewer, Action::ImpersonationStarted)
        .on(Target::User(target_id))
        .change("sessionId", Value::Null, ids::session(session_id))
        .change("reason", Value::Null, reason)
        .change("readOnly", Value::Null, request.read_only)
        .change(
            "endsAt",
            Value::Null,
            ends_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
        .record(&txn)
        .await?;
    txn.commit().await?;
    outbox::wake(ctx);
    tracing::info!(user_id = %ids::user(target_id), actor_id = %ids::user(viewer.id()), "impersonation started");
    Ok(tokens)
}

/// `endImpersonation`: ends the impersonation the viewer's session is
/// (`FORBIDDEN` for any other session).
pub async fn end(ctx: &AppContext, viewer: &Viewer) -> Result<()> {
    if viewer.impersonation.is_none() {
        return Err(AppError::ForbiddenBecause(
            "this session is not an impersonation: use logout",
        ));
    }
    let txn = ctx.begin().await?;
    users::lock(&txn, viewer.id()).await?;
    access::end_chain(&txn, viewer.id(), viewer.session_id).await?;
    Event::by(viewer, Action::ImpersonationEnded)
        .on(Target::User(viewer.id()))
        .change("sessionId", Value::Null, ids::session(viewer.session_id))
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}
