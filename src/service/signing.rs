//! Token signing keys, a building block: the keys kept in the database
//! (`signing_keys`, private halves sealed under `MFA_ENCRYPTION_KEY`), this
//! replica's copy of them (`AppContext::jwt`), and issuing and verifying
//! access tokens with them.
//!
//! One key is active and one waits as the next, which partial unique
//! indexes enforce: N replicas starting at once on a fresh database each
//! try to make them and one wins. The next key is published in the key set
//! from the moment it is made, so when a rotation makes it active the
//! services that cache the set (`max-age=300`, or a refetch cooldown)
//! already hold it. A replica signs with the key the database says is
//! active (checked at each issue, one small read), so a rotation anywhere
//! applies to the next token everywhere; it verifies with the keys it
//! loaded, reloaded when a token names a key it does not know and at least
//! every `KEYS_MAX_AGE`, so a replaced key's end is honoured everywhere.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use entity::{
    signing_key::{self, State},
    user,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, sea_query::Expr,
};

use super::{AppContext, now, role_grants};
use crate::{
    auth::{
        Impersonation,
        claims::{ClaimsShape, LargeMetadata, MAX_ROLES_MEASURED, TokenSubject},
        jwt::{Actor, Claims, LEEWAY, Signer, Unverified, Verifier},
        signing::{Algorithm, KeyPair, PublicKey},
    },
    error::{AppError, Result, ResultExt},
    ids,
};

/// The shortest time between two reloads for unknown `kid`s.
const RELOAD_EVERY: Duration = Duration::from_millis(250);

/// The longest a replica verifies with keys it read from the database.
pub const KEYS_MAX_AGE: Duration = Duration::from_secs(30);

/// Serialises this replica's key reloads: requests that meet an unknown
/// `kid` at once wait for one reload and then check again, and reloads run
/// at most once per `RELOAD_EVERY` however many forged `kid`s arrive.
#[derive(Default)]
pub struct ReloadGate {
    /// When the last reload started.
    last: tokio::sync::Mutex<Option<Instant>>,
    /// Wakes [`keep`] when a replica with HS256 took the active key away.
    pub settle: tokio::sync::Notify,
}

/// Reloads the keys unless a reload started after `seen` (when the caller
/// found them wanting); waits out `RELOAD_EVERY` rather than refusing.
async fn reload_after(ctx: &AppContext, seen: Instant) -> Result<()> {
    let mut last = ctx.key_reload.last.lock().await;
    if last.is_some_and(|at| at > seen) {
        return Ok(());
    }
    if let Some(wait) = last.and_then(|at| RELOAD_EVERY.checked_sub(at.elapsed())) {
        tokio::time::sleep(wait).await;
    }
    *last = Some(Instant::now());
    reload(&ctx.db, ctx).await
}

/// How long a replaced key keeps verifying: the longest an access token it
/// signed can live, and the clock leeway.
pub fn verify_window(ctx: &AppContext) -> chrono::Duration {
    chrono::Duration::from_std(ctx.config.access_token_ttl).unwrap_or_default()
        + chrono::Duration::seconds(LEEWAY as i64)
}

/// `JWT_PRIVATE_KEY_FILE`'s key, when one is given.
fn file_key(ctx: &AppContext) -> anyhow::Result<Option<KeyPair>> {
    use secrecy::ExposeSecret;
    ctx.config
        .jwt_private_key
        .as_ref()
        .map(|pem| KeyPair::from_pkcs8_pem(ctx.config.jwt_algorithm, pem.expose_secret()))
        .transpose()
        .context("JWT_PRIVATE_KEY_FILE")
}

/// At start: makes sure the active key is what the configuration asks for
/// (a key of `JWT_ALGORITHM`, the `JWT_PRIVATE_KEY_FILE` key when one is
/// given) and that a next key waits, then loads the keys. With HS256 the
/// keys are left as they are, and verify the tokens they signed.
pub async fn prepare(ctx: &AppContext) -> anyhow::Result<()> {
    let file = file_key(ctx)?;
    if let Some(file) = &file {
        refuse_replaced(ctx, file).await?;
    }
    settle(ctx, file.as_ref()).await?;
    reload(&ctx.db, ctx).await?;
    if ctx.config.jwt_algorithm.is_asymmetric() && active_row(&ctx.db).await?.is_none() {
        anyhow::bail!("no active signing key after start-up");
    }
    Ok(())
}

/// A key file holding a key that was replaced would bring back a key
/// someone chose to stop trusting: the start stops instead.
async fn refuse_replaced(ctx: &AppContext, file: &KeyPair) -> anyhow::Result<()> {
    let known = signing_key::Entity::find()
        .filter(signing_key::Column::Kid.eq(file.public.kid.as_str()))
        .one(&ctx.db)
        .await?;
    if let Some(row) = known.filter(|row| matches!(row.state, State::VerifyOnly | State::Retired)) {
        anyhow::bail!(
            "JWT_PRIVATE_KEY_FILE holds key {} which was replaced (it verifies its tokens until {}): a replaced key does not come back; give the replicas a new key",
            row.kid,
            row.retires_at
                .map_or_else(|| "now".to_owned(), |t| t.to_rfc3339())
        );
    }
    Ok(())
}

/// Brings the database's keys in line with this replica's configuration,
/// in rounds: a replica that loses a round to another finds the winner's
/// key in the next.
async fn settle(ctx: &AppContext, file: Option<&KeyPair>) -> anyhow::Result<()> {
    let algorithm = ctx.config.jwt_algorithm;
    for _ in 0..5 {
        let active = active_row(&ctx.db).await?;
        let outcome = if !algorithm.is_asymmetric() {
            // A replica on HS256 leaves the shared keys alone: replicas still
            // on an asymmetric algorithm (a rolling change) keep signing.
            return Ok(());
        } else if let Some(file) = file {
            // With a key file the file is the rotation: no next key waits.
            if let Some(next) = next_row(&ctx.db).await? {
                drop_next(&ctx.db, next.id).await?;
            }
            match &active {
                Some(row) if row.kid == file.public.kid => return Ok(()),
                _ => replace_active(ctx, active.as_ref(), Replacement::Insert(file)).await,
            }
        } else {
            let next = usable_next(&ctx.db, ctx).await?;
            match (&active, next) {
                (Some(row), Some(_)) if usable(ctx, row) => return Ok(()),
                (Some(row), None) if usable(ctx, row) => {
                    let key = generate(algorithm).await?;
                    add_next(&ctx.db, ctx, &key).await
                }
                (_, Some(next)) => {
                    replace_active(ctx, active.as_ref(), Replacement::Promote(&next)).await
                }
                (_, None) => {
                    let key = generate(algorithm).await?;
                    replace_active(ctx, active.as_ref(), Replacement::Insert(&key)).await
                }
            }
        };
        if let Err(err) = outcome {
            tracing::debug!(error = %err, "another replica changed the signing keys first");
        }
    }
    Ok(())
}

enum Replacement<'a> {
    /// A key that is not in the database yet.
    Insert(&'a KeyPair),
    /// The waiting next key.
    Promote(&'a signing_key::Model),
}

/// Makes a new active key in a transaction of its own (see [`activate`]).
async fn replace_active(
    ctx: &AppContext,
    active: Option<&signing_key::Model>,
    by: Replacement<'_>,
) -> Result<()> {
    let txn = ctx.begin().await?;
    let row = match by {
        Replacement::Insert(key) => activate(&txn, ctx, key, active.map(|row| row.id)).await?,
        Replacement::Promote(next) => promote(&txn, ctx, next, active.map(|row| row.id)).await?,
    };
    txn.commit().await?;
    tracing::info!(kid = %row.kid, algorithm = %row.algorithm, "a new signing key is active");
    Ok(())
}

/// Whether this replica can open a stored key (a changed
/// `MFA_ENCRYPTION_KEY` cannot): one it cannot is replaced.
fn opens(ctx: &AppContext, row: &signing_key::Model) -> bool {
    let opened = ctx.key_sealer.open(&row.private_key_sealed).is_ok();
    if !opened {
        tracing::warn!(kid = %row.kid, "a signing key cannot be opened with MFA_ENCRYPTION_KEY: a new one replaces it");
    }
    opened
}

/// A new key; RSA's takes a moment of CPU, so off the async workers.
pub async fn generate(algorithm: Algorithm) -> anyhow::Result<KeyPair> {
    tokio::task::spawn_blocking(move || KeyPair::generate(algorithm)).await?
}

async fn active_row(conn: &impl ConnectionTrait) -> Result<Option<signing_key::Model>> {
    in_state(conn, State::Active).await
}

async fn next_row(conn: &impl ConnectionTrait) -> Result<Option<signing_key::Model>> {
    in_state(conn, State::Next).await
}

async fn in_state(conn: &impl ConnectionTrait, state: State) -> Result<Option<signing_key::Model>> {
    Ok(signing_key::Entity::find()
        .filter(signing_key::Column::State.eq(state))
        .order_by_asc(signing_key::Column::CreatedAt)
        .one(conn)
        .await?)
}

/// A next key this replica cannot use never signed anything: it goes.
pub async fn drop_next(conn: &impl ConnectionTrait, id: uuid::Uuid) -> Result<()> {
    signing_key::Entity::delete_many()
        .filter(signing_key::Column::Id.eq(id))
        .filter(signing_key::Column::State.eq(State::Next))
        .exec(conn)
        .await?;
    Ok(())
}

/// Another replica or rotation changed the keys first.
fn changed_meanwhile() -> AppError {
    AppError::Conflict("the signing keys changed meanwhile: read them again".into())
}

/// The unique indexes' verdict is [`changed_meanwhile`].
fn on_index(_: &str) -> Option<AppError> {
    Some(changed_meanwhile())
}

/// Makes `key` the next key (the unique index keeps one).
pub async fn add_next(conn: &impl ConnectionTrait, ctx: &AppContext, key: &KeyPair) -> Result<()> {
    insert(conn, ctx, key, State::Next).await?;
    Ok(())
}

/// The waiting next key, if this replica can sign with it (one of another
/// algorithm, or sealed under another `MFA_ENCRYPTION_KEY`, is dropped).
pub async fn usable_next(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
) -> Result<Option<signing_key::Model>> {
    match next_row(conn).await? {
        Some(row) if !usable(ctx, &row) => {
            drop_next(conn, row.id).await?;
            Ok(None)
        }
        other => Ok(other),
    }
}

/// Whether this replica can sign with a stored key: of `JWT_ALGORITHM`,
/// and opened by its `MFA_ENCRYPTION_KEY`.
fn usable(ctx: &AppContext, row: &signing_key::Model) -> bool {
    row.algorithm == ctx.config.jwt_algorithm.name() && opens(ctx, row)
}

async fn insert(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    key: &KeyPair,
    state: State,
) -> Result<signing_key::Model> {
    signing_key::ActiveModel {
        id: Set(ids::new_key()),
        kid: Set(key.public.kid.clone()),
        algorithm: Set(key.public.algorithm.name().to_owned()),
        state: Set(state),
        public_jwk: Set(key.public.jwk_json()),
        private_key_sealed: Set(ctx.key_sealer.seal(key.pkcs8_der())),
        created_at: Set(now()),
        retires_at: Set(None),
    }
    .insert(conn)
    .await
    .on_constraint(on_index)
}

/// The active key the caller saw (`replacing`) becomes verify-only for
/// `verify_window`; if it is no longer the active one (another replica
/// replaced it), nothing happens and `CONFLICT` says so.
async fn demote(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    replacing: Option<uuid::Uuid>,
) -> Result<()> {
    let Some(id) = replacing else {
        return Ok(());
    };
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
        return Err(changed_meanwhile());
    }
    Ok(())
}

/// Makes `key` the active key in the caller's transaction, replacing the
/// one the caller saw (see `demote`). With `None` the caller saw no
/// active key, and the unique index refuses the insert when another
/// transaction made one meanwhile: either way, one replica's key wins and
/// the others adopt it.
pub async fn activate(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    key: &KeyPair,
    replacing: Option<uuid::Uuid>,
) -> Result<signing_key::Model> {
    demote(conn, ctx, replacing).await?;
    insert(conn, ctx, key, State::Active).await
}

/// Makes the waiting next key the active one in the caller's transaction,
/// replacing the one the caller saw (see `demote`).
pub async fn promote(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    next: &signing_key::Model,
    replacing: Option<uuid::Uuid>,
) -> Result<signing_key::Model> {
    demote(conn, ctx, replacing).await?;
    let promoted = signing_key::Entity::update_many()
        .col_expr(signing_key::Column::State, Expr::value(State::Active))
        .filter(signing_key::Column::Id.eq(next.id))
        .filter(signing_key::Column::State.eq(State::Next))
        .exec(conn)
        .await
        .on_constraint(on_index)?;
    if promoted.rows_affected == 0 {
        return Err(changed_meanwhile());
    }
    Ok(signing_key::Model {
        state: State::Active,
        ..next.clone()
    })
}

/// A replaced key that may have leaked stops verifying at once (every
/// replica within `KEYS_MAX_AGE`) and leaves the key set.
pub async fn retire_now(conn: &impl ConnectionTrait, id: uuid::Uuid) -> Result<()> {
    signing_key::Entity::update_many()
        .col_expr(signing_key::Column::State, Expr::value(State::Retired))
        .col_expr(signing_key::Column::RetiresAt, Expr::value(now()))
        .filter(signing_key::Column::Id.eq(id))
        .exec(conn)
        .await?;
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

/// The keys that verify: the active one, the next one, and those replaced
/// still in their window.
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
            // A key this replica cannot open (another MFA_ENCRYPTION_KEY)
            // still verifies; only signing fails, and says why.
            match ctx
                .key_sealer
                .open(&row.private_key_sealed)
                .and_then(|der| KeyPair::from_pkcs8_der(key.algorithm, &der))
            {
                Ok(pair) => {
                    signer = Some(Signer {
                        kid: key.kid.clone(),
                        algorithm: key.algorithm,
                        encoding: pair.encoding,
                    });
                }
                Err(err) => {
                    tracing::error!(kid = %row.kid, error = %err, "the active signing key cannot be opened with this replica's MFA_ENCRYPTION_KEY: every replica needs the same one")
                }
            }
        }
        let retires_at: Option<DateTime<Utc>> = row.retires_at;
        verifiers.push(Verifier { key, retires_at });
    }
    ctx.jwt.install(signer, verifiers);
    Ok(())
}

/// The public keys another service verifies tokens with: the active key,
/// the next one, and the replaced ones still in their window, as JWKs,
/// read from the database (so every replica publishes a rotation at once).
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
        organization: Some(crate::auth::claims::OrganizationSubject {
            id: ids::encode(ids::ORGANIZATION, uuid::Uuid::max()),
            slug: long(48),
            name: long(100),
            roles: (0..super::memberships::MAX_ROLES_PER_MEMBER)
                .map(|i| format!("{i:02}{}", long(62)))
                .collect(),
            tier: Some(long(64)),
        }),
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
    organization: Option<uuid::Uuid>,
    impersonation: Option<&Impersonation>,
) -> Result<String> {
    let mut claims: Claims = ctx.jwt.claims(
        ids::encode(ids::USER, user.id),
        ids::encode(ids::SESSION, chain_id),
    );
    if let Some(who) = impersonation {
        claims.act = Some(Actor {
            sub: ids::user(who.actor_id),
        });
        claims.exp = claims.exp.min(who.ends_at.timestamp());
    }
    let organization = match organization {
        Some(org) => organization_subject(conn, user.id, org).await?,
        None => None,
    };
    if let Some(org) = &organization {
        claims.org = Some(org.id.clone());
        claims.org_roles = Some(org.roles.clone());
    }
    if !ctx.claims.is_empty() {
        let mut subject = subject(conn, user).await?;
        subject.organization = organization;
        let rendered = ctx.claims.render(&subject)?;
        if !rendered.fitted {
            tracing::error!(user_id = %ids::user(user.id), "the token's template claims would pass 4 KiB or do not render for this user: issued without them");
        }
        claims.extra = rendered.claims;
    }
    if ctx.jwt.algorithm().is_asymmetric() {
        let active: Option<String> = signing_key::Entity::find()
            .select_only()
            .column(signing_key::Column::Kid)
            .filter(signing_key::Column::State.eq(State::Active))
            .into_tuple()
            .one(conn)
            .await?;
        match active {
            Some(kid) if kid != ctx.jwt.active_kid() => reload(conn, ctx).await?,
            Some(_) => {}
            // A replica configured with HS256 took the key away (a rolling
            // change of JWT_ALGORITHM): the worker makes an active key again,
            // beside the caller's transaction; meanwhile this token is signed
            // with the key this replica has, which verifies as long as it lives.
            None => ctx.key_reload.settle.notify_one(),
        }
    }
    ctx.jwt.sign(&claims)
}

/// The worker's watch over the keys (at its interval, and when [`issue`]
/// finds no active key): an asymmetric replica makes sure an active key
/// and a next key exist, whatever another replica's configuration did.
pub async fn keep(ctx: &AppContext) -> anyhow::Result<()> {
    if !ctx.config.jwt_algorithm.is_asymmetric() {
        return Ok(());
    }
    if active_row(&ctx.db).await?.is_some()
        && (ctx.config.jwt_private_key.is_some() || next_row(&ctx.db).await?.is_some())
    {
        return Ok(());
    }
    settle(ctx, file_key(ctx)?.as_ref()).await?;
    reload(&ctx.db, ctx).await?;
    Ok(())
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
        organization: None,
    })
}

/// The organisation a session acts in, as tokens carry it; `None` when the
/// user no longer belongs to it.
async fn organization_subject(
    conn: &impl ConnectionTrait,
    user_id: uuid::Uuid,
    organization_id: uuid::Uuid,
) -> Result<Option<crate::auth::claims::OrganizationSubject>> {
    let Some((org, Some((_, roles)))) = super::memberships::organizations_with_membership(
        conn,
        user_id,
        entity::organization::Column::Id.eq(organization_id),
    )
    .await?
    .into_iter()
    .next() else {
        return Ok(None);
    };
    let mut roles: Vec<String> = roles.into_iter().map(|r| r.name).collect();
    roles.sort();
    let tier = match org.tier_id {
        Some(id) => entity::tier::Entity::find_by_id(id)
            .one(conn)
            .await?
            .map(|tier| tier.name),
        None => None,
    };
    Ok(Some(crate::auth::claims::OrganizationSubject {
        id: ids::encode(ids::ORGANIZATION, org.id),
        slug: org.slug,
        name: org.name,
        roles,
        tier,
    }))
}

/// Checks an access token with this replica's keys, read again first when
/// they are older than `KEYS_MAX_AGE`, and again when the token names a
/// `kid` they lack (another replica may have made it since).
pub async fn verify(ctx: &AppContext, token: &str) -> Result<Claims> {
    let seen = Instant::now();
    if ctx.jwt.keys_age().is_none_or(|age| age > KEYS_MAX_AGE) {
        reload_after(ctx, seen).await?;
    }
    match ctx.jwt.verify(token) {
        Ok(claims) => Ok(claims),
        Err(Unverified::Refused(err)) => Err(err),
        Err(Unverified::UnknownKey) => {
            reload_after(ctx, seen).await?;
            ctx.jwt
                .verify(token)
                .map_err(|unverified| match unverified {
                    Unverified::UnknownKey => AppError::TokenInvalid,
                    Unverified::Refused(err) => err,
                })
        }
    }
}
