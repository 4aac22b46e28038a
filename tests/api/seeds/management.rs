//! Seed 4, the user-management API's `/v1/users`: one `role` and a
//! `status` per user, `page`/`limit` (at most 100) with `role`, `status`
//! and `search`, a create without a username, and its error objects.

use serde_json::json;

use super::{call, carries};
use crate::helpers::{PASSWORD, TestApp, code, field};

const USER: &str = "id name email roles { name } status avatarUrl createdAt updatedAt";

#[tokio::test]
async fn the_user_management_api_maps_call_by_call() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let t = &root.access;

    // POST /v1/users {name, email, role, password}
    let create =
        format!("mutation($i: CreateUserInput!) {{ createUser(input: $i) {{ {USER} username }} }}");
    let jane = call(&app, t, &create, json!({ "i": { "name": "Jane Smith", "email": "jane@example.com", "roleNames": ["user"], "password": PASSWORD } })).await;
    assert_eq!(
        (
            jane["name"].as_str(),
            jane["status"].as_str(),
            jane["username"].as_str()
        ),
        (Some("Jane Smith"), Some("ACTIVE"), Some("jane"))
    );
    assert_eq!(jane["roles"], json!([{ "name": "user" }]));
    carries(&jane, &["id", "email", "createdAt", "updatedAt"]);
    let john = call(&app, t, &create, json!({ "i": { "name": "John Doe", "email": "john@example.com", "roleNames": ["admin"], "password": PASSWORD,
        "avatarUrl": "https://example.com/avatars/john.jpg" } })).await;
    call(&app, t, &create, json!({ "i": { "name": "Sus Pended", "email": "sus@example.com", "roleNames": ["admin"], "password": PASSWORD, "status": "SUSPENDED" } })).await;

    // GET /v1/users?page=1&limit=20&role=admin (&status=, &search=)
    let admins = call(&app, t, &format!("{{ users(page: 1, first: 20, filter: {{ role: \"admin\" }}) {{ nodes {{ {USER} }} currentPage totalCount totalPages }} }}"), json!({})).await;
    assert_eq!(
        (
            admins["currentPage"].as_i64(),
            admins["totalCount"].as_i64(),
            admins["totalPages"].as_i64()
        ),
        (Some(1), Some(2), Some(1))
    );
    let active_admins = call(
        &app,
        t,
        "{ users(filter: { role: \"admin\", status: ACTIVE, search: \"doe\" }) { nodes { id } } }",
        json!({}),
    )
    .await;
    assert_eq!(active_admins["nodes"], json!([{ "id": john["id"] }]));
    let too_big = app
        .gql(Some(t), "{ users(first: 101) { nodes { id } } }", json!({}))
        .await;
    assert_eq!(
        (code(&too_big), field(&too_big)),
        ("BAD_USER_INPUT", "first")
    );

    // GET /v1/users/{user_id}
    let got = call(
        &app,
        t,
        &format!("query($id: ID!) {{ user(id: $id) {{ {USER} }} }}"),
        json!({ "id": john["id"] }),
    )
    .await;
    assert_eq!(got["avatarUrl"], "https://example.com/avatars/john.jpg");

    // PATCH /v1/users/{user_id} {name, role}
    let patched = call(&app, t, &format!("mutation($id: ID!) {{ updateUser(id: $id, input: {{ name: \"John Smith\", roleNames: [\"admin\"] }}) {{ {USER} }} }}"), json!({ "id": jane["id"] })).await;
    assert_eq!(
        (patched["name"].as_str(), patched["roles"].clone()),
        (Some("John Smith"), json!([{ "name": "admin" }]))
    );

    // Errors: 400 invalid_request on `email`, 409 duplicate_email, 404 not_found.
    let invalid = app
        .gql(
            Some(t),
            &create,
            json!({ "i": { "name": "X", "email": "not-an-email", "password": PASSWORD } }),
        )
        .await;
    assert_eq!(
        (code(&invalid), field(&invalid)),
        ("BAD_USER_INPUT", "email")
    );
    let duplicate = app
        .gql(
            Some(t),
            &create,
            json!({ "i": { "name": "X", "email": "JANE@example.com", "password": PASSWORD } }),
        )
        .await;
    assert_eq!(
        (code(&duplicate), field(&duplicate)),
        ("DUPLICATE_EMAIL", "email")
    );
    let missing = "usr_0190000000007000800000000000beef";
    assert!(
        call(
            &app,
            t,
            "query($id: ID!) { user(id: $id) { id } }",
            json!({ "id": missing })
        )
        .await
        .is_null()
    );
    let not_found = app
        .gql(
            Some(t),
            "mutation($id: ID!) { updateUser(id: $id, input: { name: \"X\" }) { id } }",
            json!({ "id": missing }),
        )
        .await;
    assert_eq!(code(&not_found), "NOT_FOUND");

    // DELETE /v1/users/{user_id}: "permanently".
    assert_eq!(
        call(
            &app,
            t,
            "mutation($id: ID!) { hardDeleteUser(id: $id) }",
            json!({ "id": jane["id"] })
        )
        .await,
        true
    );
    assert!(
        call(
            &app,
            t,
            "query($id: ID!) { user(id: $id) { id } }",
            json!({ "id": jane["id"] })
        )
        .await
        .is_null()
    );
}
