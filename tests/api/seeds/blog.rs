//! Seed 5, the blog API's `/users`: the current user's profile with its
//! social links, deleting one's own account, and an administrator's
//! `limit`/`offset` listing.

use serde_json::json;

use super::{call, carries};
use crate::helpers::{PASSWORD, TestApp, account};

const PROFILE: &str = "id username email firstName lastName socialLinks { website facebook instagram linkedin x youtube }";

#[tokio::test]
async fn the_blog_users_api_maps_call_by_call() {
    let app = TestApp::spawn().await;
    let admin = app.user_with("boss", &["admin"], false).await;
    let writer = app.register_as("writer").await;
    let w = &writer.access;

    // GET /users/current
    let current = call(&app, w, &format!("{{ me {{ {PROFILE} }} }}"), json!({})).await;
    carries(&current, &["id", "username", "email"]);

    // PUT /users/current {username, first_name, last_name, website, facebook, instagram, linkedin, x, youtube}
    let links = json!({ "website": "https://writer.example", "facebook": "https://facebook.com/w", "instagram": "https://instagram.com/w",
        "linkedin": "https://linkedin.com/in/w", "x": "https://x.com/w", "youtube": "https://youtube.com/@w" });
    let updated = call(&app, w, &format!("mutation($l: SocialLinksInput) {{ updateMe(input: {{ username: \"author\", firstName: \"Ann\", lastName: \"Author\", socialLinks: $l }}) {{ {PROFILE} }} }}"),
        json!({ "l": links })).await;
    assert_eq!(
        (updated["username"].as_str(), updated["firstName"].as_str()),
        (Some("author"), Some("Ann"))
    );
    assert_eq!(updated["socialLinks"], links);
    // ...its `email` needs the password and a mailed link; its `password`, changePassword.
    let moved = call(&app, w, "mutation($p: String) { updateMe(input: { email: \"author@example.com\" }, currentPassword: $p) { email } }", json!({ "p": PASSWORD })).await;
    assert_eq!(
        moved["email"], "writer@example.com",
        "the address changes when the link is followed"
    );
    call(&app, w, "mutation($c: String!) { changePassword(currentPassword: $c, newPassword: \"saffron-violin-27\") }", json!({ "c": PASSWORD })).await;

    // GET /users/?limit=20&offset=0 (admin)
    for i in 0..4 {
        app.user_with(&format!("reader{i}"), &[], false).await;
    }
    let page = call(&app, &admin.access, "{ users(first: 2, offset: 2, orderBy: [{ field: USERNAME }]) { nodes { username } totalCount } }", json!({})).await;
    assert_eq!(
        page["nodes"],
        json!([{ "username": "reader0" }, { "username": "reader1" }])
    );
    assert_eq!(page["totalCount"], 6);

    // GET /users/{userId} (admin)
    let by_admin = call(
        &app,
        &admin.access,
        &format!("query($id: ID!) {{ user(id: $id) {{ {PROFILE} }} }}"),
        json!({ "id": writer.id }),
    )
    .await;
    assert_eq!(by_admin["socialLinks"], links);

    // DELETE /users/current: the account and its sessions, after the password.
    let again = account(&app.login("author", "saffron-violin-27").await["data"]["login"]).unwrap();
    assert_eq!(
        call(
            &app,
            &again.access,
            "mutation { deleteMe(password: \"saffron-violin-27\") }",
            json!({})
        )
        .await,
        true
    );
    assert!(app.login("author", "saffron-violin-27").await["errors"].is_array());

    // DELETE /users/{userId} (admin)
    let reader = call(
        &app,
        &admin.access,
        "{ userByUsername(username: \"reader3\") { id } }",
        json!({}),
    )
    .await;
    let gone = call(
        &app,
        &admin.access,
        "mutation($id: ID!) { deleteUser(id: $id) { isDeleted } }",
        json!({ "id": reader["id"] }),
    )
    .await;
    assert_eq!(gone["isDeleted"], true);
}
