//! The `account_tokens` table: the single-use tokens mailed in links
//! (password reset, email verification, email change, invitation). Only the
//! token's SHA-256 is stored; the token itself exists only in the mail.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Hex SHA-256 of the token.
    #[sea_orm(unique)]
    pub token_hash: String,
    /// What the token may be used for (`password_reset`, `verify_email`, …).
    pub purpose: String,
    pub user_id: Uuid,
    /// The address the link was mailed to.
    pub address: String,
    /// The user's address when the token was issued: a token dies when it changes.
    pub user_email: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// Set by the one use the token gets.
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

impl ActiveModelBehavior for ActiveModel {}
