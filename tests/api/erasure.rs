//! Letting people out: `exportMyData`, `deleteMe(erase: true)` and
//! `eraseUser`. Erasure is checked where values hide: the user row, the
//! audit trail, mail in the outbox and webhook messages still queued.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, code};

const ERASE_ME: &str = "mutation($p: String!) { deleteMe(password: $p, erase: true) }";

/// Every text of the tables a person's values could hide in.
async fn traces(app: &TestApp) -> String {
    let mut all = String::new();
    for (table, columns) in [
        (
            "users",
            "username, email, COALESCE(first_name, ''), COALESCE(display_name, '')",
        ),
        (
            "audit_events",
            "COALESCE(changes, ''), COALESCE(ip, ''), COALESCE(user_agent, '')",
        ),
        ("outbox", "recipient, payload"),
    ] {
        for row in app.rows(&format!("SELECT {columns} FROM {table}")).await {
            for i in 0..4 {
                if let Ok(text) = row.try_get_by_index::<String>(i) {
                    all.push_str(&text);
                    all.push('\n');
                }
            }
        }
    }
    all
}

#[tokio::test]
async fn an_erased_account_leaves_no_value_behind_and_its_id_still_joins() {
    let mut app = TestApp::spawn_with(&[("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")]).await;
    let root = app.superuser("root").await;
    // A webhook nobody answers: its messages stay queued.
    let hook = app
        .gql(
            Some(&root.access),
            "mutation { createWebhook(input: { url: \"http://127.0.0.1:9/hook\", events: [\"user.*\", \"auth.*\"] }) { webhook { id } } }",
            json!({}),
        )
        .await;
    assert!(hook["errors"].is_null(), "{hook}");
    app.stop_background().await;
    let ann = app.register_verified("annabelle").await;
    let body = app
        .gql(
            Some(&ann.access),
            "mutation($m: JSON) { updateMe(input: { firstName: \"Annabelle\", lastName: \"Quixote\", metadata: $m }) { id } }",
            json!({ "m": { "city": "Lisbon-by-the-sea" } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    app.gql(
        None,
        "mutation { requestPasswordReset(email: \"annabelle@example.com\") }",
        json!({}),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let before = traces(&app).await;
    for value in ["annabelle@example.com", "Quixote"] {
        assert!(before.contains(value), "the setup holds {value}");
    }

    let body = app
        .gql(Some(&ann.access), ERASE_ME, json!({ "p": PASSWORD }))
        .await;
    assert_eq!(body["data"]["deleteMe"], true, "{body}");

    let after = traces(&app).await;
    for value in [
        "annabelle@example.com",
        "annabelle\"",
        "Annabelle",
        "Quixote",
        "Lisbon-by-the-sea",
    ] {
        assert!(!after.contains(value), "{value} is left in:\n{after}");
    }
    // The id still joins: the trail about the user is there, and says so.
    let events = app
        .gql(
            Some(&root.access),
            "query($u: ID!) { auditEvents(first: 50, filter: { targetId: $u }) { nodes { action changes } } }",
            json!({ "u": ann.id }),
        )
        .await;
    let actions: Vec<&str> = events["data"]["auditEvents"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"user.erased") && actions.contains(&"user.registered"),
        "{events}"
    );
    // The username and email are free again.
    let again = app.register_as("annabelle").await;
    assert_ne!(again.id, ann.id);
    // The old token is dead.
    assert_eq!(code(&app.me(&ann.access).await), "UNAUTHENTICATED");
    // And an erased user cannot be restored.
    let body = app
        .gql(
            Some(&root.access),
            "mutation($u: ID!) { restoreUser(id: $u) { id } }",
            json!({ "u": ann.id }),
        )
        .await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
}

#[tokio::test]
async fn erase_user_needs_users_delete_spares_superusers_and_keeps_the_last_one() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let target = app.register_verified("target").await;
    let plain = app.register_verified("plain").await;
    const ERASE: &str = "mutation($u: ID!) { eraseUser(id: $u) }";
    let body = app
        .gql(Some(&plain.access), ERASE, json!({ "u": target.id }))
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let admin = app.user_with("helpdesk", &["admin"], false).await;
    let body = app
        .gql(Some(&admin.access), ERASE, json!({ "u": root.id }))
        .await;
    assert_eq!(
        code(&body),
        "FORBIDDEN",
        "an administrator never erases a superuser: {body}"
    );
    let body = app
        .gql(Some(&admin.access), ERASE, json!({ "u": target.id }))
        .await;
    assert_eq!(body["data"]["eraseUser"], true, "{body}");
    let body = app
        .gql(Some(&admin.access), ERASE, json!({ "u": target.id }))
        .await;
    assert_eq!(
        body["data"]["eraseUser"], true,
        "erasing twice does nothing: {body}"
    );
    let body = app
        .gql(Some(&root.access), ERASE, json!({ "u": root.id }))
        .await;
    assert_eq!(code(&body), "CONFLICT", "the last superuser stays: {body}");
    let row = app
        .gql(
            Some(&root.access),
            "query($u: ID!) { user(id: $u) { username email firstName deletedAt } }",
            json!({ "u": target.id }),
        )
        .await;
    let user = &row["data"]["user"];
    assert!(user["username"].as_str().unwrap().starts_with('~'), "{row}");
    assert!(
        user["email"].as_str().unwrap().ends_with("@erased.invalid"),
        "{row}"
    );
    assert!(user["deletedAt"].is_string(), "{row}");
}

#[tokio::test]
async fn export_my_data_holds_what_is_kept_about_the_caller_and_no_secret() {
    let app = TestApp::spawn().await;
    let ann = app.register_verified("ann").await;
    let key = app
        .gql(
            Some(&ann.access),
            "mutation($p: String!) { createApiKey(input: { name: \"ci\" }, password: $p) { secret } }",
            json!({ "p": PASSWORD }),
        )
        .await;
    let secret = key["data"]["createApiKey"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = app
        .gql(Some(&ann.access), "{ exportMyData }", json!({}))
        .await;
    let data = &body["data"]["exportMyData"];
    assert_eq!(data["user"]["username"], "ann", "{body}");
    assert_eq!(data["user"]["email"], "ann@example.com");
    assert_eq!(data["user"]["roles"], json!(["user"]));
    assert_eq!(data["apiKeys"][0]["name"], "ci");
    assert!(
        data["sessions"].as_array().is_some_and(|s| !s.is_empty()),
        "{body}"
    );
    assert!(
        data["securityEvents"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "api_key.created"),
        "{body}"
    );
    let text = data.to_string();
    for secret_part in [&secret[..], "argon2", "refresh", "password_hash", "secret"] {
        assert!(!text.contains(secret_part), "{secret_part} in {text}");
    }
    let body = app.gql(Some(&secret), "{ exportMyData }", json!({})).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let _: &Value = data;
}

#[tokio::test]
async fn erasure_deletes_mail_to_a_pending_new_address_and_its_event_keeps_no_address() {
    let mut app = TestApp::spawn().await;
    let ann = app.register_verified("ann").await;
    app.stop_background().await;
    let body = app
        .gql(
            Some(&ann.access),
            "mutation($p: String!) { requestEmailChange(newEmail: \"ann.new@example.org\", password: $p) }",
            json!({ "p": PASSWORD }),
        )
        .await;
    assert_eq!(body["data"]["requestEmailChange"], true, "{body}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(traces(&app).await.contains("ann.new@example.org"));
    let body = app
        .gql(Some(&ann.access), ERASE_ME, json!({ "p": PASSWORD }))
        .await;
    assert_eq!(body["data"]["deleteMe"], true, "{body}");
    let after = traces(&app).await;
    assert!(!after.contains("ann.new@example.org"), "{after}");
    let erased = app
        .rows("SELECT ip FROM audit_events WHERE action = 'user.erased'")
        .await;
    assert_eq!(erased.len(), 1);
    assert!(
        erased[0]
            .try_get::<Option<String>>("", "ip")
            .unwrap()
            .is_none()
    );
}
