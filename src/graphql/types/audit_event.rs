//! `AuditEvent` and its connection.

use async_graphql::{ComplexObject, Context, ID, Json, SimpleObject};
use entity::{audit_event, user};
use uuid::Uuid;

use super::{DateTime, PageInfo, User, user_connection::projection};
use crate::{
    error::AppError,
    graphql::{
        guard::viewer,
        loaders::UserById,
        request::{app, loader},
    },
    ids,
    service::audit::{self, Filter, Target},
};

/// One thing that happened: who did what to whom, when and from where.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct AuditEvent {
    /// Opaque id (`evt_…`).
    pub id: ID,
    /// What happened: `user.created`, `user.updated`, `user.status_changed`,
    /// `auth.login`, `auth.login_failed`, `auth.locked`, `role.updated`, …
    /// (the full list is in the API guide).
    pub action: String,
    /// Who acted (`usr_…`); null for the system or a caller not signed in,
    /// and it stays when the user is later deleted for good.
    pub actor_id: Option<ID>,
    /// The API key the actor used (`key_…`); null when they used a session.
    pub api_key_id: Option<ID>,
    /// The administrator who acted as `actorId` in an impersonation
    /// (`usr_…`, `impersonateUser`); null for everything else.
    pub impersonator_id: Option<ID>,
    /// What the event is about (`usr_…`, `rol_…`, `tir_…` or `whk_…`); null when nothing.
    pub target_id: Option<ID>,
    /// The fields changed, each `{ "old": …, "new": … }`; null when none.
    /// Never a password hash, token, code or secret.
    pub changes: Option<Json<serde_json::Value>>,
    /// The client's address; null when unknown.
    pub ip: Option<String>,
    /// The client's User-Agent; null when it sent none.
    pub user_agent: Option<String>,
    /// The request's `x-request-id`, to find it in the logs; null when none.
    pub request_id: Option<String>,
    pub created_at: DateTime,
    #[graphql(skip)]
    actor_key: Option<Uuid>,
    #[graphql(skip)]
    target_user: Option<Uuid>,
}

impl From<audit_event::Model> for AuditEvent {
    fn from(event: audit_event::Model) -> Self {
        let target_user = (event.target_kind.as_deref() == Some("user"))
            .then_some(event.target_id)
            .flatten();
        Self {
            id: ids::encode(ids::AUDIT_EVENT, event.id).into(),
            action: event.action,
            actor_id: event.actor_id.map(|id| ids::user(id).into()),
            api_key_id: event
                .api_key_id
                .map(|id| ids::encode(ids::API_KEY, id).into()),
            impersonator_id: event.impersonator_id.map(|id| ids::user(id).into()),
            target_id: event
                .target_kind
                .as_deref()
                .zip(event.target_id)
                .map(|(kind, id)| Target::public_id(kind, id).into()),
            changes: event
                .changes
                .and_then(|c| serde_json::from_str(&c).ok())
                .map(Json),
            ip: event.ip,
            user_agent: event.user_agent,
            request_id: event.request_id,
            created_at: event.created_at.into(),
            actor_key: event.actor_id,
            target_user,
        }
    }
}

/// A user an event names, as the viewer may see them: holders of
/// `USERS_READ` see anyone; others only themself (the id stays either way).
async fn event_user(ctx: &Context<'_>, id: Option<Uuid>) -> async_graphql::Result<Option<User>> {
    let viewer = viewer(ctx)?;
    let Some(id) = id.filter(|id| viewer.reads_user(*id)) else {
        return Ok(None);
    };
    let columns = projection(&[&ctx.look_ahead()]).with(user::Column::DeletedAt);
    let found = loader(ctx)?
        .load_one(UserById(id, columns))
        .await
        .map_err(AppError::from)?;
    Ok(found.map(|p| User::projected(p, Some(viewer))))
}

#[ComplexObject]
impl AuditEvent {
    /// Who acted; null when `actorId` is, when the user no longer exists,
    /// or when the caller may not see them (without `USERS_READ`, only themself).
    async fn actor(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        event_user(ctx, self.actor_key).await
    }

    /// The user the event is about; null when it is about no user (a role,
    /// a tier), when the user no longer exists, or when the caller may not
    /// see them.
    async fn target(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        event_user(ctx, self.target_user).await
    }
}

/// One event of a page, with the cursor that points at it.
#[derive(SimpleObject, Clone)]
pub struct AuditEventEdge {
    /// Opaque; pass it as `after` to page from here.
    pub cursor: String,
    pub node: AuditEvent,
}

/// A page of audit events, newest first.
#[derive(SimpleObject)]
pub struct AuditEventConnection {
    /// The page's events with their cursors.
    pub edges: Vec<AuditEventEdge>,
    /// The page's events, without cursors.
    pub nodes: Vec<AuditEvent>,
    /// Where this page sits: `hasNextPage` says whether older events follow.
    pub page_info: PageInfo,
}

/// Runs `filter` as a page of at most `first` events after `after`.
pub async fn connection(
    ctx: &Context<'_>,
    filter: Filter,
    first: Option<i32>,
    after: Option<String>,
) -> async_graphql::Result<AuditEventConnection> {
    let first = audit::page_size(first)?;
    let after = after
        .map(|cursor| {
            Uuid::try_parse(&cursor)
                .map_err(|_| AppError::bad_input("after", "not a cursor of this list"))
        })
        .transpose()?;
    let (mut rows, more) = audit::page(&app(ctx).db, &filter, first, after).await?;
    if filter.security_only {
        let viewer = viewer(ctx)?;
        for row in &mut rows {
            audit::as_own_history(viewer, row);
        }
    } else if filter.organization_id.is_some() {
        let viewer = viewer(ctx)?;
        for row in &mut rows {
            audit::as_organization_trail(viewer, row);
        }
    }
    let page = AuditEventConnection::of(rows, more, after.is_some());
    Ok(page)
}

impl AuditEventConnection {
    /// A page of `rows`; `more` when older events follow.
    pub fn of(rows: Vec<audit_event::Model>, more: bool, after_cursor: bool) -> Self {
        let edges: Vec<AuditEventEdge> = rows
            .into_iter()
            .map(|row| AuditEventEdge {
                cursor: row.id.simple().to_string(),
                node: row.into(),
            })
            .collect();
        Self {
            nodes: edges.iter().map(|e| e.node.clone()).collect(),
            page_info: PageInfo {
                has_next_page: more,
                has_previous_page: after_cursor,
                start_cursor: edges.first().map(|e| e.cursor.clone()),
                end_cursor: edges.last().map(|e| e.cursor.clone()),
            },
            edges,
        }
    }
}
