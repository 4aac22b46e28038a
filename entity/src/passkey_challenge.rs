//! The `passkey_challenges` table: a WebAuthn ceremony begun and not yet
//! finished, with webauthn-rs's state for it. Five minutes, used once.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "passkey_challenges")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `register` or `sign_in`.
    pub ceremony: String,
    /// Who registers, or whose passkeys a sign-in by login asked for; null
    /// for a sign-in without a login or for a login with no passkey.
    pub user_id: Option<Uuid>,
    /// A sign-in started with a login; with no user, a decoy's.
    pub by_login: bool,
    /// webauthn-rs's state for the ceremony, serialised.
    #[sea_orm(column_type = "Text")]
    pub state: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub used_at: Option<DateTimeUtc>,
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
