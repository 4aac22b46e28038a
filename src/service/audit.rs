//! The audit trail: every state change and sign-in event writes one event in
//! the transaction of the change, with who acted (and with which API key),
//! on what, the fields changed with their old and new values (an allow-list:
//! never a hash, token, code or secret), and where the request came from.
//! Read with `AUDIT_READ`; a user reads their own security events.

use entity::{audit_event, user};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{AppContext, RequestMeta, now};
use crate::{
    auth::{Permission, Viewer},
    error::{AppError, Result},
    ids,
};

/// What an event is about. Session and API key events are about their
/// user (the session's or key's id is in `changes`), so a user's security
/// history is the events that target them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    User(Uuid),
    Role(Uuid),
    Tier(Uuid),
    Webhook(Uuid),
    SigningKey(Uuid),
    /// Organisation events, memberships' included: an organisation's
    /// trail (`ORG_AUDIT_READ`) is the events that target it.
    Organization(Uuid),
}

impl Target {
    fn kind(self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::Role(_) => "role",
            Self::Tier(_) => "tier",
            Self::Webhook(_) => "webhook",
            Self::SigningKey(_) => "signing_key",
            Self::Organization(_) => "organization",
        }
    }

    fn id(self) -> Uuid {
        match self {
            Self::User(id)
            | Self::Role(id)
            | Self::Tier(id)
            | Self::Webhook(id)
            | Self::SigningKey(id)
            | Self::Organization(id) => id,
        }
    }

    /// The public id of a stored target.
    pub fn public_id(kind: &str, id: Uuid) -> String {
        let prefix = match kind {
            "user" => ids::USER,
            "role" => ids::ROLE,
            "webhook" => ids::WEBHOOK,
            "signing_key" => ids::SIGNING_KEY,
            "organization" => ids::ORGANIZATION,
            _ => ids::TIER,
        };
        ids::encode(prefix, id)
    }
}

/// The fields an event lists as changed: `{ field: { old, new } }`.
pub type Changes = Map<String, Value>;

/// One event to record.
#[derive(Debug, Clone)]
pub struct Event {
    pub action: Action,
    pub actor: Option<Uuid>,
    pub api_key: Option<Uuid>,
    /// The administrator acting as `actor` (an impersonation), if one is.
    pub impersonator: Option<Uuid>,
    pub target: Option<Target>,
    pub changes: Changes,
    pub meta: RequestMeta,
}

impl Event {
    /// An event `viewer` caused, from where their request came.
    pub fn by(viewer: &Viewer, action: Action) -> Self {
        Self {
            action,
            actor: Some(viewer.id()),
            api_key: viewer.api_key,
            impersonator: viewer.impersonator(),
            target: None,
            changes: Changes::new(),
            meta: viewer.origin.clone(),
        }
    }

    /// An event of a caller not signed in (yet): a sign-in, a reset link.
    pub fn anonymous(meta: &RequestMeta, action: Action) -> Self {
        Self {
            action,
            actor: None,
            api_key: None,
            impersonator: None,
            target: None,
            changes: Changes::new(),
            meta: meta.clone(),
        }
    }

    pub fn on(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// The actor is the target user themself (a sign-in, a reset).
    pub fn as_user(mut self, user_id: Uuid) -> Self {
        self.actor = Some(user_id);
        self.on(Target::User(user_id))
    }

    pub fn with(mut self, changes: Changes) -> Self {
        self.changes = changes;
        self
    }

    /// Records one changed field.
    pub fn change(mut self, field: &str, old: impl Into<Value>, new: impl Into<Value>) -> Self {
        self.changes.insert(
            field.to_owned(),
            json!({ "old": old.into(), "new": new.into() }),
        );
        self
    }

    /// Writes the event in `conn` (the change's own transaction), and, in
    /// the same transaction, announces it to live subscribers on every
    /// replica and queues it for the webhooks that subscribe to it.
    pub async fn record(self, conn: &impl ConnectionTrait) -> Result<()> {
        let model = audit_event::Model {
            id: ids::new_key(),
            action: self.action.as_str().to_owned(),
            actor_id: self.actor,
            api_key_id: self.api_key,
            impersonator_id: self.impersonator,
            target_kind: self.target.map(|t| t.kind().to_owned()),
            target_id: self.target.map(Target::id),
            changes: (!self.changes.is_empty()).then(|| Value::Object(self.changes).to_string()),
            ip: self.meta.ip.map(|ip| ip.chars().take(64).collect()),
            user_agent: self
                .meta
                .user_agent
                .map(|ua| ua.chars().take(512).collect()),
            request_id: self.meta.request_id.map(|id| id.chars().take(64).collect()),
            created_at: now(),
        };
        audit_event::Entity::insert(audit_event::ActiveModel::from(model.clone()))
            .exec_without_returning(conn)
            .await?;
        super::events::notify(conn, &model).await?;
        super::webhook_fanout::queue_for(conn, &public(&model), self.action.as_str()).await
    }
}

/// An event as webhooks and subscribers receive it: the API's field names
/// and public ids.
pub fn public(event: &audit_event::Model) -> Value {
    json!({
        "id": ids::encode(ids::AUDIT_EVENT, event.id),
        "action": event.action,
        "actorId": event.actor_id.map(ids::user),
        "apiKeyId": event.api_key_id.map(|id| ids::encode(ids::API_KEY, id)),
        "impersonatorId": event.impersonator_id.map(ids::user),
        "targetId": event
            .target_kind
            .as_deref()
            .zip(event.target_id)
            .map(|(kind, id)| Target::public_id(kind, id)),
        "changes": event.changes.as_deref().and_then(|c| serde_json::from_str::<Value>(c).ok()),
        "ip": event.ip,
        "userAgent": event.user_agent,
        "requestId": event.request_id,
        "createdAt": event.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

fn time(value: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    value.map_or(Value::Null, |t| {
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into()
    })
}

/// A status as the API spells it.
fn status_name(status: user::Status) -> &'static str {
    match status {
        user::Status::Active => "ACTIVE",
        user::Status::Inactive => "INACTIVE",
        user::Status::Suspended => "SUSPENDED",
    }
}

/// The user fields an event may show, as the API names them, with their
/// values: the allow-list. Hashes, lockout counters, tokens and secrets are
/// not in it, so no event can carry one.
fn auditable(user: &user::Model) -> Vec<(&'static str, Value)> {
    vec![
        ("username", user.username.clone().into()),
        ("email", user.email.clone().into()),
        ("name", user.display_name.clone().into()),
        ("firstName", user.first_name.clone().into()),
        ("lastName", user.last_name.clone().into()),
        ("avatarUrl", user.avatar_url.clone().into()),
        ("website", user.website.clone().into()),
        ("facebook", user.facebook.clone().into()),
        ("instagram", user.instagram.clone().into()),
        ("linkedin", user.linkedin.clone().into()),
        ("x", user.x.clone().into()),
        ("youtube", user.youtube.clone().into()),
        ("status", status_name(user.status).into()),
        ("isSuperuser", user.is_superuser.into()),
        (
            "tierId",
            user.tier_id.map(|id| ids::encode(ids::TIER, id)).into(),
        ),
        ("deletedAt", time(user.deleted_at)),
        ("emailVerified", user.email_verified_at.is_some().into()),
        ("invitationPending", user.invitation_pending.into()),
        ("mfaEnabled", user.mfa_enabled.into()),
        ("metadata", user.metadata.clone()),
        ("appMetadata", user.app_metadata.clone()),
    ]
}

/// The allow-listed fields that differ between `before` and `after`.
pub fn user_changes(before: &user::Model, after: &user::Model) -> Changes {
    diff(auditable(before), auditable(after))
}

/// The fields whose values differ between `before` and `after` (the same
/// fields in the same order), as `{ field: { old, new } }`.
pub fn diff<'a>(
    before: impl IntoIterator<Item = (&'a str, Value)>,
    after: impl IntoIterator<Item = (&'a str, Value)>,
) -> Changes {
    before
        .into_iter()
        .zip(after)
        .filter(|((_, old), (_, new))| old != new)
        .map(|((field, old), (_, new))| (field.to_owned(), json!({ "old": old, "new": new })))
        .collect()
}

/// A new user's allow-listed fields, as changes from nothing.
pub fn user_created(user: &user::Model) -> Changes {
    auditable(user)
        .into_iter()
        .filter(|(_, value)| {
            !value.is_null()
                && value != &Value::Bool(false)
                && value.as_object().is_none_or(|o| !o.is_empty())
        })
        .map(|(field, value)| (field.to_owned(), json!({ "old": null, "new": value })))
        .collect()
}

macro_rules! actions {
    ($($variant:ident => $name:literal,)+) => {
        /// What an audit event records, as `namespace.verb` (`user.created`).
        /// The schema shows it as a string (`AuditEvent.action`), which
        /// webhooks subscribe to (or to a namespace, `user.*`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $($variant,)+
        }

        impl Action {
            /// Every action, in the order of the table.
            pub const ALL: &'static [Action] = &[$(Action::$variant,)+];

            /// The action as stored and shown.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)+
                }
            }
        }
    };
}

// The one table of actions: adding one is a line here (and, when it ends
// sessions or may narrow a caller's access, a name in those rules below).
actions! {
    UserRegistered => "user.registered",
    UserCreated => "user.created",
    UserUpdated => "user.updated",
    UserStatusChanged => "user.status_changed",
    UserDeleted => "user.deleted",
    UserRestored => "user.restored",
    UserHardDeleted => "user.hard_deleted",
    UserRolesChanged => "user.roles_changed",
    UserTierChanged => "user.tier_changed",
    UserInvited => "user.invited",
    UserInvitationResent => "user.invitation_resent",
    UserInvitationAccepted => "user.invitation_accepted",
    UserEmailVerified => "user.email_verified",
    UserEmailChangeRequested => "user.email_change_requested",
    UserEmailChanged => "user.email_changed",
    UserErased => "user.erased",
    UsersImported => "users.imported",
    AuthLogin => "auth.login",
    AuthLoginFailed => "auth.login_failed",
    AuthLocked => "auth.locked",
    AuthUnlocked => "auth.unlocked",
    AuthLogout => "auth.logout",
    AuthPasswordChanged => "auth.password_changed",
    AuthPasswordReset => "auth.password_reset",
    AuthPasswordResetSent => "auth.password_reset_sent",
    AuthMfaEnabled => "auth.mfa_enabled",
    AuthMfaDisabled => "auth.mfa_disabled",
    AuthRecoveryCodesRegenerated => "auth.recovery_codes_regenerated",
    AuthUnverifiedSetupRemoved => "auth.unverified_setup_removed",
    AuthPasskeyCounterRegressed => "auth.passkey_counter_regressed",
    SessionRevoked => "session.revoked",
    SessionReused => "session.reused",
    ApiKeyCreated => "api_key.created",
    ApiKeyRevoked => "api_key.revoked",
    RoleCreated => "role.created",
    RoleUpdated => "role.updated",
    RoleDeleted => "role.deleted",
    TierCreated => "tier.created",
    TierUpdated => "tier.updated",
    TierDeleted => "tier.deleted",
    WebhookCreated => "webhook.created",
    WebhookUpdated => "webhook.updated",
    WebhookDeleted => "webhook.deleted",
    WebhookRedelivered => "webhook.redelivered",
    WebhookDisabled => "webhook.disabled",
    SigningKeyRotated => "signing_key.rotated",
    IdentityLinked => "identity.linked",
    IdentityUnlinked => "identity.unlinked",
    PasskeyRegistered => "passkey.registered",
    PasskeyRenamed => "passkey.renamed",
    PasskeyDeleted => "passkey.deleted",
    OrganizationCreated => "organization.created",
    OrganizationUpdated => "organization.updated",
    OrganizationDeleted => "organization.deleted",
    OrganizationTierChanged => "organization.tier_changed",
    OrgRoleCreated => "organization.role_created",
    OrgRoleDeleted => "organization.role_deleted",
    MembershipInvited => "membership.invited",
    MembershipInvitationRevoked => "membership.invitation_revoked",
    MembershipJoined => "membership.joined",
    MembershipRolesChanged => "membership.roles_changed",
    MembershipRemoved => "membership.removed",
    MembershipLeft => "membership.left",
    ImpersonationStarted => "impersonation.started",
    ImpersonationEnded => "impersonation.ended",
}

/// The namespaces of the events a user sees as their own security history.
pub const SECURITY_NAMESPACES: [&str; 6] = [
    "auth",
    "session",
    "api_key",
    "identity",
    "passkey",
    "impersonation",
];

impl Action {
    /// The stored action's `Action`; `None` for a name no action has.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.as_str() == name)
    }

    /// The part before the dot (`user`, `auth`, …).
    pub fn namespace(self) -> &'static str {
        self.as_str().split('.').next().unwrap_or_default()
    }

    /// Part of a user's own security history (`mySecurityEvents`).
    pub fn is_security(self) -> bool {
        SECURITY_NAMESPACES.contains(&self.namespace())
    }

    /// About a role, so about every holder of it, whoever the target.
    pub fn reaches_every_holder(self) -> bool {
        self.namespace() == "role"
    }

    /// Ends sessions of its target user: the one named in
    /// `changes.sessionId`, all but `changes.keptSessionId`, or all of them.
    pub fn ends_sessions(self) -> bool {
        matches!(
            self,
            Self::AuthLogout
                | Self::SessionReused
                | Self::SessionRevoked
                | Self::ImpersonationEnded
                | Self::AuthPasswordChanged
                | Self::AuthPasswordReset
                | Self::UserStatusChanged
                | Self::UserDeleted
                | Self::UserHardDeleted
        )
    }

    /// May leave a signed-in caller able to do less (a session or key
    /// ended, permissions or the superuser flag changed): a live socket
    /// re-checks its caller on these only. Role changes reach every holder.
    pub fn may_narrow(self) -> bool {
        self.ends_sessions()
            || self.reaches_every_holder()
            || matches!(
                self,
                Self::UserRolesChanged
                    | Self::UserUpdated
                    | Self::ApiKeyRevoked
                    | Self::AuthUnverifiedSetupRemoved
            )
    }
}

/// Which events a page holds.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub actor_id: Option<Uuid>,
    pub target_id: Option<Uuid>,
    pub actions: Option<Vec<String>>,
    pub after: Option<chrono::DateTime<chrono::Utc>>,
    pub before: Option<chrono::DateTime<chrono::Utc>>,
    /// Only the caller's own security events (`mySecurityEvents`).
    pub security_only: bool,
    /// Only the events of this organisation (its `organization.*` and
    /// `membership.*` events).
    pub organization_id: Option<Uuid>,
}

/// Events one page can hold.
pub const MAX_PAGE: u64 = 100;

/// A page of events, newest first, after the event `after` (a cursor is an
/// event's id: ids are UUIDv7, ordered by time). One statement; `first + 1`
/// rows are read to tell whether there is a next page.
pub async fn page(
    conn: &impl ConnectionTrait,
    filter: &Filter,
    first: u64,
    after: Option<Uuid>,
) -> Result<(Vec<audit_event::Model>, bool)> {
    let mut query = audit_event::Entity::find();
    if let Some(actor) = filter.actor_id {
        query = query.filter(audit_event::Column::ActorId.eq(actor));
    }
    if let Some(target) = filter.target_id {
        query = query.filter(audit_event::Column::TargetId.eq(target));
    }
    if let Some(actions) = &filter.actions {
        query = query.filter(audit_event::Column::Action.is_in(actions.iter().cloned()));
    }
    if let Some(organization) = filter.organization_id {
        query = query
            .filter(audit_event::Column::TargetKind.eq(Target::Organization(organization).kind()))
            .filter(audit_event::Column::TargetId.eq(organization));
    }
    if let Some(at) = filter.after {
        query = query.filter(audit_event::Column::CreatedAt.gte(at));
    }
    if let Some(at) = filter.before {
        query = query.filter(audit_event::Column::CreatedAt.lt(at));
    }
    if filter.security_only {
        let mut any = Condition::any();
        for namespace in SECURITY_NAMESPACES {
            any = any.add(audit_event::Column::Action.starts_with(format!("{namespace}.")));
        }
        query = query.filter(any);
    }
    if let Some(cursor) = after {
        query = query.filter(audit_event::Column::Id.lt(cursor));
    }
    super::first_rows(conn, query.order_by_desc(audit_event::Column::Id), first).await
}

/// The newest `per_user` events about each of `users`, in one statement (a
/// window over the events of all of them), newest first.
pub async fn newest_about_users(
    conn: &impl ConnectionTrait,
    users: &[Uuid],
    per_user: u64,
) -> Result<std::collections::HashMap<Uuid, Vec<audit_event::Model>>> {
    use sea_orm::{
        FromQueryResult, Iterable,
        sea_query::{Alias, Asterisk, Expr, ExprTrait, Query},
    };
    let rank = Alias::new("event_rank");
    let inner = Query::select()
        .columns(audit_event::Column::iter())
        .expr_as(
            Expr::cust("ROW_NUMBER() OVER (PARTITION BY target_id ORDER BY id DESC)"),
            rank.clone(),
        )
        .from(audit_event::Entity)
        .and_where(Expr::col(audit_event::Column::TargetKind).eq("user"))
        .and_where(Expr::col(audit_event::Column::TargetId).is_in(users.iter().copied()))
        .to_owned();
    let outer = Query::select()
        .column(Asterisk)
        .from_subquery(inner, Alias::new("ranked"))
        .and_where(Expr::col(rank).lte(per_user as i64))
        .to_owned();
    let statement = conn.get_database_backend().build(&outer);
    let rows = audit_event::Model::find_by_statement(statement)
        .all(conn)
        .await?;
    let mut by_user: std::collections::HashMap<Uuid, Vec<audit_event::Model>> =
        std::collections::HashMap::new();
    for row in rows {
        if let Some(user) = row.target_id {
            by_user.entry(user).or_default().push(row);
        }
    }
    for events in by_user.values_mut() {
        events.sort_by_key(|e| std::cmp::Reverse(e.id));
    }
    Ok(by_user)
}

/// An event as its subject reads it in their own history: that someone
/// else (an administrator, an anonymous caller, an administrator acting as
/// them) acted shows, but not their address, browser or request id.
pub fn as_own_history(viewer: &Viewer, event: &mut audit_event::Model) {
    if event.actor_id != Some(viewer.id()) || event.impersonator_id.is_some() {
        event.ip = None;
        event.user_agent = None;
        event.request_id = None;
    }
}

/// An event of an organisation's trail as an org auditor without
/// `AUDIT_READ` reads it: who acted shows, not another actor's address,
/// browser, request or API key.
pub fn as_organization_trail(viewer: &Viewer, event: &mut audit_event::Model) {
    if !viewer.has(Permission::AuditRead) {
        as_own_history(viewer, event);
        if event.actor_id != Some(viewer.id()) {
            event.api_key_id = None;
        }
    }
}

/// `auditEvents` and `User.auditEvents`: `AUDIT_READ`.
pub fn require_reader(viewer: &Viewer) -> Result<()> {
    viewer.require(Permission::AuditRead)
}

/// Deletes events older than `AUDIT_RETENTION_DAYS`; safe from every replica
/// at once.
pub async fn prune(ctx: &AppContext) -> Result<u64> {
    let cutoff = now() - chrono::Duration::days(i64::from(ctx.config.audit_retention_days));
    Ok(audit_event::Entity::delete_many()
        .filter(audit_event::Column::CreatedAt.lt(cutoff))
        .exec(&ctx.db)
        .await?
        .rows_affected)
}

/// A `first` argument, checked.
pub fn page_size(first: Option<i32>) -> Result<u64> {
    match first {
        None => Ok(20),
        Some(n) if n >= 0 && (n as u64) <= MAX_PAGE => Ok(n as u64),
        Some(_) => Err(AppError::bad_input(
            "first",
            format!("first must be between 0 and {MAX_PAGE}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/api.md lists every action webhooks and filters take.
    #[test]
    fn the_api_reference_lists_every_action() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/api.md");
        let text = std::fs::read_to_string(path).unwrap();
        for action in Action::ALL {
            assert!(
                text.contains(&format!("`{}`", action.as_str())),
                "docs/api.md misses {}",
                action.as_str()
            );
        }
    }
}
