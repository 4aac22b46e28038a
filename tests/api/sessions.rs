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

// Support tools (#33): a user's sessions, ending them, and the lockout.

#[tokio::test]
async fn logout_others_ends_every_session_but_the_current_one() {
    let app = TestApp::spawn().await;
    let ada = app.register_as("ada").await;
    let laptop = account(&app.login("ada", PASSWORD).await["data"]["login"]).unwrap();
    let phone = account(&app.login("ada", PASSWORD).await["data"]["login"]).unwrap();
    let body = app
        .gql(Some(&laptop.access), "mutation { logoutOthers }", json!({}))
        .await;
    assert_eq!(body["data"]["logoutOthers"], 2, "{body}");
    assert!(app.refresh(&phone.refresh).await["errors"].is_array());
    assert!(app.refresh(&ada.refresh).await["errors"].is_array());
    let kept = app.refresh(&laptop.refresh).await;
    assert!(
        kept["data"]["refreshToken"]["accessToken"].is_string(),
        "{kept}"
    );
}

#[tokio::test]
async fn an_administrator_lists_and_ends_a_users_sessions_but_not_a_superusers() {
    let app = TestApp::spawn().await;
    let admin = app.user_with("boss", &["admin"], false).await;
    let ada = app.register_as("ada").await;
    let root = app.superuser("root").await;
    const SESSIONS: &str = "query($id: ID!) { user(id: $id) { sessions { id current ip } } }";
    let listed = app
        .gql(Some(&admin.access), SESSIONS, json!({ "id": ada.id }))
        .await;
    assert_eq!(
        listed["data"]["user"]["sessions"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    assert_eq!(listed["data"]["user"]["sessions"][0]["current"], false);
    let own = app
        .gql(Some(&ada.access), SESSIONS, json!({ "id": ada.id }))
        .await;
    assert_eq!(own["data"]["user"]["sessions"][0]["current"], true, "{own}");
    const REVOKE: &str = "mutation($id: ID!) { revokeUserSessions(id: $id) }";
    let body = app
        .gql(Some(&admin.access), REVOKE, json!({ "id": ada.id }))
        .await;
    assert_eq!(body["data"]["revokeUserSessions"], 1, "{body}");
    let gone = app.gql(Some(&ada.access), "{ me { id } }", json!({})).await;
    assert_eq!(code(&gone), "UNAUTHENTICATED", "{gone}");
    let body = app
        .gql(Some(&admin.access), REVOKE, json!({ "id": root.id }))
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let trail = app
        .gql(Some(&admin.access), "query($id: ID!) { auditEvents(filter: { targetId: $id, actions: [\"session.revoked\"] }) { nodes { actorId changes } } }", json!({ "id": ada.id }))
        .await;
    assert_eq!(
        trail["data"]["auditEvents"]["nodes"][0]["actorId"],
        admin.id.as_str(),
        "{trail}"
    );
}

#[tokio::test]
async fn unlock_user_lets_a_locked_out_user_sign_in_at_once() {
    let app = TestApp::spawn_with(&[("LOGIN_LOCKOUT_THRESHOLD", "2")]).await;
    let admin = app.user_with("boss", &["admin"], false).await;
    let ada = app.register_as("ada").await;
    for _ in 0..3 {
        app.login("ada", "not-the-password-1").await;
    }
    let refused = app.login("ada", PASSWORD).await;
    assert_eq!(code(&refused), "INVALID_CREDENTIALS", "{refused}");
    let body = app
        .gql(
            Some(&admin.access),
            "mutation($id: ID!) { unlockUser(id: $id) { id } }",
            json!({ "id": ada.id }),
        )
        .await;
    assert_eq!(body["data"]["unlockUser"]["id"], ada.id.as_str(), "{body}");
    let back = app.login("ada", PASSWORD).await;
    assert!(back["data"]["login"]["accessToken"].is_string(), "{back}");
    let plain = app.register_as("max").await;
    let body = app
        .gql(
            Some(&plain.access),
            "mutation($id: ID!) { unlockUser(id: $id) { id } }",
            json!({ "id": ada.id }),
        )
        .await;
    assert_eq!((code(&body), field(&body)), ("FORBIDDEN", ""), "{body}");
}
