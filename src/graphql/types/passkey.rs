//! Passkeys: `Passkey` and `PasskeyChallenge`.

use async_graphql::{ID, Json, SimpleObject};
use entity::passkey;

use super::DateTime;
use crate::{ids, service::passkeys::Challenge};

/// A passkey (a WebAuthn credential) that signs its user in, by itself or
/// as the second factor after a password.
#[derive(SimpleObject, Clone)]
pub struct Passkey {
    /// Opaque id (`pky_…`); `renamePasskey` and `deletePasskey` take it.
    pub id: ID,
    /// The user's name for it ("Passkey 1" until renamed).
    pub name: String,
    pub created_at: DateTime,
    /// The last sign-in with it; null if it was never used to sign in.
    pub last_used_at: Option<DateTime>,
    /// Whether the authenticator said it is backed up (synced to the
    /// user's other devices, as iCloud Keychain and Google Password Manager
    /// do), as of its last use.
    pub backed_up: bool,
}

impl From<passkey::Model> for Passkey {
    fn from(model: passkey::Model) -> Self {
        Self {
            id: ids::encode(ids::PASSKEY, model.id).into(),
            name: model.name,
            created_at: model.created_at.into(),
            last_used_at: model.last_used_at.map(Into::into),
            backed_up: model.backed_up,
        }
    }
}

/// A passkey ceremony begun: hand `options` to the browser, then send its
/// answer with `challengeId` before `expiresAt`.
#[derive(SimpleObject)]
pub struct PasskeyChallenge {
    /// Opaque id (`pkc_…`) of this ceremony; it can be finished once, on
    /// any replica.
    pub challenge_id: ID,
    /// What `PublicKeyCredential.parseCreationOptionsFromJSON` (a
    /// registration) or `parseRequestOptionsFromJSON` (a sign-in) takes:
    /// the `publicKey` member of `navigator.credentials.create()` /
    /// `get()`'s argument.
    pub options: Json<serde_json::Value>,
    /// When the ceremony can no longer be finished (5 minutes).
    pub expires_at: DateTime,
}

impl From<Challenge> for PasskeyChallenge {
    fn from(challenge: Challenge) -> Self {
        Self {
            challenge_id: ids::encode(ids::PASSKEY_CHALLENGE, challenge.id).into(),
            options: Json(challenge.options),
            expires_at: challenge.expires_at.into(),
        }
    }
}
