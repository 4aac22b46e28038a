//! `register`: validation, normalisation, uniqueness and the registration switch.

use serde_json::json;

use crate::helpers::{PASSWORD, REGISTER, TestApp, code, field};

#[tokio::test]
async fn register_returns_tokens_and_the_new_user_with_the_user_role() {
    let app = TestApp::spawn().await;

    let body = app
        .gql(
            None,
            REGISTER,
            json!({ "input": { "username": "  Alice ", "email": " Alice@Example.COM", "password": PASSWORD,
                              "firstName": "Alice", "lastName": "Liddell" } }),
        )
        .await;

    let payload = &body["data"]["register"];
    assert_eq!(payload["tokenType"], "Bearer", "{body}");
    assert_eq!(payload["expiresIn"], 900);
    assert!(payload["accessToken"].as_str().unwrap().split('.').count() == 3);
    assert!(payload["refreshToken"].as_str().unwrap().len() >= 43);
    let user = &payload["user"];
    assert!(user["id"].as_str().unwrap().starts_with("usr_"));
    assert_eq!(user["username"], "alice");
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["name"], "Alice Liddell");
    assert_eq!(user["roles"], json!([{ "name": "user" }]));
    assert_eq!(user["isStaff"], false);
}

#[tokio::test]
async fn register_rejects_invalid_input_naming_the_field_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let long = "n".repeat(65);
    let cases = [
        (json!({ "username": "a" }), "username"),
        (json!({ "username": "bad name" }), "username"),
        (json!({ "email": "not-an-email" }), "email"),
        (json!({ "email": "a\u{0007}b@example.com" }), "email"),
        (json!({ "password": "short" }), "password"),
        (json!({ "password": "password123" }), "password"),
        (json!({ "password": "12345678" }), "password"),
        (json!({ "password": "qwertyuiop" }), "password"),
        (json!({ "password": "carol-secret-7731" }), "password"),
        (json!({ "firstName": long }), "firstName"),
        (json!({ "name": "x".repeat(129) }), "name"),
    ];
    for (overrides, expected_field) in cases {
        let mut input =
            json!({ "username": "carol", "email": "carol@example.com", "password": PASSWORD });
        for (k, v) in overrides.as_object().unwrap() {
            input[k] = v.clone();
        }

        let body = app.gql(None, REGISTER, json!({ "input": input })).await;

        assert_eq!(code(&body), "BAD_USER_INPUT", "{input} gave {body}");
        assert_eq!(field(&body), expected_field, "{input} gave {body}");
    }
    // Nothing was written: the username is still free.
    app.register_as("carol").await;
}

#[tokio::test]
async fn register_with_a_taken_email_in_another_case_is_duplicate_email() {
    let app = TestApp::spawn().await;
    app.register_as("dave").await;

    let body = app
        .gql(None, REGISTER, json!({ "input": { "username": "dave2", "email": "DAVE@example.com", "password": PASSWORD } }))
        .await;

    assert_eq!(code(&body), "DUPLICATE_EMAIL", "{body}");
    assert_eq!(field(&body), "email");
}

#[tokio::test]
async fn register_with_a_taken_username_in_another_case_is_duplicate_username() {
    let app = TestApp::spawn().await;
    app.register_as("eric").await;

    let body = app
        .gql(None, REGISTER, json!({ "input": { "username": "ERIC", "email": "other@example.com", "password": PASSWORD } }))
        .await;

    assert_eq!(code(&body), "DUPLICATE_USERNAME", "{body}");
    assert_eq!(field(&body), "username");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_racing_registrations_with_one_email_let_exactly_one_succeed() {
    let app = TestApp::spawn().await;
    let attempt = |username: &'static str| {
        app.gql(None, REGISTER, json!({ "input": { "username": username, "email": "race@example.com", "password": PASSWORD } }))
    };

    let (first, second) = tokio::join!(attempt("racer1"), attempt("racer2"));

    let mut codes = [code(&first).to_owned(), code(&second).to_owned()];
    codes.sort();
    assert_eq!(
        codes,
        ["".to_owned(), "DUPLICATE_EMAIL".to_owned()],
        "{first} / {second}"
    );
}

#[tokio::test]
async fn register_is_forbidden_when_registration_is_disabled() {
    let app = TestApp::spawn_with(&[("REGISTRATION_ENABLED", "false")]).await;

    let body = app
        .gql(None, REGISTER, json!({ "input": { "username": "frank", "email": "frank@example.com", "password": PASSWORD } }))
        .await;

    assert_eq!(code(&body), "FORBIDDEN", "{body}");
}

#[tokio::test]
async fn the_admin_variables_bootstrap_a_superuser_once() {
    let settings = [
        ("ADMIN_USERNAME", "root"),
        ("ADMIN_EMAIL", "root@example.com"),
        ("ADMIN_PASSWORD", PASSWORD),
    ];
    let mut app = TestApp::spawn_with(&settings).await;
    app.restart().await;

    let body = app.login("root", PASSWORD).await;
    let token = body["data"]["login"]["accessToken"]
        .as_str()
        .expect("admin can log in")
        .to_owned();
    let me = app
        .gql(
            Some(&token),
            "{ me { username isSuperuser isStaff } }",
            json!({}),
        )
        .await;

    assert_eq!(
        me["data"]["me"],
        json!({ "username": "root", "isSuperuser": true, "isStaff": true })
    );
}
