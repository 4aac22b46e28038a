//! The `audit_events` table: who changed what, when, and from where.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    /// A UUIDv7: ordered by time.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `user.updated`, `auth.login`, …
    pub action: String,
    /// The user who acted; null for the system or an anonymous caller.
    pub actor_id: Option<Uuid>,
    /// The API key the actor used, if any.
    pub api_key_id: Option<Uuid>,
    /// The administrator who acted as `actor_id` (an impersonation), if one did.
    pub impersonator_id: Option<Uuid>,
    /// `user`, `role`, `tier`, `session`, `api_key`.
    pub target_kind: Option<String>,
    pub target_id: Option<Uuid>,
    /// A JSON object from field to `{ "old": …, "new": … }`, allow-listed fields only.
    pub changes: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
