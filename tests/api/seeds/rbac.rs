//! Seed 2, the FastAPI RBAC API's `/api/v1/users`: users without usernames,
//! created and updated with `role_ids`, listed with `page`, `limit` and
//! `search` and a `pagination` block.

use serde_json::json;

use super::{call, carries};
use crate::helpers::{PASSWORD, TestApp};

const USER: &str = "id email firstName lastName isActive roles { id name } createdAt updatedAt";

#[tokio::test]
async fn the_rbac_users_api_maps_call_by_call() {
    let app = TestApp::spawn().await;
    let admin = app.user_with("boss", &["admin"], false).await;
    let t = &admin.access;
    let user_role = app.role_id(t, "user").await;
    let admin_role = app.role_id(t, "admin").await;

    // POST /api/v1/users {email, password, first_name, last_name, role_ids}
    let created = call(&app, t, &format!("mutation($i: CreateUserInput!) {{ createUser(input: $i) {{ {USER} username }} }}"),
        json!({ "i": { "email": "newuser@example.com", "password": PASSWORD, "firstName": "Jane", "lastName": "Smith", "roleIds": [user_role] } })).await;
    carries(
        &created,
        &[
            "id",
            "email",
            "firstName",
            "lastName",
            "isActive",
            "createdAt",
            "updatedAt",
        ],
    );
    assert_eq!(
        created["roles"],
        json!([{ "id": user_role, "name": "user" }])
    );
    assert_eq!(created["username"], "newuser", "made from the email");
    let id = created["id"].as_str().unwrap().to_owned();
    for i in 0..24 {
        app.user_with(&format!("member{i:02}"), &[], false).await;
    }

    // GET /api/v1/users?page=1&limit=10&search=… (data, pagination {page, limit, total, pages})
    let page = call(&app, t, &format!("{{ users(page: 1, first: 10, filter: {{ search: \"member\" }}) {{ nodes {{ {USER} }} currentPage totalCount totalPages }} }}"), json!({})).await;
    assert_eq!(
        (
            page["currentPage"].as_i64(),
            page["totalCount"].as_i64(),
            page["totalPages"].as_i64()
        ),
        (Some(1), Some(24), Some(3))
    );
    assert_eq!(page["nodes"].as_array().unwrap().len(), 10);
    let searched = call(
        &app,
        t,
        "{ users(filter: { search: \"smith\" }) { nodes { id } } }",
        json!({}),
    )
    .await;
    assert_eq!(searched["nodes"], json!([{ "id": id }]));

    // GET /api/v1/users/{user_id}
    let got = call(
        &app,
        t,
        &format!("query($id: ID!) {{ user(id: $id) {{ {USER} username }} }}"),
        json!({ "id": id }),
    )
    .await;
    assert_eq!(got, created);

    // PUT /api/v1/users/{user_id} {first_name, last_name, role_ids}: one transaction.
    let updated = call(&app, t, &format!("mutation($id: ID!, $r: [ID!]) {{ updateUser(id: $id, input: {{ firstName: \"Updated\", lastName: \"Name\", roleIds: $r }}) {{ {USER} }} }}"),
        json!({ "id": id, "r": [admin_role] })).await;
    assert_eq!(
        (updated["firstName"].as_str(), updated["lastName"].as_str()),
        (Some("Updated"), Some("Name"))
    );
    assert_eq!(
        updated["roles"],
        json!([{ "id": admin_role, "name": "admin" }])
    );

    // DELETE /api/v1/users/{user_id} ({"message": …})
    let deleted = call(
        &app,
        t,
        "mutation($id: ID!) { deleteUser(id: $id) { isDeleted } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(deleted["isDeleted"], true);
    let listed = call(
        &app,
        t,
        "{ users(filter: { search: \"smith\" }) { totalCount } }",
        json!({}),
    )
    .await;
    assert_eq!(listed["totalCount"], 0);
}
