//! Refresh rotation and reuse detection, logout, session listing and
//! revocation, and password changes.

use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, account, code, field};

#[tokio::test]
async fn refresh_rotates_and_the_old_refresh_token_stops_working() {
    let app = TestApp::spawn().await;
    let ann = app.register_as("ann").await;

    let body = app.refresh(&ann.refresh).await;
    let rotated = account(&body["data"]["refreshToken"]).unwrap_or_else(|| panic!("{body}"));

    assert_ne!(rotated.refresh, ann.refresh);
    assert_eq!(
        app.me(&rotated.access).await["data"]["me"]["id"],
        ann.id.as_str()
    );
    // The session keeps its id across refreshes, so the first access token still works.
    assert_eq!(
        app.me(&ann.access).await["data"]["me"]["id"],
        ann.id.as_str()
    );
    let second = app.refresh(&rotated.refresh).await;
    assert!(second["data"]["refreshToken"].is_object(), "{second}");
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_session() {
    let app = TestApp::spawn().await;
    let ben = app.register_as("ben").await;
    let rotated = account(&app.refresh(&ben.refresh).await["data"]["refreshToken"]).unwrap();

    let reuse = app.refresh(&ben.refresh).await;

    assert_eq!(code(&reuse), "TOKEN_INVALID", "{reuse}");
    assert_eq!(code(&app.refresh(&rotated.refresh).await), "TOKEN_INVALID");
    assert_eq!(code(&app.me(&rotated.access).await), "UNAUTHENTICATED");
}

#[tokio::test]
async fn an_unknown_refresh_token_is_token_invalid() {
    let app = TestApp::spawn().await;

    assert_eq!(code(&app.refresh("not-a-token").await), "TOKEN_INVALID");
}

#[tokio::test]
async fn an_expired_refresh_token_is_token_expired() {
    let app = TestApp::spawn().await;
    let cat = app.register_as("cat").await;
    app.sql("UPDATE sessions SET expires_at = created_at").await;

    assert_eq!(code(&app.refresh(&cat.refresh).await), "TOKEN_EXPIRED");
}

#[tokio::test]
async fn logout_ends_the_current_session_only() {
    let app = TestApp::spawn().await;
    let dan = app.register_as("dan").await;
    let other = account(&app.login("dan", PASSWORD).await["data"]["login"]).unwrap();

    let body = app
        .gql(Some(&dan.access), "mutation { logout }", json!({}))
        .await;

    assert_eq!(body["data"]["logout"], true, "{body}");
    assert_eq!(code(&app.me(&dan.access).await), "UNAUTHENTICATED");
    assert_eq!(code(&app.refresh(&dan.refresh).await), "TOKEN_INVALID");
    assert_eq!(app.me(&other.access).await["data"]["me"]["username"], "dan");
}

#[tokio::test]
async fn logout_needs_authentication() {
    let app = TestApp::spawn().await;

    let body = app.gql(None, "mutation { logout }", json!({})).await;

    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
}

#[tokio::test]
async fn logout_all_ends_every_session_and_counts_them() {
    let app = TestApp::spawn().await;
    let eve = app.register_as("eve").await;
    let second = account(&app.login("eve", PASSWORD).await["data"]["login"]).unwrap();
    app.login("eve", PASSWORD).await;

    let body = app
        .gql(Some(&eve.access), "mutation { logoutAll }", json!({}))
        .await;

    assert_eq!(body["data"]["logoutAll"], 3, "{body}");
    assert_eq!(code(&app.me(&second.access).await), "UNAUTHENTICATED");
    assert_eq!(code(&app.refresh(&second.refresh).await), "TOKEN_INVALID");
}

#[tokio::test]
async fn my_sessions_lists_live_sessions_and_marks_the_current_one() {
    let app = TestApp::spawn().await;
    let fox = app.register_as("fox").await;
    app.login("fox", PASSWORD).await;

    let body = app
        .gql(
            Some(&fox.access),
            "{ mySessions { id current ip userAgent createdAt expiresAt } }",
            json!({}),
        )
        .await;

    let sessions = body["data"]["mySessions"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    assert!(
        sessions
            .iter()
            .all(|s| s["id"].as_str().unwrap().starts_with("ses_"))
    );
    assert_eq!(sessions[0]["ip"], "127.0.0.1");
}

#[tokio::test]
async fn revoke_session_ends_my_session_but_not_someone_elses() {
    let app = TestApp::spawn().await;
    let gil = app.register_as("gil").await;
    let gil_phone = account(&app.login("gil", PASSWORD).await["data"]["login"]).unwrap();
    let hal = app.register_as("hal").await;
    let sessions = app
        .gql(
            Some(&gil.access),
            "{ mySessions { id current } }",
            json!({}),
        )
        .await;
    let phone_id = sessions["data"]["mySessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .clone();
    let revoke = "mutation($id: ID!) { revokeSession(id: $id) }";

    let by_stranger = app
        .gql(Some(&hal.access), revoke, json!({ "id": phone_id }))
        .await;
    assert_eq!(code(&by_stranger), "NOT_FOUND", "{by_stranger}");
    let by_owner = app
        .gql(Some(&gil.access), revoke, json!({ "id": phone_id }))
        .await;

    assert_eq!(by_owner["data"]["revokeSession"], true, "{by_owner}");
    assert_eq!(code(&app.me(&gil_phone.access).await), "UNAUTHENTICATED");
    assert_eq!(app.me(&gil.access).await["data"]["me"]["username"], "gil");
    let malformed = app
        .gql(Some(&gil.access), revoke, json!({ "id": "usr_123" }))
        .await;
    assert_eq!(
        (code(&malformed), field(&malformed)),
        ("BAD_USER_INPUT", "id")
    );
}

#[tokio::test]
async fn change_password_keeps_this_session_and_ends_the_others() {
    let app = TestApp::spawn().await;
    let ivy = app.register_as("ivy").await;
    let laptop = account(&app.login("ivy", PASSWORD).await["data"]["login"]).unwrap();
    let change = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";

    let body = app
        .gql(
            Some(&ivy.access),
            change,
            json!({ "c": PASSWORD, "n": "marmalade-otter-77" }),
        )
        .await;

    assert_eq!(body["data"]["changePassword"], true, "{body}");
    assert_eq!(app.me(&ivy.access).await["data"]["me"]["username"], "ivy");
    assert_eq!(code(&app.me(&laptop.access).await), "UNAUTHENTICATED");
    assert_eq!(
        code(&app.login("ivy", PASSWORD).await),
        "INVALID_CREDENTIALS"
    );
    assert!(app.login("ivy", "marmalade-otter-77").await["data"]["login"].is_object());
}

#[tokio::test]
async fn change_password_refuses_a_wrong_current_or_a_weak_new_password() {
    let app = TestApp::spawn().await;
    let jay = app.register_as("jay").await;
    let change = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";

    let wrong = app
        .gql(
            Some(&jay.access),
            change,
            json!({ "c": "not-my-password-1", "n": "marmalade-otter-77" }),
        )
        .await;
    let weak = app
        .gql(
            Some(&jay.access),
            change,
            json!({ "c": PASSWORD, "n": "password123" }),
        )
        .await;

    assert_eq!(
        (code(&wrong), field(&wrong)),
        ("BAD_USER_INPUT", "currentPassword"),
        "{wrong}"
    );
    assert_eq!(
        (code(&weak), field(&weak)),
        ("BAD_USER_INPUT", "newPassword"),
        "{weak}"
    );
    assert!(app.login("jay", PASSWORD).await["data"]["login"].is_object());
}
