//! The `sign_in_codes` table: a mailed sign-in's link token (hashed) and
//! 6-digit code (a keyed digest), for the account of `email` or, with
//! `PASSWORDLESS_SIGNUP`, for an address with no account yet (`user_id`
//! null). Used once; five wrong codes end it.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sign_in_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The address the mail went to (normalised).
    pub email: String,
    /// The account it signs in to; null for a sign-up.
    pub user_id: Option<Uuid>,
    /// SHA-256 of the link's token.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// HMAC of the address and the code under a key derived from `JWT_SECRET`.
    pub code_digest: String,
    /// Wrong codes tried against it.
    pub attempts: i32,
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
