//! Password hashes brought in by `importUsers`, in the formats the stacks
//! users come from store: PHC argon2id/argon2i, bcrypt (`$2a$`, `$2b$`,
//! `$2y$`: passlib, Express, Supabase), Django's `pbkdf2_sha256$`,
//! `pbkdf2_sha1$`, `argon2$` and `bcrypt_sha256$`, PHC `$pbkdf2-sha256$`
//! and `$pbkdf2-sha512$` (Keycloak's, converted) and PHC `$scrypt$`. Each is read and bounded at
//! import, so no stored hash can make a sign-in a CPU or memory bomb; the
//! first right sign-in replaces it with argon2id (`service::accounts`).
//! Verification is the RustCrypto crates' (and `bcrypt`'s), never ours.

use argon2::{Argon2, PasswordHash, PasswordVerifier};
use base64::{Engine, engine::general_purpose::STANDARD};
use subtle::ConstantTimeEq;

/// bcrypt's cost (2^cost rounds): 14 is about a second.
pub const MAX_BCRYPT_COST: u32 = 14;
/// PBKDF2 iterations (Django's default grows each release: 1,000,000 in
/// 5.2, 1,500,000 in 6.1), about a second of one core at the bound.
pub const MAX_PBKDF2_ITERATIONS: u32 = 3_000_000;
/// argon2's memory in KiB (Django's default is 102,400), passes and lanes.
pub const MAX_ARGON2_MEMORY_KIB: u32 = 131_072;
pub const MAX_ARGON2_PASSES: u32 = 10;
pub const MAX_ARGON2_LANES: u32 = 8;
/// scrypt's memory (128 · r · 2^ln bytes) and its parallelism.
pub const MAX_SCRYPT_MEMORY: u64 = 128 * 1024 * 1024;
pub const MAX_SCRYPT_LANES: u32 = 4;
/// The longest hash taken: every format above fits well within it.
pub const MAX_HASH_CHARS: usize = 512;

/// A stored hash of a known format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// PHC `$argon2id$` / `$argon2i$`, also Django's `argon2$` after its prefix.
    Argon2,
    Bcrypt,
    /// Django's `bcrypt_sha256$`: bcrypt over the hex SHA-256 of the password.
    BcryptSha256,
    DjangoPbkdf2Sha256,
    DjangoPbkdf2Sha1,
    /// PHC `$pbkdf2-sha256$i=…,l=…$salt$hash` (or `-sha512`, Keycloak's
    /// later default).
    Pbkdf2Phc,
    Scrypt,
}

fn format_of(hash: &str) -> Option<(Format, &str)> {
    // Django's `argon2$` + a PHC string without its leading `$`.
    if hash.starts_with("argon2$argon2") {
        return Some((Format::Argon2, &hash["argon2".len()..]));
    }
    if let Some(rest) = hash.strip_prefix("bcrypt_sha256$") {
        return Some((Format::BcryptSha256, rest));
    }
    if hash.starts_with("pbkdf2_sha256$") {
        return Some((Format::DjangoPbkdf2Sha256, hash));
    }
    if hash.starts_with("pbkdf2_sha1$") {
        return Some((Format::DjangoPbkdf2Sha1, hash));
    }
    if hash.starts_with("$argon2id$") || hash.starts_with("$argon2i$") {
        return Some((Format::Argon2, hash));
    }
    if ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
        return Some((Format::Bcrypt, hash));
    }
    if hash.starts_with("$pbkdf2-sha256$") || hash.starts_with("$pbkdf2-sha512$") {
        return Some((Format::Pbkdf2Phc, hash));
    }
    if hash.starts_with("$scrypt$") {
        return Some((Format::Scrypt, hash));
    }
    None
}

/// What every hash this service writes begins with (`auth::password`'s
/// argon2id parameters): anything else was imported, and is replaced at
/// the next right sign-in.
const CURRENT_PREFIX: &str = "$argon2id$v=19$m=19456,t=2,p=1$";

/// Whether `hash` is one this service writes itself (argon2id with its
/// own parameters), so a sign-in need not replace it.
pub fn is_current(hash: &str) -> bool {
    hash.starts_with(CURRENT_PREFIX)
}

/// Checks an imported hash: a known format, readable, within the bounds.
/// The message says what is wrong, for `BAD_USER_INPUT` on `passwordHash`.
pub fn check(hash: &str) -> Result<(), String> {
    if hash.len() > MAX_HASH_CHARS || hash.chars().any(char::is_control) {
        return Err(format!(
            "at most {MAX_HASH_CHARS} characters, without control characters"
        ));
    }
    let (format, body) = format_of(hash).ok_or_else(|| {
        "not a password hash usergraph reads: argon2id/argon2i (PHC), bcrypt ($2a$, $2b$, $2y$), \
         Django's pbkdf2_sha256$, pbkdf2_sha1$, argon2$ or bcrypt_sha256$, PHC $pbkdf2-sha256$, $pbkdf2-sha512$ or $scrypt$"
            .to_owned()
    })?;
    match format {
        Format::Argon2 => {
            let parsed =
                PasswordHash::new(body).map_err(|e| format!("an unreadable argon2 hash: {e}"))?;
            let params = argon2::Params::try_from(&parsed)
                .map_err(|e| format!("unreadable argon2 parameters: {e}"))?;
            if parsed.hash.is_none_or(|h| h.len() < 16) {
                return Err("an argon2 hash without its hash, or shorter than 16 bytes".into());
            }
            if params.m_cost() > MAX_ARGON2_MEMORY_KIB
                || params.t_cost() > MAX_ARGON2_PASSES
                || params.p_cost() > MAX_ARGON2_LANES
            {
                return Err(format!(
                    "argon2 parameters past the bounds (m ≤ {MAX_ARGON2_MEMORY_KIB}, t ≤ {MAX_ARGON2_PASSES}, p ≤ {MAX_ARGON2_LANES})"
                ));
            }
            Ok(())
        }
        Format::Bcrypt | Format::BcryptSha256 => {
            let cost = body
                .get(4..6)
                .and_then(|c| c.parse::<u32>().ok())
                .filter(|_| body.len() == 60 && body.as_bytes().get(6) == Some(&b'$'))
                .ok_or("an unreadable bcrypt hash (60 characters: $2b$12$…)")?;
            if !(4..=MAX_BCRYPT_COST).contains(&cost) {
                return Err(format!(
                    "bcrypt cost {cost} is past the bound ({MAX_BCRYPT_COST})"
                ));
            }
            Ok(())
        }
        Format::DjangoPbkdf2Sha256 | Format::DjangoPbkdf2Sha1 => {
            let (iterations, salt, derived) = django_parts(body)?;
            // Django's key is the digest's length; a longer one would make
            // every check compute it, a shorter one match too many passwords.
            let length = if format == Format::DjangoPbkdf2Sha256 {
                32
            } else {
                20
            };
            if derived.len() != length {
                return Err(format!(
                    "a Django PBKDF2 hash of {} bytes (its digest gives {length})",
                    derived.len()
                ));
            }
            if iterations == 0 || iterations > MAX_PBKDF2_ITERATIONS {
                return Err(format!(
                    "{iterations} PBKDF2 iterations are past the bound ({MAX_PBKDF2_ITERATIONS})"
                ));
            }
            if salt.is_empty() || derived.is_empty() {
                return Err("a Django hash with an empty salt or hash".into());
            }
            Ok(())
        }
        Format::Pbkdf2Phc => {
            let parsed =
                PasswordHash::new(body).map_err(|e| format!("an unreadable PBKDF2 hash: {e}"))?;
            let params = pbkdf2::Params::try_from(&parsed)
                .map_err(|e| format!("unreadable PBKDF2 parameters: {e}"))?;
            if params.rounds == 0 || params.rounds > MAX_PBKDF2_ITERATIONS {
                return Err(format!(
                    "{} PBKDF2 iterations are past the bound ({MAX_PBKDF2_ITERATIONS})",
                    params.rounds
                ));
            }
            if parsed.salt.is_none() || parsed.hash.is_none_or(|h| h.len() < 16) {
                return Err("a PBKDF2 hash without its salt, or shorter than 16 bytes".into());
            }
            Ok(())
        }
        Format::Scrypt => {
            let parsed =
                PasswordHash::new(body).map_err(|e| format!("an unreadable scrypt hash: {e}"))?;
            let params = scrypt::Params::try_from(&parsed)
                .map_err(|e| format!("unreadable scrypt parameters: {e}"))?;
            if parsed.hash.is_none_or(|h| h.len() < 16) {
                return Err("a scrypt hash without its hash, or shorter than 16 bytes".into());
            }
            let memory = (128u64 * u64::from(params.r())) << params.log_n();
            if memory > MAX_SCRYPT_MEMORY || params.p() > MAX_SCRYPT_LANES {
                return Err(format!(
                    "scrypt parameters past the bounds (128·r·2^ln ≤ {MAX_SCRYPT_MEMORY} bytes, p ≤ {MAX_SCRYPT_LANES})"
                ));
            }
            Ok(())
        }
    }
}

/// `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`.
fn django_parts(hash: &str) -> Result<(u32, &str, Vec<u8>), String> {
    let mut parts = hash.splitn(4, '$');
    let (_, iterations, salt, derived) = (parts.next(), parts.next(), parts.next(), parts.next());
    let iterations = iterations
        .and_then(|i| i.parse::<u32>().ok())
        .ok_or("an unreadable Django hash (algorithm$iterations$salt$hash)")?;
    let salt = salt.ok_or("a Django hash without its salt")?;
    let derived = derived
        .and_then(|d| STANDARD.decode(d).ok())
        .ok_or("a Django hash whose hash is not base64")?;
    Ok((iterations, salt, derived))
}

/// Whether `password` matches the imported `hash` (checked at import, so a
/// hash that no longer reads is simply no match). CPU-heavy: run on the
/// hashing pool.
pub fn verify(hash: &str, password: &str) -> bool {
    if check(hash).is_err() {
        return false;
    }
    let Some((format, body)) = format_of(hash) else {
        return false;
    };
    match format {
        Format::Argon2 => PasswordHash::new(body).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        }),
        Format::Bcrypt => bcrypt::verify(password, body).unwrap_or(false),
        Format::BcryptSha256 => {
            use sha2::Digest;
            let digest = hex::encode(sha2::Sha256::digest(password.as_bytes()));
            bcrypt::verify(digest, body).unwrap_or(false)
        }
        Format::DjangoPbkdf2Sha256 => {
            django_pbkdf2(body, password, pbkdf2::pbkdf2_hmac::<sha2::Sha256>)
        }
        Format::DjangoPbkdf2Sha1 => {
            django_pbkdf2(body, password, pbkdf2::pbkdf2_hmac::<sha1::Sha1>)
        }
        Format::Pbkdf2Phc => PasswordHash::new(body).is_ok_and(|parsed| {
            pbkdf2::Pbkdf2
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        }),
        Format::Scrypt => PasswordHash::new(body).is_ok_and(|parsed| {
            scrypt::Scrypt
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        }),
    }
}

/// Django's PBKDF2: the salt as its characters, the key as long as the
/// stored one, compared in constant time.
fn django_pbkdf2(hash: &str, password: &str, derive: fn(&[u8], &[u8], u32, &mut [u8])) -> bool {
    let Ok((iterations, salt, expected)) = django_parts(hash) else {
        return false;
    };
    let mut derived = vec![0u8; expected.len()];
    derive(
        password.as_bytes(),
        salt.as_bytes(),
        iterations,
        &mut derived,
    );
    derived.ct_eq(&expected).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real hashes of one password, made by the stacks' own libraries
    /// (Python's bcrypt, hashlib and argon2-cffi, as Django and passlib use
    /// them): tests/fixtures/password_hashes.json.
    fn fixtures() -> (String, Vec<(String, String)>) {
        let raw: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/password_hashes.json"))
                .expect("the fixture reads");
        let password = raw["password"].as_str().unwrap().to_owned();
        let hashes = raw["hashes"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, hash)| (name.clone(), hash.as_str().unwrap().to_owned()))
            .collect();
        (password, hashes)
    }

    #[test]
    fn every_format_reads_and_verifies_only_its_own_password() {
        let (password, hashes) = fixtures();
        assert_eq!(hashes.len(), 11);
        for (name, hash) in hashes {
            assert_eq!(check(&hash), Ok(()), "{name}");
            assert!(!is_current(&hash), "{name}");
            assert!(verify(&hash, &password), "{name} verifies");
            assert!(!verify(&hash, "correct horse battery!"), "{name} refuses");
        }
    }

    #[test]
    fn parameters_past_the_bounds_and_unknown_formats_are_refused() {
        let (_, hashes) = fixtures();
        let bcrypt = &hashes.iter().find(|(n, _)| n == "bcrypt_2b").unwrap().1;
        let costly = format!("$2b$15${}", &bcrypt[7..]);
        assert!(check(&costly).unwrap_err().contains("cost 15"));
        assert!(!verify(&costly, "anything"), "never computed");
        let long = format!("pbkdf2_sha256$1000$salt${}", "QUFB".repeat(200));
        for (hash, says) in [
            (
                "$scrypt$ln=15,r=8,p=16$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
                "scrypt",
            ),
            (
                "pbkdf2_sha256$5000000$salt$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=",
                "iterations",
            ),
            // A key of any other length than the digest's: a CPU bomb when
            // long, a near-universal password when short.
            ("pbkdf2_sha256$1000$salt$aA==", "bytes"),
            (long.as_str(), "characters"),
            (
                "$2b$10$abc\u{0}defghijklmnopqrstuuNBHWHZw3kgH/9j6t8FPD0P6Fz1VI",
                "control",
            ),
            (
                "$pbkdf2-sha256$i=5000000,l=32$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
                "iterations",
            ),
            (
                "$scrypt$ln=20,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
                "scrypt",
            ),
            (
                "$argon2id$v=19$m=1048576,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
                "argon2",
            ),
            ("md5$abc$def", "not a password hash"),
            ("$2b$10$short", "unreadable bcrypt"),
            ("", "not a password hash"),
        ] {
            let problem = check(hash).unwrap_err();
            assert!(problem.contains(says), "{hash}: {problem}");
        }
    }

    #[test]
    fn this_services_own_hashes_are_current() {
        assert!(is_current(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
        ));
    }
}
