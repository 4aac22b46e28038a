//! A second factor and personal API keys: `enrollTotp`, `confirmTotp`,
//! `disableTotp`, `regenerateRecoveryCodes`, `resetUserMfa`, `verifyMfa`,
//! `createApiKey`, `myApiKeys`, `apiKeys`, `revokeApiKey`.

use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use entity::api_key;

use super::guard::{Authenticated, Superuser, viewer};
use super::{
    app, cost, meta,
    types::{AuthPayload, DateTime, User},
};
use crate::{
    auth::Permission,
    ids,
    service::{api_keys, mfa},
};

/// What an authenticator app needs, shown once by `enrollTotp`.
#[derive(SimpleObject)]
pub struct TotpEnrollment {
    /// The secret in base32, for typing into the app.
    pub secret: String,
    /// An `otpauth://totp/…` URI (issuer, account, SHA-1, 6 digits, 30 s).
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document to show as is.
    pub qr_code_svg: String,
}

/// A personal API key, as its owner and administrators see it. The secret
/// is never shown again after `createApiKey`.
#[derive(SimpleObject)]
pub struct ApiKey {
    /// Opaque id (`key_…`).
    pub id: ID,
    pub name: String,
    /// The secret's first characters (`ugk_` and 8 more), to recognise it.
    pub prefix: String,
    /// What the key may do, at most: a request with it has only those of
    /// these its user still holds.
    pub permissions: Vec<Permission>,
    pub created_at: DateTime,
    /// Null when the key does not expire.
    pub expires_at: Option<DateTime>,
    /// Kept to the minute; null before the first use.
    pub last_used_at: Option<DateTime>,
}

impl From<api_key::Model> for ApiKey {
    fn from(key: api_key::Model) -> Self {
        Self {
            id: ids::encode(ids::API_KEY, key.id).into(),
            permissions: api_keys::parse_permissions(&key.permissions)
                .into_iter()
                .collect(),
            name: key.name,
            prefix: key.prefix,
            created_at: key.created_at.into(),
            expires_at: key.expires_at.map(Into::into),
            last_used_at: key.last_used_at.map(Into::into),
        }
    }
}

/// A new key and its secret, shown this once.
#[derive(SimpleObject)]
pub struct CreatedApiKey {
    pub api_key: ApiKey,
    /// `ugk_…`: send it as `Authorization: Bearer ugk_…`. Only its hash is kept.
    pub secret: String,
}

/// A new personal API key.
#[derive(InputObject)]
pub struct CreateApiKeyInput {
    /// 1–64 characters, to tell keys apart.
    pub name: String,
    /// Permissions the key may use; each must be one the caller holds. Empty:
    /// the key acts as its user with no permissions (its own account only).
    #[graphql(default)]
    pub permissions: Vec<Permission>,
    /// When the key stops working; null for never.
    pub expires_at: Option<DateTime>,
}

#[derive(Default)]
pub struct SecurityQuery;

#[Object]
impl SecurityQuery {
    /// The caller's API keys not revoked, newest first (expired ones included).
    #[graphql(guard = "Authenticated", complexity = "cost::list(child_complexity)")]
    async fn my_api_keys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiKey>> {
        let viewer = viewer(ctx)?;
        let keys = api_keys::of_user(&app(ctx).db, viewer.id()).await?;
        Ok(keys.into_iter().map(ApiKey::from).collect())
    }

    /// A user's API keys not revoked (`USERS_READ`, or oneself).
    #[graphql(guard = "Authenticated", complexity = "cost::list(child_complexity)")]
    async fn api_keys(&self, ctx: &Context<'_>, user_id: ID) -> async_graphql::Result<Vec<ApiKey>> {
        let user_id = ids::decode(ids::USER, &user_id, "userId")?;
        let keys = api_keys::list_for(app(ctx), viewer(ctx)?, user_id).await?;
        Ok(keys.into_iter().map(ApiKey::from).collect())
    }
}

#[derive(Default)]
pub struct SecurityMutation;

#[Object]
impl SecurityMutation {
    /// Starts turning on a second factor: a new TOTP secret, pending until
    /// `confirmTotp`. Show the QR code (or the secret) to the user's
    /// authenticator app. Needs the password, so a stolen access token cannot
    /// enrol its own authenticator (`BAD_USER_INPUT` on `password` when
    /// wrong; it counts toward the lockout), and a verified email address
    /// (`EMAIL_NOT_VERIFIED`). `CONFLICT` when a factor is already on;
    /// `FORBIDDEN` with an API key.
    #[graphql(guard = "Authenticated")]
    async fn enroll_totp(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The caller's current password.")] password: String,
    ) -> async_graphql::Result<TotpEnrollment> {
        let enrollment = mfa::enroll(app(ctx), viewer(ctx)?, &password).await?;
        Ok(TotpEnrollment {
            secret: enrollment.secret,
            otpauth_uri: enrollment.otpauth_uri,
            qr_code_svg: enrollment.qr_code_svg,
        })
    }

    /// Turns the second factor on with a first code from the app, and returns
    /// 10 single-use recovery codes: shown this once, kept only as hashes.
    /// `BAD_USER_INPUT` on `code` when it is wrong; `CONFLICT` without a
    /// pending enrolment.
    /// `FORBIDDEN` with an API key.
    #[graphql(guard = "Authenticated")]
    async fn confirm_totp(
        &self,
        ctx: &Context<'_>,
        code: String,
    ) -> async_graphql::Result<Vec<String>> {
        Ok(mfa::confirm(app(ctx), viewer(ctx)?, &code).await?)
    }

    /// Turns the second factor off, after checking the password
    /// (`BAD_USER_INPUT` on `password` when wrong; it counts toward the lockout).
    /// `FORBIDDEN` with an API key.
    #[graphql(guard = "Authenticated")]
    async fn disable_totp(
        &self,
        ctx: &Context<'_>,
        password: String,
    ) -> async_graphql::Result<bool> {
        mfa::disable(app(ctx), viewer(ctx)?, &password).await?;
        Ok(true)
    }

    /// Replaces the recovery codes with 10 new ones, after checking the
    /// password. `CONFLICT` when no second factor is on.
    /// `FORBIDDEN` with an API key.
    #[graphql(guard = "Authenticated")]
    async fn regenerate_recovery_codes(
        &self,
        ctx: &Context<'_>,
        password: String,
    ) -> async_graphql::Result<Vec<String>> {
        Ok(mfa::regenerate_recovery_codes(app(ctx), viewer(ctx)?, &password).await?)
    }

    /// Turns a user's second factor off (superuser), for a user who lost both
    /// their authenticator and their recovery codes.
    #[graphql(guard = "Superuser")]
    async fn reset_user_mfa(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<User> {
        let viewer = viewer(ctx)?;
        let id = ids::decode(ids::USER, &id, "id")?;
        let user = mfa::reset_user(app(ctx), viewer, id).await?;
        Ok(User::new(user, Some(viewer)))
    }

    /// Finishes a sign-in that answered `MFA_REQUIRED`: the error's
    /// `extensions.mfaToken` (single use, 5 minutes) and a code from the
    /// authenticator app (each accepted once; one 30-second step of drift) or
    /// a recovery code. A wrong code is `BAD_USER_INPUT` on `code` and counts
    /// toward the lockout (`ACCOUNT_LOCKED` once locked); `TOKEN_INVALID` /
    /// `TOKEN_EXPIRED` for a bad or old `mfaToken`.
    async fn verify_mfa(
        &self,
        ctx: &Context<'_>,
        mfa_token: String,
        code: String,
    ) -> async_graphql::Result<AuthPayload> {
        Ok(mfa::verify(app(ctx), &mfa_token, &code, meta(ctx)?)
            .await?
            .into())
    }

    /// Creates a personal API key and returns its secret, this once. Only in
    /// a signed-in session (`FORBIDDEN` with an API key), with the caller's
    /// password (`BAD_USER_INPUT` on `password` when wrong; it counts toward
    /// the lockout) and a verified email address (`EMAIL_NOT_VERIFIED`);
    /// `BAD_USER_INPUT` for a permission the caller does not hold or a past
    /// `expiresAt`; `CONFLICT` past 50 live keys. A password change or reset
    /// revokes every key, and so may `logoutAll(includeApiKeys: true)`.
    #[graphql(guard = "Authenticated")]
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
        #[graphql(desc = "The caller's current password.")] password: String,
    ) -> async_graphql::Result<CreatedApiKey> {
        let created = api_keys::create(
            app(ctx),
            viewer(ctx)?,
            api_keys::NewApiKey {
                name: input.name,
                permissions: input.permissions,
                expires_at: input.expires_at.map(|at| at.0),
            },
            &password,
        )
        .await?;
        Ok(CreatedApiKey {
            api_key: created.key.into(),
            secret: created.secret,
        })
    }

    /// Revokes an API key: one's own, or anyone's with `USERS_UPDATE` (a
    /// superuser's only by a superuser). It stops working on the next request
    /// on every replica. `NOT_FOUND` for an unknown or revoked key.
    /// `FORBIDDEN` with an API key.
    #[graphql(guard = "Authenticated")]
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let id = ids::decode(ids::API_KEY, &id, "id")?;
        api_keys::revoke(app(ctx), viewer(ctx)?, id).await?;
        Ok(true)
    }
}
