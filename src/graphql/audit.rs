//! The audit trail: `auditEvents`, `User.auditEvents` (both `AUDIT_READ`) and
//! `mySecurityEvents`, newest first, keyset paged.

use async_graphql::{Context, ID, InputObject, Object};
use uuid::Uuid;

use super::{
    cost,
    guard::{Authenticated, viewer},
    request::app,
    types::{AuditEventConnection, DateTime, audit_connection as connection},
};
use crate::{
    auth::Viewer,
    error::AppError,
    ids,
    service::{
        audit::{self, Filter},
        organizations,
    },
};

/// Which events `auditEvents` returns. Every condition given must hold.
#[derive(InputObject, Default)]
pub struct AuditEventFilter {
    /// Events by this user.
    pub actor_id: Option<ID>,
    /// Events about this user, role, tier or webhook.
    pub target_id: Option<ID>,
    /// Events with one of these actions.
    pub actions: Option<Vec<String>>,
    /// Events at or after this instant.
    pub after: Option<DateTime>,
    /// Events before this instant.
    pub before: Option<DateTime>,
    /// The events of this organisation (`org_…`): its `organization.*` and
    /// `membership.*` events. With it, `ORG_AUDIT_READ` there is enough.
    pub organization_id: Option<ID>,
}

/// Any public id (`usr_…`, `rol_…`, `tir_…`, `whk_…`) to its key.
fn any_key(id: &ID, field: &'static str) -> Result<Uuid, AppError> {
    [ids::USER, ids::ROLE, ids::TIER, ids::WEBHOOK]
        .into_iter()
        .find_map(|prefix| ids::decode(prefix, id, field).ok())
        .ok_or_else(|| AppError::bad_input(field, "not a valid usr_, rol_, tir_ or whk_ id"))
}

fn require_reader(viewer: &Viewer) -> Result<(), AppError> {
    audit::require_reader(viewer)
}

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// The audit trail (`AUDIT_READ`): every state change and sign-in event,
    /// newest first. With `filter.organizationId`, `ORG_AUDIT_READ` in that
    /// organisation is enough. `first` is at most 100 (default 20); page with `after`
    /// and `pageInfo.endCursor`.
    #[graphql(
        guard = "Authenticated",
        complexity = "cost::STATEMENT + first.unwrap_or(20).clamp(0, 100) as usize * child_complexity"
    )]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<AuditEventFilter>,
    ) -> async_graphql::Result<AuditEventConnection> {
        let filter = filter.unwrap_or_default();
        let organization_id = ids::decode_opt(
            ids::ORGANIZATION,
            filter.organization_id.clone(),
            "organizationId",
        )?;
        match organization_id {
            Some(org) => {
                organizations::require_trail_reader(&app(ctx).db, viewer(ctx)?, org).await?
            }
            None => require_reader(viewer(ctx)?)?,
        }
        let filter = Filter {
            organization_id,
            actor_id: filter
                .actor_id
                .map(|id| ids::decode(ids::USER, &id, "actorId"))
                .transpose()?,
            target_id: filter
                .target_id
                .map(|id| any_key(&id, "targetId"))
                .transpose()?,
            actions: filter.actions,
            after: filter.after.map(|t| t.0),
            before: filter.before.map(|t| t.0),
            security_only: false,
        };
        connection(ctx, filter, first, after).await
    }

    /// The caller's own security history, newest first: sign-ins and
    /// failures, lockouts, password, second-factor, API key and session
    /// events (`auth.*`, `session.*`, `api_key.*`).
    #[graphql(
        guard = "Authenticated",
        complexity = "cost::STATEMENT + first.unwrap_or(20).clamp(0, 100) as usize * child_complexity"
    )]
    async fn my_security_events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<AuditEventConnection> {
        let filter = Filter {
            target_id: Some(viewer(ctx)?.id()),
            security_only: true,
            ..Default::default()
        };
        connection(ctx, filter, first, after).await
    }
}
