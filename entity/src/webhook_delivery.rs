//! The `webhook_deliveries` table: one row per attempt to deliver a message.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    /// A UUIDv7: ordered by time.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub webhook_id: Uuid,
    /// The outbox message the attempt delivered.
    pub outbox_id: Uuid,
    /// The `webhook-id` header: the same on every attempt of one message.
    pub message_id: String,
    pub event_type: String,
    /// 1 for the first attempt of the message.
    pub attempt: i32,
    /// The receiver's HTTP status; null when none came (refused, timed out).
    pub status_code: Option<i32>,
    pub duration_ms: i32,
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
