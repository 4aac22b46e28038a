//! Credentials, a building block: checking a password or a second-factor
//! code under the account lockout (shared by sign-in, step-ups and
//! resets), judging a new password's strength, and what a proven address
//! removes. Runs inside its caller's flow; never opens a flow of its own.

mod lockout;
mod second_factor;

pub use lockout::{
    Checked, audit_failure, confirm_password, lock_if_exhausted, record_sign_in, release_check,
    reserve_check, sign_in_check,
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

/// `user`'s address has just been proven for the first time (a reset or a
/// verification link, in the caller's transaction, under the user's lock):
/// what was set up before it, by whoever registered the address, goes: API
/// keys, the second factor and its recovery codes. Audited when anything
/// was removed.
pub async fn forget_unproven(
    txn: &impl ConnectionTrait,
    user: user::Model,
    meta: &RequestMeta,
) -> Result<user::Model> {
    let keys = access::revoke_keys(txn, user.id).await?;
    let had_factor = user.mfa_enabled;
    let user = remove_factor(txn, user).await?;
    if keys > 0 || had_factor {
        Event::anonymous(meta, Action::AuthUnverifiedSetupRemoved)
            .on(Target::User(user.id))
            .change("apiKeysRevoked", Value::Null, keys)
            .change("mfaEnabled", had_factor, false)
            .record(txn)
            .await?;
        tracing::info!(user_id = %crate::ids::user(user.id), keys, had_factor, "what was set up before the address was proven is removed");
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
