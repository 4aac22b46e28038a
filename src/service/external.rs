//! Sign-in with another provider: `startExternalSignIn`,
//! `finishExternalSignIn`, `unlinkIdentity`, `setPassword`, and a user's
//! identities.
//!
//! A sign-in starts by storing its state (hashed), PKCE verifier and nonce
//! (sealed), redirect URI and intent for 10 minutes; the browser goes to the
//! provider and comes back to the frontend's page, which finishes it. The
//! finish claims the state with one conditional update, so it is used once,
//! on any replica. The provider's answer decides: a known identity signs
//! its user in; an unknown one links by email only when the provider is
//! trusted for email, says the address is verified and the local one is
//! verified too (else `CONFLICT`, `EMAIL_IN_USE`); otherwise, with
//! registration open, a new user without a password.

use chrono::Duration;
use entity::{external_identity, external_signin, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set, sea_query::Expr,
};
use serde_json::Value;
use uuid::Uuid;

use super::{
    AppContext, RequestMeta, access,
    audit::{Action, Event, Target},
    credentials::{self, Method},
    limits, new_account, now,
    providers::{Provider, ProviderAccount},
    tokens::{hash_token, random_token},
    users,
};
use crate::{
    auth::Viewer,
    error::{AppError, Result, ResultExt, reason},
    ids, validation,
};

/// How long a started sign-in may be finished.
const LIFETIME_MINUTES: i64 = 10;

/// What a sign-in started for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    SignIn,
    /// Attach the provider account to the signed-in caller.
    Link,
}

impl Intent {
    fn stored(self) -> &'static str {
        match self {
            Intent::SignIn => "sign_in",
            Intent::Link => "link",
        }
    }
}

/// `startExternalSignIn`'s answer.
pub struct Started {
    pub authorization_url: String,
    pub state: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// `startExternalSignIn`: the provider's authorization URL for a new
/// sign-in, whose state comes back to `redirect_uri` (one of
/// `EXTERNAL_SIGNIN_REDIRECT_URLS`, exactly). `LINK` needs a signed-in
/// session, a verified address and the password (a recent sign-in for an
/// account without one). Counted toward the login rate limit: each start
/// stores a row.
pub async fn start(
    ctx: &AppContext,
    viewer: Option<&Viewer>,
    provider_id: Uuid,
    redirect_uri: &str,
    intent: Intent,
    password: Option<&str>,
    meta: &RequestMeta,
) -> Result<Started> {
    let provider = ctx.providers.get(provider_id, "provider")?;
    if !ctx
        .config
        .external_signin_redirect_urls
        .iter()
        .any(|allowed| allowed == redirect_uri)
    {
        return Err(AppError::bad_input(
            "redirectUri",
            "redirectUri is not one of EXTERNAL_SIGNIN_REDIRECT_URLS",
        ));
    }
    let linking = match intent {
        Intent::SignIn => None,
        Intent::Link => {
            // A linked provider account is a way in that outlives a password
            // change: only the proven owner adds one, after a step-up.
            let viewer = viewer.ok_or(AppError::Unauthenticated)?;
            viewer.require_session()?;
            users::require_verified(&viewer.user)?;
            credentials::confirm_password(ctx, viewer, password.unwrap_or_default(), "password")
                .await?;
            Some(viewer)
        }
    };
    limits::hit(ctx, limits::Limited::Login, meta).await?;
    let (state, nonce, verifier) = (random_token(), random_token(), random_token());
    let authorization_url = ctx
        .providers
        .authorization_url(provider, redirect_uri, &state, &nonce, &verifier)
        .await?;
    let created_at = now();
    let expires_at = created_at + Duration::minutes(LIFETIME_MINUTES);
    external_signin::ActiveModel {
        id: Set(ids::new_key()),
        state_hash: Set(hash_token(&state)),
        provider: Set(provider.config.name.clone()),
        verifier_sealed: Set(ctx.signin_sealer.seal(verifier.as_bytes())),
        nonce_sealed: Set(ctx.signin_sealer.seal(nonce.as_bytes())),
        redirect_uri: Set(redirect_uri.to_owned()),
        intent: Set(intent.stored().to_owned()),
        user_id: Set(linking.map(Viewer::id)),
        session_id: Set(linking.map(|v| v.session_id)),
        created_at: Set(created_at),
        expires_at: Set(expires_at),
        used_at: Set(None),
    }
    .insert(&ctx.db)
    .await?;
    Ok(Started {
        authorization_url,
        state,
        expires_at,
    })
}

/// `finishExternalSignIn`: claims the state once, asks the provider what
/// `code` proves, and signs in, links or registers (see the module). A
/// provider that cannot be reached leaves the state unused and nothing
/// written (`CONFLICT`, `PROVIDER_UNAVAILABLE`).
#[tracing::instrument(name = "external.finish", skip_all)]
pub async fn finish(
    ctx: &AppContext,
    state: &str,
    code: &str,
    meta: &RequestMeta,
) -> Result<access::Tokens> {
    limits::hit(ctx, limits::Limited::Login, meta).await?;
    let signin = claim(ctx, state).await?;
    let provider = ctx.providers.named(&signin.provider)?;
    let open = |sealed: &str| -> Result<String> {
        let bytes = ctx
            .signin_sealer
            .open(sealed)
            .map_err(|_| AppError::TokenInvalid)?;
        String::from_utf8(bytes).map_err(|_| AppError::TokenInvalid)
    };
    let (verifier, nonce) = (open(&signin.verifier_sealed)?, open(&signin.nonce_sealed)?);
    let account = match ctx
        .providers
        .finish(provider, &signin.redirect_uri, code, &verifier, &nonce)
        .await
    {
        Ok(account) => account,
        Err(err @ AppError::ConflictBecause { .. }) => {
            // Nothing happened: the same state may finish once the provider answers.
            release(ctx, &signin).await?;
            return Err(err);
        }
        Err(err) => return Err(err),
    };
    match signin.user_id {
        Some(user_id) if signin.intent == Intent::Link.stored() => {
            link(ctx, provider, &account, user_id, signin.session_id, meta).await
        }
        _ => sign_in(ctx, provider, &account, meta).await,
    }
}

/// The one finish a started sign-in gets: unused, unexpired, marked used.
async fn claim(ctx: &AppContext, state: &str) -> Result<external_signin::Model> {
    let at = now();
    external_signin::Entity::update_many()
        .col_expr(external_signin::Column::UsedAt, Expr::value(at))
        .filter(external_signin::Column::StateHash.eq(hash_token(state)))
        .filter(external_signin::Column::UsedAt.is_null())
        .filter(external_signin::Column::ExpiresAt.gt(at))
        .exec_with_returning(&ctx.db)
        .await?
        .into_iter()
        .next()
        .ok_or(AppError::TokenInvalid)
}

/// Gives a claimed sign-in back, unused.
async fn release(ctx: &AppContext, signin: &external_signin::Model) -> Result<()> {
    external_signin::Entity::update_many()
        .col_expr(
            external_signin::Column::UsedAt,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .filter(external_signin::Column::Id.eq(signin.id))
        .exec(&ctx.db)
        .await?;
    Ok(())
}

/// Started sign-ins a day past their expiry are deleted (the periodic
/// job; safe on every replica at once).
pub async fn prune(conn: &impl ConnectionTrait) -> Result<u64> {
    Ok(external_signin::Entity::delete_many()
        .filter(external_signin::Column::ExpiresAt.lt(now() - Duration::days(1)))
        .exec(conn)
        .await?
        .rows_affected)
}

async fn identity_of(
    conn: &impl ConnectionTrait,
    provider: &Provider,
    subject: &str,
) -> Result<Option<external_identity::Model>> {
    Ok(external_identity::Entity::find()
        .filter(external_identity::Column::Provider.eq(provider.config.name.as_str()))
        .filter(external_identity::Column::Subject.eq(subject))
        .one(conn)
        .await?)
}

/// What a provider's account says of its email, in the form stored.
fn provider_email(account: &ProviderAccount) -> Option<String> {
    account
        .email
        .as_deref()
        .and_then(|email| validation::email(email).ok())
}

async fn sign_in(
    ctx: &AppContext,
    provider: &Provider,
    account: &ProviderAccount,
    meta: &RequestMeta,
) -> Result<access::Tokens> {
    let method = Method::Provider(&provider.config.name);
    let txn = ctx.begin().await?;
    if let Some(identity) = identity_of(&txn, provider, &account.subject).await? {
        let Some(user) = users::lock(&txn, identity.user_id)
            .await?
            .filter(|u| !u.is_deleted())
        else {
            return Err(AppError::InvalidCredentials);
        };
        touch(&txn, &identity, account).await?;
        return credentials::complete_sign_in(txn, ctx, user, meta, method).await;
    }
    let email = provider_email(account);
    let local = match &email {
        Some(email) => users::find_by_login(&txn, email).await?,
        None => None,
    };
    if let Some(local) = local {
        let trusted = provider.config.trust_email
            && account.email_verified
            && local.email_verified_at.is_some()
            && !local.is_deleted()
            && !local.invitation_pending;
        if !trusted {
            // With registration closed an unknown account gets FORBIDDEN
            // either way: the answer must not tell which addresses exist.
            if !ctx.config.registration_enabled {
                return Err(AppError::Forbidden);
            }
            return Err(AppError::ConflictBecause {
                reason: reason::EMAIL_IN_USE,
                message: "an account with this email address exists: sign in to it, then link this provider".into(),
            });
        }
        let user = users::lock(&txn, local.id)
            .await?
            .ok_or(AppError::InvalidCredentials)?;
        attach(&txn, provider, account, &user, meta, "email").await?;
        return credentials::complete_sign_in(txn, ctx, user, meta, method).await;
    }
    drop(txn);
    if !ctx.config.registration_enabled {
        return Err(AppError::Forbidden);
    }
    let Some(email) = email else {
        return Err(AppError::bad_input(
            "code",
            "the provider gave no email address, which a new account needs",
        ));
    };
    let vouched = provider.config.trust_email && account.email_verified;
    if !vouched && ctx.config.require_email_verification {
        return Err(AppError::EmailNotVerified);
    }
    limits::hit(ctx, limits::Limited::Register, meta).await?;
    let user = register(ctx, provider, account, &email, vouched, meta).await?;
    let txn = ctx.begin().await?;
    let user = users::lock(&txn, user.id)
        .await?
        .ok_or(AppError::InvalidCredentials)?;
    credentials::complete_sign_in(txn, ctx, user, meta, method).await
}

/// A new account for a provider account nobody has: no password, the
/// username made from the email, the address verified only when the
/// provider is trusted for email and says it verified it (`vouched`), the
/// identity linked, in one transaction. An address nobody vouched for stays
/// unverified, and proving it later by mail removes this link
/// (`credentials::forget_unproven`): it may be a stranger's.
async fn register(
    ctx: &AppContext,
    provider: &Provider,
    account: &ProviderAccount,
    email: &str,
    vouched: bool,
    meta: &RequestMeta,
) -> Result<user::Model> {
    users::with_username(&ctx.db, None, email, |username| {
        let model = new_account::passwordless_row(username, email, vouched);
        async move {
            let txn = ctx.begin().await?;
            let method = format!("provider:{}", provider.config.name);
            let user = new_account::register_passwordless(&txn, model, meta, &method)
                .await
                .map_err(|err| match err {
                    AppError::ConflictBecause { reason, .. } => AppError::ConflictBecause {
                        reason,
                        message: "an account with this email address exists: sign in to it, then link this provider".into(),
                    },
                    other => other,
                })?;
            attach(&txn, provider, account, &user, meta, "registration").await?;
            txn.commit().await?;
            Ok(user)
        }
    })
    .await
}

/// `LINK`: the identity becomes the starting user's, if their session is
/// still live and nobody else holds it.
async fn link(
    ctx: &AppContext,
    provider: &Provider,
    account: &ProviderAccount,
    user_id: Uuid,
    session_id: Option<Uuid>,
    meta: &RequestMeta,
) -> Result<access::Tokens> {
    let txn = ctx.begin().await?;
    let user = users::lock_usable(&txn, user_id).await?;
    if let Some(session) = session_id {
        let live = entity::session::Entity::find()
            .filter(access::live_links(user_id, now()))
            .filter(entity::session::Column::ChainId.eq(session))
            .count(&txn)
            .await?;
        if live == 0 {
            return Err(AppError::TokenInvalid);
        }
    }
    match identity_of(&txn, provider, &account.subject).await? {
        Some(identity) if identity.user_id == user.id => touch(&txn, &identity, account).await?,
        Some(_) => {
            return Err(AppError::Conflict(
                "this provider account is linked to another user".into(),
            ));
        }
        None => {
            attach(&txn, provider, account, &user, meta, "link").await?;
        }
    }
    credentials::complete_sign_in(
        txn,
        ctx,
        user,
        meta,
        Method::Provider(&provider.config.name),
    )
    .await
}

/// Records the identity as `user`'s, audited with how it came (`link`,
/// `email`, `registration`).
async fn attach(
    conn: &impl ConnectionTrait,
    provider: &Provider,
    account: &ProviderAccount,
    user: &user::Model,
    meta: &RequestMeta,
    how: &str,
) -> Result<external_identity::Model> {
    let at = now();
    let identity = external_identity::ActiveModel {
        id: Set(ids::new_key()),
        user_id: Set(user.id),
        provider: Set(provider.config.name.clone()),
        subject: Set(account.subject.clone()),
        email: Set(provider_email(account)),
        email_verified: Set(account.email_verified),
        linked_at: Set(at),
        last_used_at: Set(Some(at)),
    }
    .insert(conn)
    .await
    .on_constraint(|_| {
        Some(AppError::Conflict(
            "this provider account is linked to another user".into(),
        ))
    })?;
    Event::anonymous(meta, Action::IdentityLinked)
        .as_user(user.id)
        .on(Target::User(user.id))
        .change("provider", Value::Null, provider.config.name.clone())
        .change(
            "identityId",
            Value::Null,
            ids::encode(ids::EXTERNAL_IDENTITY, identity.id),
        )
        .change("how", Value::Null, how)
        .record(conn)
        .await?;
    Ok(identity)
}

/// Notes the identity's use and what the provider now says of its email.
async fn touch(
    conn: &impl ConnectionTrait,
    identity: &external_identity::Model,
    account: &ProviderAccount,
) -> Result<()> {
    external_identity::ActiveModel {
        id: Set(identity.id),
        email: Set(provider_email(account)),
        email_verified: Set(account.email_verified),
        last_used_at: Set(Some(now())),
        ..Default::default()
    }
    .update(conn)
    .await?;
    Ok(())
}

/// A user's identities, oldest first.
pub async fn identities(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<Vec<external_identity::Model>> {
    Ok(external_identity::Entity::find()
        .filter(external_identity::Column::UserId.eq(user_id))
        .order_by_asc(external_identity::Column::LinkedAt)
        .all(conn)
        .await?)
}

/// The identities of several users, for a page of them (one statement).
pub async fn identities_of(
    conn: &impl ConnectionTrait,
    user_ids: &[Uuid],
) -> Result<Vec<external_identity::Model>> {
    Ok(external_identity::Entity::find()
        .filter(external_identity::Column::UserId.is_in(user_ids.iter().copied()))
        .order_by_asc(external_identity::Column::LinkedAt)
        .all(conn)
        .await?)
}

/// `unlinkIdentity`: removes one of the caller's identities, never the
/// last way to sign in (`CONFLICT`). An account with a password confirms
/// it (`password`, counted toward the lockout).
pub async fn unlink(
    ctx: &AppContext,
    viewer: &Viewer,
    identity_id: Uuid,
    password: Option<&str>,
) -> Result<()> {
    viewer.require_session()?;
    let mine = identities(&ctx.db, viewer.id()).await?;
    if !mine.iter().any(|i| i.id == identity_id) {
        return Err(AppError::NotFound {
            what: "identity",
            field: Some("id"),
        });
    }
    if viewer.user.has_password {
        let password = password.ok_or_else(|| {
            AppError::bad_input("password", "confirm with the account's password")
        })?;
        credentials::confirm_password(ctx, viewer, password, "password").await?;
    }
    let txn = ctx.begin().await?;
    let user = users::lock_usable(&txn, viewer.id()).await?;
    if !credentials::another_way_in(&txn, ctx, &user, credentials::WayIn::Identity(identity_id))
        .await?
    {
        return Err(AppError::Conflict(
            "this is the account's last way to sign in: set a password, add a passkey or link another provider first".into(),
        ));
    }
    let removed = external_identity::Entity::delete_many()
        .filter(external_identity::Column::Id.eq(identity_id))
        .filter(external_identity::Column::UserId.eq(user.id))
        .exec_with_returning(&txn)
        .await?;
    let Some(removed) = removed.into_iter().next() else {
        return Err(AppError::NotFound {
            what: "identity",
            field: Some("id"),
        });
    };
    Event::by(viewer, Action::IdentityUnlinked)
        .on(Target::User(user.id))
        .change("provider", removed.provider, Value::Null)
        .change(
            "identityId",
            ids::encode(ids::EXTERNAL_IDENTITY, removed.id),
            Value::Null,
        )
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// `setPassword`: a first password for an account made through another
/// provider, from a session signed in within the last 10 minutes.
pub async fn set_password(ctx: &AppContext, viewer: &Viewer, new_password: &str) -> Result<()> {
    viewer.require_session()?;
    if viewer.user.has_password {
        return Err(AppError::Conflict(
            "the account has a password: change it with changePassword".into(),
        ));
    }
    if !credentials::signed_in_recently(ctx, viewer).await? {
        return Err(AppError::Forbidden);
    }
    credentials::judge_new_password(
        ctx,
        new_password,
        "newPassword",
        &viewer.user.username,
        &viewer.user.email,
    )
    .await?;
    let hash = ctx.hasher.hash(new_password.to_owned()).await?;
    let ts = now();
    let txn = ctx.begin().await?;
    let user = users::lock_usable(&txn, viewer.id()).await?;
    if user.has_password {
        return Err(AppError::Conflict(
            "the account has a password: change it with changePassword".into(),
        ));
    }
    user::ActiveModel {
        id: Set(user.id),
        password_hash: Set(hash),
        has_password: Set(true),
        password_changed_at: Set(ts),
        updated_at: Set(ts),
        ..Default::default()
    }
    .update(&txn)
    .await?;
    Event::by(viewer, Action::AuthPasswordChanged)
        .on(Target::User(user.id))
        .change("method", Value::Null, "set")
        .record(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}
