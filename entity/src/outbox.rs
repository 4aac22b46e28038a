//! The `outbox` table: messages written in the same transaction as the
//! change that causes them, delivered afterwards by a worker in every replica.

use sea_orm::entity::prelude::*;

/// Where a message is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Status {
    /// Waiting for `next_attempt_at`, or claimed by a worker until then.
    #[sea_orm(string_value = "pending")]
    Pending,
    #[sea_orm(string_value = "sent")]
    Sent,
    /// Every attempt failed; kept for inspection.
    #[sea_orm(string_value = "failed")]
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The channel: `mail` (webhooks will be another).
    pub kind: String,
    /// What the message is about, e.g. the mail template `password_reset`.
    pub topic: String,
    /// Who receives it: an email address for mail.
    pub recipient: String,
    /// The kind's own JSON.
    pub payload: String,
    pub status: Status,
    pub attempts: i32,
    /// When the message is next due; a claim moves it past the claim's lease.
    pub next_attempt_at: DateTimeUtc,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
