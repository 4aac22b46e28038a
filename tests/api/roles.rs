//! Roles and permissions: listing, superuser management, `setUserRoles`, and
//! escalation attempts that must change nothing.

use serde_json::json;

use crate::helpers::{TestApp, code, field};

const CREATE: &str = "mutation($input: CreateRoleInput!) { createRole(input: $input) { id name description permissions isBuiltin } }";
const UPDATE: &str = "mutation($id: ID!, $input: UpdateRoleInput!) { updateRole(id: $id, input: $input) { name description permissions } }";
const DELETE: &str = "mutation($id: ID!) { deleteRole(id: $id) }";

async fn my_roles(app: &TestApp, token: &str) -> serde_json::Value {
    app.gql(Some(token), "{ me { roles { name } } }", json!({}))
        .await["data"]["me"]["roles"]
        .clone()
}

#[tokio::test]
async fn roles_lists_the_builtin_roles_to_any_signed_in_user() {
    let app = TestApp::spawn().await;
    let amy = app.register_as("amy").await;

    let body = app
        .gql(
            Some(&amy.access),
            "{ roles { name permissions isBuiltin } }",
            json!({}),
        )
        .await;
    let anonymous = app.gql(None, "{ roles { name } }", json!({})).await;

    assert_eq!(
        body["data"]["roles"],
        json!([
            { "name": "admin", "permissions": ["USERS_READ", "USERS_CREATE", "USERS_UPDATE", "USERS_DELETE", "ROLES_ASSIGN", "AUDIT_READ", "ORGS_READ", "ORGS_CREATE"], "isBuiltin": true },
            { "name": "user", "permissions": [], "isBuiltin": true },
            { "name": "viewer", "permissions": ["USERS_READ"], "isBuiltin": true },
        ])
    );
    assert_eq!(code(&anonymous), "UNAUTHENTICATED");
}

#[tokio::test]
async fn role_by_id_returns_the_role_or_null() {
    let app = TestApp::spawn().await;
    let amy = app.register_as("amy").await;
    let viewer_id = app.role_id(&amy.access, "viewer").await;
    let query = "query($id: ID!) { role(id: $id) { name } }";

    let found = app
        .gql(Some(&amy.access), query, json!({ "id": viewer_id }))
        .await;
    let missing = app
        .gql(
            Some(&amy.access),
            query,
            json!({ "id": "rol_0190000000007000800000000000beef" }),
        )
        .await;
    let malformed = app
        .gql(Some(&amy.access), query, json!({ "id": "usr_x" }))
        .await;

    assert_eq!(found["data"]["role"]["name"], "viewer");
    assert_eq!(
        missing["data"]["role"],
        serde_json::Value::Null,
        "{missing}"
    );
    assert_eq!(
        (code(&malformed), field(&malformed)),
        ("BAD_USER_INPUT", "id")
    );
}

#[tokio::test]
async fn a_superuser_creates_updates_and_deletes_a_custom_role() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;

    let created = app
        .gql(Some(&root.access), CREATE, json!({ "input": { "name": "Support", "description": "Helpdesk", "permissions": ["USERS_READ", "USERS_UPDATE"] } }))
        .await;
    let role = &created["data"]["createRole"];
    assert_eq!(role["name"], "support", "{created}");
    assert_eq!(role["permissions"], json!(["USERS_READ", "USERS_UPDATE"]));
    assert_eq!(role["isBuiltin"], false);
    let id = role["id"].as_str().unwrap();

    let updated = app
        .gql(Some(&root.access), UPDATE, json!({ "id": id, "input": { "name": "helpdesk", "description": null, "permissions": ["USERS_READ"] } }))
        .await;
    assert_eq!(
        updated["data"]["updateRole"],
        json!({ "name": "helpdesk", "description": null, "permissions": ["USERS_READ"] })
    );

    let deleted = app
        .gql(Some(&root.access), DELETE, json!({ "id": id }))
        .await;
    assert_eq!(deleted["data"]["deleteRole"], true);
    let gone = app
        .gql(
            Some(&root.access),
            "query($id: ID!) { role(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(gone["data"]["role"], serde_json::Value::Null);
}

#[tokio::test]
async fn role_names_are_validated_and_unique() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;

    let taken = app
        .gql(
            Some(&root.access),
            CREATE,
            json!({ "input": { "name": "Viewer" } }),
        )
        .await;
    let invalid = app
        .gql(
            Some(&root.access),
            CREATE,
            json!({ "input": { "name": "no spaces" } }),
        )
        .await;

    assert_eq!(code(&taken), "CONFLICT", "{taken}");
    assert_eq!(
        (code(&invalid), field(&invalid)),
        ("BAD_USER_INPUT", "name")
    );
}

#[tokio::test]
async fn builtin_roles_cannot_be_deleted_renamed_or_given_other_permissions() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let viewer_id = app.role_id(&root.access, "viewer").await;

    let delete = app
        .gql(Some(&root.access), DELETE, json!({ "id": viewer_id }))
        .await;
    let rename = app
        .gql(
            Some(&root.access),
            UPDATE,
            json!({ "id": viewer_id, "input": { "name": "reader" } }),
        )
        .await;
    let regrant = app
        .gql(
            Some(&root.access),
            UPDATE,
            json!({ "id": viewer_id, "input": { "permissions": ["USERS_DELETE"] } }),
        )
        .await;
    let describe = app
        .gql(
            Some(&root.access),
            UPDATE,
            json!({ "id": viewer_id, "input": { "description": "Read-only staff" } }),
        )
        .await;

    assert_eq!(code(&delete), "CONFLICT", "{delete}");
    assert_eq!(code(&rename), "CONFLICT", "{rename}");
    assert_eq!(code(&regrant), "CONFLICT", "{regrant}");
    assert_eq!(
        describe["data"]["updateRole"]["description"],
        "Read-only staff"
    );
}

#[tokio::test]
async fn role_management_is_for_superusers_only() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let ada = app.register_as("ada").await;
    let admin_id = app.role_id(&root.access, "admin").await;
    app.set_roles(&root.access, &ada.id, &[&admin_id]).await;

    let create = app
        .gql(
            Some(&ada.access),
            CREATE,
            json!({ "input": { "name": "sneaky" } }),
        )
        .await;
    let update = app
        .gql(
            Some(&ada.access),
            UPDATE,
            json!({ "id": admin_id, "input": { "description": "x" } }),
        )
        .await;

    assert_eq!(code(&create), "FORBIDDEN", "{create}");
    assert_eq!(code(&update), "FORBIDDEN", "{update}");
}

#[tokio::test]
async fn set_user_roles_replaces_the_set_and_applies_on_the_next_request() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let bea = app.register_as("bea").await;
    app.register_as("cyd").await;
    let peek = "query($u: String!) { userTier(username: $u) { name } }";
    assert_eq!(
        code(
            &app.gql(Some(&bea.access), peek, json!({ "u": "cyd" }))
                .await
        ),
        "NOT_FOUND"
    );
    let viewer_id = app.role_id(&root.access, "viewer").await;
    let user_id = app.role_id(&root.access, "user").await;

    let body = app
        .set_roles(&root.access, &bea.id, &[&viewer_id, &user_id])
        .await;

    assert_eq!(
        body["data"]["setUserRoles"]["roles"],
        json!([{ "name": "user" }, { "name": "viewer" }]),
        "{body}"
    );
    let now_allowed = app
        .gql(Some(&bea.access), peek, json!({ "u": "cyd" }))
        .await;
    assert_eq!(
        now_allowed["data"]["userTier"],
        serde_json::Value::Null,
        "{now_allowed}"
    );
    assert!(now_allowed["errors"].is_null());
}

#[tokio::test]
async fn set_user_roles_with_an_unknown_role_changes_nothing() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let dee = app.register_as("dee").await;
    let viewer_id = app.role_id(&root.access, "viewer").await;

    let body = app
        .set_roles(
            &root.access,
            &dee.id,
            &[&viewer_id, "rol_0190000000007000800000000000beef"],
        )
        .await;

    assert_eq!(
        (code(&body), field(&body)),
        ("NOT_FOUND", "roleIds"),
        "{body}"
    );
    assert_eq!(
        my_roles(&app, &dee.access).await,
        json!([{ "name": "user" }])
    );
}

#[tokio::test]
async fn granting_admin_makes_a_user_staff() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let eli = app.register_as("eli").await;
    let admin_id = app.role_id(&root.access, "admin").await;

    let body = app.set_roles(&root.access, &eli.id, &[&admin_id]).await;

    assert_eq!(body["data"]["setUserRoles"]["isStaff"], true, "{body}");
    let me = app
        .gql(
            Some(&eli.access),
            "{ me { isStaff roles { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        me["data"]["me"],
        json!({ "isStaff": true, "roles": [{ "name": "admin" }] })
    );
}

#[tokio::test]
async fn escalation_attempts_are_forbidden_and_change_nothing() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let assigner = app.register_as("assigner").await;
    let plain = app.register_as("plain").await;
    let boss = app.register_as("boss").await;
    let admin_id = app.role_id(&root.access, "admin").await;
    let user_id = app.role_id(&root.access, "user").await;
    let viewer_id = app.role_id(&root.access, "viewer").await;
    let created = app
        .gql(
            Some(&root.access),
            CREATE,
            json!({ "input": { "name": "assigners", "permissions": ["ROLES_ASSIGN"] } }),
        )
        .await;
    let assigners_id = created["data"]["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.set_roles(&root.access, &assigner.id, &[&assigners_id])
        .await;
    app.set_roles(&root.access, &boss.id, &[&admin_id]).await;

    // A holder of only ROLES_ASSIGN grants admin to someone, or to itself.
    let grant_other = app
        .set_roles(&assigner.access, &plain.id, &[&admin_id])
        .await;
    let grant_self = app
        .set_roles(&assigner.access, &assigner.id, &[&assigners_id, &admin_id])
        .await;
    // ... or strips the admin of its role.
    let strip = app.set_roles(&assigner.access, &boss.id, &[&user_id]).await;
    // A plain user grants itself admin.
    let plain_self = app.set_roles(&plain.access, &plain.id, &[&admin_id]).await;
    // An admin changes a superuser's roles.
    let on_superuser = app.set_roles(&boss.access, &root.id, &[&viewer_id]).await;

    for body in [
        &grant_other,
        &grant_self,
        &strip,
        &plain_self,
        &on_superuser,
    ] {
        assert_eq!(code(body), "FORBIDDEN", "{body}");
    }
    assert_eq!(
        my_roles(&app, &plain.access).await,
        json!([{ "name": "user" }])
    );
    assert_eq!(
        my_roles(&app, &assigner.access).await,
        json!([{ "name": "assigners" }])
    );
    assert_eq!(
        my_roles(&app, &boss.access).await,
        json!([{ "name": "admin" }])
    );
    // What the assigner does hold, it may grant.
    let allowed = app
        .set_roles(&assigner.access, &plain.id, &[&user_id, &assigners_id])
        .await;
    assert!(allowed["errors"].is_null(), "{allowed}");
}

#[tokio::test]
async fn deleting_a_custom_role_removes_it_from_its_users() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let fin = app.register_as("fin").await;
    let created = app
        .gql(
            Some(&root.access),
            CREATE,
            json!({ "input": { "name": "beta", "permissions": ["USERS_READ"] } }),
        )
        .await;
    let beta_id = created["data"]["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.set_roles(&root.access, &fin.id, &[&beta_id]).await;

    app.gql(Some(&root.access), DELETE, json!({ "id": beta_id }))
        .await;

    assert_eq!(my_roles(&app, &fin.access).await, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_role_replacements_leave_exactly_one_requested_set() {
    let app = TestApp::spawn().await;
    let root = app.user_with("root", &[], true).await;
    let viewer = app.role_id(&root.access, "viewer").await;
    let admin = app.role_id(&root.access, "admin").await;
    let target = app.user_with("target", &["user"], false).await;
    for round in 0..15 {
        let sets = [
            [viewer.as_str()],
            [admin.as_str()],
            [viewer.as_str()],
            [admin.as_str()],
        ];

        let bodies = futures::future::join_all(
            sets.iter()
                .map(|set| app.set_roles(&root.access, &target.id, set)),
        )
        .await;

        for body in &bodies {
            assert!(body["errors"].is_null(), "round {round}: {body}");
        }
        let roles = my_roles(&app, &target.access).await;
        let names: Vec<&str> = roles
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(
            names == ["viewer"] || names == ["admin"],
            "round {round}: {names:?}"
        );
    }
}

/// A caller who may change users but not read them (`ROLES_ASSIGN` or
/// `USERS_UPDATE` without `USERS_READ`) learns nothing from the answer but
/// the id and what it changed, even through a change that changes nothing.
#[tokio::test]
async fn a_right_to_change_a_user_is_no_right_to_read_them() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let target = app.register_as("target").await;
    app.gql(
        Some(&target.access),
        "mutation { updateMe(input: { name: \"Private Person\", metadata: { secret: \"m1\" } }) { id } }",
        json!({}),
    )
    .await;
    let mut holders = Vec::new();
    for (name, permission) in [("assigners", "ROLES_ASSIGN"), ("updaters", "USERS_UPDATE")] {
        let role = app
            .gql(
                Some(&root.access),
                CREATE,
                json!({ "input": { "name": name, "permissions": [permission] } }),
            )
            .await["data"]["createRole"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let holder = app.register_as(&format!("{name}1")).await;
        app.set_roles(&root.access, &holder.id, &[&role]).await;
        holders.push(holder);
    }
    let user_role = app.role_id(&root.access, "user").await;
    let snoop = "mutation($id: ID!, $r: [ID!]!) { setUserRoles(id: $id, roleIds: $r) { id username name email metadata } }";
    let body = app
        .gql(
            Some(&holders[0].access),
            snoop,
            json!({ "id": target.id, "r": [user_role] }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let text = body.to_string();
    for private in ["target", "Private Person", "m1"] {
        assert!(!text.contains(private), "{text}");
    }
    // What it changed, it sees.
    let allowed = app
        .gql(
            Some(&holders[0].access),
            "mutation($id: ID!, $r: [ID!]!) { setUserRoles(id: $id, roleIds: $r) { id roles { name } updatedAt } }",
            json!({ "id": target.id, "r": [user_role] }),
        )
        .await;
    assert!(allowed["errors"].is_null(), "{allowed}");
    assert_eq!(allowed["data"]["setUserRoles"]["id"], target.id);

    let update = "mutation($id: ID!) { updateUser(id: $id, input: { appMetadata: { plan: \"gold\" } }) { id username } }";
    let body = app
        .gql(Some(&holders[1].access), update, json!({ "id": target.id }))
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    assert!(!body.to_string().contains("\"target\""), "{body}");
    // A merge, even of nothing, shows no part of the object it merges into.
    for merge in ["appMetadata: {}", "metadata: {}", "firstName: \"F\""] {
        let field = merge.split(':').next().unwrap();
        let field = if field == "firstName" { "name" } else { field };
        let body = app
            .gql(
                Some(&holders[1].access),
                &format!("mutation($id: ID!) {{ updateUser(id: $id, input: {{ {merge} }}) {{ id {field} }} }}"),
                json!({ "id": target.id }),
            )
            .await;
        assert_eq!(code(&body), "FORBIDDEN", "{merge}: {body}");
        for private in ["m1", "Private Person"] {
            assert!(!body.to_string().contains(private), "{merge}: {body}");
        }
    }
    let body = app
        .gql(
            Some(&holders[1].access),
            "mutation($id: ID!) { updateUser(id: $id, input: { firstName: \"F\", lastName: \"L\" }) { id firstName lastName updatedAt } }",
            json!({ "id": target.id }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["updateUser"]["firstName"], "F");
    // A holder of USERS_READ sees the whole user.
    let whole = app
        .gql(
            Some(&root.access),
            snoop,
            json!({ "id": target.id, "r": [user_role] }),
        )
        .await;
    assert_eq!(
        whole["data"]["setUserRoles"]["username"], "target",
        "{whole}"
    );
}
