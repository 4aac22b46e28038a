//! `node` and `nodes`: every type behind its own visibility rules, found
//! again by its id, and a batch of ids costs one statement per type.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, code, field};

const NODE: &str = "query($id: ID!) { node(id: $id) { __typename id } }";

async fn node(app: &TestApp, token: &str, id: &str) -> Value {
    let body = app.gql(Some(token), NODE, json!({ "id": id })).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["node"].clone()
}

/// The id of the first item of a list the caller reads.
async fn first_id(app: &TestApp, token: &str, query: &str, path: &[&str]) -> String {
    let body = app.gql(Some(token), query, json!({})).await;
    let mut at = &body["data"];
    for step in path {
        at = &at[*step];
    }
    at[0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{query}: {body}"))
        .to_owned()
}

#[tokio::test]
async fn every_type_is_found_by_its_id_and_only_by_who_may_see_it() {
    let app = TestApp::spawn_with(&[("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")]).await;
    let root = app.superuser("root").await;
    let ann = app.user_with("ann", &[], false).await;
    let bob = app.user_with("bob", &[], false).await;
    let auditor = app.user_with("aud", &["admin"], false).await;
    let key = app
        .gql(
            Some(&ann.access),
            "mutation($p: String!) { createApiKey(input: { name: \"ci\" }, password: $p) { apiKey { id } } }",
            json!({ "p": PASSWORD }),
        )
        .await["data"]["createApiKey"]["apiKey"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tier = app
        .gql(
            Some(&root.access),
            "mutation { createTier(input: { name: \"gold\" }) { id } }",
            json!({}),
        )
        .await["data"]["createTier"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let hook = app
        .gql(Some(&root.access), "mutation { createWebhook(input: { url: \"http://127.0.0.1:9/h\", events: [\"user.created\"] }) { webhook { id } } }", json!({}))
        .await["data"]["createWebhook"]["webhook"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let role = first_id(&app, &ann.access, "{ roles { id } }", &["roles"]).await;
    let session = first_id(&app, &ann.access, "{ mySessions { id } }", &["mySessions"]).await;
    // ann's own security event (her key's creation) and an administrator's event.
    let own_event = first_id(
        &app,
        &ann.access,
        "{ mySecurityEvents(first: 1) { nodes { id } } }",
        &["mySecurityEvents", "nodes"],
    )
    .await;
    let admin_event = first_id(
        &app,
        &root.access,
        "{ auditEvents(first: 1, filter: { actions: [\"webhook.created\"] }) { nodes { id } } }",
        &["auditEvents", "nodes"],
    )
    .await;

    // Each id comes back as its type, for a caller who may see it.
    for (token, id, type_name) in [
        (&ann.access, &ann.id, "User"),
        (&auditor.access, &bob.id, "User"),
        (&ann.access, &role, "Role"),
        (&ann.access, &tier, "Tier"),
        (&ann.access, &session, "Session"),
        (&ann.access, &key, "ApiKey"),
        (&auditor.access, &key, "ApiKey"),
        (&ann.access, &own_event, "AuditEvent"),
        (&auditor.access, &admin_event, "AuditEvent"),
        (&root.access, &hook, "Webhook"),
    ] {
        let found = node(&app, token, id).await;
        assert_eq!(
            found,
            json!({ "__typename": type_name, "id": id }),
            "{type_name} {id}"
        );
    }
    // And as null, exactly like an id of nothing, for one who may not.
    let nothing = "usr_0190000000007000800000000000beef";
    for (token, id) in [
        (&bob.access, &ann.id),
        (&bob.access, &session),
        (&bob.access, &key),
        (&bob.access, &own_event),
        (&ann.access, &admin_event),
        (&auditor.access, &hook),
        (&bob.access, &nothing.to_owned()),
    ] {
        assert_eq!(node(&app, token, id).await, Value::Null, "{id}");
    }
    // A revoked key and an ended session are gone for their owner too.
    app.gql(
        Some(&ann.access),
        "mutation($id: ID!) { revokeApiKey(id: $id) }",
        json!({ "id": key }),
    )
    .await;
    assert_eq!(node(&app, &ann.access, &key).await, Value::Null);
    let other = app.login("ann", PASSWORD).await["data"]["login"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    app.gql(
        Some(&other),
        "mutation($id: ID!) { revokeSession(id: $id) }",
        json!({ "id": session }),
    )
    .await;
    assert_eq!(node(&app, &other, &session).await, Value::Null);

    let not_an_id = app
        .gql(Some(&bob.access), NODE, json!({ "id": "hello" }))
        .await;
    assert_eq!(
        (code(&not_an_id), field(&not_an_id)),
        ("BAD_USER_INPUT", "id")
    );
    let anonymous = app.gql(None, NODE, json!({ "id": ann.id })).await;
    assert_eq!(code(&anonymous), "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_user_node_reads_the_fields_its_fragments_select() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let ann = app.user_with("ann", &["viewer"], false).await;
    let query = "query($id: ID!) { node(id: $id) { id ... on User { username email roles { name } tier { name } } ...F } } fragment F on User { firstName isStaff }";

    let body = app
        .gql(Some(&root.access), query, json!({ "id": ann.id }))
        .await;

    assert_eq!(
        body["data"]["node"],
        json!({ "id": ann.id, "username": "ann", "email": "ann@example.com", "roles": [{ "name": "viewer" }],
                "tier": null, "firstName": null, "isStaff": false }),
        "{body}"
    );
}

#[tokio::test]
async fn nodes_keeps_the_order_of_its_ids_and_costs_one_statement_per_type() {
    let app = TestApp::spawn().await;
    let root = app.user_with("root", &[], true).await;
    let users = app.seed_users(40, "n", None).await;
    let user_ids: Vec<String> = users
        .iter()
        .map(|id| usergraph::ids::encode(usergraph::ids::USER, *id))
        .collect();
    let roles = app
        .gql(Some(&root.access), "{ roles { id } }", json!({}))
        .await;
    let role_ids: Vec<String> = roles["data"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    let query =
        "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id ... on User { username } } }";
    let mixed = |n: usize| -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        for i in 0..n {
            ids.push(user_ids[i].clone());
            ids.push(role_ids[i % role_ids.len()].clone());
        }
        ids.push("tir_0190000000007000800000000000beef".into());
        ids
    };

    let (few, small) = app
        .count_statements(app.gql(Some(&root.access), query, json!({ "ids": mixed(2) })))
        .await;
    let (many, large) = app
        .count_statements(app.gql(Some(&root.access), query, json!({ "ids": mixed(40) })))
        .await;

    assert!(large["errors"].is_null(), "{large}");
    let found = large["data"]["nodes"].as_array().unwrap();
    assert_eq!(found.len(), 81);
    for (i, id) in mixed(40).iter().enumerate().take(80) {
        assert_eq!(found[i]["id"], json!(id));
    }
    assert_eq!(found[80], Value::Null);
    assert_eq!(small["data"]["nodes"][0]["username"], "n0000");
    assert_eq!(many, few, "statements grew with the number of ids");
    // The viewer, then one statement each for users, roles and tiers.
    assert!(many <= 4, "{many} statements");

    let too_many: Vec<String> = (0..101).map(|_| user_ids[0].clone()).collect();
    let body = app
        .gql(Some(&root.access), query, json!({ "ids": too_many }))
        .await;
    assert_eq!((code(&body), field(&body)), ("BAD_USER_INPUT", "ids"));
}

#[tokio::test]
async fn a_users_own_security_event_by_id_hides_an_administrators_address() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let ann = app.user_with("ann", &[], false).await;
    app.gql(
        Some(&root.access),
        "mutation($id: ID!) { updateUser(id: $id, input: { password: \"juniper-lantern-93\" }) { id } }",
        json!({ "id": ann.id }),
    )
    .await;
    let ann =
        crate::helpers::account(&app.login("ann", "juniper-lantern-93").await["data"]["login"])
            .unwrap();
    let history = app
        .gql(
            Some(&ann.access),
            "{ mySecurityEvents(first: 10) { nodes { id action } } }",
            json!({}),
        )
        .await;
    let event = history["data"]["mySecurityEvents"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "auth.password_changed")
        .unwrap_or_else(|| panic!("{history}"))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let query = "query($id: ID!) { node(id: $id) { ... on AuditEvent { action actorId ip userAgent requestId } } }";

    // Found by review: `node` showed what `mySecurityEvents` hides.
    let as_owner = app
        .gql(Some(&ann.access), query, json!({ "id": event }))
        .await;
    let as_root = app
        .gql(Some(&root.access), query, json!({ "id": event }))
        .await;

    let owner_view = &as_owner["data"]["node"];
    assert!(owner_view["actorId"].is_string(), "{as_owner}");
    assert_eq!(
        (
            owner_view["ip"].clone(),
            owner_view["userAgent"].clone(),
            owner_view["requestId"].clone()
        ),
        (Value::Null, Value::Null, Value::Null),
        "{as_owner}"
    );
    assert!(
        as_root["data"]["node"]["requestId"].is_string(),
        "{as_root}"
    );
}
