//! Random tokens and their stored form, a building block: refresh tokens,
//! link tokens and API key secrets are random, and only their SHA-256 is
//! ever stored.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The stored form of a token: its SHA-256, in hex.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// 32 random bytes, URL-safe: a refresh token, or the token of a link in mail.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
