//! Passkeys (service::passkeys): `myPasskeys`, `startPasskeyRegistration`,
//! `finishPasskeyRegistration`, `renamePasskey`, `deletePasskey`,
//! `startPasskeySignIn` and `finishPasskeySignIn`.

use async_graphql::{Context, ID, Json, Object};

use super::{
    guard::{Authenticated, viewer},
    request::{app, meta},
    types::{AuthPayload, Passkey, PasskeyChallenge},
};
use crate::{
    ids,
    service::{credentials::passkey as keys, passkeys},
};

#[derive(Default)]
pub struct PasskeyQuery;

#[Object]
impl PasskeyQuery {
    /// The caller's passkeys, oldest first (empty when none).
    #[graphql(guard = "Authenticated")]
    async fn my_passkeys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Passkey>> {
        let viewer = viewer(ctx)?;
        Ok(keys::of_user(&app(ctx).db, viewer.id())
            .await?
            .into_iter()
            .map(Passkey::from)
            .collect())
    }
}

#[derive(Default)]
pub struct PasskeyMutation;

#[Object]
impl PasskeyMutation {
    /// Starts adding a passkey to the caller's account: pass `options` to
    /// `navigator.credentials.create({ publicKey:
    /// PublicKeyCredential.parseCreationOptionsFromJSON(options) })`, then
    /// its result's `toJSON()` to `finishPasskeyRegistration` within 5
    /// minutes. Needs a signed-in session (`FORBIDDEN` with an API key), a
    /// verified address (`EMAIL_NOT_VERIFIED`) and `password`
    /// (`BAD_USER_INPUT` on `password` when wrong, counted toward the
    /// lockout; an account without one needs a sign-in within the last 10
    /// minutes instead). `CONFLICT` with `extensions.reason`
    /// `PASSKEYS_DISABLED` when passkeys are off on this server.
    #[graphql(guard = "Authenticated")]
    async fn start_passkey_registration(
        &self,
        ctx: &Context<'_>,
        password: String,
    ) -> async_graphql::Result<PasskeyChallenge> {
        Ok(
            passkeys::start_registration(app(ctx), viewer(ctx)?, &password)
                .await?
                .into(),
        )
    }

    /// Finishes adding a passkey: the `challengeId` of
    /// `startPasskeyRegistration` and the browser's
    /// `PublicKeyCredential.toJSON()`. The challenge works once, on any
    /// replica (`TOKEN_INVALID` when unknown, used, expired or another
    /// user's); an answer that does not verify (another site's, without
    /// user verification) is `BAD_USER_INPUT` on `credential`, and a passkey
    /// registered already `CONFLICT`. `name` (1 to 64 characters) defaults
    /// to "Passkey N". Audited (`passkey.registered`).
    #[graphql(guard = "Authenticated")]
    async fn finish_passkey_registration(
        &self,
        ctx: &Context<'_>,
        challenge_id: ID,
        credential: Json<serde_json::Value>,
        name: Option<String>,
    ) -> async_graphql::Result<Passkey> {
        let challenge = ids::decode(ids::PASSKEY_CHALLENGE, &challenge_id, "challengeId")?;
        Ok(passkeys::finish_registration(
            app(ctx),
            viewer(ctx)?,
            challenge,
            &credential,
            name.as_deref(),
        )
        .await?
        .into())
    }

    /// Renames one of the caller's passkeys (1 to 64 characters;
    /// `BAD_USER_INPUT` on `name` otherwise). `NOT_FOUND` on `id` when it is
    /// not the caller's. Audited (`passkey.renamed`).
    #[graphql(guard = "Authenticated")]
    async fn rename_passkey(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A `pky_…` id from `myPasskeys`.")] id: ID,
        name: String,
    ) -> async_graphql::Result<Passkey> {
        let id = ids::decode(ids::PASSKEY, &id, "id")?;
        Ok(passkeys::rename(app(ctx), viewer(ctx)?, id, &name)
            .await?
            .into())
    }

    /// Removes one of the caller's passkeys after `password` (as
    /// `startPasskeyRegistration` asks it). `CONFLICT` when it is the
    /// account's last way to sign in (no password, no other passkey, no
    /// linked provider); `NOT_FOUND` on `id` when it is not the caller's.
    /// Audited (`passkey.deleted`).
    #[graphql(guard = "Authenticated")]
    async fn delete_passkey(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A `pky_…` id from `myPasskeys`.")] id: ID,
        password: String,
    ) -> async_graphql::Result<bool> {
        let id = ids::decode(ids::PASSKEY, &id, "id")?;
        passkeys::delete(app(ctx), viewer(ctx)?, id, &password).await?;
        Ok(true)
    }

    /// Starts a sign-in with a passkey: pass `options` to
    /// `navigator.credentials.get({ publicKey:
    /// PublicKeyCredential.parseRequestOptionsFromJSON(options) })` (with
    /// `mediation: "conditional"` for autofill), then its result's
    /// `toJSON()` to `finishPasskeySignIn` within 5 minutes. With `login`
    /// (a username or email) the options name that account's passkeys; a
    /// login nobody has gets options of the same shape, so the answer never
    /// tells whether an account exists. Without `login` the authenticator
    /// offers any of its passkeys for this site. Counted with `login`
    /// toward the rate limit; `CONFLICT` (`PASSKEYS_DISABLED`) when passkeys
    /// are off.
    async fn start_passkey_sign_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "A username or email; null for a passkey the authenticator discovers.")]
        login: Option<String>,
    ) -> async_graphql::Result<PasskeyChallenge> {
        Ok(
            passkeys::start_sign_in(app(ctx), login.as_deref(), meta(ctx)?)
                .await?
                .into(),
        )
    }

    /// Finishes a sign-in with a passkey: the `challengeId` of
    /// `startPasskeySignIn` and the browser's `PublicKeyCredential.toJSON()`.
    /// User verification is required, so a passkey is both factors:
    /// `MFA_REQUIRED` never follows. The challenge works once, on any
    /// replica (`TOKEN_INVALID` when unknown, used or expired); a passkey
    /// that is not registered, not the login's, or whose signature does
    /// not verify is `BAD_USER_INPUT` on `credential`, as is one whose
    /// signature counter went backwards (a cloned key: audited as
    /// `auth.passkey_counter_regressed`). Suspended accounts are
    /// `ACCOUNT_DISABLED`. Audited (`auth.login` with method `passkey`).
    async fn finish_passkey_sign_in(
        &self,
        ctx: &Context<'_>,
        challenge_id: ID,
        credential: Json<serde_json::Value>,
    ) -> async_graphql::Result<AuthPayload> {
        let challenge = ids::decode(ids::PASSKEY_CHALLENGE, &challenge_id, "challengeId")?;
        Ok(
            passkeys::finish_sign_in(app(ctx), challenge, &credential, meta(ctx)?)
                .await?
                .into(),
        )
    }
}
