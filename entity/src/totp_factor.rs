//! The `totp_factors` table: a user's TOTP secret, sealed, pending until
//! confirmed with a first code.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "totp_factors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// The secret sealed with the MFA key; never returned after enrolment.
    pub secret_sealed: String,
    pub created_at: DateTimeUtc,
    /// Null while enrolment waits for its first code.
    pub enabled_at: Option<DateTimeUtc>,
    /// The newest time step whose code was accepted: no code is accepted twice.
    pub last_used_step: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
