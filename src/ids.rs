//! Public identifiers: a type prefix and a UUIDv7 in hex (`usr_0190…`). The
//! database keys are plain UUIDs; the prefix makes an id self-describing and
//! lets a wrong-type id fail fast.

use uuid::Uuid;

use crate::error::{AppError, Result};

pub const USER: &str = "usr";
pub const ROLE: &str = "rol";
pub const TIER: &str = "tir";
pub const SESSION: &str = "ses";
pub const API_KEY: &str = "key";
pub const AUDIT_EVENT: &str = "evt";
pub const WEBHOOK: &str = "whk";
pub const WEBHOOK_DELIVERY: &str = "whd";
pub const SIGNING_KEY: &str = "sgk";
pub const IDENTITY_PROVIDER: &str = "idp";
pub const EXTERNAL_IDENTITY: &str = "ext";
pub const PASSKEY: &str = "pky";
pub const ORGANIZATION: &str = "org";
pub const MEMBERSHIP: &str = "mem";
pub const ORG_ROLE: &str = "orl";
pub const ORG_INVITATION: &str = "oin";
/// A passkey ceremony in flight (`PasskeyChallenge.challengeId`).
pub const PASSKEY_CHALLENGE: &str = "pkc";

pub fn encode(prefix: &str, id: Uuid) -> String {
    format!("{prefix}_{}", id.simple())
}

/// A user's public id, as the API and the logs show it.
pub fn user(id: Uuid) -> String {
    encode(USER, id)
}

/// A session's public id, as the API and the logs show it.
pub fn session(id: Uuid) -> String {
    encode(SESSION, id)
}

/// Parses `prefix_<hex>`; anything else is bad input on `field`.
pub fn decode(prefix: &str, raw: &str, field: &'static str) -> Result<Uuid> {
    raw.strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .filter(|hex| hex.len() == 32)
        .and_then(|hex| Uuid::try_parse(hex).ok())
        .ok_or_else(|| AppError::bad_input(field, format!("not a valid {prefix}_ id")))
}

/// Each of `raw` parsed as by `decode`; the first bad one is bad input on `field`.
pub fn decode_all<S: AsRef<str>>(
    prefix: &str,
    raw: &[S],
    field: &'static str,
) -> Result<Vec<Uuid>> {
    raw.iter()
        .map(|id| decode(prefix, id.as_ref(), field))
        .collect()
}

/// An optional id, parsed as by `decode`.
pub fn decode_opt<S: AsRef<str>>(
    prefix: &str,
    raw: Option<S>,
    field: &'static str,
) -> Result<Option<Uuid>> {
    raw.map(|id| decode(prefix, id.as_ref(), field)).transpose()
}

/// A new, time-ordered but non-sequential key.
pub fn new_key() -> Uuid {
    Uuid::now_v7()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_with_their_prefix() {
        let key = new_key();
        let id = encode(USER, key);
        assert!(id.starts_with("usr_") && id.len() == 36);
        assert_eq!(decode(USER, &id, "id").unwrap(), key);
    }

    #[test]
    fn an_id_of_another_type_or_malformed_is_bad_input() {
        let id = encode(ROLE, new_key());
        for raw in [id.as_str(), "usr_", "usr_zz", "123", ""] {
            let err = decode(USER, raw, "id").unwrap_err();
            assert_eq!(err.field(), Some("id"), "{raw}");
        }
    }
}
