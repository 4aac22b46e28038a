//! Seed 3, the server's `/v1/users` (Django-style): integer `pk`s become
//! ids, `is_staff` is the `admin` role, `POST /v1/users/list` takes a filter
//! expression, `PUT` replaces and `PATCH` merges, and `DELETE` marks the
//! user inactive.

use serde_json::json;

use super::{call, carries};
use crate::helpers::{PASSWORD, TestApp};

const FIELDS: &str =
    "id username firstName lastName email isActive isStaff isSuperuser createdAt lastLoginAt";

#[tokio::test]
async fn the_django_style_users_api_maps_call_by_call() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let t = &root.access;

    // POST /v1/users/create {username, password, first_name, last_name, email, is_active, is_staff}
    let create =
        format!("mutation($i: CreateUserInput!) {{ createUser(input: $i) {{ {FIELDS} }} }}");
    let staff = call(&app, t, &create, json!({ "i": { "username": "sam", "password": PASSWORD, "firstName": "Sam", "lastName": "Stone",
        "email": "sam@example.com", "status": "ACTIVE", "roleNames": ["user", "admin"] } })).await;
    assert_eq!(
        (
            staff["isActive"].as_bool(),
            staff["isStaff"].as_bool(),
            staff["isSuperuser"].as_bool()
        ),
        (Some(true), Some(true), Some(false))
    );
    carries(
        &staff,
        &[
            "id",
            "username",
            "firstName",
            "lastName",
            "email",
            "createdAt",
        ],
    );
    let dormant = call(&app, t, &create, json!({ "i": { "username": "dora", "password": PASSWORD, "firstName": "Dora", "lastName": "Dune",
        "email": "dora@example.com", "status": "INACTIVE" } })).await;
    assert_eq!(
        (dormant["isActive"].as_bool(), dormant["isStaff"].as_bool()),
        (Some(false), Some(false))
    );
    app.login("sam", PASSWORD).await;

    // POST /v1/users/list, with a filter expression as the body:
    // is_staff OR (NOT is_active AND last_name starts "Du"), never the root.
    let listed = call(&app, t, &format!("query($f: UserFilter) {{ users(first: 100, filter: $f, orderBy: [{{ field: USERNAME }}]) {{ nodes {{ {FIELDS} }} }} }}"),
        json!({ "f": { "or": [{ "isStaff": true }, { "and": [{ "status": "INACTIVE" }, { "search": "dune" }] }], "not": { "isSuperuser": true } } })).await;
    let names: Vec<&str> = listed["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dora", "sam"]);
    carries(&listed["nodes"][1], &["lastLoginAt"]);

    // GET /v1/users/{PK} and GET /v1/users/{NAME}
    let id = staff["id"].as_str().unwrap().to_owned();
    let by_pk = call(
        &app,
        t,
        &format!("query($id: ID!) {{ user(id: $id) {{ {FIELDS} }} }}"),
        json!({ "id": id }),
    )
    .await;
    let by_name = call(
        &app,
        t,
        &format!("{{ userByUsername(username: \"sam\") {{ {FIELDS} }} }}"),
        json!({}),
    )
    .await;
    assert_eq!(by_pk, by_name);

    // PUT /v1/users/{PK}: every field given (is_staff false drops the admin role).
    let put = call(&app, t, &format!("mutation($id: ID!, $i: UpdateUserInput!) {{ updateUser(id: $id, input: $i) {{ {FIELDS} }} }}"),
        json!({ "id": id, "i": { "username": "samuel", "password": "copper-harbor-61", "firstName": "Samuel", "lastName": "Stone",
            "email": "samuel@example.com", "status": "ACTIVE", "roleNames": ["user"] } })).await;
    assert_eq!(
        (
            put["username"].as_str(),
            put["email"].as_str(),
            put["isStaff"].as_bool()
        ),
        (Some("samuel"), Some("samuel@example.com"), Some(false))
    );
    assert!(app.login("samuel", "copper-harbor-61").await["data"]["login"].is_object());

    // PATCH /v1/users/{PK}: only what is given changes.
    let patch = call(&app, t, "mutation($id: ID!) { updateUser(id: $id, input: { firstName: \"Sammy\" }) { firstName lastName username } }", json!({ "id": id })).await;
    assert_eq!(
        patch,
        json!({ "firstName": "Sammy", "lastName": "Stone", "username": "samuel" })
    );

    // DELETE /v1/users/{PK}: "marks a user as inactive".
    let destroyed = call(
        &app,
        t,
        "mutation($id: ID!) { setUserStatus(id: $id, status: INACTIVE) { isActive } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(destroyed["isActive"], false);
    assert!(app.login("samuel", "copper-harbor-61").await["errors"].is_array());
}
