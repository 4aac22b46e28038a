//! The `signing_keys` table: the keys that sign access tokens when
//! `JWT_ALGORITHM` is asymmetric. One is active and one waits as the next;
//! the ones the active key replaced verify until `retires_at`, then retire.

use sea_orm::entity::prelude::*;

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum State {
    /// Published ahead of use: the key the next rotation makes active, so
    /// services that cache the key set already hold it (at most one key).
    #[sea_orm(string_value = "next")]
    Next,
    /// Signs new tokens (at most one key).
    #[sea_orm(string_value = "active")]
    Active,
    /// Replaced: verifies the tokens it signed until `retires_at`.
    #[sea_orm(string_value = "verify_only")]
    VerifyOnly,
    /// Verifies nothing and is no longer published.
    #[sea_orm(string_value = "retired")]
    Retired,
}

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The RFC 7638 thumbprint of the public key, in every token's header.
    #[sea_orm(unique)]
    pub kid: String,
    /// `EdDSA`, `ES256` or `RS256`: the only algorithm the key verifies.
    pub algorithm: String,
    pub state: State,
    /// The public key as a JWK (JSON), as the JWKS publishes it.
    pub public_jwk: String,
    /// The PKCS#8 private key, sealed under `MFA_ENCRYPTION_KEY`.
    pub private_key_sealed: String,
    pub created_at: DateTimeUtc,
    /// When a replaced key stops verifying (set at rotation).
    pub retires_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
