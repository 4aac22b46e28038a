//! A software authenticator for the passkey tests: it makes P-256 (ES256)
//! credentials and answers ceremonies as a browser and a platform
//! authenticator would (WebAuthn Level 2, `none` attestation), so the
//! server's real verification (webauthn-rs) checks real signatures over
//! real client data. The CBOR it needs (a handful of small maps) is
//! written by hand here.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use p256::ecdsa::{DerSignature, SigningKey, signature::Signer};
use rand_core::OsRng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The origin a test's pages run at (development allows localhost on any port).
pub const ORIGIN: &str = "http://localhost:5173";

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const BE: u8 = 0x08;
const BS: u8 = 0x10;
const AT: u8 = 0x40;

#[derive(Clone)]
pub struct Credential {
    pub id: Vec<u8>,
    key: SigningKey,
    pub user_handle: Vec<u8>,
    /// The signature counter; 0 keeps none (as synced passkeys).
    pub counter: u32,
}

/// One authenticator with the credentials it made.
pub struct Authenticator {
    pub rp_id: String,
    pub origin: String,
    /// Whether it verifies its user (a PIN or a biometric).
    pub verifies_user: bool,
    /// Whether its signature counter counts (hardware keys do; synced
    /// passkeys send 0).
    pub counts: bool,
    /// The length of the credential ids it makes.
    pub id_length: usize,
    pub credentials: Vec<Credential>,
}

impl Default for Authenticator {
    fn default() -> Self {
        Self {
            rp_id: "localhost".into(),
            origin: ORIGIN.into(),
            verifies_user: true,
            counts: true,
            id_length: 16,
            credentials: Vec::new(),
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

// CBOR (RFC 8949), the few shapes attestation needs.
fn head(major: u8, len: u64) -> Vec<u8> {
    let major = major << 5;
    match len {
        0..=23 => vec![major | len as u8],
        24..=0xff => vec![major | 24, len as u8],
        0x100..=0xffff => {
            let mut out = vec![major | 25];
            out.extend((len as u16).to_be_bytes());
            out
        }
        _ => {
            let mut out = vec![major | 26];
            out.extend((len as u32).to_be_bytes());
            out
        }
    }
}

fn int(n: i64) -> Vec<u8> {
    if n >= 0 {
        head(0, n as u64)
    } else {
        head(1, (-1 - n) as u64)
    }
}

fn bytes(b: &[u8]) -> Vec<u8> {
    let mut out = head(2, b.len() as u64);
    out.extend(b);
    out
}

fn text(t: &str) -> Vec<u8> {
    let mut out = head(3, t.len() as u64);
    out.extend(t.as_bytes());
    out
}

fn map(entries: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<u8> {
    let mut out = head(5, entries.len() as u64);
    for (k, v) in entries {
        out.extend(k);
        out.extend(v);
    }
    out
}

impl Authenticator {
    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        })
        .to_string()
        .into_bytes()
    }

    fn flags(&self, extra: u8) -> u8 {
        UP | BE | BS | extra | if self.verifies_user { UV } else { 0 }
    }

    /// `navigator.credentials.create()` for `options` (the
    /// `PublicKeyCredentialCreationOptionsJSON`), as `toJSON()` gives it.
    pub fn create(&mut self, options: &Value) -> Value {
        let challenge = options["challenge"].as_str().expect("a challenge");
        let user_handle = unb64(options["user"]["id"].as_str().expect("a user id"));
        let key = SigningKey::random(&mut OsRng);
        let id: Vec<u8> = (0..self.id_length).map(|_| rand::random::<u8>()).collect();
        let point = key.verifying_key().to_encoded_point(false);
        let cose = map(vec![
            (int(1), int(2)),
            (int(3), int(-7)),
            (int(-1), int(1)),
            (int(-2), bytes(point.x().expect("x"))),
            (int(-3), bytes(point.y().expect("y"))),
        ]);
        let mut auth_data = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags(AT));
        auth_data.extend(0u32.to_be_bytes());
        auth_data.extend([0u8; 16]);
        auth_data.extend((id.len() as u16).to_be_bytes());
        auth_data.extend(&id);
        auth_data.extend(cose);
        let attestation = map(vec![
            (text("fmt"), text("none")),
            (text("attStmt"), map(Vec::new())),
            (text("authData"), bytes(&auth_data)),
        ]);
        let client_data = self.client_data("webauthn.create", challenge);
        self.credentials.push(Credential {
            id: id.clone(),
            key,
            user_handle,
            counter: 0,
        });
        json!({
            "id": b64(&id),
            "rawId": b64(&id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64(&client_data),
                "attestationObject": b64(&attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
        })
    }

    /// `navigator.credentials.get()` for `options`: the first of its
    /// credentials the options allow (any, when they name none).
    pub fn get(&mut self, options: &Value) -> Value {
        let allowed: Vec<Vec<u8>> = options["allowCredentials"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|c| unb64(c["id"].as_str().expect("an id")))
                    .collect()
            })
            .unwrap_or_default();
        let index = self
            .credentials
            .iter()
            .position(|c| allowed.is_empty() || allowed.contains(&c.id))
            .expect("a credential the options allow");
        self.answer(index, options)
    }

    /// The answer of credential `index` to `options`.
    pub fn answer(&mut self, index: usize, options: &Value) -> Value {
        let challenge = options["challenge"].as_str().expect("a challenge");
        let flags = self.flags(0);
        let counts = self.counts;
        let rp_id_hash = Sha256::digest(self.rp_id.as_bytes());
        let client_data = self.client_data("webauthn.get", challenge);
        let credential = &mut self.credentials[index];
        if counts {
            credential.counter += 1;
        }
        let mut auth_data = rp_id_hash.to_vec();
        auth_data.push(flags);
        auth_data.extend(credential.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend(Sha256::digest(&client_data));
        let signature: DerSignature = credential.key.sign(&signed);
        json!({
            "id": b64(&credential.id),
            "rawId": b64(&credential.id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "signature": b64(signature.as_bytes()),
                "userHandle": b64(&credential.user_handle),
            },
            "clientExtensionResults": {},
        })
    }
}
