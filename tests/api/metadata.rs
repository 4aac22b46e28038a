//! `metadata` (the user's) and `appMetadata` (administrators'): who writes
//! and reads each, merges by top-level key, the 8 KiB bound, and merges
//! racing on one row.

use serde_json::{Value, json};

use crate::helpers::{TestApp, code, field};

const UPDATE_ME: &str =
    "mutation($m: JSON) { updateMe(input: { metadata: $m }) { metadata appMetadata } }";
const SET_APP: &str = "mutation($id: ID!, $m: JSON) { updateUser(id: $id, input: { appMetadata: $m }) { metadata appMetadata } }";

#[tokio::test]
async fn a_user_merges_their_own_metadata_by_top_level_key() {
    let app = TestApp::spawn().await;
    let ann = app.user_with("ann", &[], false).await;

    let first = app
        .gql(
            Some(&ann.access),
            UPDATE_ME,
            json!({ "m": { "theme": "dark", "tour": { "step": 2 } } }),
        )
        .await;
    let second = app
        .gql(
            Some(&ann.access),
            UPDATE_ME,
            json!({ "m": { "lang": "en", "theme": null } }),
        )
        .await;
    let me = app
        .gql(
            Some(&ann.access),
            "{ me { metadata appMetadata } }",
            json!({}),
        )
        .await;

    assert_eq!(
        first["data"]["updateMe"]["metadata"],
        json!({ "theme": "dark", "tour": { "step": 2 } }),
        "{first}"
    );
    assert_eq!(
        second["data"]["updateMe"]["metadata"],
        json!({ "lang": "en", "tour": { "step": 2 } })
    );
    assert_eq!(
        me["data"]["me"],
        json!({ "metadata": { "lang": "en", "tour": { "step": 2 } }, "appMetadata": {} })
    );
}

#[tokio::test]
async fn app_metadata_is_written_with_users_update_and_read_by_the_user_and_readers() {
    let app = TestApp::spawn().await;
    let admin = app.user_with("boss", &["admin"], false).await;
    let reader = app.user_with("reader", &["viewer"], false).await;
    let ann = app.user_with("ann", &[], false).await;

    let by_self = app
        .gql(
            Some(&ann.access),
            SET_APP,
            json!({ "id": ann.id, "m": { "plan": "pro" } }),
        )
        .await;
    let by_reader = app
        .gql(
            Some(&reader.access),
            SET_APP,
            json!({ "id": ann.id, "m": { "plan": "pro" } }),
        )
        .await;
    let by_admin = app
        .gql(
            Some(&admin.access),
            SET_APP,
            json!({ "id": ann.id, "m": { "plan": "pro", "seats": 5 } }),
        )
        .await;
    let merged = app
        .gql(
            Some(&admin.access),
            SET_APP,
            json!({ "id": ann.id, "m": { "seats": null, "org": "acme" } }),
        )
        .await;
    let seen_by_self = app
        .gql(Some(&ann.access), "{ me { appMetadata } }", json!({}))
        .await;
    let seen_by_reader = app
        .gql(
            Some(&reader.access),
            "query($id: ID!) { user(id: $id) { appMetadata } }",
            json!({ "id": ann.id }),
        )
        .await;
    let audit = app
        .gql(Some(&admin.access), "query($id: ID!) { auditEvents(first: 1, filter: { targetId: $id, actions: [\"user.updated\"] }) { nodes { changes } } }", json!({ "id": ann.id }))
        .await;

    assert_eq!(code(&by_self), "FORBIDDEN");
    assert_eq!(code(&by_reader), "FORBIDDEN");
    assert_eq!(
        by_admin["data"]["updateUser"]["appMetadata"],
        json!({ "plan": "pro", "seats": 5 }),
        "{by_admin}"
    );
    assert_eq!(
        merged["data"]["updateUser"]["appMetadata"],
        json!({ "plan": "pro", "org": "acme" })
    );
    assert_eq!(
        seen_by_self["data"]["me"]["appMetadata"],
        json!({ "plan": "pro", "org": "acme" })
    );
    assert_eq!(
        seen_by_reader["data"]["user"]["appMetadata"],
        json!({ "plan": "pro", "org": "acme" })
    );
    assert_eq!(
        audit["data"]["auditEvents"]["nodes"][0]["changes"]["appMetadata"],
        json!({ "old": { "plan": "pro", "seats": 5 }, "new": { "plan": "pro", "org": "acme" } }),
        "{audit}"
    );
}

#[tokio::test]
async fn metadata_is_a_json_object_of_at_most_8_kib_and_a_refusal_writes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.user_with("boss", &["admin"], false).await;
    let ann = app.user_with("ann", &[], false).await;
    let half = "x".repeat(4100);
    let create =
        "mutation($input: CreateUserInput!) { createUser(input: $input) { metadata appMetadata } }";

    let not_object = app
        .gql(Some(&ann.access), UPDATE_ME, json!({ "m": ["a"] }))
        .await;
    let too_big = app
        .gql(
            Some(&ann.access),
            UPDATE_ME,
            json!({ "m": { "a": "x".repeat(8200) } }),
        )
        .await;
    let fits = app
        .gql(Some(&ann.access), UPDATE_ME, json!({ "m": { "a": half } }))
        .await;
    // Each half fits; merged they do not.
    let merged_too_big = app
        .gql(Some(&ann.access), "mutation($m: JSON) { updateMe(input: { metadata: $m, firstName: \"Changed\" }) { id } }", json!({ "m": { "b": half } }))
        .await;
    let app_too_big = app
        .gql(
            Some(&admin.access),
            SET_APP,
            json!({ "id": ann.id, "m": { "a": "x".repeat(8200) } }),
        )
        .await;
    let created = app
        .gql(Some(&admin.access), create, json!({ "input": { "email": "c@example.com", "password": crate::helpers::PASSWORD, "metadata": { "k": 1 }, "appMetadata": { "plan": "free" } } }))
        .await;
    let created_bad = app
        .gql(Some(&admin.access), create, json!({ "input": { "email": "d@example.com", "password": crate::helpers::PASSWORD, "appMetadata": 3 } }))
        .await;
    let me = app
        .gql(
            Some(&ann.access),
            "{ me { firstName metadata } }",
            json!({}),
        )
        .await;

    assert_eq!(
        (code(&not_object), field(&not_object)),
        ("BAD_USER_INPUT", "metadata")
    );
    assert_eq!(
        (code(&too_big), field(&too_big)),
        ("BAD_USER_INPUT", "metadata")
    );
    assert!(fits["errors"].is_null(), "{fits}");
    assert_eq!(
        (code(&merged_too_big), field(&merged_too_big)),
        ("BAD_USER_INPUT", "metadata")
    );
    assert_eq!(
        (code(&app_too_big), field(&app_too_big)),
        ("BAD_USER_INPUT", "appMetadata")
    );
    assert_eq!(
        created["data"]["createUser"],
        json!({ "metadata": { "k": 1 }, "appMetadata": { "plan": "free" } }),
        "{created}"
    );
    assert_eq!(
        (code(&created_bad), field(&created_bad)),
        ("BAD_USER_INPUT", "appMetadata")
    );
    assert_eq!(
        me["data"]["me"]["firstName"],
        Value::Null,
        "a refused merge changed the profile"
    );
    assert_eq!(me["data"]["me"]["metadata"], json!({ "a": half }));
}

#[tokio::test]
async fn merges_of_different_keys_racing_on_one_user_all_stay() {
    let app = TestApp::spawn().await;
    let ann = app.user_with("ann", &[], false).await;

    let merges = (0..12).map(|i| {
        let (app, token) = (&app, ann.access.clone());
        async move {
            app.gql(
                Some(&token),
                UPDATE_ME,
                json!({ "m": { format!("k{i}"): i } }),
            )
            .await
        }
    });
    let answers = futures::future::join_all(merges).await;

    for body in &answers {
        assert!(body["errors"].is_null(), "{body}");
    }
    let me = app
        .gql(Some(&ann.access), "{ me { metadata } }", json!({}))
        .await;
    let expected: serde_json::Map<String, Value> =
        (0..12).map(|i| (format!("k{i}"), json!(i))).collect();
    assert_eq!(me["data"]["me"]["metadata"], Value::Object(expected));
}

#[tokio::test]
async fn metadata_refuses_control_characters_deep_nesting_and_empty_keys() {
    let app = TestApp::spawn().await;
    let ann = app.user_with("ann", &[], false).await;
    let mut deep = json!(1);
    for _ in 0..40 {
        deep = json!([deep]);
    }

    // Found by review: these were stored (a NUL key, a bell in a value), or
    // stored and then unreadable (128 levels).
    for bad in [
        json!({ "nul\u{0}": 1 }),
        json!({ "v": "\u{7}bell" }),
        json!({ "list": [{ "x": "\u{1b}[31m" }] }),
        json!({ "": 1 }),
        json!({ "deep": deep }),
    ] {
        let body = app
            .gql(Some(&ann.access), UPDATE_ME, json!({ "m": bad }))
            .await;
        assert_eq!(
            (code(&body), field(&body)),
            ("BAD_USER_INPUT", "metadata"),
            "{bad}: {body}"
        );
    }
    let me = app
        .gql(Some(&ann.access), "{ me { metadata } }", json!({}))
        .await;
    assert_eq!(me["data"]["me"]["metadata"], json!({}));
}
