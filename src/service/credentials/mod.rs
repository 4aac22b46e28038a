//! Credentials, a building block: checking a password or a second-factor
//! code under the account lockout (shared by sign-in, step-ups and
//! resets), judging a new password's strength, and what a proven address
//! removes. Runs inside its caller's flow; never opens a flow of its own.

mod lockout;
pub mod passkey;
mod second_factor;

pub use lockout::{
    Checked, audit_failure, confirm_password, lock_if_exhausted, record_sign_in, release_check,
    reserve_check, sign_in_check, unlock,
};
pub use second_factor::{
    Code, RECOVERY_CODES, accept_totp, challenge, factor_of, new_recovery_codes, remove_factor,
    totp, with_code,
};

use entity::user;
use sea_orm::ConnectionTrait;
use serde_json::Value;

use super::{
    AppContext, RequestMeta, access,
    audit::{Action, Event, Target},
};
use crate::{error::Result, validation};

/// How a sign-in proved who it is, as its `auth.login` event records it.
#[derive(Debug, Clone, Copy)]
pub enum Method<'a> {
    Password,
    /// Another provider, by its name in `IDENTITY_PROVIDERS`.
    Provider(&'a str),
    /// A code mailed to the address.
    MailedCode,
    /// The link of that mail.
    MailedLink,
    /// A passkey (user verification required), which is a second factor
    /// in itself.
    Passkey,
}

impl Method<'_> {
    /// As audited (`auth.login`'s `method`).
    pub fn recorded(self) -> String {
        match self {
            Method::Password => "password".into(),
            Method::Provider(name) => format!("provider:{name}"),
            Method::MailedCode => "code".into(),
            Method::MailedLink => "link".into(),
            Method::Passkey => "passkey".into(),
        }
    }

    /// Whether the method proves two factors at once (a passkey: the
    /// device, and the PIN or biometric it verified), so a second factor
    /// is not asked for.
    fn is_multi_factor(self) -> bool {
        matches!(self, Method::Passkey)
    }
}

/// A way in that is about to go.
#[derive(Debug, Clone, Copy)]
pub enum WayIn {
    Identity(uuid::Uuid),
    Passkey(uuid::Uuid),
}

/// Whether `user` (locked by the caller) can still sign in once `removing`
/// is gone: a password, a linked account of a provider still configured,
/// or another passkey.
pub async fn another_way_in(
    conn: &impl ConnectionTrait,
    ctx: &AppContext,
    user: &user::Model,
    removing: WayIn,
) -> Result<bool> {
    use entity::{external_identity, passkey};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    if user.has_password {
        return Ok(true);
    }
    let configured: Vec<String> = ctx
        .providers
        .all()
        .iter()
        .map(|p| p.config.name.clone())
        .collect();
    let mut identities = external_identity::Entity::find()
        .filter(external_identity::Column::UserId.eq(user.id))
        .filter(external_identity::Column::Provider.is_in(configured));
    let mut passkeys = passkey::Entity::find().filter(passkey::Column::UserId.eq(user.id));
    match removing {
        WayIn::Identity(id) => identities = identities.filter(external_identity::Column::Id.ne(id)),
        WayIn::Passkey(id) => passkeys = passkeys.filter(passkey::Column::Id.ne(id)),
    }
    // Passkeys only count while they can be used here.
    let passkeys = if ctx.webauthn.is_some() {
        passkeys.count(conn).await?
    } else {
        0
    };
    Ok(passkeys > 0 || identities.count(conn).await? > 0)
}

/// How recent a sign-in stands in for a password an account does not have.
pub const RECENT_SIGN_IN_MINUTES: i64 = 10;

/// Whether the viewer's session began (its first sign-in, not a refresh)
/// within `RECENT_SIGN_IN_MINUTES`.
pub async fn signed_in_recently(ctx: &AppContext, viewer: &crate::auth::Viewer) -> Result<bool> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    // An administrator starting an impersonation is no sign-in of the user's.
    if viewer.impersonation.is_some() {
        return Ok(false);
    }
    let began = entity::session::Entity::find()
        .filter(entity::session::Column::ChainId.eq(viewer.session_id))
        .order_by_asc(entity::session::Column::CreatedAt)
        .one(&ctx.db)
        .await?
        .map(|s| s.created_at);
    Ok(began
        .is_some_and(|at| at >= super::now() - chrono::Duration::minutes(RECENT_SIGN_IN_MINUTES)))
}

/// The end of every sign-in once its first factor is proven, on `user` as
/// `txn` locked it: an account that is not active is `ACCOUNT_DISABLED`,
/// an unverified address `EMAIL_NOT_VERIFIED` (`REQUIRE_EMAIL_VERIFICATION`),
/// a second factor `MFA_REQUIRED` (its challenge committed); anything else
/// gets a session, audited as `auth.login` with its method. Commits `txn`.
pub async fn complete_sign_in(
    txn: sea_orm::DatabaseTransaction,
    ctx: &AppContext,
    user: user::Model,
    meta: &RequestMeta,
    method: Method<'_>,
) -> Result<access::Tokens> {
    use crate::error::AppError;
    let user_id = crate::ids::user(user.id);
    let (ip, request_id) = (meta.ip.as_deref(), meta.request_id.as_deref());
    if user.status != user::Status::Active {
        tracing::info!(%user_id, ip, request_id, "sign-in refused: account disabled");
        return Err(AppError::AccountDisabled);
    }
    // Only after the first factor, so it tells nothing to a guesser.
    if ctx.config.require_email_verification && user.email_verified_at.is_none() {
        tracing::info!(%user_id, ip, request_id, "sign-in refused: email not verified");
        return Err(AppError::EmailNotVerified);
    }
    if user.mfa_enabled && !method.is_multi_factor() {
        let mfa_token = challenge(&txn, ctx, &user).await?;
        txn.commit().await?;
        tracing::info!(%user_id, ip, request_id, "first factor right; second factor required");
        return Err(AppError::MfaRequired { mfa_token });
    }
    let user = record_sign_in(&txn, user).await?;
    Event::anonymous(meta, Action::AuthLogin)
        .as_user(user.id)
        .change("method", Value::Null, method.recorded())
        .record(&txn)
        .await?;
    let tokens = access::start(&txn, ctx, user, meta).await?;
    txn.commit().await?;
    tracing::info!(%user_id, ip, request_id, method = %method.recorded(), "login succeeded");
    Ok(tokens)
}

/// `user`'s address has just been proven for the first time (a reset or a
/// verification link, a mailed code, in the caller's transaction, under the
/// user's lock): what was set up before it, by whoever registered the
/// address, goes: API keys, the second factor and its recovery codes, and
/// linked provider accounts, passkeys. Audited when anything was removed.
pub async fn forget_unproven(
    txn: &impl ConnectionTrait,
    user: user::Model,
    meta: &RequestMeta,
) -> Result<user::Model> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let keys = access::revoke_keys(txn, user.id).await?;
    let had_factor = user.mfa_enabled;
    let user = remove_factor(txn, user).await?;
    // Provider accounts linked before the proof came with a sign-up whose
    // provider did not vouch for the address: maybe a stranger's.
    let identities = entity::external_identity::Entity::delete_many()
        .filter(entity::external_identity::Column::UserId.eq(user.id))
        .exec(txn)
        .await?
        .rows_affected;
    let passkeys = passkey::remove_all(txn, user.id).await?;
    if keys > 0 || had_factor || identities > 0 || passkeys > 0 {
        Event::anonymous(meta, Action::AuthUnverifiedSetupRemoved)
            .on(Target::User(user.id))
            .change("apiKeysRevoked", Value::Null, keys)
            .change("mfaEnabled", had_factor, false)
            .change("identitiesUnlinked", Value::Null, identities)
            .change("passkeysRemoved", Value::Null, passkeys)
            .record(txn)
            .await?;
        tracing::info!(user_id = %crate::ids::user(user.id), keys, had_factor, identities, passkeys, "what was set up before the address was proven is removed");
    }
    Ok(user)
}

/// The contract's password rules. The strength estimate costs up to half a
/// second of CPU for a crafted 128-character input, so it runs on the hashing
/// pool behind the hashing bound, never on the async workers.
pub async fn judge_new_password(
    ctx: &AppContext,
    password: &str,
    field: &'static str,
    username: &str,
    email: &str,
) -> Result<()> {
    let (password, username, email) = (password.to_owned(), username.to_owned(), email.to_owned());
    ctx.hasher
        .run_bounded(move || validation::password(&password, field, &username, &email))
        .await
}
