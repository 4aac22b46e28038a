//! Sealing what must be stored but never in the clear (a queued mail's link
//! token, a TOTP secret): XChaCha20-Poly1305 with a random nonce, under a key
//! derived from configuration the database does not hold. A copy of the
//! database is then no copy of the secrets.

use base64::Engine;
use chacha20poly1305::{
    XChaCha20Poly1305, XNonce,
    aead::{Aead, KeyInit},
};
use secrecy::{ExposeSecret, SecretString};

const NONCE: usize = 24;

pub struct Sealer(XChaCha20Poly1305);

impl Sealer {
    /// A sealer whose key is derived from `secret` for `purpose` (an HMAC of
    /// the purpose under the secret), so one secret can key several sealers
    /// that cannot open each other's values.
    pub fn new(secret: &SecretString, purpose: &str) -> Self {
        use hmac::{Hmac, Mac};
        let mut mac =
            <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.expose_secret().as_bytes())
                .expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        Self(XChaCha20Poly1305::new(&mac.finalize().into_bytes()))
    }

    pub fn seal(&self, plain: &[u8]) -> String {
        use rand::RngCore;
        let mut nonce = [0u8; NONCE];
        rand::rng().fill_bytes(&mut nonce);
        let mut sealed = nonce.to_vec();
        sealed.extend(
            self.0
                .encrypt(&XNonce::from(nonce), plain)
                .expect("sealing a short value cannot fail"),
        );
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(sealed)
    }

    pub fn open(&self, sealed: &str) -> anyhow::Result<Vec<u8>> {
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD.decode(sealed)?;
        anyhow::ensure!(bytes.len() > NONCE, "sealed value too short");
        let (nonce, ciphertext) = bytes.split_at(NONCE);
        let nonce: [u8; NONCE] = nonce.try_into()?;
        self.0
            .decrypt(&XNonce::from(nonce), ciphertext)
            .map_err(|_| anyhow::anyhow!("the value was sealed with another key"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_the_same_secret_and_purpose() {
        let secret = SecretString::from("a".repeat(32));
        let sealer = Sealer::new(&secret, "one");
        let sealed = sealer.seal(b"tok");
        assert!(!sealed.contains("tok"));
        assert_eq!(sealer.open(&sealed).unwrap(), b"tok");
        assert!(Sealer::new(&secret, "two").open(&sealed).is_err());
        let other = Sealer::new(&SecretString::from("b".repeat(32)), "one");
        assert!(other.open(&sealed).is_err());
        assert_ne!(sealer.seal(b"tok"), sealed, "a fresh nonce every time");
    }
}
