//! The `rate_limits` table: how many times one bucket (an operation and a
//! client address) was hit in one fixed window.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rate_limits")]
pub struct Model {
    /// The operation and the client address, e.g. `login:203.0.113.7`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub bucket: String,
    /// The window's start, in seconds since the Unix epoch.
    #[sea_orm(primary_key, auto_increment = false)]
    pub window_start: i64,
    pub hits: i32,
    /// The window's end, after which the row can be pruned.
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
