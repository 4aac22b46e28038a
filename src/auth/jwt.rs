//! Access tokens: HS256 only, with `sub`, `sid`, `iat`, `exp`, `iss` and `aud`
//! all required and checked. The token names a session; whether that session is
//! still live is checked against the database on every request.

use std::time::Duration;

use anyhow::anyhow;
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, Result};

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
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    pub ttl: Duration,
}

impl JwtKeys {
    pub fn new(secret: &SecretString, issuer: &str, audience: &str, ttl: Duration) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = 5;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss", "aud"]);
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
        }
    }

    pub fn issue(&self, sub: String, sid: String) -> Result<String> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub,
            sid,
            iat: now,
            exp: now + self.ttl.as_secs() as i64,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AppError::Internal(anyhow!("token signing failed: {e}")))
    }

    pub fn verify(&self, token: &str) -> Result<Claims> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| {
                tracing::debug!(reason = %e, "rejected access token");
                match e.kind() {
                    ErrorKind::ExpiredSignature => AppError::TokenExpired,
                    _ => AppError::TokenInvalid,
                }
            })?;
        // An `iat` in the future means a forged or mis-clocked token.
        if data.claims.iat > Utc::now().timestamp() + 5 {
            return Err(AppError::TokenInvalid);
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn keys(ttl: u64) -> JwtKeys {
        JwtKeys::new(
            &SecretString::from("k".repeat(32)),
            "usergraph",
            "usergraph",
            Duration::from_secs(ttl),
        )
    }

    #[test]
    fn an_issued_token_verifies() {
        let keys = keys(60);
        let claims = keys
            .verify(&keys.issue("usr_a".into(), "ses_b".into()).unwrap())
            .unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.sid.as_str()),
            ("usr_a", "ses_b")
        );
    }

    #[test]
    fn a_token_signed_with_another_key_is_invalid() {
        let other = JwtKeys::new(
            &SecretString::from("o".repeat(32)),
            "usergraph",
            "usergraph",
            Duration::from_secs(60),
        );
        let token = other.issue("usr_a".into(), "ses_b".into()).unwrap();
        assert!(matches!(
            keys(60).verify(&token),
            Err(AppError::TokenInvalid)
        ));
    }

    #[test]
    fn an_unsigned_token_is_invalid() {
        let token = keys(60).issue("usr_a".into(), "ses_b".into()).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(matches!(
            keys(60).verify(&format!("{header}.{payload}.")),
            Err(AppError::TokenInvalid)
        ));
    }

    #[test]
    fn a_wrong_audience_is_invalid() {
        let other = JwtKeys::new(
            &SecretString::from("k".repeat(32)),
            "usergraph",
            "elsewhere",
            Duration::from_secs(60),
        );
        let token = other.issue("usr_a".into(), "ses_b".into()).unwrap();
        assert!(matches!(
            keys(60).verify(&token),
            Err(AppError::TokenInvalid)
        ));
    }
}
