//! `SigningKey` and its state.

use async_graphql::{Enum, ID, SimpleObject};
use entity::signing_key::{self, State};

use super::DateTime;
use crate::ids;

/// Where a signing key is in its life.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SigningKeyState {
    /// Published in the JWKS before it signs anything: the key the next
    /// rotation makes active, so services that cache the key set already
    /// hold it then. There is one (none with `JWT_PRIVATE_KEY_FILE`).
    Next,
    /// Signs new access tokens; there is one.
    Active,
    /// Replaced: verifies the tokens it signed, and stays in the JWKS,
    /// until `retiresAt`.
    VerifyOnly,
    /// Verifies nothing; no longer published.
    Retired,
}

/// A key that signs access tokens when `JWT_ALGORITHM` is asymmetric. Its
/// public half is in `/.well-known/jwks.json` while it is not retired.
#[derive(SimpleObject)]
pub struct SigningKey {
    /// Opaque id (`sgk_…`).
    pub id: ID,
    /// The RFC 7638 thumbprint of the public key: the `kid` of the tokens
    /// it signs.
    pub kid: String,
    /// `EdDSA`, `ES256` or `RS256`: the only algorithm it verifies.
    pub algorithm: String,
    pub state: SigningKeyState,
    pub created_at: DateTime,
    /// When a replaced key stops verifying; null for the active and the
    /// next key.
    pub retires_at: Option<DateTime>,
}

impl From<signing_key::Model> for SigningKey {
    fn from(key: signing_key::Model) -> Self {
        Self {
            id: ids::encode(ids::SIGNING_KEY, key.id).into(),
            kid: key.kid,
            algorithm: key.algorithm,
            state: match key.state {
                State::Next => SigningKeyState::Next,
                State::Active => SigningKeyState::Active,
                State::VerifyOnly => SigningKeyState::VerifyOnly,
                State::Retired => SigningKeyState::Retired,
            },
            created_at: key.created_at.into(),
            retires_at: key.retires_at.map(Into::into),
        }
    }
}
