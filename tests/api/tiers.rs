//! Tiers: superuser management, `setUserTier`, `User.tier` and `userTier`.

use serde_json::{Value, json};

use crate::helpers::{TestApp, code, field};

const CREATE: &str =
    "mutation($input: CreateTierInput!) { createTier(input: $input) { id name description } }";
const SET: &str =
    "mutation($id: ID!, $tier: ID) { setUserTier(id: $id, tierId: $tier) { id tier { name } } }";

async fn create_tier(app: &TestApp, token: &str, name: &str) -> String {
    let body = app
        .gql(Some(token), CREATE, json!({ "input": { "name": name } }))
        .await;
    body["data"]["createTier"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned()
}

#[tokio::test]
async fn a_superuser_manages_tiers_and_users_list_them() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let gia = app.register_as("gia").await;

    let pro = create_tier(&app, &root.access, "Pro").await;
    create_tier(&app, &root.access, "Free").await;
    let update = "mutation($id: ID!, $input: UpdateTierInput!) { updateTier(id: $id, input: $input) { name description } }";
    let updated = app
        .gql(
            Some(&root.access),
            update,
            json!({ "id": pro, "input": { "description": "Paid plan" } }),
        )
        .await;

    assert_eq!(
        updated["data"]["updateTier"],
        json!({ "name": "Pro", "description": "Paid plan" })
    );
    let list = app
        .gql(Some(&gia.access), "{ tiers { name } }", json!({}))
        .await;
    assert_eq!(
        list["data"]["tiers"],
        json!([{ "name": "Free" }, { "name": "Pro" }])
    );
    let one = app
        .gql(
            Some(&gia.access),
            "query($id: ID!) { tier(id: $id) { name } }",
            json!({ "id": pro }),
        )
        .await;
    assert_eq!(one["data"]["tier"]["name"], "Pro");
    let duplicate = app
        .gql(
            Some(&root.access),
            CREATE,
            json!({ "input": { "name": "Pro" } }),
        )
        .await;
    assert_eq!(code(&duplicate), "CONFLICT");
}

#[tokio::test]
async fn tier_management_is_for_superusers_only() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let hal = app.register_as("hal").await;
    let admin_id = app.role_id(&root.access, "admin").await;
    app.set_roles(&root.access, &hal.id, &[&admin_id]).await;
    let pro = create_tier(&app, &root.access, "Pro").await;

    let create = app
        .gql(
            Some(&hal.access),
            CREATE,
            json!({ "input": { "name": "Gold" } }),
        )
        .await;
    let set = app
        .gql(Some(&hal.access), SET, json!({ "id": hal.id, "tier": pro }))
        .await;
    let delete = app
        .gql(
            Some(&hal.access),
            "mutation($id: ID!) { deleteTier(id: $id) }",
            json!({ "id": pro }),
        )
        .await;

    for body in [create, set, delete] {
        assert_eq!(code(&body), "FORBIDDEN", "{body}");
    }
}

#[tokio::test]
async fn set_user_tier_sets_and_null_clears() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let ike = app.register_as("ike").await;
    let pro = create_tier(&app, &root.access, "Pro").await;

    let set = app
        .gql(
            Some(&root.access),
            SET,
            json!({ "id": ike.id, "tier": pro }),
        )
        .await;
    assert_eq!(set["data"]["setUserTier"]["tier"]["name"], "Pro", "{set}");
    let me = app
        .gql(Some(&ike.access), "{ me { tier { name } } }", json!({}))
        .await;
    assert_eq!(me["data"]["me"]["tier"]["name"], "Pro");

    let cleared = app
        .gql(
            Some(&root.access),
            SET,
            json!({ "id": ike.id, "tier": null }),
        )
        .await;
    assert_eq!(
        cleared["data"]["setUserTier"]["tier"],
        Value::Null,
        "{cleared}"
    );
    let unknown = app
        .gql(
            Some(&root.access),
            SET,
            json!({ "id": ike.id, "tier": "tir_0190000000007000800000000000beef" }),
        )
        .await;
    assert_eq!(code(&unknown), "NOT_FOUND", "{unknown}");
    let malformed = app
        .gql(
            Some(&root.access),
            SET,
            json!({ "id": ike.id, "tier": "rol_1" }),
        )
        .await;
    assert_eq!(
        (code(&malformed), field(&malformed)),
        ("BAD_USER_INPUT", "tierId")
    );
}

#[tokio::test]
async fn deleting_a_tier_in_use_is_a_conflict() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let jo = app.register_as("jo").await;
    let pro = create_tier(&app, &root.access, "Pro").await;
    app.gql(Some(&root.access), SET, json!({ "id": jo.id, "tier": pro }))
        .await;
    let delete = "mutation($id: ID!) { deleteTier(id: $id) }";

    let in_use = app
        .gql(Some(&root.access), delete, json!({ "id": pro }))
        .await;
    app.gql(
        Some(&root.access),
        SET,
        json!({ "id": jo.id, "tier": null }),
    )
    .await;
    let unused = app
        .gql(Some(&root.access), delete, json!({ "id": pro }))
        .await;

    assert_eq!(code(&in_use), "CONFLICT", "{in_use}");
    assert_eq!(unused["data"]["deleteTier"], true, "{unused}");
}

#[tokio::test]
async fn user_tier_is_for_the_user_themself_or_users_read() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let kai = app.register_as("kai").await;
    let lou = app.register_as("lou").await;
    let pro = create_tier(&app, &root.access, "Pro").await;
    app.gql(
        Some(&root.access),
        SET,
        json!({ "id": kai.id, "tier": pro }),
    )
    .await;
    let query = "query($u: String!) { userTier(username: $u) { name } }";

    let own = app
        .gql(Some(&kai.access), query, json!({ "u": "KAI" }))
        .await;
    let other = app
        .gql(Some(&lou.access), query, json!({ "u": "kai" }))
        .await;
    let by_root = app
        .gql(Some(&root.access), query, json!({ "u": "kai" }))
        .await;
    let unknown = app
        .gql(Some(&root.access), query, json!({ "u": "nobody" }))
        .await;

    assert_eq!(own["data"]["userTier"]["name"], "Pro", "{own}");
    assert_eq!(code(&other), "NOT_FOUND", "{other}");
    assert_eq!(by_root["data"]["userTier"]["name"], "Pro");
    assert_eq!(unknown["data"]["userTier"], Value::Null);
}
