//! `signingKeys` and `rotateSigningKey` (superuser): the keys that sign
//! access tokens, and replacing the active one.

use entity::signing_key::{self, State};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::Value;

use super::{
    AppContext,
    audit::{Action, Event, Target},
    now, signing,
};
use crate::{
    auth::Viewer,
    error::{AppError, Result},
};

/// Every key, newest first, retired ones included; a replaced key past its
/// window reads as retired even before the periodic job marks it.
pub async fn list(ctx: &AppContext, viewer: &Viewer) -> Result<Vec<signing_key::Model>> {
    viewer.require_superuser()?;
    let at = now();
    Ok(signing_key::Entity::find()
        .order_by_desc(signing_key::Column::CreatedAt)
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|mut key| {
            if key.state == State::VerifyOnly && key.retires_at.is_some_and(|t| t <= at) {
                key.state = State::Retired;
            }
            key
        })
        .collect())
}

/// `rotateSigningKey`: the next key (published since it was made, so the
/// services that cache the key set hold it already) signs from now on, on
/// every replica; the one it replaces verifies (and stays published) until
/// the tokens it signed have expired, then retires; a new next key waits.
/// A next key published less than `JWT_ROTATION_NOTICE_SECS` ago is
/// `CONFLICT` (caches may not hold it yet); without a usable next key a new
/// one becomes active at once. `compromised`: the active and the next key
/// may have leaked together, so both go at once (the old key's tokens stop
/// verifying) and two new keys replace them.
pub async fn rotate(
    ctx: &AppContext,
    viewer: &Viewer,
    compromised: bool,
) -> Result<signing_key::Model> {
    viewer.require_superuser()?;
    let algorithm = ctx.config.jwt_algorithm;
    if !algorithm.is_asymmetric() {
        return Err(AppError::Conflict(
            "JWT_ALGORITHM is HS256: tokens are signed with JWT_SECRET, and there is no key to rotate (set JWT_ALGORITHM to EdDSA, ES256 or RS256)".into(),
        ));
    }
    if ctx.config.jwt_private_key.is_some() {
        return Err(AppError::Conflict(
            "the signing key comes from JWT_PRIVATE_KEY_FILE: put a new key in the file and restart the replicas".into(),
        ));
    }
    // Made before the transaction: RSA takes a moment.
    let following = signing::generate(algorithm).await?;
    let fresh = if compromised {
        Some(signing::generate(algorithm).await?)
    } else {
        None
    };
    let txn = ctx.begin().await?;
    let previous = signing_key::Entity::find()
        .filter(signing_key::Column::State.eq(State::Active))
        .lock_exclusive()
        .one(&txn)
        .await?;
    let replacing = previous.as_ref().map(|p| p.id);
    let row = match (fresh, signing::usable_next(&txn, ctx).await?) {
        (Some(fresh), next) => {
            if let Some(next) = next {
                signing::drop_next(&txn, next.id).await?;
            }
            let row = signing::activate(&txn, ctx, &fresh, replacing).await?;
            if let Some(old) = replacing {
                signing::retire_now(&txn, old).await?;
            }
            row
        }
        (None, Some(next)) => {
            let published = (now() - next.created_at).num_seconds();
            let notice = ctx.config.jwt_rotation_notice.as_secs() as i64;
            if published < notice {
                return Err(AppError::Conflict(format!(
                    "the next key was published {published} s ago, and services that cache the key set may not hold it yet: rotate again in {} s, or with compromised: true if the key leaked",
                    notice - published
                )));
            }
            signing::promote(&txn, ctx, &next, replacing).await?
        }
        (None, None) => {
            let key = signing::generate(algorithm).await?;
            signing::activate(&txn, ctx, &key, replacing).await?
        }
    };
    signing::add_next(&txn, ctx, &following).await?;
    Event::by(viewer, Action::SigningKeyRotated)
        .on(Target::SigningKey(row.id))
        .change(
            "kid",
            previous.map_or(Value::Null, |p| Value::from(p.kid)),
            row.kid.clone(),
        )
        .change("algorithm", Value::Null, row.algorithm.clone())
        .change("compromised", Value::Null, compromised)
        .record(&txn)
        .await?;
    txn.commit().await?;
    signing::reload(&ctx.db, ctx).await?;
    Ok(row)
}
