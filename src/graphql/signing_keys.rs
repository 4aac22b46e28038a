//! Token signing keys (superuser): `signingKeys`, `rotateSigningKey`.

use async_graphql::{Context, Object};

use super::{
    guard::{Superuser, viewer},
    request::app,
    types::SigningKey,
};
use crate::service::signing_keys;

#[derive(Default)]
pub struct SigningKeyQuery;

#[Object]
impl SigningKeyQuery {
    /// Every key that signs or has signed access tokens (superuser), newest
    /// first, retired ones included. Empty with `JWT_ALGORITHM=HS256` unless
    /// an asymmetric algorithm was used before.
    #[graphql(guard = "Superuser")]
    async fn signing_keys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<SigningKey>> {
        let keys = signing_keys::list(app(ctx), viewer(ctx)?).await?;
        Ok(keys.into_iter().map(SigningKey::from).collect())
    }
}

#[derive(Default)]
pub struct SigningKeyMutation;

#[Object]
impl SigningKeyMutation {
    /// Makes a new key of `JWT_ALGORITHM` the active one (superuser): every
    /// replica signs with it from its next token. The key it replaces keeps
    /// verifying, and stays in the JWKS, until the longest access token it
    /// signed has expired, then retires. `CONFLICT` with HS256 (there is no
    /// key, only `JWT_SECRET`) or with `JWT_PRIVATE_KEY_FILE` (replace the
    /// file instead). Audited (`signing_key.rotated`).
    #[graphql(guard = "Superuser")]
    async fn rotate_signing_key(&self, ctx: &Context<'_>) -> async_graphql::Result<SigningKey> {
        Ok(signing_keys::rotate(app(ctx), viewer(ctx)?).await?.into())
    }
}
