//! Sign-in with other providers (service::external): `identityProviders`,
//! `startExternalSignIn`, `finishExternalSignIn`, `unlinkIdentity` and
//! `setPassword`.

use async_graphql::{Context, ID, Object};

use super::{
    guard::{Authenticated, viewer},
    request::{app, meta},
    types::{AuthPayload, ExternalSignInIntent, ExternalSignInStart, IdentityProvider},
};
use crate::{ids, service::external};

#[derive(Default)]
pub struct ExternalQuery;

#[Object]
impl ExternalQuery {
    /// The providers users may sign in with, in `IDENTITY_PROVIDERS` order
    /// (empty when none is configured). Anyone may ask: a sign-in page
    /// shows a button for each.
    async fn identity_providers(&self, ctx: &Context<'_>) -> Vec<IdentityProvider> {
        app(ctx)
            .providers
            .all()
            .iter()
            .map(|provider| IdentityProvider::from(provider.as_ref()))
            .collect()
    }
}

#[derive(Default)]
pub struct ExternalMutation;

#[Object]
impl ExternalMutation {
    /// Starts a sign-in with a provider: send the browser to
    /// `authorizationUrl`; the provider sends it back to `redirectUri`
    /// (exactly one of `EXTERNAL_SIGNIN_REDIRECT_URLS`, else
    /// `BAD_USER_INPUT` on `redirectUri`) with `code` and `state`, and that
    /// page calls `finishExternalSignIn` within 10 minutes. `LINK` needs a
    /// signed-in session (`UNAUTHENTICATED` without one, `FORBIDDEN` with
    /// an API key), a verified address (`EMAIL_NOT_VERIFIED`) and `password`
    /// (`BAD_USER_INPUT` on `password` when missing or wrong; counted toward
    /// the lockout). `NOT_FOUND` on `provider` for an unknown id; `CONFLICT`
    /// with `extensions.reason` `PROVIDER_UNAVAILABLE` when the provider
    /// cannot be reached. Counted with `login` toward the rate limit.
    async fn start_external_sign_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "An `idp_…` id from `identityProviders`.")] provider: ID,
        #[graphql(desc = "The frontend page the provider sends the browser back to.")]
        redirect_uri: String,
        #[graphql(
            default_with = "Some(ExternalSignInIntent::SignIn)",
            desc = "What the sign-in is for; null means `SIGN_IN`."
        )]
        intent: Option<ExternalSignInIntent>,
        #[graphql(
            desc = "With `LINK`: the caller's password (an account without one needs a sign-in within the last 10 minutes instead)."
        )]
        password: Option<String>,
    ) -> async_graphql::Result<ExternalSignInStart> {
        let provider = ids::decode(ids::IDENTITY_PROVIDER, &provider, "provider")?;
        Ok(external::start(
            app(ctx),
            viewer(ctx).ok(),
            provider,
            &redirect_uri,
            intent.unwrap_or_default().into(),
            password.as_deref(),
            meta(ctx)?,
        )
        .await?
        .into())
    }

    /// Finishes a sign-in with a provider, from the page it came back to:
    /// `state` and `code` as the provider gave them. A state works once, on
    /// any replica; a used, expired or unknown one is `TOKEN_INVALID`. The
    /// provider's answer is checked completely (for OpenID providers the ID
    /// token's signature by the provider's keys, issuer, audience, expiry
    /// and nonce). Then: a linked provider account signs its user in (as
    /// `login` does: `MFA_REQUIRED`, suspended and deleted accounts
    /// refused); with `LINK`, the account is linked to the user who started
    /// (`CONFLICT` when it is someone else's); an unlinked account whose
    /// address is a local user's is `CONFLICT` with `extensions.reason`
    /// `EMAIL_IN_USE` (sign in, then link) unless the provider is trusted
    /// for email (`IDP_<NAME>_TRUST_EMAIL`) and both addresses are
    /// verified; otherwise a new account without a password is made
    /// (`FORBIDDEN` when registration is closed). `CONFLICT` with
    /// `PROVIDER_UNAVAILABLE` when the provider cannot be reached: the state
    /// stays unused, so the page may try again. Audited (`auth.login` with
    /// the provider as `method`, `identity.linked`).
    async fn finish_external_sign_in(
        &self,
        ctx: &Context<'_>,
        state: String,
        code: String,
    ) -> async_graphql::Result<AuthPayload> {
        Ok(external::finish(app(ctx), &state, &code, meta(ctx)?)
            .await?
            .into())
    }

    /// Removes one of the caller's linked provider accounts. An account
    /// with a password confirms it (`BAD_USER_INPUT` on `password` when
    /// missing or wrong; counted toward the lockout). `CONFLICT` when it is
    /// the last way to sign in (set a password or link another provider
    /// first); `NOT_FOUND` on `id` when it is not the caller's. `FORBIDDEN`
    /// with an API key. Audited (`identity.unlinked`).
    #[graphql(guard = "Authenticated")]
    async fn unlink_identity(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "An `ext_…` id from `User.identities`.")] id: ID,
        password: Option<String>,
    ) -> async_graphql::Result<bool> {
        let id = ids::decode(ids::EXTERNAL_IDENTITY, &id, "id")?;
        external::unlink(app(ctx), viewer(ctx)?, id, password.as_deref()).await?;
        Ok(true)
    }

    /// Gives an account without a password (`hasPassword` false: made
    /// through a provider or a mailed code, or whose password a code
    /// removed) a password, judged as any new one (`BAD_USER_INPUT` on
    /// `newPassword`). Only from a session signed in within the last 10
    /// minutes (`FORBIDDEN` otherwise, and with an API key); `CONFLICT` when
    /// the account has a password (use `changePassword`).
    #[graphql(guard = "Authenticated")]
    async fn set_password(
        &self,
        ctx: &Context<'_>,
        new_password: String,
    ) -> async_graphql::Result<bool> {
        external::set_password(app(ctx), viewer(ctx)?, &new_password).await?;
        Ok(true)
    }
}
