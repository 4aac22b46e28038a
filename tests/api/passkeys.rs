//! Passkeys, against a software authenticator that signs with real keys
//! (authenticator.rs): registration after the password, sign-in with and
//! without a login, the second factor, single-use challenges (raced), the
//! signature counter, decoys for unknown logins, and the last way in.

use serde_json::{Value, json};

use crate::authenticator::Authenticator;
use crate::helpers::{Account, PASSWORD, TestApp, code, field};

const START_REGISTRATION: &str = "mutation($p: String!) { startPasskeyRegistration(password: $p) { challengeId options expiresAt } }";
const FINISH_REGISTRATION: &str = "mutation($c: ID!, $r: JSON!, $n: String) { finishPasskeyRegistration(challengeId: $c, credential: $r, name: $n) { id name createdAt lastUsedAt backedUp } }";
const START_SIGN_IN: &str =
    "mutation($l: String) { startPasskeySignIn(login: $l) { challengeId options expiresAt } }";
const FINISH_SIGN_IN: &str = "mutation($c: ID!, $r: JSON!) { finishPasskeySignIn(challengeId: $c, credential: $r) { accessToken refreshToken user { id username } } }";
const MY_PASSKEYS: &str = "{ myPasskeys { id name lastUsedAt backedUp } }";

/// A registration's challenge for `account`.
async fn start_registration(app: &TestApp, account: &Account) -> Value {
    let started = app
        .gql(
            Some(&account.access),
            START_REGISTRATION,
            json!({ "p": PASSWORD }),
        )
        .await;
    let challenge = started["data"]["startPasskeyRegistration"].clone();
    assert!(challenge["challengeId"].is_string(), "{started}");
    challenge
}

/// Finishes `challenge` as `account` with `answer`.
async fn finish_registration(
    app: &TestApp,
    account: &Account,
    challenge: &Value,
    answer: &Value,
) -> Value {
    app.gql(
        Some(&account.access),
        FINISH_REGISTRATION,
        json!({ "c": challenge["challengeId"], "r": answer }),
    )
    .await
}

/// Registers a passkey for `account` on `authenticator`; the `Passkey`.
pub async fn register(
    app: &TestApp,
    account: &Account,
    authenticator: &mut Authenticator,
) -> Value {
    let challenge = start_registration(app, account).await;
    let answer = authenticator.create(&challenge["options"]);
    let body = finish_registration(app, account, &challenge, &answer).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["finishPasskeyRegistration"].clone()
}

/// A sign-in's options, for `login` (or none).
async fn start(app: &TestApp, login: Option<&str>) -> Value {
    let body = app.gql(None, START_SIGN_IN, json!({ "l": login })).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["startPasskeySignIn"].clone()
}

async fn finish(app: &TestApp, challenge: &Value, answer: &Value) -> Value {
    app.gql(
        None,
        FINISH_SIGN_IN,
        json!({ "c": challenge["challengeId"], "r": answer }),
    )
    .await
}

/// Signs in with the authenticator's passkey, by `login` or without.
async fn sign_in(app: &TestApp, authenticator: &mut Authenticator, login: Option<&str>) -> Value {
    let challenge = start(app, login).await;
    let answer = authenticator.get(&challenge["options"]);
    finish(app, &challenge, &answer).await
}

/// Asserts `body` is a `BAD_USER_INPUT` on `on`.
fn bad_input(body: &Value, on: &str) {
    assert_eq!((code(body), field(body)), ("BAD_USER_INPUT", on), "{body}");
}

async fn audit_actions(app: &TestApp, user_id: &str) -> Vec<String> {
    let admin = app.superuser("auditor").await;
    let body = app
        .gql(
            Some(&admin.access),
            "query($u: ID!) { auditEvents(first: 50, filter: { targetId: $u }) { nodes { action changes } } }",
            json!({ "u": user_id }),
        )
        .await;
    body["data"]["auditEvents"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_passkey_registered_after_the_password_signs_in_by_login_and_without_one() {
    let app = TestApp::spawn().await;
    let ada = app.register_verified("ada").await;
    let mut phone = Authenticator::default();
    let passkey = register(&app, &ada, &mut phone).await;
    assert_eq!(passkey["name"], "Passkey 1");
    assert!(passkey["id"].as_str().unwrap().starts_with("pky_"));
    assert!(passkey["lastUsedAt"].is_null());
    assert_eq!(passkey["backedUp"], true, "the authenticator said so");

    // Without a login: the options name no credential, the authenticator
    // offers its own, and its user handle finds the account.
    let challenge = start(&app, None).await;
    assert_eq!(challenge["options"]["rpId"], "localhost");
    assert_eq!(challenge["options"]["userVerification"], "required");
    assert!(
        challenge["options"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    let body = finish(&app, &challenge, &phone.get(&challenge["options"])).await;
    assert_eq!(
        body["data"]["finishPasskeySignIn"]["user"]["id"], ada.id,
        "{body}"
    );
    let access = body["data"]["finishPasskeySignIn"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.me(&access).await["data"]["me"]["username"], "ada");

    // By login: the options name the account's passkey.
    let challenge = start(&app, Some("ADA@example.com")).await;
    let allowed = challenge["options"]["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1);
    let body = finish(&app, &challenge, &phone.get(&challenge["options"])).await;
    assert_eq!(
        body["data"]["finishPasskeySignIn"]["user"]["username"], "ada",
        "{body}"
    );

    let mine = app.gql(Some(&access), MY_PASSKEYS, json!({})).await;
    let mine = mine["data"]["myPasskeys"].as_array().unwrap().clone();
    assert_eq!(mine.len(), 1);
    assert!(mine[0]["lastUsedAt"].is_string());
    assert_eq!(mine[0]["backedUp"], true);

    let actions = audit_actions(&app, &ada.id).await;
    assert!(
        actions.contains(&"passkey.registered".to_owned()),
        "{actions:?}"
    );
    let stored = app
        .rows("SELECT changes FROM audit_events WHERE action = 'auth.login'")
        .await;
    assert!(
        stored.iter().any(|row| row
            .try_get::<String>("", "changes")
            .is_ok_and(|c| c.contains("passkey"))),
        "a passkey sign-in is audited with its method"
    );
}

#[tokio::test]
async fn registration_needs_the_password_a_verified_address_and_a_session_not_an_api_key() {
    let app = TestApp::spawn().await;
    let unverified = app.register_as("una").await;
    let body = app
        .gql(
            Some(&unverified.access),
            START_REGISTRATION,
            json!({ "p": PASSWORD }),
        )
        .await;
    assert_eq!(code(&body), "EMAIL_NOT_VERIFIED", "{body}");

    let ada = app.register_verified("ada").await;
    let body = app
        .gql(
            Some(&ada.access),
            START_REGISTRATION,
            json!({ "p": "wrong password" }),
        )
        .await;
    bad_input(&body, "password");

    let key = app
        .gql(
            Some(&ada.access),
            "mutation($p: String!) { createApiKey(input: { name: \"ci\" }, password: $p) { secret } }",
            json!({ "p": PASSWORD }),
        )
        .await;
    let key = key["data"]["createApiKey"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{key}"))
        .to_owned();
    let body = app
        .gql(Some(&key), START_REGISTRATION, json!({ "p": PASSWORD }))
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");

    let body = app
        .gql(None, START_REGISTRATION, json!({ "p": PASSWORD }))
        .await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
}

#[tokio::test]
async fn an_overlong_credential_id_is_refused_before_it_is_stored() {
    let app = TestApp::spawn().await;
    let ada = app.register_verified("ada").await;
    let mut odd = Authenticator {
        id_length: 1100,
        ..Authenticator::default()
    };
    let challenge = start_registration(&app, &ada).await;
    let answer = odd.create(&challenge["options"]);
    let body = finish_registration(&app, &ada, &challenge, &answer).await;
    bad_input(&body, "credential");
}

#[tokio::test]
async fn a_challenge_is_used_once_and_only_by_the_user_it_was_made_for() {
    let app = TestApp::spawn().await;
    let ada = app.register_verified("ada").await;
    let bob = app.register_verified("bob").await;
    let mut phone = Authenticator::default();
    let challenge = start_registration(&app, &ada).await;
    let answer = phone.create(&challenge["options"]);
    // Another user cannot finish ada's registration.
    let body = finish_registration(&app, &bob, &challenge, &answer).await;
    assert_eq!(code(&body), "TOKEN_INVALID", "{body}");
    let body = finish_registration(&app, &ada, &challenge, &answer).await;
    assert!(body["errors"].is_null(), "{body}");
    let body = finish_registration(&app, &ada, &challenge, &answer).await;
    assert_eq!(code(&body), "TOKEN_INVALID", "{body}");

    let challenge = start(&app, None).await;
    let answer = phone.get(&challenge["options"]);
    assert!(finish(&app, &challenge, &answer).await["errors"].is_null());
    let again = finish(&app, &challenge, &answer).await;
    assert_eq!(code(&again), "TOKEN_INVALID", "{again}");

    // An answer to one challenge does not finish another.
    let other = start(&app, None).await;
    let body = finish(&app, &other, &answer).await;
    bad_input(&body, "credential");

    // Garbage is a clear input error, not a 500.
    let garbage = start(&app, None).await;
    let body = finish(&app, &garbage, &json!({ "id": "x" })).await;
    bad_input(&body, "credential");
    let body = app
        .gql(None, FINISH_SIGN_IN, json!({ "c": "pkc_nope", "r": {} }))
        .await;
    bad_input(&body, "challengeId");
}

#[tokio::test]
async fn answers_from_another_site_or_without_user_verification_are_refused() {
    let app = TestApp::spawn().await;
    let ada = app.register_verified("ada").await;

    let mut phishing = Authenticator {
        origin: "https://evil.example".into(),
        ..Authenticator::default()
    };
    let challenge = start_registration(&app, &ada).await;
    let body = finish_registration(
        &app,
        &ada,
        &challenge,
        &phishing.create(&challenge["options"]),
    )
    .await;
    bad_input(&body, "credential");

    let mut phone = Authenticator::default();
    register(&app, &ada, &mut phone).await;
    // The passkey itself, answering a page on another origin.
    phone.origin = "https://evil.example".into();
    let body = sign_in(&app, &mut phone, None).await;
    bad_input(&body, "credential");
    // Or without verifying its user.
    phone.origin = crate::authenticator::ORIGIN.into();
    phone.verifies_user = false;
    let body = sign_in(&app, &mut phone, None).await;
    bad_input(&body, "credential");
    phone.verifies_user = true;
    assert!(sign_in(&app, &mut phone, None).await["errors"].is_null());
}

#[tokio::test]
async fn a_signature_counter_that_goes_backwards_is_refused_and_audited() {
    let app = TestApp::spawn().await;
    let ada = app.register_verified("ada").await;
    let mut key = Authenticator::default();
    register(&app, &ada, &mut key).await;
    for _ in 0..3 {
        assert!(sign_in(&app, &mut key, Some("ada")).await["errors"].is_null());
    }
    // A clone made after the first use: its counter is behind.
    key.credentials[0].counter = 1;
    let body = sign_in(&app, &mut key, Some("ada")).await;
    bad_input(&body, "credential");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("counter"),
        "{body}"
    );
    let actions = audit_actions(&app, &ada.id).await;
    assert!(
        actions.contains(&"auth.passkey_counter_regressed".to_owned()),
        "{actions:?}"
    );

    // A synced passkey keeps no counter (always 0): it keeps working.
    let bob = app.register_verified("bob").await;
    let mut synced = Authenticator {
        counts: false,
        ..Authenticator::default()
    };
    register(&app, &bob, &mut synced).await;
    for _ in 0..2 {
        assert!(sign_in(&app, &mut synced, Some("bob")).await["errors"].is_null());
    }
}

#[tokio::test]
async fn an_unknown_login_gets_options_indistinguishable_from_a_known_ones() {
    let app = TestApp::spawn().await;
    let ada = app.register_verified("ada").await;
    let mut phone = Authenticator::default();
    register(&app, &ada, &mut phone).await;
    app.register_verified("nopasskey").await;

    let shape = |options: &Value| {
        let mut keys: Vec<String> = options.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        // One id each, of a length authenticators use (16 to 64 bytes).
        let ids: Vec<bool> = options["allowCredentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (22..=86).contains(&c["id"].as_str().unwrap().len()))
            .collect();
        (keys, ids)
    };
    let known = start(&app, Some("ada")).await;
    let unknown = start(&app, Some("ghost")).await;
    let without = start(&app, Some("nopasskey")).await;
    assert_eq!(shape(&known["options"]), shape(&unknown["options"]));
    assert_eq!(shape(&known["options"]), shape(&without["options"]));
    // The same decoy every time, so asking twice tells nothing.
    let again = start(&app, Some("Ghost")).await;
    assert_eq!(
        unknown["options"]["allowCredentials"],
        again["options"]["allowCredentials"]
    );
    assert_ne!(
        unknown["options"]["allowCredentials"],
        without["options"]["allowCredentials"]
    );

    // Nothing answers a decoy: not even a real passkey of another account.
    let mallory = app.register_verified("mallory").await;
    let mut own = Authenticator::default();
    register(&app, &mallory, &mut own).await;
    for login in ["ghost", "nopasskey"] {
        let decoy = start(&app, Some(login)).await;
        let answer = own.answer(0, &decoy["options"]);
        bad_input(&finish(&app, &decoy, &answer).await, "credential");
    }

    crate::helpers::answers_take_the_same_time(|i| {
        let app = &app;
        async move {
            let login = if i == 0 { "ada" } else { "ghost" };
            start(app, Some(login)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_passkey_is_the_second_factor_of_a_totp_user_and_signs_in_without_asking_for_one() {
    let app = TestApp::spawn().await;
    let ada = app.register_verified("ada").await;
    let mut phone = Authenticator::default();
    register(&app, &ada, &mut phone).await;
    crate::mfa::enable(&app, &ada).await;

    let body = app.login("ada", PASSWORD).await;
    assert_eq!(code(&body), "MFA_REQUIRED", "{body}");
    let mfa_token = body["errors"][0]["extensions"]["mfaToken"]
        .as_str()
        .unwrap()
        .to_owned();
    const VERIFY: &str = "mutation($t: String!, $p: JSON, $c: ID) { verifyMfa(mfaToken: $t, passkey: $p, challengeId: $c) { accessToken user { id } } }";

    // A challenge started without the login is not this account's.
    let anyone = start(&app, None).await;
    let body = app
        .gql(
            None,
            VERIFY,
            json!({ "t": mfa_token, "p": phone.get(&anyone["options"]), "c": anyone["challengeId"] }),
        )
        .await;
    bad_input(&body, "challengeId");

    let challenge = start(&app, Some("ada")).await;
    let body = app
        .gql(
            None,
            VERIFY,
            json!({ "t": mfa_token, "p": phone.get(&challenge["options"]), "c": challenge["challengeId"] }),
        )
        .await;
    assert_eq!(body["data"]["verifyMfa"]["user"]["id"], ada.id, "{body}");

    // Another account's passkey answers on `passkey`, the argument.
    let body = app.login("ada", PASSWORD).await;
    let second_token = body["errors"][0]["extensions"]["mfaToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let challenge = start(&app, Some("ada")).await;
    let mut stranger = Authenticator::default();
    let bob = app.register_verified("bob").await;
    register(&app, &bob, &mut stranger).await;
    let body = app
        .gql(
            None,
            VERIFY,
            json!({ "t": second_token, "p": stranger.answer(0, &challenge["options"]), "c": challenge["challengeId"] }),
        )
        .await;
    bad_input(&body, "passkey");

    // Neither a code nor a passkey is a clear error.
    let body = app.gql(None, VERIFY, json!({ "t": mfa_token })).await;
    bad_input(&body, "code");

    // A passkey alone is both factors.
    let body = sign_in(&app, &mut phone, None).await;
    assert_eq!(
        body["data"]["finishPasskeySignIn"]["user"]["id"], ada.id,
        "{body}"
    );
}

#[tokio::test]
async fn passkeys_are_renamed_and_deleted_but_never_the_last_way_in() {
    let app = TestApp::spawn().await;
    let ada = app.register_verified("ada").await;
    let mut phone = Authenticator::default();
    let first = register(&app, &ada, &mut phone).await;
    let second = register(&app, &ada, &mut phone).await;
    assert_eq!(second["name"], "Passkey 2");

    const RENAME: &str =
        "mutation($i: ID!, $n: String!) { renamePasskey(id: $i, name: $n) { id name } }";
    const DELETE: &str = "mutation($i: ID!, $p: String!) { deletePasskey(id: $i, password: $p) }";
    let body = app
        .gql(
            Some(&ada.access),
            RENAME,
            json!({ "i": first["id"], "n": "  Work laptop " }),
        )
        .await;
    assert_eq!(
        body["data"]["renamePasskey"]["name"], "Work laptop",
        "{body}"
    );
    let body = app
        .gql(
            Some(&ada.access),
            RENAME,
            json!({ "i": first["id"], "n": "" }),
        )
        .await;
    bad_input(&body, "name");
    let bob = app.register_verified("bob").await;
    let body = app
        .gql(
            Some(&bob.access),
            RENAME,
            json!({ "i": first["id"], "n": "mine" }),
        )
        .await;
    assert_eq!((code(&body), field(&body)), ("NOT_FOUND", "id"), "{body}");

    // Without a password, passkeys are the way in: the last one stays.
    app.sql("UPDATE users SET has_password = false, password_hash = '' WHERE username = 'ada'")
        .await;
    let body = app
        .gql(
            Some(&ada.access),
            DELETE,
            json!({ "i": first["id"], "p": "" }),
        )
        .await;
    assert_eq!(body["data"]["deletePasskey"], true, "{body}");
    let body = app
        .gql(
            Some(&ada.access),
            DELETE,
            json!({ "i": second["id"], "p": "" }),
        )
        .await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    let mine = app.gql(Some(&ada.access), MY_PASSKEYS, json!({})).await;
    assert_eq!(mine["data"]["myPasskeys"].as_array().unwrap().len(), 1);
    let actions = audit_actions(&app, &ada.id).await;
    for action in ["passkey.renamed", "passkey.deleted"] {
        assert!(actions.contains(&action.to_owned()), "{actions:?}");
    }
}

#[tokio::test]
async fn user_passkeys_shows_them_to_the_user_and_user_readers_and_a_reset_removes_them() {
    let app = TestApp::spawn().await;
    let ada = app.register_verified("ada").await;
    let mut phone = Authenticator::default();
    let passkey = register(&app, &ada, &mut phone).await;
    let bob = app.register_verified("bob").await;
    let admin = app.superuser("root").await;
    const PASSKEYS: &str = "query($u: ID!) { user(id: $u) { passkeys { id name } } }";

    let own = app
        .gql(Some(&ada.access), PASSKEYS, json!({ "u": ada.id }))
        .await;
    assert_eq!(
        own["data"]["user"]["passkeys"][0]["id"], passkey["id"],
        "{own}"
    );
    let seen = app
        .gql(Some(&admin.access), PASSKEYS, json!({ "u": ada.id }))
        .await;
    assert_eq!(
        seen["data"]["user"]["passkeys"][0]["id"], passkey["id"],
        "{seen}"
    );
    let node = app
        .gql(
            Some(&bob.access),
            "query($i: ID!) { node(id: $i) { id } }",
            json!({ "i": passkey["id"] }),
        )
        .await;
    assert!(node["data"]["node"].is_null(), "{node}");
    let node = app
        .gql(
            Some(&ada.access),
            "query($i: ID!) { node(id: $i) { ... on Passkey { name } } }",
            json!({ "i": passkey["id"] }),
        )
        .await;
    assert_eq!(node["data"]["node"]["name"], "Passkey 1", "{node}");

    let body = app
        .gql(
            Some(&admin.access),
            "mutation($u: ID!) { resetUserMfa(id: $u) { id } }",
            json!({ "u": ada.id }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let own = app
        .gql(Some(&ada.access), PASSKEYS, json!({ "u": ada.id }))
        .await;
    assert_eq!(own["data"]["user"]["passkeys"], json!([]), "{own}");
    let body = sign_in(&app, &mut phone, None).await;
    bad_input(&body, "credential");
}

#[tokio::test]
async fn racing_answers_to_one_challenge_give_one_sign_in() {
    let app = TestApp::spawn().await;
    let ada = app.register_verified("ada").await;
    let mut phone = Authenticator::default();
    register(&app, &ada, &mut phone).await;
    let challenge = start(&app, None).await;
    let answer = phone.get(&challenge["options"]);
    let results =
        futures::future::join_all((0..16).map(|_| finish(&app, &challenge, &answer))).await;
    let signed_in = results
        .iter()
        .filter(|body| body["data"]["finishPasskeySignIn"]["accessToken"].is_string())
        .count();
    assert_eq!(signed_in, 1, "{results:?}");
    assert!(
        results
            .iter()
            .filter(|body| body["errors"].is_array())
            .all(|body| code(body) == "TOKEN_INVALID")
    );

    // Sixteen answers to sixteen challenges, each with its own counter
    // value, race too: each is checked against the counter in the database.
    let mut challenges = Vec::new();
    for _ in 0..16 {
        let challenge = start(&app, Some("ada")).await;
        let answer = phone.get(&challenge["options"]);
        challenges.push((challenge, answer));
    }
    // Sent newest first: a newer answer moving the counter past an older
    // one makes the older a regression, whichever replica is first.
    challenges.reverse();
    let results =
        futures::future::join_all(challenges.iter().map(|(c, a)| finish(&app, c, a))).await;
    let ok = results
        .iter()
        .filter(|body| body["errors"].is_null())
        .count();
    assert!(ok >= 1, "{results:?}");
    let counter: i64 = app.rows("SELECT sign_count FROM passkeys").await[0]
        .try_get("", "sign_count")
        .unwrap();
    assert_eq!(counter, i64::from(phone.credentials[0].counter));
}

#[tokio::test]
async fn with_passkeys_off_the_operations_say_so_and_production_needs_the_relying_party() {
    let app = TestApp::spawn_with(&[("PASSKEYS", "off")]).await;
    let body = app.gql(None, START_SIGN_IN, json!({ "l": null })).await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    assert_eq!(
        body["errors"][0]["extensions"]["reason"],
        "PASSKEYS_DISABLED"
    );

    let err = app
        .try_start_with(&[
            ("APP_ENV", "production"),
            ("PASSKEYS", "on"),
            ("WEBAUTHN_RP_ID", "example.com"),
        ])
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("WEBAUTHN_ORIGINS"), "{err:#}");
    let err = app
        .try_start_with(&[
            ("APP_ENV", "production"),
            ("PASSKEYS", "on"),
            ("WEBAUTHN_RP_ID", "example.com"),
            ("WEBAUTHN_ORIGINS", "https://evil.example"),
        ])
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("subdomain"), "{err:#}");
    let err = app
        .try_start_with(&[
            ("APP_ENV", "production"),
            ("PASSKEYS", "on"),
            ("WEBAUTHN_RP_ID", "example.com"),
            ("WEBAUTHN_ORIGINS", "http://example.com"),
        ])
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("not https"), "{err:#}");
}

#[tokio::test]
async fn a_first_proof_of_the_address_removes_passkeys_set_up_before_it() {
    let (app, sink) = TestApp::spawn_with_mail(&[]).await;
    let ada = app.register_verified("ada").await;
    let mut phone = Authenticator::default();
    register(&app, &ada, &mut phone).await;
    // As after an administrator's change of address: not proven yet.
    app.sql("UPDATE users SET email_verified_at = NULL WHERE username = 'ada'")
        .await;
    let mail = crate::sign_in_codes::request(&app, &sink, "ada@example.com").await;
    let body = app
        .gql(
            None,
            "mutation($e: String!, $c: String!) { signInWithCode(email: $e, code: $c) { accessToken } }",
            json!({ "e": "ada@example.com", "c": crate::sign_in_codes::mailed_code(&mail) }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let body = sign_in(&app, &mut phone, None).await;
    bad_input(&body, "credential");
    let stored = app
        .rows("SELECT changes FROM audit_events WHERE action = 'auth.unverified_setup_removed'")
        .await;
    assert!(
        stored.iter().any(|row| row
            .try_get::<String>("", "changes")
            .is_ok_and(|c| c.contains("passkeysRemoved"))),
        "the removal is audited"
    );
}

#[tokio::test]
async fn an_account_holds_at_most_twenty_passkeys_and_spent_challenges_are_pruned() {
    let app = TestApp::spawn().await;
    let ada = app.register_verified("ada").await;
    let mut phone = Authenticator::default();
    register(&app, &ada, &mut phone).await;
    use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
    let first = entity::passkey::Entity::find()
        .one(app.db())
        .await
        .unwrap()
        .unwrap();
    for n in 0..19 {
        let mut copy = first.clone().into_active_model();
        copy.id = Set(uuid::Uuid::now_v7());
        copy.credential_id = Set(format!("{}{n}", first.credential_id));
        copy.insert(app.db()).await.unwrap();
    }
    let body = app
        .gql(
            Some(&ada.access),
            START_REGISTRATION,
            json!({ "p": PASSWORD }),
        )
        .await;
    assert_eq!(code(&body), "CONFLICT", "{body}");

    // Used and unused challenges: the used ones go at once, the rest at expiry.
    let used = start(&app, None).await;
    let body = finish(&app, &used, &phone.get(&used["options"])).await;
    assert!(body["errors"].is_null(), "{body}");
    start(&app, None).await;
    // (The server's own pruning may have run first: count what is left.)
    usergraph::service::credentials::passkey::prune(app.db())
        .await
        .unwrap();
    assert!(
        app.rows("SELECT id FROM passkey_challenges WHERE used_at IS NOT NULL")
            .await
            .is_empty()
    );
    assert_eq!(
        app.rows("SELECT id FROM passkey_challenges").await.len(),
        1,
        "the unused challenge stays until it expires"
    );
    app.sql("UPDATE passkey_challenges SET expires_at = '2000-01-01T00:00:00Z'")
        .await;
    usergraph::service::credentials::passkey::prune(app.db())
        .await
        .unwrap();
    assert!(
        app.rows("SELECT id FROM passkey_challenges")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_ceremony_begun_on_one_replica_finishes_on_another() {
    let app = TestApp::spawn().await;
    let other = app.spawn_replica().await;
    let on_other = |token: Option<String>, query: &'static str, variables: Value| {
        let client = app.client.clone();
        let url = format!("http://{}/graphql", other.addr);
        async move {
            let mut request = client
                .post(url)
                .json(&json!({ "query": query, "variables": variables }));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send().await.unwrap().json::<Value>().await.unwrap()
        }
    };
    let ada = app.register_verified("ada").await;
    let mut phone = Authenticator::default();
    let challenge = start_registration(&app, &ada).await;
    let answer = phone.create(&challenge["options"]);
    let body = on_other(
        Some(ada.access.clone()),
        FINISH_REGISTRATION,
        json!({ "c": challenge["challengeId"], "r": answer }),
    )
    .await;
    assert!(body["errors"].is_null(), "{body}");
    let started = on_other(None, START_SIGN_IN, json!({ "l": "ada" })).await;
    let challenge = started["data"]["startPasskeySignIn"].clone();
    let body = finish(&app, &challenge, &phone.get(&challenge["options"])).await;
    assert_eq!(
        body["data"]["finishPasskeySignIn"]["user"]["id"], ada.id,
        "{body}"
    );
}
