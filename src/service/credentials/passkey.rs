//! Passkeys as a credential (WebAuthn, through webauthn-rs): the ceremony
//! states kept in the database for five minutes and claimed once by a
//! conditional update (so any replica finishes what another began), the
//! options a sign-in asks the browser with, and checking an assertion,
//! including the signature counter, which only moves forward (a counter
//! that goes backwards means a cloned key: refused and audited).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use entity::{passkey, passkey_challenge};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    sea_query::Expr,
};
use serde_json::Value;
use uuid::Uuid;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PublicKeyCredential, Webauthn, WebauthnError,
};

use crate::{
    error::{AppError, Result, reason},
    service::{
        AppContext, RequestMeta,
        audit::{Action, Event, Target},
        now,
    },
};

/// How long a ceremony may take, from its options to its answer.
pub const CEREMONY_MINUTES: i64 = 5;

/// The longest credential id the specification allows (bytes).
pub const MAX_CREDENTIAL_ID: usize = 1023;

/// What a stored challenge is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ceremony {
    Register,
    SignIn,
}

impl Ceremony {
    fn as_str(self) -> &'static str {
        match self {
            Ceremony::Register => "register",
            Ceremony::SignIn => "sign_in",
        }
    }
}

/// The relying party, or `CONFLICT` (`PASSKEYS_DISABLED`) when passkeys are
/// off on this server.
pub fn relying_party(ctx: &AppContext) -> Result<&Webauthn> {
    ctx.webauthn
        .as_ref()
        .ok_or_else(|| AppError::ConflictBecause {
            reason: reason::PASSKEYS_DISABLED,
            message: "passkeys are off on this server (PASSKEYS, WEBAUTHN_RP_ID)".into(),
        })
}

/// The relying party for `config`: its id, name and origins.
pub fn relying_party_for(config: &crate::config::WebauthnConfig) -> anyhow::Result<Webauthn> {
    let (first, rest) = config
        .origins
        .split_first()
        .ok_or_else(|| anyhow::anyhow!("WEBAUTHN_ORIGINS is empty"))?;
    let mut builder = webauthn_rs::WebauthnBuilder::new(&config.rp_id, first)
        .map_err(|err| anyhow::anyhow!("WEBAUTHN_RP_ID and WEBAUTHN_ORIGINS: {err}"))?
        .rp_name(&config.rp_name)
        .allow_any_port(config.any_port)
        .timeout(std::time::Duration::from_secs(
            (CEREMONY_MINUTES * 60).unsigned_abs(),
        ));
    for origin in rest {
        builder = builder.append_allowed_origin(origin);
    }
    builder
        .build()
        .map_err(|err| anyhow::anyhow!("WEBAUTHN_RP_ID and WEBAUTHN_ORIGINS: {err}"))
}

/// A credential id as stored and as the options carry it.
pub fn credential_id(raw: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(raw)
}

/// Stores a ceremony's state; its id and expiry.
pub async fn save_challenge(
    conn: &impl ConnectionTrait,
    ceremony: Ceremony,
    user_id: Option<Uuid>,
    by_login: bool,
    state: &impl serde::Serialize,
) -> Result<(Uuid, DateTime<Utc>)> {
    let id = crate::ids::new_key();
    let created_at = now();
    let expires_at = created_at + Duration::minutes(CEREMONY_MINUTES);
    passkey_challenge::Entity::insert(passkey_challenge::ActiveModel {
        id: Set(id),
        ceremony: Set(ceremony.as_str().into()),
        user_id: Set(user_id),
        by_login: Set(by_login),
        state: Set(serde_json::to_string(state).map_err(anyhow::Error::from)?),
        created_at: Set(created_at),
        expires_at: Set(expires_at),
        used_at: Set(None),
    })
    .exec_without_returning(conn)
    .await?;
    Ok((id, expires_at))
}

/// The one use of an unexpired challenge of `ceremony` (a registration's
/// only by `registrant`): a conditional update, so racing answers get one.
/// `TOKEN_INVALID` when it is unknown, used, expired or not the caller's.
pub async fn claim_challenge(
    conn: &impl ConnectionTrait,
    id: Uuid,
    ceremony: Ceremony,
    registrant: Option<Uuid>,
) -> Result<passkey_challenge::Model> {
    let mut claim = passkey_challenge::Entity::update_many()
        .col_expr(passkey_challenge::Column::UsedAt, Expr::value(now()))
        .filter(passkey_challenge::Column::Id.eq(id));
    if let Some(user) = registrant {
        claim = claim.filter(passkey_challenge::Column::UserId.eq(user));
    }
    let claimed = claim
        .filter(passkey_challenge::Column::Ceremony.eq(ceremony.as_str()))
        .filter(passkey_challenge::Column::UsedAt.is_null())
        .filter(passkey_challenge::Column::ExpiresAt.gt(now()))
        .exec_with_returning(conn)
        .await?;
    claimed.into_iter().next().ok_or(AppError::TokenInvalid)
}

/// A stored state read back.
pub fn state_of<T: serde::de::DeserializeOwned>(row: &passkey_challenge::Model) -> Result<T> {
    serde_json::from_str(&row.state)
        .map_err(|err| AppError::Internal(anyhow::Error::from(err).context("a passkey challenge")))
}

/// A user's passkeys, oldest first.
pub async fn of_user(conn: &impl ConnectionTrait, user_id: Uuid) -> Result<Vec<passkey::Model>> {
    of_users(conn, &[user_id]).await
}

/// The passkeys of several users, for a page of them (one statement).
pub async fn of_users(
    conn: &impl ConnectionTrait,
    user_ids: &[Uuid],
) -> Result<Vec<passkey::Model>> {
    Ok(passkey::Entity::find()
        .filter(passkey::Column::UserId.is_in(user_ids.iter().copied()))
        .order_by_asc(passkey::Column::CreatedAt)
        .order_by_asc(passkey::Column::Id)
        .all(conn)
        .await?)
}

/// webauthn-rs's record of a stored passkey.
pub fn stored(row: &passkey::Model) -> Result<Passkey> {
    serde_json::from_str(&row.credential)
        .map_err(|err| AppError::Internal(anyhow::Error::from(err).context("a stored passkey")))
}

/// A credential as the browser's `PublicKeyCredential.toJSON()` gave it;
/// `BAD_USER_INPUT` on `credential` for anything else.
pub fn parse_credential<T: serde::de::DeserializeOwned>(credential: &Value) -> Result<T> {
    serde_json::from_value(credential.clone()).map_err(|_| {
        AppError::bad_input(
            "credential",
            "not a credential: send PublicKeyCredential.toJSON() from navigator.credentials",
        )
    })
}

/// The options of a sign-in (`PublicKeyCredentialRequestOptionsJSON`) and
/// its state. `allowed` names the credentials that may answer: a login's
/// passkeys, or its decoys; `None` lets the authenticator offer any of its
/// passkeys for this site (a sign-in without a login).
pub fn sign_in_options(
    ctx: &AppContext,
    allowed: Option<Vec<String>>,
) -> Result<(Value, DiscoverableAuthentication)> {
    let (options, state) = relying_party(ctx)?
        .start_discoverable_authentication()
        .map_err(|err| AppError::Internal(anyhow::anyhow!("passkey sign-in options: {err}")))?;
    let mut options =
        serde_json::to_value(options.public_key).map_err(|err| AppError::Internal(err.into()))?;
    if let Some(ids) = allowed {
        options["allowCredentials"] = ids
            .into_iter()
            .map(|id| serde_json::json!({ "type": "public-key", "id": id }))
            .collect();
    }
    Ok((options, state))
}

/// The decoy credential id an unknown login (or one without passkeys) is
/// offered: the same for the same login every time, so asking twice tells
/// nothing, and made with a server key, so nobody can tell it from a real one.
pub fn decoy_credential(ctx: &AppContext, login: &str) -> String {
    credential_id(
        &ctx.typed_codes
            .decoy(login.trim().to_lowercase().as_bytes())[..16],
    )
}

/// Checks a sign-in's answer (`credential`) against the challenge `claimed`
/// (already used up); the passkey it was made with, its counter moved
/// forward. A passkey of another account than the challenge's login, an
/// unknown one or a signature that does not verify are `BAD_USER_INPUT` on
/// `credential`; a counter that went backwards too, audited.
pub async fn verify_assertion(
    ctx: &AppContext,
    claimed: &passkey_challenge::Model,
    credential: &Value,
    meta: &RequestMeta,
) -> Result<passkey::Model> {
    let refused = || AppError::bad_input("credential", "this passkey cannot sign in here");
    let answer: PublicKeyCredential = parse_credential(credential)?;
    // A decoy's options named no real passkey: nothing may answer them.
    if claimed.by_login && claimed.user_id.is_none() {
        return Err(refused());
    }
    // Without a login, the user handle says whose passkey it is (the
    // specification requires one there).
    if !claimed.by_login && answer.get_user_unique_id().is_none() {
        return Err(refused());
    }
    let state: DiscoverableAuthentication = state_of(claimed)?;
    let row = passkey::Entity::find()
        .filter(passkey::Column::CredentialId.eq(credential_id(answer.get_credential_id())))
        .one(&ctx.db)
        .await?
        .ok_or_else(refused)?;
    // The challenge asked for one account's passkeys; the authenticator's
    // user handle, when it sends one, must name the passkey's account.
    if claimed.user_id.is_some_and(|user| user != row.user_id)
        || answer
            .get_user_unique_id()
            .is_some_and(|handle| handle != row.user_id.as_bytes())
    {
        return Err(refused());
    }
    let mut key = stored(&row)?;
    let result = match relying_party(ctx)?
        .finish_discoverable_authentication_v2(&answer, state, &key)
    {
        Ok(result) => result,
        Err(WebauthnError::CredentialPossibleCompromise) => {
            return Err(counter_went_back(ctx, &row, meta).await?);
        }
        Err(err) => {
            tracing::info!(user_id = %crate::ids::user(row.user_id), error = %err, "passkey assertion refused");
            return Err(AppError::bad_input(
                "credential",
                "the passkey's answer does not verify (wrong site, challenge or signature, or no user verification)",
            ));
        }
    };
    key.update_credential(&result);
    let counter = i64::from(result.counter());
    // The counter moves forward in the database, not in memory: two
    // answers racing with one counter value cannot both pass.
    let moved = passkey::Entity::update_many()
        .col_expr(
            passkey::Column::Credential,
            Expr::value(serde_json::to_string(&key).map_err(anyhow::Error::from)?),
        )
        .col_expr(passkey::Column::SignCount, Expr::value(counter))
        .col_expr(
            passkey::Column::BackedUp,
            Expr::value(result.backup_state()),
        )
        .col_expr(passkey::Column::LastUsedAt, Expr::value(Some(now())))
        .filter(passkey::Column::Id.eq(row.id))
        .filter(if counter == 0 {
            passkey::Column::SignCount.eq(0)
        } else {
            passkey::Column::SignCount.lt(counter)
        })
        .exec_with_returning(&ctx.db)
        .await?;
    match moved.into_iter().next() {
        Some(row) => Ok(row),
        None => Err(counter_went_back(ctx, &row, meta).await?),
    }
}

/// A signature counter at or below the stored one: the key may have been
/// cloned. Audited (written at once: the refusal rolls nothing back), and
/// refused.
async fn counter_went_back(
    ctx: &AppContext,
    row: &passkey::Model,
    meta: &RequestMeta,
) -> Result<AppError> {
    Event::anonymous(meta, Action::AuthPasskeyCounterRegressed)
        .on(Target::User(row.user_id))
        .change(
            "passkeyId",
            Value::Null,
            crate::ids::encode(crate::ids::PASSKEY, row.id),
        )
        .change("storedCounter", Value::Null, row.sign_count)
        .record(&ctx.db)
        .await?;
    tracing::warn!(user_id = %crate::ids::user(row.user_id), passkey_id = %crate::ids::encode(crate::ids::PASSKEY, row.id), "a passkey's signature counter went backwards: it may have been cloned");
    Ok(AppError::bad_input(
        "credential",
        "this passkey's signature counter went backwards, so it may have been copied: sign in another way and check your passkeys",
    ))
}

/// Removes a user's passkeys (a reset of second factors, an address proven
/// after someone else set the account up); how many there were.
pub async fn remove_all(conn: &impl ConnectionTrait, user_id: Uuid) -> Result<u64> {
    Ok(passkey::Entity::delete_many()
        .filter(passkey::Column::UserId.eq(user_id))
        .exec(conn)
        .await?
        .rows_affected)
}

/// Challenges used or expired are deleted (the periodic job; safe on every
/// replica at once): an anonymous caller's rows last at most 5 minutes
/// past its rate limit.
pub async fn prune(conn: &impl ConnectionTrait) -> Result<u64> {
    Ok(passkey_challenge::Entity::delete_many()
        .filter(
            sea_orm::Condition::any()
                .add(passkey_challenge::Column::ExpiresAt.lt(now()))
                .add(passkey_challenge::Column::UsedAt.is_not_null()),
        )
        .exec(conn)
        .await?
        .rows_affected)
}
