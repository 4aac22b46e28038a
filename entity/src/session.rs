//! The `sessions` table: one row per refresh token. Rotation marks the row
//! `rotated_at` and inserts its successor with the same `chain_id`; the chain id
//! is the session's public identity, so access tokens and `Session.id` stay
//! stable across refreshes, and presenting a rotated token revokes the chain.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub chain_id: Uuid,
    pub user_id: Uuid,
    /// SHA-256 of the refresh token, hex; the token itself is never stored.
    #[sea_orm(unique)]
    pub refresh_token_hash: String,
    /// When the chain started (the sign-in), copied to every row of the chain.
    pub created_at: DateTimeUtc,
    pub last_used_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub rotated_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// The organisation the session acts in (`setActiveOrganization`);
    /// cleared by the service when it is left or deleted.
    pub active_organization_id: Option<Uuid>,
    /// The administrator acting as the user (`impersonateUser`), repeated
    /// on every link; null for the user's own sign-in.
    pub impersonator_id: Option<Uuid>,
    /// An impersonation that may change nothing but end itself.
    pub read_only: bool,
    /// Why the administrator started it, as they wrote it.
    pub impersonation_reason: Option<String>,
    /// When an impersonation ends, whatever refreshes it.
    pub impersonation_ends_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::User.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
