//! Credentials, a building block: checking a password or a second-factor
//! code under the account lockout (shared by sign-in, step-ups and
//! resets), judging a new password's strength, and what a proven address
//! removes. Runs inside its caller's flow; never opens a flow of its own.

mod lockout;
mod second_factor;

pub use lockout::{
    Checked, audit_failure, check_password, confirm_password, lock_if_exhausted, record_sign_in,
    release_check, reserve_check, sign_in_check,
};
pub use second_factor::{
    Code, RECOVERY_CODES, accept_totp, challenge, factor_of, new_recovery_codes, remove_factor,
    totp, with_code,
};

use entity::user;
use sea_orm::ConnectionTrait;
use serde_json::Value;

use super::{
    RequestMeta, access,
    audit::{Action, Event, Target},
};
use crate::error::Result;

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
