//! The identity providers of `IDENTITY_PROVIDERS`, a building block: their
//! discovery (cached per replica: it is the providers' own published
//! configuration, not state another replica needs), the authorization URL a
//! sign-in starts at, and what a finished sign-in proves: the account's
//! subject and email, from a completely verified ID token (OpenID Connect,
//! with `openidconnect`) or GitHub's API (OAuth 2, with `oauth2`).
//!
//! Every call to a provider has a deadline and follows no redirects; an
//! answer that cannot be trusted is `TOKEN_INVALID`, a provider that does
//! not answer `CONFLICT` with `PROVIDER_UNAVAILABLE`.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
    core::{CoreClient, CoreJsonWebKeySet, CoreProviderMetadata, CoreResponseType},
};
use serde::Deserialize;
use tokio::sync::RwLock;
use uuid::Uuid;

use crate::{
    config::{Config, ProviderConfig},
    error::{AppError, Result, reason},
};

/// How long one call to a provider may take.
const CALL_DEADLINE: Duration = Duration::from_secs(10);

/// The shortest time between two fetches of a provider's keys for an ID
/// token whose key it did not list (its rotation, or a forgery).
const JWKS_REFRESH_EVERY: Duration = Duration::from_secs(10);

/// How far in the future an ID token's `iat` may be (clock skew).
const IAT_SKEW: Duration = Duration::from_secs(300);

/// What a provider says of the account that signed in.
#[derive(Debug, Clone)]
pub struct ProviderAccount {
    /// The provider's stable id for the account.
    pub subject: String,
    pub email: Option<String>,
    /// Whether the provider says it verified `email`.
    pub email_verified: bool,
}

/// One configured provider, and what discovery learnt of it.
pub struct Provider {
    /// Stable across replicas and restarts: made from the name.
    pub id: Uuid,
    pub config: ProviderConfig,
    discovered: RwLock<Option<CoreProviderMetadata>>,
    keys_fetched: std::sync::Mutex<Option<Instant>>,
}

/// Every configured provider, with the HTTP client that talks to them.
pub struct Registry {
    providers: Vec<Arc<Provider>>,
    http: reqwest::Client,
}

/// A provider's id, the same on every replica: the first 16 bytes of a
/// SHA-256 of its name.
pub fn provider_id(name: &str) -> Uuid {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("usergraph identity provider {name}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::from_bytes(bytes)
}

impl Registry {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            // A provider's answer is read as it is: a redirect could send a
            // code or a secret somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(CALL_DEADLINE)
            .user_agent(concat!("usergraph/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            providers: config
                .identity_providers
                .iter()
                .map(|provider| {
                    Arc::new(Provider {
                        id: provider_id(&provider.name),
                        config: provider.clone(),
                        discovered: RwLock::new(None),
                        keys_fetched: std::sync::Mutex::new(None),
                    })
                })
                .collect(),
            http,
        })
    }

    pub fn all(&self) -> &[Arc<Provider>] {
        &self.providers
    }

    /// The provider with this id; `NOT_FOUND` on `field` otherwise.
    pub fn get(&self, id: Uuid, field: &'static str) -> Result<&Arc<Provider>> {
        self.providers
            .iter()
            .find(|p| p.id == id)
            .ok_or(AppError::NotFound {
                what: "identity provider",
                field: Some(field),
            })
    }

    /// The provider named `name` (a stored sign-in's).
    pub fn named(&self, name: &str) -> Result<&Arc<Provider>> {
        self.providers
            .iter()
            .find(|p| p.config.name == name)
            .ok_or(AppError::not_found("identity provider"))
    }

    /// Discovers every OpenID provider not discovered yet; returns the
    /// names of those that could not be (the caller logs and retries).
    pub async fn discover_all(&self) -> Vec<(String, String)> {
        let mut failed = Vec::new();
        for provider in &self.providers {
            if let Err(err) = self.metadata(provider).await {
                failed.push((provider.config.name.clone(), err.to_string()));
            }
        }
        failed
    }

    /// The provider's discovery document, fetched once (OpenID providers).
    async fn metadata(&self, provider: &Provider) -> Result<Option<CoreProviderMetadata>> {
        let Some(issuer) = &provider.config.issuer else {
            return Ok(None);
        };
        if let Some(metadata) = provider.discovered.read().await.clone() {
            return Ok(Some(metadata));
        }
        // As configured: `https://tenant.auth0.com/` ends with a slash,
        // `https://accounts.google.com` does not, and discovery compares exactly.
        let issuer = IssuerUrl::new(issuer.clone())
            .map_err(|e| AppError::Internal(anyhow::anyhow!("issuer URL: {e}")))?;
        let at = issuer.as_str().to_owned();
        let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|err| {
                unavailable(
                    provider,
                    &format!("discovery at {at} failed: {}", causes(&err)),
                )
            })?;
        *provider.discovered.write().await = Some(metadata.clone());
        tracing::info!(provider = %provider.config.name, "identity provider discovered");
        Ok(Some(metadata))
    }

    /// Where the browser goes to sign in: the provider's authorization
    /// endpoint with `state`, `nonce` (OIDC) and the PKCE S256 challenge of
    /// `verifier`, coming back to `redirect_uri`.
    pub async fn authorization_url(
        &self,
        provider: &Provider,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        verifier: &str,
    ) -> Result<String> {
        let redirect = redirect_url(redirect_uri)?;
        let challenge =
            PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.into()));
        let scopes = provider.config.scopes.iter().cloned().map(Scope::new);
        let state = CsrfToken::new(state.into());
        match self.metadata(provider).await? {
            Some(metadata) => {
                let nonce = Nonce::new(nonce.into());
                let client = oidc_client(provider, metadata).set_redirect_uri(redirect);
                let (url, _, _) = client
                    .authorize_url(
                        AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                        move || state,
                        move || nonce,
                    )
                    .add_scopes(scopes.filter(|s| s.as_str() != "openid"))
                    .set_pkce_challenge(challenge)
                    .url();
                Ok(url.into())
            }
            None => {
                let (url, _) = github_client(provider)?
                    .set_redirect_uri(redirect)
                    .authorize_url(move || state)
                    .add_scopes(scopes)
                    .set_pkce_challenge(challenge)
                    .url();
                Ok(url.into())
            }
        }
    }

    /// Exchanges `code` (with the PKCE `verifier`) and returns the account
    /// it proves: for OpenID, from the ID token, verified completely
    /// (signature by the provider's keys, fetched again once when it names
    /// one the provider had not listed; `iss`, `aud` and `azp`, `exp`, `iat`
    /// skew, `nonce`, the key's own algorithm, never `none`).
    pub async fn finish(
        &self,
        provider: &Provider,
        redirect_uri: &str,
        code: &str,
        verifier: &str,
        nonce: &str,
    ) -> Result<ProviderAccount> {
        let redirect = redirect_url(redirect_uri)?;
        let code = AuthorizationCode::new(code.into());
        let verifier = PkceCodeVerifier::new(verifier.into());
        match self.metadata(provider).await? {
            Some(metadata) => {
                let client = oidc_client(provider, metadata.clone()).set_redirect_uri(redirect);
                let tokens = client
                    .exchange_code(code)
                    .map_err(|e| unavailable(provider, &e.to_string()))?
                    .set_pkce_verifier(verifier)
                    .request_async(&self.http)
                    .await
                    .map_err(|err| token_error(provider, err))?;
                let id_token = tokens.id_token().ok_or_else(|| {
                    tracing::info!(provider = %provider.config.name, "no ID token in the provider's answer");
                    AppError::TokenInvalid
                })?;
                let nonce = Nonce::new(nonce.into());
                let verified = id_token
                    .claims(&verifier_for(&client), &nonce)
                    .map(account_of);
                match verified {
                    Ok(account) => Ok(account),
                    Err(openidconnect::ClaimsVerificationError::SignatureVerification(_))
                        if provider.may_refetch_keys() =>
                    {
                        // The provider may have rotated its keys since discovery.
                        let keys = CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &self.http)
                            .await
                            .map_err(|err| unavailable(provider, &format!("its keys: {err}")))?;
                        let metadata = metadata.set_jwks(keys);
                        *provider.discovered.write().await = Some(metadata.clone());
                        let client = oidc_client(provider, metadata)
                            .set_redirect_uri(redirect_url(redirect_uri)?);
                        id_token
                            .claims(&verifier_for(&client), &nonce)
                            .map(account_of)
                            .map_err(|err| refused(provider, &err.to_string()))
                    }
                    Err(err) => Err(refused(provider, &err.to_string())),
                }
            }
            None => {
                let tokens = github_client(provider)?
                    .set_redirect_uri(redirect)
                    .exchange_code(code)
                    .set_pkce_verifier(verifier)
                    .request_async(&self.http)
                    .await
                    .map_err(|err| token_error(provider, err))?;
                self.github_account(
                    provider,
                    oauth2::TokenResponse::access_token(&tokens).secret(),
                )
                .await
            }
        }
    }

    /// GitHub's user and its primary verified address.
    async fn github_account(&self, provider: &Provider, token: &str) -> Result<ProviderAccount> {
        #[derive(Deserialize)]
        struct User {
            id: u64,
        }
        #[derive(Deserialize)]
        struct Email {
            email: String,
            primary: bool,
            verified: bool,
        }
        let api = provider.config.api_url.as_str().trim_end_matches('/');
        let get = |path: &str| {
            self.http
                .get(format!("{api}{path}"))
                .bearer_auth(token)
                .header("accept", "application/vnd.github+json")
                .send()
        };
        let user: User = read_json(provider, get("/user").await).await?;
        let emails: Vec<Email> = read_json(provider, get("/user/emails").await).await?;
        let email = emails.into_iter().find(|e| e.primary && e.verified);
        Ok(ProviderAccount {
            subject: user.id.to_string(),
            email_verified: email.is_some(),
            email: email.map(|e| e.email),
        })
    }
}

impl Provider {
    /// Whether the provider's keys may be fetched again now (bounded: an ID
    /// token naming an unknown key could be anyone's).
    fn may_refetch_keys(&self) -> bool {
        let mut last = self.keys_fetched.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < JWKS_REFRESH_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

fn oidc_client(
    provider: &Provider,
    metadata: CoreProviderMetadata,
) -> CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
> {
    use secrecy::ExposeSecret;
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(provider.config.client_id.clone()),
        provider
            .config
            .client_secret
            .as_ref()
            .map(|secret| ClientSecret::new(secret.expose_secret().to_owned())),
    )
}

fn verifier_for<'a>(
    client: &'a CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
) -> openidconnect::core::CoreIdTokenVerifier<'a> {
    client
        .id_token_verifier()
        .set_issue_time_verifier_fn(|iat| {
            let latest = chrono::Utc::now() + IAT_SKEW;
            if iat > latest {
                Err(format!("issued in the future ({iat})"))
            } else {
                Ok(())
            }
        })
}

fn account_of(claims: &openidconnect::core::CoreIdTokenClaims) -> ProviderAccount {
    ProviderAccount {
        subject: claims.subject().as_str().to_owned(),
        email: claims.email().map(|e| e.as_str().to_owned()),
        email_verified: claims.email_verified().unwrap_or(false),
    }
}

fn github_client(
    provider: &Provider,
) -> Result<
    oauth2::basic::BasicClient<
        oauth2::EndpointSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    >,
> {
    use secrecy::ExposeSecret;
    let mut client =
        oauth2::basic::BasicClient::new(oauth2::ClientId::new(provider.config.client_id.clone()))
            .set_auth_uri(
                oauth2::AuthUrl::new(provider.config.authorize_url.to_string())
                    .map_err(|e| AppError::Internal(anyhow::anyhow!("authorize URL: {e}")))?,
            )
            .set_token_uri(
                oauth2::TokenUrl::new(provider.config.token_url.to_string())
                    .map_err(|e| AppError::Internal(anyhow::anyhow!("token URL: {e}")))?,
            );
    if let Some(secret) = &provider.config.client_secret {
        client =
            client.set_client_secret(oauth2::ClientSecret::new(secret.expose_secret().to_owned()));
    }
    Ok(client)
}

fn redirect_url(redirect_uri: &str) -> Result<RedirectUrl> {
    RedirectUrl::new(redirect_uri.to_owned())
        .map_err(|_| AppError::bad_input("redirectUri", "redirectUri is not a URL"))
}

/// An error with its causes, as one line ("request failed: error sending
/// request: connection refused"), so a log says what went wrong.
fn causes(err: &dyn std::error::Error) -> String {
    let mut line = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

/// A provider that did not answer, or answered with a failure of its own.
fn unavailable(provider: &Provider, detail: &str) -> AppError {
    tracing::warn!(provider = %provider.config.name, detail, "identity provider unavailable");
    AppError::ConflictBecause {
        reason: reason::PROVIDER_UNAVAILABLE,
        message: format!(
            "the identity provider `{}` could not be reached; nothing was changed, try again",
            provider.config.name
        ),
    }
}

/// An answer from the provider that proves nothing: refused as a bad token.
fn refused(provider: &Provider, detail: &str) -> AppError {
    tracing::info!(provider = %provider.config.name, detail, "identity provider's answer refused");
    AppError::TokenInvalid
}

/// The token endpoint's failure: the provider refused the code (used,
/// expired, not for this client or verifier), or could not be reached.
fn token_error<RE: std::error::Error + 'static, T: oauth2::ErrorResponse + 'static>(
    provider: &Provider,
    err: oauth2::RequestTokenError<RE, T>,
) -> AppError {
    match err {
        oauth2::RequestTokenError::ServerResponse(answer) => {
            refused(provider, &format!("the code was refused: {answer}"))
        }
        // GitHub answers a refused code with 200 and an `error` field, which
        // the oauth2 crate cannot read as a token: a refusal all the same.
        oauth2::RequestTokenError::Parse(_, body)
            if serde_json::from_slice::<serde_json::Value>(&body)
                .is_ok_and(|answer| answer.get("error").is_some()) =>
        {
            refused(
                provider,
                "the code was refused (an error answered with 200)",
            )
        }
        other => unavailable(provider, &other.to_string()),
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    provider: &Provider,
    response: reqwest::Result<reqwest::Response>,
) -> Result<T> {
    let response = response.map_err(|err| unavailable(provider, &err.to_string()))?;
    if !response.status().is_success() {
        return Err(unavailable(
            provider,
            &format!("its API answered {}", response.status()),
        ));
    }
    response
        .json()
        .await
        .map_err(|err| unavailable(provider, &format!("its API's answer: {err}")))
}
