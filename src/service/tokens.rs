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

/// Codes a person types: the 6 digits mailed with a sign-in link, derived
/// from the link's token under a key of the server's (so the outbox, which
/// holds the token sealed, holds no code), and the keyed digest stored to
/// check one typed for `email`. A digest of 6 digits without the key would
/// be undone by trying a million.
pub struct TypedCodes {
    key: [u8; 32],
}

impl TypedCodes {
    pub fn new(secret: &secrecy::SecretString) -> Self {
        use hmac::{Hmac, Mac};
        use secrecy::ExposeSecret;
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(b"usergraph typed codes v1");
        Self {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// A stable stand-in derived from `value` under the server's key (the
    /// credential id an unknown login's passkey sign-in is offered).
    pub fn decoy(&self, value: &[u8]) -> [u8; 32] {
        self.mac(&[b"passkey decoy", value])
    }

    /// The 6-digit code that goes with the link token `token`.
    pub fn code_of(&self, token: &str) -> String {
        let mac = self.mac(&[b"code", token.as_bytes()]);
        let n = u64::from_be_bytes(mac[..8].try_into().expect("8 bytes")) % 1_000_000;
        format!("{n:06}")
    }

    /// What is stored to check a code typed for `email`.
    pub fn digest(&self, email: &str, code: &str) -> String {
        hex::encode(self.mac(&[b"digest", email.as_bytes(), code.as_bytes()]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_six_digits_fixed_by_its_token_and_its_digest_by_the_address() {
        let codes = TypedCodes::new(&secrecy::SecretString::from("k".repeat(32)));
        let other = TypedCodes::new(&secrecy::SecretString::from("o".repeat(32)));
        let token = random_token();
        let code = codes.code_of(&token);
        assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(code, codes.code_of(&token));
        assert_ne!(code, other.code_of(&token));
        assert_ne!(
            codes.digest("a@example.com", &code),
            codes.digest("b@example.com", &code)
        );
        assert_eq!(
            codes.digest("a@example.com", &code),
            codes.digest("a@example.com", &code)
        );
    }
}
