//! Sign-in with other providers: `IdentityProvider`, `ExternalIdentity`,
//! `ExternalSignInStart` and `ExternalSignInIntent`.

use async_graphql::{Enum, ID, SimpleObject};
use entity::external_identity;

use super::DateTime;
use crate::{
    config::ProviderKind,
    ids,
    service::{
        AppContext,
        external::{Intent, Started},
        providers::{Provider, provider_id},
    },
};

/// How usergraph talks to a provider.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum IdentityProviderKind {
    /// OpenID Connect: discovery, and an ID token checked with the
    /// provider's published keys (Google, Microsoft Entra ID, Keycloak,
    /// Zitadel, Okta, Auth0, …).
    Oidc,
    /// GitHub's OAuth 2: its user and verified-email endpoints.
    Github,
}

impl From<ProviderKind> for IdentityProviderKind {
    fn from(kind: ProviderKind) -> Self {
        match kind {
            ProviderKind::Oidc => Self::Oidc,
            ProviderKind::Github => Self::Github,
        }
    }
}

/// A provider users may sign in with (`IDENTITY_PROVIDERS`).
#[derive(SimpleObject, Clone)]
pub struct IdentityProvider {
    /// Opaque id (`idp_…`), the same on every replica and across restarts:
    /// pass it to `startExternalSignIn`.
    pub id: ID,
    /// The provider's name in `IDENTITY_PROVIDERS` (lower case), e.g. `google`.
    pub name: String,
    /// What a sign-in button says: `IDP_<NAME>_DISPLAY_NAME`, else the name
    /// capitalised (`Google`).
    pub display_name: String,
    pub kind: IdentityProviderKind,
}

impl From<&Provider> for IdentityProvider {
    fn from(provider: &Provider) -> Self {
        Self {
            id: ids::encode(ids::IDENTITY_PROVIDER, provider.id).into(),
            name: provider.config.name.clone(),
            display_name: provider.config.display_name.clone(),
            kind: provider.config.kind.into(),
        }
    }
}

/// A provider account linked to a user: signing in with it signs the user in.
#[derive(SimpleObject, Clone)]
pub struct ExternalIdentity {
    /// Opaque id (`ext_…`); `unlinkIdentity` takes it.
    pub id: ID,
    /// The provider. One removed from `IDENTITY_PROVIDERS` since keeps its
    /// name here (its kind then reads `OIDC`), and no longer signs anyone in.
    pub provider: IdentityProvider,
    /// The provider's stable id for the account (an OpenID `sub`, GitHub's
    /// numeric user id).
    pub subject: String,
    /// The address the provider gave at the last sign-in; null when it gave none.
    pub email: Option<String>,
    /// Whether the provider said it verified `email`.
    pub email_verified: bool,
    pub linked_at: DateTime,
    /// The last sign-in with it; null if it was never used after linking.
    pub last_used_at: Option<DateTime>,
}

impl ExternalIdentity {
    pub fn new(ctx: &AppContext, model: external_identity::Model) -> Self {
        let provider = match ctx.providers.named(&model.provider) {
            Ok(provider) => IdentityProvider::from(provider.as_ref()),
            Err(_) => IdentityProvider {
                id: ids::encode(ids::IDENTITY_PROVIDER, provider_id(&model.provider)).into(),
                name: model.provider.clone(),
                display_name: model.provider.clone(),
                kind: IdentityProviderKind::Oidc,
            },
        };
        Self {
            id: ids::encode(ids::EXTERNAL_IDENTITY, model.id).into(),
            provider,
            subject: model.subject,
            email: model.email,
            email_verified: model.email_verified,
            linked_at: model.linked_at.into(),
            last_used_at: model.last_used_at.map(Into::into),
        }
    }
}

/// Where to send the browser to sign in with a provider.
#[derive(SimpleObject)]
pub struct ExternalSignInStart {
    /// The provider's authorization page, with this sign-in's state, nonce
    /// and PKCE challenge: send the browser there (a full-page navigation).
    /// The provider sends it back to `redirectUri` with `code` and `state`.
    pub authorization_url: String,
    /// The same `state` that comes back to the callback page: keep it (in
    /// `sessionStorage`) and check the returned one is equal before calling
    /// `finishExternalSignIn`, so a page cannot be made to finish a sign-in
    /// someone else started.
    pub state: String,
    /// When the sign-in can no longer be finished (10 minutes).
    pub expires_at: DateTime,
}

impl From<Started> for ExternalSignInStart {
    fn from(started: Started) -> Self {
        Self {
            authorization_url: started.authorization_url,
            state: started.state,
            expires_at: started.expires_at.into(),
        }
    }
}

/// What a sign-in with a provider is for.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum ExternalSignInIntent {
    /// Sign in (or, when nobody has the provider account, sign up).
    #[default]
    SignIn,
    /// Link the provider account to the signed-in caller.
    Link,
}

impl From<ExternalSignInIntent> for Intent {
    fn from(intent: ExternalSignInIntent) -> Self {
        match intent {
            ExternalSignInIntent::SignIn => Intent::SignIn,
            ExternalSignInIntent::Link => Intent::Link,
        }
    }
}
