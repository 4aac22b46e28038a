//! `AuthPayload`: the credentials a sign-in hands out.

use async_graphql::SimpleObject;

use super::User;
use crate::service::access::Tokens;

/// Credentials returned by `register`, `login`, `refreshToken`, `verifyMfa`,
/// `resetPassword` and `acceptInvitation`.
#[derive(SimpleObject, Debug, Clone)]
pub struct AuthPayload {
    /// A JWT to send as `Authorization: Bearer …` (signed with `JWT_SECRET`,
    /// or with the key `/.well-known/jwks.json` publishes).
    pub access_token: String,
    /// Opaque; exchange it with `refreshToken` for a new pair. It works once.
    pub refresh_token: String,
    /// Always "Bearer".
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i32,
    /// The signed-in user.
    pub user: User,
}

impl From<Tokens> for AuthPayload {
    fn from(tokens: Tokens) -> Self {
        Self {
            access_token: tokens.access_token,
            refresh_token: tokens.refresh_token,
            token_type: "Bearer".into(),
            expires_in: i32::try_from(tokens.expires_in).unwrap_or(i32::MAX),
            user: User::owned(tokens.user),
        }
    }
}
