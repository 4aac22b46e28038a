//! Seed 1, the FastAPI boilerplate's `/api/v1/users`: users by username, a
//! superuser's create, `page`/`items_per_page` paging with `has_more`, soft
//! and hard deletes, and the user's tier.

use serde_json::json;

use super::{call, carries};
use crate::helpers::{PASSWORD, TestApp, account, code};

const USER_READ: &str = "id username email name isSuperuser isActive createdAt";

#[tokio::test]
async fn the_boilerplate_users_api_maps_call_by_call() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let t = &root.access;

    // POST /api/v1/users/  (201: the UserRead object)
    let created = call(&app, t, &format!("mutation($i: CreateUserInput!) {{ createUser(input: $i) {{ {USER_READ} }} }}"),
        json!({ "i": { "username": "jane", "email": "jane@example.com", "name": "Jane Doe", "password": PASSWORD, "isSuperuser": false } })).await;
    carries(&created, &["id", "username", "email", "name", "createdAt"]);
    assert_eq!(
        (
            created["name"].as_str(),
            created["isSuperuser"].as_bool(),
            created["isActive"].as_bool()
        ),
        (Some("Jane Doe"), Some(false), Some(true))
    );
    let jane_id = created["id"].as_str().unwrap().to_owned();
    for i in 0..11 {
        app.user_with(&format!("extra{i:02}"), &[], false).await;
    }

    // GET /api/v1/users/?page=1&items_per_page=10  (items, total_count, has_more, page, items_per_page)
    let list = call(&app, t, &format!("{{ users(page: 1, first: 10, orderBy: [{{ field: USERNAME }}]) {{ nodes {{ {USER_READ} }} totalCount pageInfo {{ hasNextPage }} currentPage totalPages }} }}"), json!({})).await;
    assert_eq!(list["nodes"].as_array().unwrap().len(), 10);
    assert_eq!(
        (
            list["totalCount"].as_i64(),
            list["pageInfo"]["hasNextPage"].as_bool(),
            list["currentPage"].as_i64(),
            list["totalPages"].as_i64()
        ),
        (Some(13), Some(true), Some(1), Some(2))
    );
    let last = call(
        &app,
        t,
        "{ users(page: 2, first: 10) { nodes { id } pageInfo { hasNextPage } currentPage } }",
        json!({}),
    )
    .await;
    assert_eq!(
        (
            last["nodes"].as_array().unwrap().len(),
            last["pageInfo"]["hasNextPage"].as_bool()
        ),
        (3, Some(false))
    );

    // GET /api/v1/users/{username}
    let got = call(
        &app,
        t,
        &format!("{{ userByUsername(username: \"jane\") {{ {USER_READ} }} }}"),
        json!({}),
    )
    .await;
    assert_eq!(got, created);

    // PATCH /api/v1/users/{username}: her own profile...
    let jane = account(&app.login("jane", PASSWORD).await["data"]["login"]).unwrap();
    let own = call(
        &app,
        &jane.access,
        "mutation { updateMe(input: { name: \"New Name\" }) { name } }",
        json!({}),
    )
    .await;
    assert_eq!(own["name"], "New Name");
    // ...with the password as its own step-up call...
    call(&app, &jane.access, "mutation($c: String!) { changePassword(currentPassword: $c, newPassword: \"juniper-lantern-93\") }", json!({ "c": PASSWORD })).await;
    // ...and a superuser's, email and password included.
    let by_root = call(&app, t, "mutation($id: ID!) { updateUser(id: $id, input: { email: \"new@example.com\", name: \"Jane Root\", password: \"quartz-meadow-58\" }) { email name } }", json!({ "id": jane_id })).await;
    assert_eq!(
        by_root,
        json!({ "email": "new@example.com", "name": "Jane Root" })
    );
    assert!(app.login("jane", "quartz-meadow-58").await["data"]["login"].is_object());

    // GET /api/v1/users/{username}/tier: null without one...
    let none = call(
        &app,
        t,
        "{ userTier(username: \"jane\") { id name createdAt } }",
        json!({}),
    )
    .await;
    assert!(none.is_null());
    // PATCH /api/v1/users/{username}/tier {"tier_id": …}
    let tier = call(
        &app,
        t,
        "mutation { createTier(input: { name: \"free\" }) { id } }",
        json!({}),
    )
    .await;
    call(
        &app,
        t,
        "mutation($id: ID!, $t: ID) { setUserTier(id: $id, tierId: $t) { id } }",
        json!({ "id": jane_id, "t": tier["id"] }),
    )
    .await;
    let tiered = call(
        &app,
        t,
        "{ userTier(username: \"jane\") { id name createdAt } }",
        json!({}),
    )
    .await;
    assert_eq!(
        (tiered["id"].clone(), tiered["name"].as_str()),
        (tier["id"].clone(), Some("free"))
    );
    carries(&tiered, &["createdAt"]);

    // DELETE /api/v1/users/{username}: soft, the record retained.
    let deleted = call(
        &app,
        t,
        "mutation($id: ID!) { deleteUser(id: $id) { isDeleted deletedAt isActive } }",
        json!({ "id": jane_id }),
    )
    .await;
    assert_eq!(
        (
            deleted["isDeleted"].as_bool(),
            deleted["isActive"].as_bool()
        ),
        (Some(true), Some(false))
    );
    carries(&deleted, &["deletedAt"]);
    let retained = call(
        &app,
        t,
        "{ userByUsername(username: \"jane\") { isDeleted } }",
        json!({}),
    )
    .await;
    assert_eq!(retained["isDeleted"], true);

    // DELETE /api/v1/users/db_user/{username}: permanent.
    assert_eq!(
        call(
            &app,
            t,
            "mutation($id: ID!) { hardDeleteUser(id: $id) }",
            json!({ "id": jane_id })
        )
        .await,
        true
    );
    assert!(
        call(
            &app,
            t,
            "{ userByUsername(username: \"jane\") { id } }",
            json!({})
        )
        .await
        .is_null()
    );

    // "Superuser privileges are needed for create, delete, and tier-update":
    // a plain user is refused each.
    let plain = app.user_with("plain", &[], false).await;
    let refused = app
        .gql(
            Some(&plain.access),
            "mutation($id: ID!) { setUserTier(id: $id, tierId: null) { id } }",
            json!({ "id": plain.id }),
        )
        .await;
    assert_eq!(code(&refused), "FORBIDDEN");
}
