//! Access tokens: `sub`, `sid`, `iat`, `exp`, `iss` and `aud` all required
//! and checked, a `kid` in every header. Signed with HS256 (`JWT_SECRET`)
//! or with the active asymmetric key (`JWT_ALGORITHM`); verified by the key
//! the `kid` names, with that key's algorithm only. The token names a
//! session; whether that session is still live is checked against the
//! database on every request. The keys themselves live in the database
//! (`service::signing` installs them here).

use std::{
    collections::HashMap,
    sync::{Mutex, RwLock},
    time::Duration,
};

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::signing::{Algorithm, PublicKey, hs256_kid};
use crate::error::{AppError, Result};

/// The claims usergraph sets itself; a preset or template may add others
/// (`extra`) but never replace these.
pub const REGISTERED: [&str; 12] = [
    "sub",
    "sid",
    "iss",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "kid",
    "act",
    "org",
    "org_roles",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user's public id (`usr_…`).
    pub sub: String,
    /// The session's public id (`ses_…`).
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    /// The organisation the session acts in (`org_…`, `setActiveOrganization`);
    /// absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// The names of the org roles the user holds there, sorted; absent
    /// with `org`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_roles: Option<Vec<String>>,
    /// The administrator acting as `sub` (RFC 8693 §4.1), when the session
    /// is an impersonation; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// Claims for the services that read the token (`JWT_CLAIMS_PRESET`,
    /// `JWT_CLAIMS_TEMPLATE`); usergraph itself reads none of them.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The `act` claim: who acts as the token's subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The administrator's public id (`usr_…`).
    pub sub: String,
}

/// Why a token was not accepted.
#[derive(Debug)]
pub enum Unverified {
    /// Its `kid` names no key this replica holds: another replica may have
    /// made it since this one loaded its keys.
    UnknownKey,
    Refused(AppError),
}

impl From<AppError> for Unverified {
    fn from(err: AppError) -> Self {
        Unverified::Refused(err)
    }
}

/// The key that signs new tokens.
pub struct Signer {
    pub kid: String,
    pub algorithm: Algorithm,
    pub encoding: EncodingKey,
}

/// A key that verifies tokens until `retires_at` (when it has been replaced).
pub struct Verifier {
    pub key: PublicKey,
    pub retires_at: Option<DateTime<Utc>>,
}

#[derive(Default)]
struct Ring {
    signer: Option<std::sync::Arc<Signer>>,
    verifiers: HashMap<String, Verifier>,
    /// When these keys were read from the database (`None`: never).
    loaded_at: Option<std::time::Instant>,
}

pub struct JwtKeys {
    /// `JWT_ALGORITHM`.
    algorithm: Algorithm,
    hs_encoding: EncodingKey,
    hs_decoding: DecodingKey,
    hs_kid: String,
    /// With an asymmetric algorithm, HS256 tokens issued before this still
    /// verify (`JWT_ACCEPT_HS256_UNTIL`); without it, none does.
    accept_hs256_until: Option<i64>,
    ring: RwLock<Ring>,
    /// Asymmetric tokens whose signature and claims this replica has
    /// checked, by the token's SHA-256 (at most `VERIFIED_KEPT`).
    verified: Mutex<HashMap<[u8; 32], std::sync::Arc<Claims>>>,
    validations: HashMap<Algorithm, Validation>,
    issuer: String,
    audience: String,
    pub ttl: Duration,
}

/// Seconds of clock difference allowed between replicas and verifiers.
pub const LEEWAY: u64 = 5;

/// How many checked asymmetric tokens a replica remembers. A client sends
/// the same access token with every request until it refreshes, and
/// checking an Ed25519 signature again was most of what EdDSA added to a
/// request (BENCHMARKS.md). What is remembered cannot change: that this
/// token's signature is this key's and its claims parsed to these. The key
/// (still installed, not retired) and the expiry are checked on every
/// request, the session against the database. Only checked tokens get in,
/// so a stranger's forgeries cost the cache nothing; when it is full it
/// starts again empty, which bounds its memory: a few hundred bytes a
/// token, more with large custom claims (`JWT_CLAIMS_TEMPLATE`), each
/// within the request header's size limit.
const VERIFIED_KEPT: usize = 4096;

impl JwtKeys {
    pub fn new(
        secret: &SecretString,
        algorithm: Algorithm,
        accept_hs256_until: Option<DateTime<Utc>>,
        issuer: &str,
        audience: &str,
        ttl: Duration,
    ) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let validations = [Algorithm::Hs256]
            .into_iter()
            .chain(Algorithm::ASYMMETRIC)
            .map(|alg| {
                // One algorithm per validation: a key verifies its own only.
                let mut validation = Validation::new(alg.jwt());
                validation.algorithms = vec![alg.jwt()];
                validation.leeway = LEEWAY;
                validation.validate_nbf = true;
                validation.set_issuer(&[issuer]);
                validation.set_audience(&[audience]);
                validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
                (alg, validation)
            })
            .collect();
        Self {
            algorithm,
            hs_encoding: EncodingKey::from_secret(bytes),
            hs_decoding: DecodingKey::from_secret(bytes),
            hs_kid: hs256_kid(bytes),
            accept_hs256_until: accept_hs256_until.map(|t| t.timestamp()),
            ring: RwLock::default(),
            verified: Mutex::default(),
            validations,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
        }
    }

    /// `JWT_ALGORITHM`.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Replaces this replica's keys with the database's.
    pub fn install(&self, signer: Option<Signer>, verifiers: Vec<Verifier>) {
        let ring = Ring {
            signer: signer.map(std::sync::Arc::new),
            verifiers: verifiers
                .into_iter()
                .map(|v| (v.key.kid.clone(), v))
                .collect(),
            loaded_at: Some(std::time::Instant::now()),
        };
        *self.ring.write().unwrap_or_else(|e| e.into_inner()) = ring;
    }

    /// How long ago the keys were read from the database (`None`: never).
    pub fn keys_age(&self) -> Option<Duration> {
        self.ring
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .loaded_at
            .map(|at| at.elapsed())
    }

    /// The `kid` new tokens are signed with.
    pub fn active_kid(&self) -> String {
        match &self.ring.read().unwrap_or_else(|e| e.into_inner()).signer {
            Some(signer) if self.algorithm.is_asymmetric() => signer.kid.clone(),
            _ => self.hs_kid.clone(),
        }
    }

    /// The registered claims of a new token for `sub`'s session `sid`.
    pub fn claims(&self, sub: String, sid: String) -> Claims {
        let now = Utc::now().timestamp();
        Claims {
            sub,
            sid,
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            org: None,
            org_roles: None,
            act: None,
            extra: Default::default(),
        }
    }

    /// Signs with HS256, or with the active key when `JWT_ALGORITHM` is
    /// asymmetric (an internal error when none is installed).
    pub fn sign(&self, claims: &Claims) -> Result<String> {
        let signer =
            if self.algorithm.is_asymmetric() {
                let ring = self.ring.read().unwrap_or_else(|e| e.into_inner());
                Some(ring.signer.clone().ok_or_else(|| {
                    AppError::Internal(anyhow!("no active signing key is installed"))
                })?)
            } else {
                None
            };
        let (algorithm, kid, key) = match &signer {
            Some(signer) => (signer.algorithm, signer.kid.clone(), &signer.encoding),
            None => (Algorithm::Hs256, self.hs_kid.clone(), &self.hs_encoding),
        };
        let mut header = Header::new(algorithm.jwt());
        header.kid = Some(kid);
        jsonwebtoken::encode(&header, claims, key)
            .map_err(|e| AppError::Internal(anyhow!("token signing failed: {e}")))
    }

    /// Checks a token's signature, with the key its `kid` names and that
    /// key's algorithm only, and its claims.
    pub fn verify(&self, token: &str) -> std::result::Result<Claims, Unverified> {
        let refused = |e: jsonwebtoken::errors::Error| {
            tracing::debug!(reason = %e, "rejected access token");
            Unverified::Refused(match e.kind() {
                ErrorKind::ExpiredSignature => AppError::TokenExpired,
                _ => AppError::TokenInvalid,
            })
        };
        let header = jsonwebtoken::decode_header(token).map_err(refused)?;
        let algorithm = Algorithm::of_jwt(header.alg).ok_or(AppError::TokenInvalid)?;
        let claims = if algorithm == Algorithm::Hs256 {
            // Once an asymmetric algorithm is on, HS256 verifies only until
            // the cutoff, and only what was issued before it.
            let now = Utc::now().timestamp();
            let accepted = !self.algorithm.is_asymmetric()
                || self.accept_hs256_until.is_some_and(|until| now < until);
            // Tokens from before `kid`s carry none; any other kid is not this secret's.
            let ours = header.kid.as_ref().is_none_or(|kid| *kid == self.hs_kid);
            if !accepted || !ours {
                return Err(AppError::TokenInvalid.into());
            }
            let claims = jsonwebtoken::decode::<Claims>(
                token,
                &self.hs_decoding,
                &self.validations[&Algorithm::Hs256],
            )
            .map_err(refused)?
            .claims;
            if self.algorithm.is_asymmetric()
                && self
                    .accept_hs256_until
                    .is_some_and(|until| claims.iat >= until)
            {
                return Err(AppError::TokenInvalid.into());
            }
            claims
        } else {
            let kid = header.kid.ok_or(AppError::TokenInvalid)?;
            let ring = self.ring.read().unwrap_or_else(|e| e.into_inner());
            let verifier = ring.verifiers.get(&kid).ok_or(Unverified::UnknownKey)?;
            // The algorithm is the key's, whatever the header says.
            if verifier.key.algorithm != algorithm
                || verifier.retires_at.is_some_and(|at| at <= Utc::now())
            {
                return Err(AppError::TokenInvalid.into());
            }
            let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            let seen = self
                .verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&digest)
                .cloned();
            match seen {
                // `exp` as `decode` judges it; `nbf` passed when the token
                // got in and cannot fail later.
                Some(claims) if claims.exp < Utc::now().timestamp() - LEEWAY as i64 => {
                    return Err(AppError::TokenExpired.into());
                }
                Some(claims) => Claims::clone(&claims),
                None => {
                    let claims = jsonwebtoken::decode::<Claims>(
                        token,
                        &verifier.key.decoding,
                        &self.validations[&algorithm],
                    )
                    .map_err(refused)?
                    .claims;
                    // Only a token that passes every check is remembered.
                    self.judge_lifetime(&claims)?;
                    let remembered = std::sync::Arc::new(claims.clone());
                    let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
                    if verified.len() >= VERIFIED_KEPT {
                        verified.clear();
                    }
                    verified.insert(digest, remembered);
                    claims
                }
            }
        };
        self.judge_lifetime(&claims)?;
        Ok(claims)
    }

    /// An `iat` in the future means a forged or mis-clocked token, and no
    /// token usergraph signs lives longer than the access-token lifetime: a
    /// longer one was made with a key that leaked.
    fn judge_lifetime(&self, claims: &Claims) -> std::result::Result<(), Unverified> {
        let leeway = LEEWAY as i64;
        if claims.iat > Utc::now().timestamp() + leeway
            || claims.exp - claims.iat > self.ttl.as_secs() as i64 + leeway
        {
            return Err(AppError::TokenInvalid.into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::signing::KeyPair;
    use base64::Engine;

    fn keys_with(algorithm: Algorithm, audience: &str, ttl: u64) -> JwtKeys {
        JwtKeys::new(
            &SecretString::from("k".repeat(32)),
            algorithm,
            None,
            "usergraph",
            audience,
            Duration::from_secs(ttl),
        )
    }

    fn keys(ttl: u64) -> JwtKeys {
        keys_with(Algorithm::Hs256, "usergraph", ttl)
    }

    fn issue(keys: &JwtKeys) -> String {
        keys.sign(&keys.claims("usr_a".into(), "ses_b".into()))
            .unwrap()
    }

    fn refused(result: std::result::Result<Claims, Unverified>) -> bool {
        matches!(result, Err(Unverified::Refused(AppError::TokenInvalid)))
    }

    /// Installs a fresh key of `algorithm` as the active one; returns it.
    fn activate(keys: &JwtKeys, algorithm: Algorithm) -> PublicKey {
        let pair = KeyPair::generate(algorithm).unwrap();
        let public = pair.public.clone();
        keys.install(
            Some(Signer {
                kid: public.kid.clone(),
                algorithm,
                encoding: pair.encoding,
            }),
            vec![Verifier {
                key: public.clone(),
                retires_at: None,
            }],
        );
        public
    }

    #[test]
    fn an_issued_token_verifies_and_names_its_key() {
        let keys = keys(60);
        let token = issue(&keys);
        let claims = keys.verify(&token).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.sid.as_str()),
            ("usr_a", "ses_b")
        );
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(keys.active_kid().as_str()));
    }

    #[test]
    fn a_token_signed_with_another_key_is_invalid() {
        let other = JwtKeys::new(
            &SecretString::from("o".repeat(32)),
            Algorithm::Hs256,
            None,
            "usergraph",
            "usergraph",
            Duration::from_secs(60),
        );
        assert!(refused(keys(60).verify(&issue(&other))));
    }

    #[test]
    fn an_unsigned_token_is_invalid() {
        let token = issue(&keys(60));
        let payload = token.split('.').nth(1).unwrap();
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(refused(keys(60).verify(&format!("{header}.{payload}."))));
    }

    #[test]
    fn a_wrong_audience_is_invalid() {
        let other = keys_with(Algorithm::Hs256, "elsewhere", 60);
        assert!(refused(keys(60).verify(&issue(&other))));
    }

    #[test]
    fn each_asymmetric_algorithm_signs_and_verifies_with_its_kid() {
        for algorithm in Algorithm::ASYMMETRIC {
            let keys = keys_with(algorithm, "usergraph", 60);
            let public = activate(&keys, algorithm);
            let token = issue(&keys);
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.alg, algorithm.jwt());
            assert_eq!(header.kid.as_deref(), Some(public.kid.as_str()));
            assert_eq!(keys.verify(&token).unwrap().sub, "usr_a", "{algorithm}");
        }
    }

    /// The classic confusion: an HS256 token whose secret is the public key.
    #[test]
    fn an_hs256_token_keyed_with_the_public_key_is_refused() {
        let keys = keys_with(Algorithm::Rs256, "usergraph", 60);
        let public = activate(&keys, Algorithm::Rs256);
        let claims = keys.claims("usr_a".into(), "ses_b".into());
        for secret in [
            public.jwk_json().into_bytes(),
            public.kid.clone().into_bytes(),
        ] {
            for kid in [None, Some(public.kid.clone())] {
                let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
                header.kid = kid;
                let forged =
                    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&secret))
                        .unwrap();
                assert!(refused(keys.verify(&forged)));
            }
        }
    }

    #[test]
    fn a_key_verifies_its_own_algorithm_only() {
        let keys = keys_with(Algorithm::Es256, "usergraph", 60);
        let public = activate(&keys, Algorithm::Es256);
        // An EdDSA token claiming the ES256 key's kid.
        let ed = KeyPair::generate(Algorithm::EdDsa).unwrap();
        let mut header = Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(public.kid.clone());
        let claims = keys.claims("usr_a".into(), "ses_b".into());
        let forged = jsonwebtoken::encode(&header, &claims, &ed.encoding).unwrap();
        assert!(refused(keys.verify(&forged)));
    }

    #[test]
    fn hs256_tokens_stop_once_asymmetric_keys_start_unless_issued_before_the_cutoff() {
        let before = issue(&keys(60));
        let strict = keys_with(Algorithm::EdDsa, "usergraph", 60);
        activate(&strict, Algorithm::EdDsa);
        assert!(refused(strict.verify(&before)));

        let lenient = JwtKeys::new(
            &SecretString::from("k".repeat(32)),
            Algorithm::EdDsa,
            Some(Utc::now() + chrono::Duration::seconds(30)),
            "usergraph",
            "usergraph",
            Duration::from_secs(60),
        );
        activate(&lenient, Algorithm::EdDsa);
        assert!(lenient.verify(&before).is_ok());
        let cutoff_passed = JwtKeys::new(
            &SecretString::from("k".repeat(32)),
            Algorithm::EdDsa,
            Some(Utc::now() - chrono::Duration::seconds(30)),
            "usergraph",
            "usergraph",
            Duration::from_secs(60),
        );
        assert!(refused(cutoff_passed.verify(&before)));
    }

    /// Someone who still holds `JWT_SECRET` after the migration cannot mint
    /// backdated HS256 tokens that live on: past the cutoff none verifies,
    /// and before it none may outlive the access-token lifetime.
    #[test]
    fn backdated_or_long_lived_hs256_tokens_are_refused_during_the_migration_window() {
        let until = Utc::now() + chrono::Duration::seconds(30);
        let lenient = JwtKeys::new(
            &SecretString::from("k".repeat(32)),
            Algorithm::EdDsa,
            Some(until),
            "usergraph",
            "usergraph",
            Duration::from_secs(60),
        );
        activate(&lenient, Algorithm::EdDsa);
        let secret = keys(60);
        let mut claims = secret.claims("usr_a".into(), "ses_b".into());
        claims.iat -= 3600;
        claims.exp += 365 * 86400;
        assert!(refused(lenient.verify(&secret.sign(&claims).unwrap())));
    }

    #[test]
    fn a_token_living_longer_than_the_access_token_lifetime_is_refused() {
        let keys = keys_with(Algorithm::EdDsa, "usergraph", 60);
        activate(&keys, Algorithm::EdDsa);
        let mut claims = keys.claims("usr_a".into(), "ses_b".into());
        claims.exp += 3600;
        assert!(refused(keys.verify(&keys.sign(&claims).unwrap())));
        claims.exp -= 3600;
        assert!(keys.verify(&keys.sign(&claims).unwrap()).is_ok());
    }

    #[test]
    fn an_unknown_or_retired_kid_is_not_verified() {
        let keys = keys_with(Algorithm::EdDsa, "usergraph", 60);
        activate(&keys, Algorithm::EdDsa);
        let token = issue(&keys);
        let elsewhere = keys_with(Algorithm::EdDsa, "usergraph", 60);
        activate(&elsewhere, Algorithm::EdDsa);
        assert!(matches!(
            elsewhere.verify(&token),
            Err(Unverified::UnknownKey)
        ));
        let public = {
            let ring = keys.ring.read().unwrap();
            ring.verifiers.values().next().unwrap().key.clone()
        };
        retire(&keys, public);
        assert!(refused(keys.verify(&token)));
    }

    /// Leaves `public` installed as a key that retired a second ago.
    fn retire(keys: &JwtKeys, public: PublicKey) {
        keys.install(
            None,
            vec![Verifier {
                key: public,
                retires_at: Some(Utc::now() - chrono::Duration::seconds(1)),
            }],
        );
    }

    #[test]
    fn a_remembered_token_still_dies_with_its_key_and_at_its_expiry() {
        let keys = keys_with(Algorithm::EdDsa, "usergraph", 60);
        let public = activate(&keys, Algorithm::EdDsa);
        let token = issue(&keys);
        // Checked once, then answered from memory.
        assert!(keys.verify(&token).is_ok());
        assert_eq!(keys.verified.lock().unwrap().len(), 1);
        assert!(keys.verify(&token).is_ok());
        // A forgery is never remembered.
        let forged = format!("{}x", &token[..token.len() - 1]);
        assert!(keys.verify(&forged).is_err());
        assert_eq!(keys.verified.lock().unwrap().len(), 1);
        // Remembered with an expiry now past: expired, as `decode` says.
        for claims in keys.verified.lock().unwrap().values_mut() {
            std::sync::Arc::make_mut(claims).exp = Utc::now().timestamp() - LEEWAY as i64 - 1;
        }
        assert!(matches!(
            keys.verify(&token),
            Err(Unverified::Refused(AppError::TokenExpired))
        ));
        // A retired key refuses what it verified before.
        let token = keys
            .sign(&keys.claims("usr_a".into(), "ses_c".into()))
            .unwrap();
        assert!(keys.verify(&token).is_ok());
        retire(&keys, public);
        assert!(refused(keys.verify(&token)));
    }
}
