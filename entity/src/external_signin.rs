//! The `external_signins` table: a sign-in with another provider between
//! its start and its finish (at most 10 minutes), used once. The state is
//! stored hashed; the PKCE verifier and the nonce sealed.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "external_signins")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// SHA-256 of the `state` handed to the client, hex.
    #[sea_orm(unique)]
    pub state_hash: String,
    pub provider: String,
    pub verifier_sealed: String,
    pub nonce_sealed: String,
    /// The frontend page the provider sends the browser back to.
    pub redirect_uri: String,
    /// `sign_in` or `link`.
    pub intent: String,
    /// For `link`: the signed-in user and session that started it.
    pub user_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    /// Set by the one finish that may use it.
    pub used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
