//! The second factor: enrolment, sign-in with a TOTP code or a recovery
//! code, replay, drift, the lockout, and a superuser's reset. Codes are
//! computed here from the enrolment's secret by an RFC 6238 implementation of
//! the tests' own, checked against the RFC's vectors.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};

use crate::helpers::{Account, PASSWORD, TestApp, code, field};

/// RFC 4648 base32 (no padding), as authenticator apps read secrets.
fn base32_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.trim_end_matches('=').bytes() {
        let value = ALPHABET
            .iter()
            .position(|&a| a == c.to_ascii_uppercase())
            .expect("a base32 character") as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

/// HOTP (RFC 4226) of `counter`, `digits` long.
fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(key).unwrap();
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = (hash[19] & 0x0f) as usize;
    let binary = u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    format!(
        "{:0width$}",
        binary % 10u32.pow(digits),
        width = digits as usize
    )
}

/// The 6-digit TOTP code of `secret` (base32) at `offset` steps from now.
pub fn totp_code(secret: &str, offset: i64) -> String {
    totp_code_at(secret, current_step().saturating_add_signed(offset))
}

/// The TOTP time step now.
fn current_step() -> u64 {
    (chrono::Utc::now().timestamp() / 30) as u64
}

/// The 6-digit TOTP code of `secret` (base32) for time step `step`.
fn totp_code_at(secret: &str, step: u64) -> String {
    hotp(&base32_decode(secret), step, 6)
}

#[test]
fn the_tests_totp_matches_the_rfc_6238_vectors() {
    let key = b"12345678901234567890";
    for (time, expected) in [
        (59u64, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ] {
        assert_eq!(hotp(key, time / 30, 8), expected, "T = {time}");
    }
    assert_eq!(base32_decode("GEZDGNBVGY3TQOJQ"), b"1234567890");
}

const ENROLL: &str =
    "mutation($p: String!) { enrollTotp(password: $p) { secret otpauthUri qrCodeSvg } }";
const CONFIRM: &str = "mutation($c: String!) { confirmTotp(code: $c) }";
const VERIFY: &str = "mutation($t: String!, $c: String!) { verifyMfa(mfaToken: $t, code: $c) { accessToken refreshToken user { id mfaEnabled lastLoginAt } } }";

/// Enrols `account` and confirms with the current code; returns the secret
/// and the recovery codes.
pub(crate) async fn enable(app: &TestApp, account: &Account) -> (String, Vec<String>) {
    let (secret, codes, _) = enable_at_step(app, account).await;
    (secret, codes)
}

/// [`enable`], also returning the time step whose code confirmed the enrolment, so
/// a test can name steps relative to it however long it runs.
async fn enable_at_step(app: &TestApp, account: &Account) -> (String, Vec<String>, u64) {
    let body = app
        .gql(Some(&account.access), ENROLL, json!({ "p": PASSWORD }))
        .await;
    let secret = body["data"]["enrollTotp"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("enrol: {body}"))
        .to_owned();
    let step = current_step();
    let body = app
        .gql(
            Some(&account.access),
            CONFIRM,
            json!({ "c": totp_code_at(&secret, step) }),
        )
        .await;
    let codes: Vec<String> = body["data"]["confirmTotp"]
        .as_array()
        .unwrap_or_else(|| panic!("confirm: {body}"))
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (secret, codes, step)
}

/// Signs in with the password; returns the `mfaToken` of the `MFA_REQUIRED` answer.
async fn challenge(app: &TestApp, login: &str) -> String {
    let body = app.login(login, PASSWORD).await;
    assert_eq!(code(&body), "MFA_REQUIRED", "{body}");
    assert!(body["data"].is_null() || body["data"]["login"].is_null());
    body["errors"][0]["extensions"]["mfaToken"]
        .as_str()
        .expect("extensions.mfaToken")
        .to_owned()
}

async fn verify(app: &TestApp, token: &str, code: &str) -> Value {
    app.gql(None, VERIFY, json!({ "t": token, "c": code }))
        .await
}

#[tokio::test]
async fn enrolment_gives_an_authenticator_uri_and_qr_code_and_a_first_code_turns_it_on() {
    let app = TestApp::spawn().await;
    let ann = app.register_verified("ann").await;
    let body = app
        .gql(Some(&ann.access), ENROLL, json!({ "p": PASSWORD }))
        .await;
    let enrollment = &body["data"]["enrollTotp"];
    let secret = enrollment["secret"].as_str().unwrap();
    assert_eq!(base32_decode(secret).len(), 20, "a 160-bit secret");
    let uri = enrollment["otpauthUri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/usergraph:ann%40example.com?"),
        "{uri}"
    );
    assert!(uri.contains(&format!("secret={secret}")) && uri.contains("issuer=usergraph"));
    assert!(
        enrollment["qrCodeSvg"]
            .as_str()
            .unwrap()
            .starts_with("<?xml")
    );
    // Pending: sign-in is unchanged until the first code confirms it.
    assert!(app.login("ann", PASSWORD).await["errors"].is_null());
    let wrong = app
        .gql(Some(&ann.access), CONFIRM, json!({ "c": "000000" }))
        .await;
    assert_eq!((code(&wrong), field(&wrong)), ("BAD_USER_INPUT", "code"));
    let body = app
        .gql(
            Some(&ann.access),
            CONFIRM,
            json!({ "c": totp_code(secret, 0) }),
        )
        .await;
    let codes = body["data"]["confirmTotp"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.as_str().unwrap().len() == 19));
    let me = app
        .gql(Some(&ann.access), "{ me { mfaEnabled } }", json!({}))
        .await;
    assert_eq!(me["data"]["me"]["mfaEnabled"], true);
    // Never shown again, never stored in the clear.
    let again = app
        .gql(Some(&ann.access), ENROLL, json!({ "p": PASSWORD }))
        .await;
    assert_eq!(code(&again), "CONFLICT");
    let stored = entity::totp_factor::Entity::find()
        .all(app.db())
        .await
        .unwrap();
    assert!(!format!("{stored:?}").contains(secret));
    let hashes = entity::recovery_code::Entity::find()
        .all(app.db())
        .await
        .unwrap();
    let first = codes[0].as_str().unwrap();
    assert!(
        !format!("{hashes:?}").contains(first)
            && !format!("{hashes:?}").contains(&first.replace('-', ""))
    );
}

use sea_orm::EntityTrait;

#[tokio::test]
async fn a_right_password_asks_for_the_code_and_a_code_is_accepted_once() {
    let app = TestApp::spawn_with(&[("LOGIN_LOCKOUT_THRESHOLD", "20")]).await;
    let ann = app.register_verified("ann").await;
    let (secret, _, step) = enable_at_step(&app, &ann).await;
    let token = challenge(&app, "ann").await;
    // A wrong password still says nothing more than INVALID_CREDENTIALS.
    assert_eq!(
        code(&app.login("ann", "not-the-password-1").await),
        "INVALID_CREDENTIALS"
    );
    // The code that confirmed enrolment was used: its step is spent.
    let replay = verify(&app, &token, &totp_code_at(&secret, step)).await;
    assert_eq!((code(&replay), field(&replay)), ("BAD_USER_INPUT", "code"));
    // One step of drift: the next step's code works, once. Steps are named from the
    // enrolment's, so a step boundary passing mid-test changes nothing.
    let body = verify(&app, &token, &totp_code_at(&secret, step + 1)).await;
    assert!(body["errors"].is_null(), "{body}");
    let payload = &body["data"]["verifyMfa"];
    assert_eq!(payload["user"]["mfaEnabled"], true);
    assert!(payload["user"]["lastLoginAt"].is_string());
    let me = app.me(payload["accessToken"].as_str().unwrap()).await;
    assert!(me["errors"].is_null());
    // The mfaToken is single use, and the code cannot be replayed elsewhere.
    assert_eq!(
        code(&verify(&app, &token, &totp_code_at(&secret, step + 1)).await),
        "TOKEN_INVALID"
    );
    let second = challenge(&app, "ann").await;
    let replay = verify(&app, &second, &totp_code_at(&secret, step + 1)).await;
    assert_eq!(code(&replay), "BAD_USER_INPUT");
    // Two steps away is outside the drift.
    assert_eq!(
        code(&verify(&app, &second, &totp_code_at(&secret, step - 2)).await),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        code(&verify(&app, &second, &totp_code_at(&secret, step + 3)).await),
        "BAD_USER_INPUT"
    );
    assert_eq!(
        code(&verify(&app, "not-a-token", "123456").await),
        "TOKEN_INVALID"
    );
}

#[tokio::test]
async fn recovery_codes_work_once_each_and_regenerating_kills_the_old_ones() {
    let app = TestApp::spawn().await;
    let ann = app.register_verified("ann").await;
    let (_, codes) = enable(&app, &ann).await;
    let token = challenge(&app, "ann").await;
    // Typed without dashes and in capitals, as people do.
    let typed = codes[0].replace('-', "").to_uppercase();
    let body = verify(&app, &token, &typed).await;
    assert!(body["errors"].is_null(), "{body}");
    let token = challenge(&app, "ann").await;
    assert_eq!(
        code(&verify(&app, &token, &codes[0]).await),
        "BAD_USER_INPUT"
    );
    let fresh = app
        .gql(
            Some(&ann.access),
            "mutation($p: String!) { regenerateRecoveryCodes(password: $p) }",
            json!({ "p": PASSWORD }),
        )
        .await;
    let new_codes = fresh["data"]["regenerateRecoveryCodes"].as_array().unwrap();
    assert_eq!(new_codes.len(), 10);
    assert_eq!(
        code(&verify(&app, &token, &codes[1]).await),
        "BAD_USER_INPUT"
    );
    let body = verify(&app, &token, new_codes[0].as_str().unwrap()).await;
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn wrong_codes_count_toward_the_lockout() {
    let app = TestApp::spawn_with(&[("LOGIN_LOCKOUT_THRESHOLD", "3")]).await;
    let ann = app.register_verified("ann").await;
    let (secret, _) = enable(&app, &ann).await;
    let token = challenge(&app, "ann").await;
    for _ in 0..3 {
        let body = verify(&app, &token, "000000").await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    }
    // Locked: even the right code is refused, and so is the password.
    assert_eq!(
        code(&verify(&app, &token, &totp_code(&secret, 1)).await),
        "ACCOUNT_LOCKED"
    );
    assert_eq!(
        code(&app.login("ann", PASSWORD).await),
        "INVALID_CREDENTIALS"
    );
}

#[tokio::test]
async fn the_right_password_does_not_reset_the_count_of_wrong_codes() {
    let app = TestApp::spawn_with(&[("LOGIN_LOCKOUT_THRESHOLD", "3")]).await;
    let ann = app.register_verified("ann").await;
    enable(&app, &ann).await;
    // Guessing codes between right passwords gets no more guesses.
    for _ in 0..3 {
        let token = challenge(&app, "ann").await;
        assert_eq!(
            code(&verify(&app, &token, "000000").await),
            "BAD_USER_INPUT"
        );
    }
    let body = app.login("ann", PASSWORD).await;
    assert_eq!(code(&body), "INVALID_CREDENTIALS", "{body}");
}

#[tokio::test]
async fn disabling_needs_the_password_and_a_superuser_can_reset_a_lost_factor() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let ann = app.register_verified("ann").await;
    let bob = app.register_verified("bob").await;
    enable(&app, &ann).await;
    enable(&app, &bob).await;
    let disable = "mutation($p: String!) { disableTotp(password: $p) }";
    let wrong = app
        .gql(
            Some(&ann.access),
            disable,
            json!({ "p": "not-the-password-1" }),
        )
        .await;
    assert_eq!(
        (code(&wrong), field(&wrong)),
        ("BAD_USER_INPUT", "password")
    );
    let body = app
        .gql(Some(&ann.access), disable, json!({ "p": PASSWORD }))
        .await;
    assert_eq!(body, json!({ "data": { "disableTotp": true } }));
    assert!(app.login("ann", PASSWORD).await["errors"].is_null());

    let reset = "mutation($id: ID!) { resetUserMfa(id: $id) { mfaEnabled } }";
    let refused = app
        .gql(Some(&ann.access), reset, json!({ "id": bob.id }))
        .await;
    assert_eq!(code(&refused), "FORBIDDEN");
    let body = app
        .gql(Some(&root.access), reset, json!({ "id": bob.id }))
        .await;
    assert_eq!(body["data"]["resetUserMfa"]["mfaEnabled"], false);
    assert!(app.login("bob", PASSWORD).await["errors"].is_null());
}

#[tokio::test]
async fn an_expired_or_stale_mfa_token_is_refused() {
    let app = TestApp::spawn().await;
    let ann = app.register_verified("ann").await;
    let (secret, _) = enable(&app, &ann).await;
    let token = challenge(&app, "ann").await;
    app.sql("UPDATE account_tokens SET expires_at = created_at WHERE purpose = 'mfa_challenge'")
        .await;
    assert_eq!(
        code(&verify(&app, &token, &totp_code(&secret, 1)).await),
        "TOKEN_EXPIRED"
    );
    // A password change since the challenge makes it stale.
    let token = challenge(&app, "ann").await;
    let change = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";
    let body = app
        .gql(
            Some(&ann.access),
            change,
            json!({ "c": PASSWORD, "n": "marmalade-lantern-77" }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(
        code(&verify(&app, &token, &totp_code(&secret, 1)).await),
        "TOKEN_INVALID"
    );
}

#[tokio::test]
async fn concurrent_uses_of_one_recovery_code_give_one_sign_in() {
    let app = TestApp::spawn_with(&[("LOGIN_LOCKOUT_THRESHOLD", "100")]).await;
    let ann = app.register_verified("ann").await;
    let (_, codes) = enable(&app, &ann).await;
    let mut tokens = Vec::new();
    for _ in 0..8 {
        tokens.push(challenge(&app, "ann").await);
    }
    let answers =
        futures::future::join_all(tokens.iter().map(|token| verify(&app, token, &codes[0]))).await;
    let signed_in = answers.iter().filter(|b| b["errors"].is_null()).count();
    assert_eq!(signed_in, 1, "{answers:?}");
}

#[tokio::test]
async fn concurrent_uses_of_one_totp_code_give_one_sign_in() {
    let app = TestApp::spawn_with(&[("LOGIN_LOCKOUT_THRESHOLD", "100")]).await;
    let ann = app.register_verified("ann").await;
    let (secret, _) = enable(&app, &ann).await;
    let mut tokens = Vec::new();
    for _ in 0..8 {
        tokens.push(challenge(&app, "ann").await);
    }
    let code = totp_code(&secret, 1);
    let answers =
        futures::future::join_all(tokens.iter().map(|token| verify(&app, token, &code))).await;
    let signed_in = answers.iter().filter(|b| b["errors"].is_null()).count();
    assert_eq!(signed_in, 1, "{answers:?}");
}

#[tokio::test]
async fn a_password_reset_needs_the_second_factor_too() {
    let (app, sink) = TestApp::spawn_with_mail(&[]).await;
    let ann = app.register_verified("ann").await;
    let (secret, codes) = enable(&app, &ann).await;
    let request = "mutation { requestPasswordReset(email: \"ann@example.com\") }";
    assert!(app.gql(None, request, json!({})).await["errors"].is_null());
    let token = sink.next("ann@example.com", 1).await.token();
    let reset = "mutation($t: String!, $c: String) { resetPassword(token: $t, newPassword: \"marmalade-lantern-77\", code: $c) { accessToken } }";
    // The mailbox alone changes nothing.
    let body = app.gql(None, reset, json!({ "t": token })).await;
    assert_eq!(code(&body), "MFA_REQUIRED", "{body}");
    assert!(
        app.me(&ann.access).await["errors"].is_null(),
        "sessions live on"
    );
    assert_eq!(code(&app.login("ann", PASSWORD).await), "MFA_REQUIRED");
    let wrong = app
        .gql(None, reset, json!({ "t": token, "c": "000000" }))
        .await;
    assert_eq!((code(&wrong), field(&wrong)), ("BAD_USER_INPUT", "code"));
    let body = app
        .gql(
            None,
            reset,
            json!({ "t": token, "c": totp_code(&secret, 1) }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(code(&app.me(&ann.access).await), "UNAUTHENTICATED");
    assert_eq!(
        code(&app.login("ann", "marmalade-lantern-77").await),
        "MFA_REQUIRED"
    );
    let _ = codes;
}

#[tokio::test]
async fn enrolment_needs_the_password() {
    let app = TestApp::spawn().await;
    let ann = app.register_verified("ann").await;
    let body = app
        .gql(
            Some(&ann.access),
            ENROLL,
            json!({ "p": "not-the-password-1" }),
        )
        .await;
    assert_eq!((code(&body), field(&body)), ("BAD_USER_INPUT", "password"));
}

#[tokio::test]
async fn abandoned_sign_ins_do_not_lock_the_owner_out() {
    let app = TestApp::spawn_with(&[("LOGIN_LOCKOUT_THRESHOLD", "3")]).await;
    let ann = app.register_verified("ann").await;
    let (secret, _) = enable(&app, &ann).await;
    for _ in 0..5 {
        challenge(&app, "ann").await;
    }
    let token = challenge(&app, "ann").await;
    assert!(verify(&app, &token, &totp_code(&secret, 1)).await["errors"].is_null());
}

#[tokio::test]
async fn recovery_codes_work_when_the_mfa_key_changed() {
    let mut app = TestApp::spawn().await;
    let ann = app.register_verified("ann").await;
    let (secret, codes) = enable(&app, &ann).await;
    app.restart_with(&[("MFA_ENCRYPTION_KEY", "another-mfa-key-another-mfa-key-0000")])
        .await;
    let token = challenge(&app, "ann").await;
    // The secret cannot be opened: an internal error that costs no lockout slot.
    let body = verify(&app, &token, &totp_code(&secret, 1)).await;
    assert_eq!(code(&body), "INTERNAL_SERVER_ERROR", "{body}");
    let body = verify(&app, &token, &codes[0]).await;
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn duplicate_submissions_of_a_right_code_sign_in_once_and_lock_nothing() {
    let app = TestApp::spawn().await;
    let ann = app.register_verified("ann").await;
    let (secret, recovery_codes) = enable(&app, &ann).await;
    let token = challenge(&app, "ann").await;
    let code_now = totp_code(&secret, 1);
    let answers = futures::future::join_all((0..8).map(|_| verify(&app, &token, &code_now))).await;
    let signed_in = answers.iter().filter(|a| a["errors"].is_null()).count();
    assert_eq!(signed_in, 1, "{answers:?}");
    for answer in answers.iter().filter(|a| !a["errors"].is_null()) {
        assert_eq!(
            code(answer),
            "TOKEN_INVALID",
            "a duplicate is told its sign-in is used, not that its code is wrong: {answer}"
        );
    }
    // Nothing counted toward the lockout: the next sign-in goes on as usual.
    let again = challenge(&app, "ann").await;
    let body = verify(&app, &again, &recovery_codes[0]).await;
    assert!(body["errors"].is_null(), "{body}");
    let failures = app
        .gql(
            Some(&ann.access),
            "{ mySecurityEvents(first: 50) { edges { node { action } } } }",
            json!({}),
        )
        .await;
    assert!(
        !failures.to_string().contains("auth.login_failed"),
        "{failures}"
    );
}
