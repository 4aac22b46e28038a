//! `login`: credentials, uniform failures, disabled accounts and lockout.

use futures::future::join_all;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, code};

#[tokio::test]
async fn login_works_with_the_username_or_the_email_and_records_the_time() {
    let app = TestApp::spawn().await;
    let alice = app.register_as("alice").await;

    let by_name = app.login("ALICE", PASSWORD).await;
    let by_email = app.login(" alice@EXAMPLE.com ", PASSWORD).await;

    assert_eq!(
        by_name["data"]["login"]["user"]["id"],
        alice.id.as_str(),
        "{by_name}"
    );
    assert_eq!(
        by_email["data"]["login"]["user"]["id"],
        alice.id.as_str(),
        "{by_email}"
    );
    assert!(by_email["data"]["login"]["user"]["lastLoginAt"].is_string());
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_give_the_same_error() {
    let app = TestApp::spawn().await;
    app.register_as("bob").await;

    let wrong = app.login("bob", "not-the-password-9").await;
    let unknown = app.login("nobody", "not-the-password-9").await;

    assert_eq!(code(&wrong), "INVALID_CREDENTIALS");
    assert_eq!(
        wrong["errors"][0]["message"],
        unknown["errors"][0]["message"]
    );
    assert_eq!(code(&unknown), "INVALID_CREDENTIALS");
}

#[tokio::test]
async fn a_suspended_user_with_the_right_password_is_account_disabled() {
    let app = TestApp::spawn().await;
    app.register_as("carl").await;
    app.sql("UPDATE users SET status = 'suspended' WHERE username = 'carl'")
        .await;

    let body = app.login("carl", PASSWORD).await;

    assert_eq!(code(&body), "ACCOUNT_DISABLED", "{body}");
}

#[tokio::test]
async fn five_failures_lock_the_account_even_for_the_right_password() {
    let app = TestApp::spawn().await;
    app.register_as("dora").await;

    for attempt in 1..=5 {
        let body = app.login("dora", "wrong-password-xyz").await;
        assert_eq!(
            code(&body),
            "INVALID_CREDENTIALS",
            "attempt {attempt}: {body}"
        );
    }
    let checked = app.ctx.hasher.real_verifications();
    let locked = app.login("dora", PASSWORD).await;

    // Locked looks exactly like a wrong password, and the hash is not checked.
    assert_eq!(code(&locked), "INVALID_CREDENTIALS", "{locked}");
    assert_eq!(app.ctx.hasher.real_verifications(), checked);
}

#[tokio::test]
async fn a_lock_expires_and_a_success_resets_the_count() {
    let app = TestApp::spawn_with(&[
        ("LOGIN_LOCKOUT_THRESHOLD", "2"),
        ("LOGIN_LOCKOUT_SECS", "1"),
    ])
    .await;
    app.register_as("emil").await;
    app.login("emil", "wrong-password-xyz").await;
    app.login("emil", "wrong-password-xyz").await;
    assert_eq!(
        code(&app.login("emil", PASSWORD).await),
        "INVALID_CREDENTIALS"
    );

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let after_expiry = app.login("emil", PASSWORD).await;
    assert!(after_expiry["data"]["login"].is_object(), "{after_expiry}");

    // The success reset the count: one more failure does not lock.
    app.login("emil", "wrong-password-xyz").await;
    let again = app.login("emil", PASSWORD).await;
    assert!(again["data"]["login"].is_object(), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_wrong_passwords_check_the_hash_no_more_than_the_threshold() {
    let app = TestApp::spawn().await;
    app.register_as("fay").await;
    let checked = app.ctx.hasher.real_verifications();

    let bodies = join_all((0..50).map(|_| app.login("fay", "wrong-password-xyz"))).await;

    assert!(
        bodies.iter().all(|b| code(b) == "INVALID_CREDENTIALS"),
        "{bodies:?}"
    );
    assert_eq!(app.ctx.hasher.real_verifications() - checked, 5);
    assert_eq!(
        code(&app.login("fay", PASSWORD).await),
        "INVALID_CREDENTIALS",
        "locked"
    );
    assert_eq!(app.ctx.hasher.real_verifications() - checked, 5);
}

#[tokio::test]
async fn a_soft_deleted_user_cannot_log_in() {
    let app = TestApp::spawn().await;
    let gus = app.register_as("gus").await;
    let deleted = app
        .gql(
            Some(&gus.access),
            "mutation($p: String!) { deleteMe(password: $p) }",
            json!({ "p": PASSWORD }),
        )
        .await;
    assert_eq!(deleted["data"]["deleteMe"], true, "{deleted}");

    let body = app.login("gus", PASSWORD).await;

    assert_eq!(code(&body), "INVALID_CREDENTIALS", "{body}");
}
