//! The `webhooks` table: where audit events are POSTed, and which.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub url: String,
    /// A JSON array of event types (`user.created`) or prefixes (`user.*`, `*`).
    pub events: String,
    pub description: Option<String>,
    /// The signing secret (`whsec_…`), sealed.
    pub secret_sealed: String,
    pub enabled: bool,
    /// Why the service turned it off (its deliveries kept failing).
    pub disabled_reason: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
