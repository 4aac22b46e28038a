//! `me`, `updateMe` and `deleteMe`.

use serde_json::json;

use crate::helpers::{PASSWORD, REGISTER, TestApp, code, field};

const UPDATE: &str = "mutation($input: UpdateProfileInput!) { updateMe(input: $input) { username email name firstName lastName avatarUrl socialLinks { website x youtube } } }";

#[tokio::test]
async fn update_me_changes_given_fields_keeps_absent_ones_and_null_clears() {
    let app = TestApp::spawn().await;
    let ola = app.register_as("ola").await;
    let set = json!({ "input": { "firstName": "Ola", "lastName": "Nordmann", "avatarUrl": "https://example.com/a.png",
                                 "socialLinks": { "website": "https://ola.example.com", "x": "https://x.com/ola" } } });
    let first = app.gql(Some(&ola.access), UPDATE, set).await;
    assert_eq!(first["data"]["updateMe"]["name"], "Ola Nordmann", "{first}");

    let body = app
        .gql(
            Some(&ola.access),
            UPDATE,
            json!({ "input": { "lastName": null, "socialLinks": { "x": null } } }),
        )
        .await;

    assert_eq!(
        body["data"]["updateMe"],
        json!({ "username": "ola", "email": "ola@example.com", "name": "Ola", "firstName": "Ola", "lastName": null,
                "avatarUrl": "https://example.com/a.png",
                "socialLinks": { "website": "https://ola.example.com", "x": null, "youtube": null } })
    );
}

#[tokio::test]
async fn update_me_rejects_bad_values_naming_the_field_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let pam = app.register_as("pam").await;
    let cases = [
        (json!({ "username": null }), "username"),
        (json!({ "username": "x" }), "username"),
        (json!({ "email": "nope" }), "email"),
        (json!({ "avatarUrl": "javascript:alert(1)" }), "avatarUrl"),
        (
            json!({ "firstName": "Pam", "socialLinks": { "youtube": "ftp://x.io/v" } }),
            "youtube",
        ),
        (json!({ "name": "n".repeat(129) }), "name"),
    ];
    for (input, expected) in cases {
        let body = app
            .gql(Some(&pam.access), UPDATE, json!({ "input": input }))
            .await;
        assert_eq!(
            (code(&body), field(&body)),
            ("BAD_USER_INPUT", expected),
            "{input}: {body}"
        );
    }
    let me = app
        .gql(Some(&pam.access), "{ me { firstName } }", json!({}))
        .await;
    assert_eq!(me["data"]["me"]["firstName"], serde_json::Value::Null);
}

#[tokio::test]
async fn update_me_to_a_taken_email_or_username_is_a_duplicate() {
    let app = TestApp::spawn().await;
    let quinn = app.register_as("quinn").await;
    app.register_as("rosa").await;

    let email = app
        .gql(
            Some(&quinn.access),
            "mutation($input: UpdateProfileInput!, $p: String) { updateMe(input: $input, currentPassword: $p) { email } }",
            json!({ "input": { "email": "Rosa@example.com" }, "p": PASSWORD }),
        )
        .await;
    let username = app
        .gql(
            Some(&quinn.access),
            UPDATE,
            json!({ "input": { "username": "ROSA" } }),
        )
        .await;

    assert_eq!(
        (code(&email), field(&email)),
        ("DUPLICATE_EMAIL", "email"),
        "{email}"
    );
    assert_eq!(
        (code(&username), field(&username)),
        ("DUPLICATE_USERNAME", "username"),
        "{username}"
    );
}

#[tokio::test]
async fn delete_me_soft_deletes_ends_sessions_and_keeps_the_names_reserved() {
    let app = TestApp::spawn().await;
    let sam = app.register_as("sam").await;
    let delete = "mutation($p: String!) { deleteMe(password: $p) }";

    let wrong = app
        .gql(
            Some(&sam.access),
            delete,
            json!({ "p": "not-my-password-1" }),
        )
        .await;
    assert_eq!(
        (code(&wrong), field(&wrong)),
        ("BAD_USER_INPUT", "password"),
        "{wrong}"
    );
    let body = app
        .gql(Some(&sam.access), delete, json!({ "p": PASSWORD }))
        .await;

    assert_eq!(body["data"]["deleteMe"], true, "{body}");
    assert_eq!(code(&app.me(&sam.access).await), "UNAUTHENTICATED");
    assert_eq!(code(&app.refresh(&sam.refresh).await), "TOKEN_INVALID");
    let again = app
        .gql(None, REGISTER, json!({ "input": { "username": "sam", "email": "other@example.com", "password": PASSWORD } }))
        .await;
    assert_eq!(code(&again), "DUPLICATE_USERNAME", "{again}");
}

#[tokio::test]
async fn the_last_superuser_cannot_delete_themself() {
    let settings = [
        ("ADMIN_USERNAME", "root"),
        ("ADMIN_EMAIL", "root@example.com"),
        ("ADMIN_PASSWORD", PASSWORD),
    ];
    let app = TestApp::spawn_with(&settings).await;
    let login = app.login("root", PASSWORD).await;
    let token = login["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();

    let body = app
        .gql(
            Some(&token),
            "mutation($p: String!) { deleteMe(password: $p) }",
            json!({ "p": PASSWORD }),
        )
        .await;

    assert_eq!(code(&body), "CONFLICT", "{body}");
    assert_eq!(app.me(&token).await["data"]["me"]["username"], "root");
}

#[tokio::test]
async fn data_survives_a_restart() {
    let mut app = TestApp::spawn().await;
    let tom = app.register_as("tom").await;

    app.restart().await;

    let body = app.login("tom", PASSWORD).await;
    assert_eq!(
        body["data"]["login"]["user"]["id"],
        tom.id.as_str(),
        "{body}"
    );
    // Same JWT secret, same database: the old session is still valid.
    assert_eq!(app.me(&tom.access).await["data"]["me"]["username"], "tom");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_edits_of_different_fields_keep_the_search_exact() {
    let app = TestApp::spawn().await;
    let admin = app.user_with("root", &["admin"], false).await;
    let pia = app.user_with("pia", &[], false).await;
    for round in 0..10 {
        let values = [
            ("firstName", format!("first{round}q")),
            ("lastName", format!("last{round}q")),
            ("name", format!("shown{round}q")),
            ("username", format!("pia{round}q")),
        ];

        let bodies = futures::future::join_all(values.iter().map(|(field, value)| {
            app.gql(
                Some(&pia.access),
                UPDATE,
                json!({ "input": { *field: value } }),
            )
        }))
        .await;

        for body in &bodies {
            assert!(body["errors"].is_null(), "{body}");
        }
        for (field, value) in &values {
            let found = app
                .gql(
                    Some(&admin.access),
                    "query($s: String!) { users(filter: { search: $s }) { nodes { id } } }",
                    json!({ "s": value }),
                )
                .await;
            assert_eq!(
                found["data"]["users"]["nodes"][0]["id"],
                pia.id.as_str(),
                "round {round}: the new {field} is not found: {found}"
            );
        }
    }
}
