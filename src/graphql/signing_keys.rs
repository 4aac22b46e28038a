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
    /// Makes the next key the active one (superuser): every replica signs
    /// with it from its next token. The next key has been in the JWKS since
    /// it was made, so services that cache the key set hold it already; one
    /// published less than `JWT_ROTATION_NOTICE_SECS` ago (6 minutes) is `CONFLICT` (try again then). The
    /// key it replaces keeps verifying, and stays in the JWKS, until the
    /// longest access token it signed has expired, then retires; a new next
    /// key is made. With `compromised: true` (a key may have leaked) the
    /// active and the next key both go at once: the old key's tokens stop
    /// verifying (clients refresh, the caller too), and two new keys take their
    /// places.
    /// `CONFLICT` with HS256 (there is no key, only `JWT_SECRET`) or with
    /// `JWT_PRIVATE_KEY_FILE` (replace the file instead). Audited
    /// (`signing_key.rotated`).
    #[graphql(guard = "Superuser")]
    async fn rotate_signing_key(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            default_with = "Some(false)",
            desc = "The keys may have leaked: replace them at once. Null means false."
        )]
        compromised: Option<bool>,
    ) -> async_graphql::Result<SigningKey> {
        Ok(
            signing_keys::rotate(app(ctx), viewer(ctx)?, compromised.unwrap_or(false))
                .await?
                .into(),
        )
    }
}
