//! Signing keys as key material: the algorithms `JWT_ALGORITHM` names, key
//! pairs made or read from PKCS#8, and their public halves as JWKs with
//! their RFC 7638 thumbprints (the `kid`). No storage here: the service
//! layer keeps keys in the database (`service::signing`).

use anyhow::{Context, anyhow, bail};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{
    DecodingKey, EncodingKey,
    jwk::{
        AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
        EllipticCurveKeyType, Jwk, KeyAlgorithm, OctetKeyPairParameters, OctetKeyPairType,
        PublicKeyUse, RSAKeyParameters, RSAKeyType, ThumbprintHash,
    },
};
use zeroize::Zeroizing;

pub use crate::config::SigningAlgorithm as Algorithm;

fn jwk_algorithm(algorithm: Algorithm) -> KeyAlgorithm {
    match algorithm {
        Algorithm::Hs256 => KeyAlgorithm::HS256,
        Algorithm::EdDsa => KeyAlgorithm::EdDSA,
        Algorithm::Es256 => KeyAlgorithm::ES256,
        Algorithm::Rs256 => KeyAlgorithm::RS256,
    }
}

/// The public half of a key: what verifies its tokens and what the JWKS
/// publishes.
#[derive(Clone)]
pub struct PublicKey {
    pub algorithm: Algorithm,
    /// The RFC 7638 thumbprint (SHA-256) of the public key.
    pub kid: String,
    pub jwk: Jwk,
    pub decoding: DecodingKey,
}

impl PublicKey {
    /// Reads a JWK this module wrote (the database's copy).
    pub fn from_jwk_json(algorithm: Algorithm, json: &str) -> anyhow::Result<Self> {
        let jwk: Jwk = serde_json::from_str(json).context("a stored JWK does not parse")?;
        Self::from_jwk(algorithm, jwk)
    }

    fn from_jwk(algorithm: Algorithm, mut jwk: Jwk) -> anyhow::Result<Self> {
        // The thumbprint covers the key alone; the members around it are set here.
        let kid = jwk.thumbprint(ThumbprintHash::SHA256);
        jwk.common = CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(jwk_algorithm(algorithm)),
            key_id: Some(kid.clone()),
            ..Default::default()
        };
        let decoding = DecodingKey::from_jwk(&jwk).context("a JWK that verifies nothing")?;
        Ok(Self {
            algorithm,
            kid,
            jwk,
            decoding,
        })
    }

    /// The JWK as JSON, as stored and published.
    pub fn jwk_json(&self) -> String {
        serde_json::to_string(&self.jwk).expect("a JWK serialises")
    }
}

/// A private key with its public half.
pub struct KeyPair {
    pub public: PublicKey,
    pub encoding: EncodingKey,
    /// The private key as PKCS#8 DER, as it is sealed into the database.
    pkcs8: Zeroizing<Vec<u8>>,
}

impl KeyPair {
    /// A new random key (RSA: 2048 bits).
    pub fn generate(algorithm: Algorithm) -> anyhow::Result<Self> {
        use ed25519_dalek::pkcs8::EncodePrivateKey as _;
        use rand_core::OsRng;
        let der = match algorithm {
            Algorithm::Hs256 => bail!("HS256 uses JWT_SECRET, not a key pair"),
            Algorithm::EdDsa => ed25519_dalek::SigningKey::generate(&mut OsRng)
                .to_pkcs8_der()
                .map_err(|e| anyhow!("Ed25519 key encoding failed: {e}"))?,
            Algorithm::Es256 => p256::SecretKey::random(&mut OsRng)
                .to_pkcs8_der()
                .map_err(|e| anyhow!("P-256 key encoding failed: {e}"))?,
            Algorithm::Rs256 => rsa::RsaPrivateKey::new(&mut OsRng, 2048)
                .context("RSA key generation failed")?
                .to_pkcs8_der()
                .map_err(|e| anyhow!("RSA key encoding failed: {e}"))?,
        };
        Self::from_pkcs8_der(algorithm, der.as_bytes())
    }

    /// A key from PKCS#8 PEM (`JWT_PRIVATE_KEY_FILE`): it must be a key of
    /// `algorithm`'s kind.
    pub fn from_pkcs8_pem(algorithm: Algorithm, pem: &str) -> anyhow::Result<Self> {
        let (label, document) = ed25519_dalek::pkcs8::SecretDocument::from_pem(pem.trim())
            .map_err(|e| anyhow!("not a PEM file: {e}"))?;
        if label != "PRIVATE KEY" {
            bail!(
                "expected a PKCS#8 `PRIVATE KEY` PEM, found `{label}` (convert it with `openssl pkcs8 -topk8 -nocrypt`)"
            );
        }
        let der = document.as_bytes();
        Self::from_pkcs8_der(algorithm, der)
    }

    /// A key from PKCS#8 DER.
    pub fn from_pkcs8_der(algorithm: Algorithm, der: &[u8]) -> anyhow::Result<Self> {
        use ed25519_dalek::pkcs8::DecodePrivateKey as _;
        use rsa::{pkcs1::EncodeRsaPrivateKey as _, traits::PublicKeyParts as _};
        let wrong_kind = || anyhow!("the key is not a {} key", algorithm.name());
        let (params, encoding) = match algorithm {
            Algorithm::Hs256 => bail!("HS256 uses JWT_SECRET, not a key pair"),
            Algorithm::EdDsa => {
                let key =
                    ed25519_dalek::SigningKey::from_pkcs8_der(der).map_err(|_| wrong_kind())?;
                let params = AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                    key_type: OctetKeyPairType::OctetKeyPair,
                    curve: EllipticCurve::Ed25519,
                    x: URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
                });
                (params, EncodingKey::from_ed_der(der))
            }
            Algorithm::Es256 => {
                let key = p256::SecretKey::from_pkcs8_der(der).map_err(|_| wrong_kind())?;
                let point = p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(
                    &key.public_key(),
                    false,
                );
                let (Some(x), Some(y)) = (point.x(), point.y()) else {
                    bail!("a P-256 public key without coordinates");
                };
                let params = AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                    key_type: EllipticCurveKeyType::EC,
                    curve: EllipticCurve::P256,
                    x: URL_SAFE_NO_PAD.encode(x),
                    y: URL_SAFE_NO_PAD.encode(y),
                });
                (params, EncodingKey::from_ec_der(der))
            }
            Algorithm::Rs256 => {
                let key = rsa::RsaPrivateKey::from_pkcs8_der(der).map_err(|_| wrong_kind())?;
                if key.size() < 256 {
                    bail!("an RSA key of fewer than 2048 bits");
                }
                let params = AlgorithmParameters::RSA(RSAKeyParameters {
                    key_type: RSAKeyType::RSA,
                    n: URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
                    e: URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
                });
                // jsonwebtoken's RSA signer reads PKCS#1.
                let pkcs1 = key
                    .to_pkcs1_der()
                    .map_err(|e| anyhow!("RSA key encoding failed: {e}"))?;
                (params, EncodingKey::from_rsa_der(pkcs1.as_bytes()))
            }
        };
        let public = PublicKey::from_jwk(
            algorithm,
            Jwk {
                common: CommonParameters::default(),
                algorithm: params,
            },
        )?;
        Ok(Self {
            public,
            encoding,
            pkcs8: Zeroizing::new(der.to_vec()),
        })
    }

    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }
}

/// The `kid` of the HS256 key: the RFC 7638 thumbprint of `JWT_SECRET` as
/// an `oct` JWK. It tells the secret apart from another (after a change)
/// and reveals no more than the tokens it signs.
pub fn hs256_kid(secret: &[u8]) -> String {
    Jwk {
        common: CommonParameters::default(),
        algorithm: AlgorithmParameters::OctetKey(jsonwebtoken::jwk::OctetKeyParameters {
            key_type: jsonwebtoken::jwk::OctetKeyType::Octet,
            value: URL_SAFE_NO_PAD.encode(secret),
        }),
    }
    .thumbprint(ThumbprintHash::SHA256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_read_their_names_in_any_case() {
        assert_eq!("eddsa".parse::<Algorithm>(), Ok(Algorithm::EdDsa));
        assert_eq!("ES256".parse::<Algorithm>(), Ok(Algorithm::Es256));
        assert!("none".parse::<Algorithm>().is_err());
        assert!("HS512".parse::<Algorithm>().is_err());
    }

    #[test]
    fn each_kind_of_key_survives_pkcs8_with_its_kid() {
        for algorithm in Algorithm::ASYMMETRIC {
            let key = KeyPair::generate(algorithm).unwrap();
            let again = KeyPair::from_pkcs8_der(algorithm, key.pkcs8_der()).unwrap();
            assert_eq!(key.public.kid, again.public.kid, "{algorithm}");
            assert_eq!(key.public.kid.len(), 43, "a base64url SHA-256: {algorithm}");
            let stored = PublicKey::from_jwk_json(algorithm, &key.public.jwk_json()).unwrap();
            assert_eq!(stored.kid, key.public.kid);
            let published: serde_json::Value =
                serde_json::from_str(&key.public.jwk_json()).unwrap();
            assert_eq!(published["kid"], key.public.kid.as_str());
            assert_eq!(published["alg"], algorithm.name());
            assert_eq!(published["use"], "sig");
            assert!(published.get("d").is_none(), "no private part: {published}");
        }
    }

    #[test]
    fn a_key_of_another_kind_is_refused() {
        let ed = KeyPair::generate(Algorithm::EdDsa).unwrap();
        let err = KeyPair::from_pkcs8_der(Algorithm::Es256, ed.pkcs8_der())
            .err()
            .unwrap();
        assert!(err.to_string().contains("not a ES256 key"), "{err}");
    }

    /// RFC 8037 appendix A.3: the thumbprint of its Ed25519 example key.
    #[test]
    fn the_kid_is_the_rfc_7638_thumbprint() {
        let jwk: Jwk = serde_json::from_str(
            r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
        )
        .unwrap();
        let key = PublicKey::from_jwk(Algorithm::EdDsa, jwk).unwrap();
        assert_eq!(key.kid, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    }
}
