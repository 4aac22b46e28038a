//! The `passkeys` table: a user's WebAuthn credentials. `credential` is
//! webauthn-rs's own record of the key (its public key, counter and flags,
//! as JSON); `sign_count` repeats the counter so that moving it forward is
//! one conditional update.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "passkeys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    /// base64url of the authenticator's credential id.
    #[sea_orm(unique)]
    pub credential_id: String,
    pub name: String,
    /// webauthn-rs's `Passkey`, serialised.
    #[sea_orm(column_type = "Text")]
    pub credential: String,
    /// The authenticator's signature counter at its last use (0 when it
    /// keeps none, as synced passkeys do).
    pub sign_count: i64,
    /// Whether the authenticator said the key is backed up (synced).
    pub backed_up: bool,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
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
