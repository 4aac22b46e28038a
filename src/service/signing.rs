//! Token signing keys, a building block: the keys kept in the database
//! (`signing_keys`, private halves sealed under `MFA_ENCRYPTION_KEY`), this
//! replica's copy of them (`AppContext::jwt`), and issuing and verifying
//! access tokens with them.
//!
//! One key is active at a time, which a partial unique index enforces: N
//! replicas starting at once on a fresh database each try to make one and
//! one wins. A replica signs with the key the database says is active
//! (checked at each issue, one small read), so a rotation anywhere applies
//! to the next token everywhere; it verifies with the keys it loaded, and a
//! token naming a key it does not know makes it reload, at most once per
//! `RELOAD_EVERY`.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use entity::{
    signing_key::{self, State},
    user,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set,
    TransactionTrait, sea_query::Expr,
};

use super::{AppContext, now, role_grants};
use crate::{
    auth::{
        claims::{ClaimsShape, LargeMetadata, MAX_ROLES_MEASURED, TokenSubject, fits},
        jwt::{Claims, LEEWAY, Signer, Unverified, Verifier},
        signing::{Algorithm, KeyPair, PublicKey},
    },
    error::{AppError, Result},
    ids,
};

/// The shortest time between two reloads for unknown `kid`s.
const RELOAD_EVERY: Duration = Duration::from_millis(250);

/// Bounds the reloads that tokens with unknown `kid`s cause.
#[derive(Default)]
pub struct ReloadGate(Mutex<Option<Instant>>);

impl ReloadGate {
    /// Whether a reload may run now (and notes that it does).
    fn admit(&self) -> bool {
        let mut last = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|at| at.elapsed() < RELOAD_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

/// How long a replaced key keeps verifying: the longest an access token it
/// signed can live, and the clock leeway.
pub fn verify_window(ctx: &AppContext) -> chrono::Duration {
    chrono::Duration::from_std(ctx.config.access_token_ttl).unwrap_or_default()
        + chrono::Duration::seconds(LEEWAY as i64)
}

/// At start: makes sure the active key is what the configuration asks for
/// (a key of `JWT_ALGORITHM`, the `JWT_PRIVATE_KEY_FILE` key when one is
/// given; with HS256, no asymmetric key stays active), then loads the keys.
pub async fn prepare(ctx: &AppContext) -> anyhow::Result<()> {
    let algorithm = ctx.config.jwt_algorithm;
    let file_key = ctx
        .config
        .jwt_private_key
        .as_ref()
        .map(|pem| {
            use secrecy::ExposeSecret;
            KeyPair::from_pkcs8_pem(algorithm, pem.expose_secret())
        })
        .transpose()
        .context("JWT_PRIVATE_KEY_FILE")?;
    // Replicas racing on a fresh database: the loser of one round finds
    // the winner's key in the next.
    for _ in 0..5 {
        let active = active_row(&ctx.db).await?;
        let wanted = match (&active, &file_key) {
            (_, _) if !algorithm.is_asymmetric() => {
                if active.is_some() {
                    retire_active(ctx).await?;
                }
                break;
            }
            (Some(row), Some(file)) if row.kid == file.public.kid => break,
            (Some(row), None) if row.algorithm == algorithm.name() && opens(ctx, row) => break,
            (_, Some(file)) => KeyPair::from_pkcs8_der(algorithm, file.pkcs8_der())?,
            (_, None) => generate(algorithm).await?,
        };
        let txn = ctx.db.begin().await?;
        match activate(&txn, ctx, &wanted, active.as_ref().map(|row| row.id)).await {
            Ok(row) => {
                txn.commit().await?;
                tracing::info!(kid = %row.kid, algorithm = %row.algorithm, "a new signing key is active");
                break;
            }
            Err(err) => {
                txn.rollback().await?;
                tracing::debug!(error = %err, "another replica made the active signing key first");
            }
        }
    }
    reload(&ctx.db, ctx).await?;
    if algorithm.is_asymmetric() && active_row(&ctx.db).await?.is_none() {
        anyhow::bail!("no active signing key after start-up");
    }
    Ok(())
}

/// Whether this replica can open a stored key (a changed
/// `MFA_ENCRYPTION_KEY` cannot): one it cannot is replaced.
fn opens(ctx: &AppContext, row: &signing_key::Model) -> bool {
    let opened = ctx.key_sealer.open(&row.private_key_sealed).is_ok();
    if !opened {
        tracing::warn!(kid = %row.kid, "the active signing key cannot be opened with MFA_ENCRYPTION_KEY: a new one replaces it");
    }
    opened
}

/// A new key; RSA's takes a moment of CPU, so off the async workers.
pub async fn generate(algorithm: Algorithm) -> anyhow::Result<KeyPair> {
    tokio::task::spawn_blocking(move || KeyPair::generate(algorithm)).await?
}

async fn active_row(conn: &impl ConnectionTrait) -> Result<Option<signing_key::Model>> {
    Ok(signing_key::Entity::find()
        .filter(signing_key::Column::State.eq(State::Active))
        .one(conn)
        .await?)
}

/// Makes `key` the active key in the caller's transaction. `replacing` is
/// the active key the caller saw: it becomes verify-only for
/// `verify_window`, and if it is no longer the active one (another replica
/// replaced it), nothing happens and `CONFLICT` says so. With `None` the
/// caller saw no active key, and the unique index refuses the insert when
/// another transaction made one meanwhile: either way, one replica's key
/// wins and the others adopt it.
pub async fn activate(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    key: &KeyPair,
    replacing: Option<uuid::Uuid>,
) -> Result<signing_key::Model> {
    if let Some(id) = replacing {
        let demoted = signing_key::Entity::update_many()
            .col_expr(signing_key::Column::State, Expr::value(State::VerifyOnly))
            .col_expr(
                signing_key::Column::RetiresAt,
                Expr::value(now() + verify_window(ctx)),
            )
            .filter(signing_key::Column::Id.eq(id))
            .filter(signing_key::Column::State.eq(State::Active))
            .exec(conn)
            .await?;
        if demoted.rows_affected == 0 {
            return Err(AppError::Conflict(
                "the active signing key changed meanwhile".into(),
            ));
        }
    }
    let row = signing_key::ActiveModel {
        id: Set(ids::new_key()),
        kid: Set(key.public.kid.clone()),
        algorithm: Set(key.public.algorithm.name().to_owned()),
        state: Set(State::Active),
        public_jwk: Set(key.public.jwk_json()),
        private_key_sealed: Set(ctx.key_sealer.seal(key.pkcs8_der())),
        created_at: Set(now()),
        retires_at: Set(None),
    };
    // A key that was active before (a file put back) comes back as itself.
    signing_key::Entity::delete_many()
        .filter(signing_key::Column::Kid.eq(key.public.kid.as_str()))
        .exec(conn)
        .await?;
    Ok(row.insert(conn).await?)
}

/// The active key becomes verify-only until the tokens it signed expire.
async fn demote_active(conn: &impl ConnectionTrait, ctx: &AppContext) -> Result<()> {
    signing_key::Entity::update_many()
        .col_expr(signing_key::Column::State, Expr::value(State::VerifyOnly))
        .col_expr(
            signing_key::Column::RetiresAt,
            Expr::value(now() + verify_window(ctx)),
        )
        .filter(signing_key::Column::State.eq(State::Active))
        .exec(conn)
        .await?;
    Ok(())
}

/// Back to HS256: the asymmetric key verifies what it signed, then retires.
async fn retire_active(ctx: &AppContext) -> Result<()> {
    demote_active(&ctx.db, ctx).await?;
    tracing::info!(
        "JWT_ALGORITHM is HS256: the asymmetric signing key verifies until its tokens expire"
    );
    Ok(())
}

/// Keys replaced longer ago than their window are retired (the periodic
/// job, on every replica at once: one conditional update).
pub async fn retire_expired(conn: &impl ConnectionTrait) -> Result<u64> {
    Ok(signing_key::Entity::update_many()
        .col_expr(signing_key::Column::State, Expr::value(State::Retired))
        .filter(signing_key::Column::State.eq(State::VerifyOnly))
        .filter(signing_key::Column::RetiresAt.lte(now()))
        .exec(conn)
        .await?
        .rows_affected)
}

/// The keys that verify: the active one and those still in their window.
async fn live_rows(conn: &impl ConnectionTrait) -> Result<Vec<signing_key::Model>> {
    let at = now();
    Ok(signing_key::Entity::find()
        .filter(signing_key::Column::State.ne(State::Retired))
        .all(conn)
        .await?
        .into_iter()
        .filter(|row| row.retires_at.is_none_or(|retires| retires > at))
        .collect())
}

fn public_key(row: &signing_key::Model) -> Result<PublicKey> {
    let algorithm: Algorithm = row
        .algorithm
        .parse()
        .map_err(|e: String| AppError::Internal(anyhow::anyhow!(e)))?;
    Ok(PublicKey::from_jwk_json(algorithm, &row.public_jwk)?)
}

/// Loads the database's keys into this replica.
pub async fn reload(conn: &impl ConnectionTrait, ctx: &AppContext) -> Result<()> {
    let mut signer = None;
    let mut verifiers = Vec::new();
    for row in live_rows(conn).await? {
        let key = public_key(&row)?;
        if row.state == State::Active && ctx.config.jwt_algorithm.is_asymmetric() {
            let der = ctx
                .key_sealer
                .open(&row.private_key_sealed)
                .context("the active signing key cannot be opened with MFA_ENCRYPTION_KEY")?;
            let pair = KeyPair::from_pkcs8_der(key.algorithm, &der)?;
            signer = Some(Signer {
                kid: key.kid.clone(),
                algorithm: key.algorithm,
                encoding: pair.encoding,
            });
        }
        let retires_at: Option<DateTime<Utc>> = row.retires_at;
        verifiers.push(Verifier { key, retires_at });
    }
    ctx.jwt.install(signer, verifiers);
    Ok(())
}

/// The public keys another service verifies tokens with: the active key
/// and the replaced ones still in their window, as JWKs, read from the
/// database (so every replica publishes a rotation at once).
pub async fn published(ctx: &AppContext) -> Result<Vec<serde_json::Value>> {
    live_rows(&ctx.db)
        .await?
        .iter()
        .map(|row| {
            serde_json::to_value(&public_key(row)?.jwk).map_err(|e| {
                AppError::Internal(anyhow::anyhow!("a JWK that does not serialise: {e}"))
            })
        })
        .collect()
}

/// `JWT_CLAIMS_PRESET` and `JWT_CLAIMS_TEMPLATE`, refused at start when the
/// template does not parse or its token could pass 4 KiB for the largest
/// user the input rules allow.
pub fn claims_shape(config: &crate::config::Config) -> anyhow::Result<ClaimsShape> {
    use crate::validation::{EMAIL_MAX, USERNAME_MAX};
    let shape = ClaimsShape::new(
        config.jwt_claims_preset,
        config.jwt_claims_template.as_deref(),
    )?;
    let long = |n: usize| "w".repeat(n);
    shape.check_size(&TokenSubject {
        id: ids::encode(ids::USER, uuid::Uuid::max()),
        username: long(USERNAME_MAX),
        email: long(EMAIL_MAX),
        roles: (0..MAX_ROLES_MEASURED)
            .map(|i| format!("{i:02}{}", long(62)))
            .collect(),
        permissions: crate::auth::Permission::ALL
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect(),
        tier: Some(long(64)),
        app_metadata: LargeMetadata::value(),
    })?;
    Ok(shape)
}

/// A new access token for `user`'s session `chain_id`, with the configured
/// claims, signed with the key the database says is active.
pub async fn issue(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    user: &user::Model,
    chain_id: uuid::Uuid,
) -> Result<String> {
    let mut claims: Claims = ctx.jwt.claims(
        ids::encode(ids::USER, user.id),
        ids::encode(ids::SESSION, chain_id),
    );
    if !ctx.claims.is_empty() {
        let subject = subject(conn, user).await?;
        let extra = ctx.claims.render(&subject)?;
        if fits(&extra) {
            claims.extra = extra;
        } else {
            tracing::error!(user_id = %ids::user(user.id), "the token's template claims would pass 4 KiB: issued without them");
        }
    }
    if ctx.jwt.algorithm().is_asymmetric() {
        let active: Option<String> = signing_key::Entity::find()
            .select_only()
            .column(signing_key::Column::Kid)
            .filter(signing_key::Column::State.eq(State::Active))
            .into_tuple()
            .one(conn)
            .await?;
        if active.is_some_and(|kid| kid != ctx.jwt.active_kid()) {
            reload(conn, ctx).await?;
        }
    }
    ctx.jwt.sign(&claims)
}

/// What a claims template sees of `user`.
async fn subject(conn: &impl ConnectionTrait, user: &user::Model) -> Result<TokenSubject> {
    let roles = role_grants::of_user(conn, user.id).await?;
    let mut names: Vec<String> = roles.iter().map(|r| r.name.clone()).collect();
    names.sort();
    let tier = match user.tier_id {
        Some(id) => entity::tier::Entity::find_by_id(id)
            .one(conn)
            .await?
            .map(|tier| tier.name),
        None => None,
    };
    Ok(TokenSubject {
        id: ids::encode(ids::USER, user.id),
        username: user.username.clone(),
        email: user.email.clone(),
        roles: names,
        permissions: role_grants::permissions(&roles)
            .into_iter()
            .map(|p| p.as_str().to_owned())
            .collect(),
        tier,
        app_metadata: user.app_metadata.clone(),
    })
}

/// Checks an access token; a `kid` this replica does not know makes it
/// reload its keys (bounded by `ReloadGate`) and check again.
pub async fn verify(ctx: &AppContext, token: &str) -> Result<Claims> {
    match ctx.jwt.verify(token) {
        Ok(claims) => Ok(claims),
        Err(Unverified::Refused(err)) => Err(err),
        Err(Unverified::UnknownKey) => {
            if !ctx.key_reload.admit() {
                return Err(AppError::TokenInvalid);
            }
            reload(&ctx.db, ctx).await?;
            ctx.jwt
                .verify(token)
                .map_err(|unverified| match unverified {
                    Unverified::UnknownKey => AppError::TokenInvalid,
                    Unverified::Refused(err) => err,
                })
        }
    }
}
