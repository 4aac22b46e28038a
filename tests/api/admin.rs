//! User administration: create, update, status, soft delete, restore, hard
//! delete, field privacy, and the last-superuser rule.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, REGISTER, TestApp, code, field};

const CREATE: &str = "mutation($input: CreateUserInput!) { createUser(input: $input) { id username email status roles { name } tier { name } isSuperuser } }";
const UPDATE: &str = "mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { id username firstName status isSuperuser } }";
const STATUS: &str = "mutation($id: ID!, $s: UserStatus!) { setUserStatus(id: $id, status: $s) { status isActive } }";
const DELETE: &str = "mutation($id: ID!) { deleteUser(id: $id) { isDeleted deletedAt isActive } }";
const RESTORE: &str = "mutation($id: ID!) { restoreUser(id: $id) { isDeleted deletedAt } }";
const HARD_DELETE: &str = "mutation($id: ID!) { hardDeleteUser(id: $id) }";

fn new_user(username: &str) -> Value {
    json!({ "username": username, "email": format!("{username}@example.com"), "password": PASSWORD })
}

#[tokio::test]
async fn an_admin_creates_a_user_with_the_defaults() {
    let app = TestApp::spawn().await;
    let admin = app.user_with("boss", &["admin"], false).await;

    let body = app
        .gql(
            Some(&admin.access),
            CREATE,
            json!({ "input": new_user("newbie") }),
        )
        .await;

    let user = &body["data"]["createUser"];
    assert_eq!(user["status"], "ACTIVE", "{body}");
    assert_eq!(user["roles"], json!([{ "name": "user" }]));
    assert_eq!(user["email"], "newbie@example.com");
    assert!(app.login("newbie", PASSWORD).await["data"]["login"].is_object());
}

#[tokio::test]
async fn create_user_validates_input_and_reports_duplicates() {
    let app = TestApp::spawn().await;
    let admin = app.user_with("boss", &["admin"], false).await;
    app.user_with("taken", &[], false).await;

    let weak = app.gql(Some(&admin.access), CREATE, json!({ "input": { "username": "weak", "email": "weak@example.com", "password": "password123" } })).await;
    let bad_url = app.gql(Some(&admin.access), CREATE, json!({ "input": { "username": "url", "email": "url@example.com", "password": PASSWORD, "avatarUrl": "ftp://x" } })).await;
    let duplicate = app
        .gql(Some(&admin.access), CREATE, json!({ "input": { "username": "TAKEN", "email": "other@example.com", "password": PASSWORD } }))
        .await;
    let unknown_role = app.gql(Some(&admin.access), CREATE, json!({ "input": { "username": "r1", "email": "r1@example.com", "password": PASSWORD, "roleIds": ["rol_0190000000007000800000000000beef"] } })).await;

    assert_eq!((code(&weak), field(&weak)), ("BAD_USER_INPUT", "password"));
    assert_eq!(
        (code(&bad_url), field(&bad_url)),
        ("BAD_USER_INPUT", "avatarUrl")
    );
    assert_eq!(code(&duplicate), "DUPLICATE_USERNAME");
    assert_eq!(
        (code(&unknown_role), field(&unknown_role)),
        ("NOT_FOUND", "roleIds")
    );
    // Nothing half-written: the failed user with an unknown role does not exist.
    assert_eq!(
        code(&app.login("r1", PASSWORD).await),
        "INVALID_CREDENTIALS"
    );
}

#[tokio::test]
async fn only_a_superuser_creates_superusers_or_sets_a_tier_at_creation() {
    let app = TestApp::spawn().await;
    let admin = app.user_with("boss", &["admin"], false).await;
    let root = app.user_with("root", &[], true).await;
    let input = json!({ "username": "deputy", "email": "deputy@example.com", "password": PASSWORD, "isSuperuser": true });

    let by_admin = app
        .gql(Some(&admin.access), CREATE, json!({ "input": input }))
        .await;
    let by_root = app
        .gql(Some(&root.access), CREATE, json!({ "input": input }))
        .await;

    assert_eq!(code(&by_admin), "FORBIDDEN", "{by_admin}");
    assert_eq!(
        by_root["data"]["createUser"]["isSuperuser"], true,
        "{by_root}"
    );
}

#[tokio::test]
async fn an_admin_cannot_make_or_change_a_superuser() {
    let app = TestApp::spawn().await;
    let admin = app.user_with("boss", &["admin"], false).await;
    let root = app.user_with("root", &[], true).await;
    let plain = app.user_with("plain", &[], false).await;

    let promote = app
        .gql(
            Some(&admin.access),
            UPDATE,
            json!({ "id": plain.id, "input": { "isSuperuser": true } }),
        )
        .await;
    let self_promote = app
        .gql(
            Some(&admin.access),
            UPDATE,
            json!({ "id": admin.id, "input": { "isSuperuser": true } }),
        )
        .await;
    let takeover = app
        .gql(
            Some(&admin.access),
            UPDATE,
            json!({ "id": root.id, "input": { "password": "marmalade-otter-77" } }),
        )
        .await;
    let suspend = app
        .gql(
            Some(&admin.access),
            STATUS,
            json!({ "id": root.id, "s": "SUSPENDED" }),
        )
        .await;

    for body in [&promote, &self_promote, &takeover, &suspend] {
        assert_eq!(code(body), "FORBIDDEN", "{body}");
    }
    assert_eq!(app.me(&root.access).await["data"]["me"]["username"], "root");
}

#[tokio::test]
async fn update_user_is_for_the_user_themself_or_users_update() {
    let app = TestApp::spawn().await;
    let admin = app.user_with("boss", &["admin"], false).await;
    let ann = app.user_with("ann", &[], false).await;
    let bob = app.user_with("bob", &[], false).await;

    let own = app
        .gql(
            Some(&ann.access),
            UPDATE,
            json!({ "id": ann.id, "input": { "firstName": "Ann" } }),
        )
        .await;
    let own_status = app
        .gql(
            Some(&ann.access),
            UPDATE,
            json!({ "id": ann.id, "input": { "status": "INACTIVE" } }),
        )
        .await;
    let other = app
        .gql(
            Some(&bob.access),
            UPDATE,
            json!({ "id": ann.id, "input": { "firstName": "Hacked" } }),
        )
        .await;
    let by_admin = app
        .gql(
            Some(&admin.access),
            UPDATE,
            json!({ "id": ann.id, "input": { "firstName": null, "username": "ann2" } }),
        )
        .await;

    assert_eq!(own["data"]["updateUser"]["firstName"], "Ann", "{own}");
    assert_eq!(code(&own_status), "FORBIDDEN");
    assert_eq!(code(&other), "FORBIDDEN");
    assert_eq!(
        by_admin["data"]["updateUser"]["firstName"],
        Value::Null,
        "{by_admin}"
    );
    assert_eq!(by_admin["data"]["updateUser"]["username"], "ann2");
}

#[tokio::test]
async fn a_new_password_or_a_suspension_ends_the_users_sessions() {
    let app = TestApp::spawn().await;
    let admin = app.user_with("boss", &["admin"], false).await;
    let cat = app.user_with("cat", &[], false).await;
    let dan = app.user_with("dan", &[], false).await;

    let reset = app
        .gql(
            Some(&admin.access),
            UPDATE,
            json!({ "id": cat.id, "input": { "password": "marmalade-otter-77" } }),
        )
        .await;
    let suspended = app
        .gql(
            Some(&admin.access),
            STATUS,
            json!({ "id": dan.id, "s": "SUSPENDED" }),
        )
        .await;

    assert!(reset["errors"].is_null(), "{reset}");
    assert_eq!(code(&app.me(&cat.access).await), "UNAUTHENTICATED");
    assert!(app.login("cat", "marmalade-otter-77").await["data"]["login"].is_object());
    assert_eq!(
        suspended["data"]["setUserStatus"],
        json!({ "status": "SUSPENDED", "isActive": false })
    );
    assert_eq!(code(&app.me(&dan.access).await), "UNAUTHENTICATED");
    assert_eq!(code(&app.login("dan", PASSWORD).await), "ACCOUNT_DISABLED");
    let reactivated = app
        .gql(
            Some(&admin.access),
            STATUS,
            json!({ "id": dan.id, "s": "ACTIVE" }),
        )
        .await;
    assert_eq!(reactivated["data"]["setUserStatus"]["isActive"], true);
    assert!(app.login("dan", PASSWORD).await["data"]["login"].is_object());
}

#[tokio::test]
async fn soft_delete_restore_and_hard_delete_follow_the_lifecycle() {
    let app = TestApp::spawn().await;
    let admin = app.user_with("boss", &["admin"], false).await;
    let root = app.user_with("root", &[], true).await;
    let eve = app.user_with("eve", &[], false).await;
    let users = "query($f: UserFilter) { users(filter: $f) { nodes { username isDeleted } } }";

    let deleted = app
        .gql(Some(&admin.access), DELETE, json!({ "id": eve.id }))
        .await;
    assert_eq!(
        deleted["data"]["deleteUser"]["isDeleted"], true,
        "{deleted}"
    );
    assert!(deleted["data"]["deleteUser"]["deletedAt"].is_string());
    // Sessions ended, login refused, names reserved, hidden by default.
    assert_eq!(code(&app.me(&eve.access).await), "UNAUTHENTICATED");
    assert_eq!(code(&app.refresh(&eve.refresh).await), "TOKEN_INVALID");
    assert_eq!(
        code(&app.login("eve", PASSWORD).await),
        "INVALID_CREDENTIALS"
    );
    let again = app.gql(None, REGISTER, json!({ "input": { "username": "eve", "email": "x@example.com", "password": PASSWORD } })).await;
    assert_eq!(code(&again), "DUPLICATE_USERNAME");
    let listed = app.gql(Some(&admin.access), users, json!({})).await;
    assert!(!listed.to_string().contains("\"eve\""), "{listed}");
    let only = app
        .gql(
            Some(&admin.access),
            users,
            json!({ "f": { "onlyDeleted": true } }),
        )
        .await;
    assert_eq!(
        only["data"]["users"]["nodes"],
        json!([{ "username": "eve", "isDeleted": true }])
    );
    let with = app
        .gql(
            Some(&admin.access),
            users,
            json!({ "f": { "includeDeleted": true } }),
        )
        .await;
    assert_eq!(with["data"]["users"]["nodes"].as_array().unwrap().len(), 3);

    let restored = app
        .gql(Some(&admin.access), RESTORE, json!({ "id": eve.id }))
        .await;
    assert_eq!(
        restored["data"]["restoreUser"],
        json!({ "isDeleted": false, "deletedAt": null })
    );
    assert!(app.login("eve", PASSWORD).await["data"]["login"].is_object());

    let by_admin = app
        .gql(Some(&admin.access), HARD_DELETE, json!({ "id": eve.id }))
        .await;
    assert_eq!(code(&by_admin), "FORBIDDEN");
    let gone = app
        .gql(Some(&root.access), HARD_DELETE, json!({ "id": eve.id }))
        .await;
    assert_eq!(gone["data"]["hardDeleteUser"], true, "{gone}");
    let lookup = app
        .gql(
            Some(&root.access),
            "query($id: ID!) { user(id: $id) { id } }",
            json!({ "id": eve.id }),
        )
        .await;
    assert_eq!(lookup["data"]["user"], Value::Null);
    use sea_orm::{EntityTrait, PaginatorTrait};
    // Only boss's and root's sessions remain: eve's two went with her.
    assert_eq!(
        entity::session::Entity::find()
            .count(app.db())
            .await
            .unwrap(),
        2
    );
    let twice = app
        .gql(Some(&root.access), HARD_DELETE, json!({ "id": eve.id }))
        .await;
    assert_eq!(code(&twice), "NOT_FOUND");
}

#[tokio::test]
async fn soft_deleted_users_are_visible_only_with_users_read() {
    let app = TestApp::spawn().await;
    let admin = app.user_with("boss", &["admin"], false).await;
    let viewer = app.user_with("watcher", &["viewer"], false).await;
    let plain = app.user_with("plain", &[], false).await;
    let gone = app.user_with("gone", &[], false).await;
    app.gql(Some(&admin.access), DELETE, json!({ "id": gone.id }))
        .await;
    let query = "query($id: ID!) { user(id: $id) { username isDeleted } }";

    let as_viewer = app
        .gql(Some(&viewer.access), query, json!({ "id": gone.id }))
        .await;
    let as_plain = app
        .gql(Some(&plain.access), query, json!({ "id": gone.id }))
        .await;
    let missing = app
        .gql(
            Some(&plain.access),
            query,
            json!({ "id": "usr_0190000000007000800000000000beef" }),
        )
        .await;

    assert_eq!(
        as_viewer["data"]["user"],
        json!({ "username": "gone", "isDeleted": true })
    );
    assert_eq!(code(&as_plain), "NOT_FOUND");
    assert_eq!(
        code(&missing),
        "NOT_FOUND",
        "a missing user looks the same as a hidden one"
    );
}

#[tokio::test]
async fn email_and_last_login_are_private_on_every_path() {
    let app = TestApp::spawn().await;
    let root = app.user_with("root", &[], true).await;
    let viewer = app.user_with("watcher", &["viewer"], false).await;
    let plain = app.user_with("plain", &[], false).await;
    app.login("plain", PASSWORD).await;
    let root_role = app.role_id(&root.access, "viewer").await;
    // A plain user reaches another user's object through a mutation result.
    let grant = "mutation($id: ID!, $r: [ID!]!) { setUserRoles(id: $id, roleIds: $r) { email lastLoginAt } }";
    let through_mutation = app
        .gql(
            Some(&root.access),
            grant,
            json!({ "id": plain.id, "r": [root_role] }),
        )
        .await;
    let query = "query($id: ID!) { a: user(id: $id) { email lastLoginAt } b: userByUsername(username: \"plain\") { email } }";

    let as_viewer = app
        .gql(Some(&viewer.access), query, json!({ "id": plain.id }))
        .await;
    let as_self = app
        .gql(
            Some(&plain.access),
            "{ me { email lastLoginAt } }",
            json!({}),
        )
        .await;

    assert_eq!(
        as_viewer["data"]["a"]["email"], "plain@example.com",
        "{as_viewer}"
    );
    assert!(as_viewer["data"]["a"]["lastLoginAt"].is_string());
    assert_eq!(as_self["data"]["me"]["email"], "plain@example.com");
    assert_eq!(
        through_mutation["data"]["setUserRoles"]["email"],
        "plain@example.com"
    );
}

#[tokio::test]
async fn a_caller_without_users_read_never_sees_another_users_email() {
    let app = TestApp::spawn().await;
    let admin = app.user_with("boss", &["admin"], false).await;
    let assigner_only = app.user_with("helper", &[], false).await;
    let target = app.user_with("target", &[], false).await;
    // A custom role with ROLES_ASSIGN but not USERS_READ changes a user's
    // roles, and sees nothing of it but its id and roles.
    let root = app.user_with("root", &[], true).await;
    let made = app.gql(Some(&root.access), "mutation { createRole(input: { name: \"assign\", permissions: [ROLES_ASSIGN] }) { id } }", json!({})).await;
    let assign_id = made["data"]["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.set_roles(&root.access, &assigner_only.id, &[&assign_id])
        .await;
    let _ = admin;

    let query = "mutation($id: ID!, $r: [ID!]!) { setUserRoles(id: $id, roleIds: $r) { username email lastLoginAt } }";
    let body = app
        .gql(
            Some(&assigner_only.access),
            query,
            json!({ "id": target.id, "r": [] }),
        )
        .await;

    assert_eq!(body["data"]["setUserRoles"], Value::Null, "{body}");
    let refused: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["extensions"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(refused, ["FORBIDDEN"; 3], "{body}");
    assert!(!body.to_string().contains("\"target\""), "{body}");
}

#[tokio::test]
async fn the_last_active_superuser_cannot_be_removed() {
    let app = TestApp::spawn().await;
    let root = app.user_with("root", &[], true).await;

    let demote = app
        .gql(
            Some(&root.access),
            UPDATE,
            json!({ "id": root.id, "input": { "isSuperuser": false } }),
        )
        .await;
    let suspend = app
        .gql(
            Some(&root.access),
            STATUS,
            json!({ "id": root.id, "s": "SUSPENDED" }),
        )
        .await;
    let delete = app
        .gql(Some(&root.access), DELETE, json!({ "id": root.id }))
        .await;
    let hard = app
        .gql(Some(&root.access), HARD_DELETE, json!({ "id": root.id }))
        .await;

    for body in [&demote, &suspend, &delete, &hard] {
        assert_eq!(code(body), "CONFLICT", "{body}");
    }
    // With a second superuser, demoting one is fine.
    let deputy = app.user_with("deputy", &[], true).await;
    let ok = app
        .gql(
            Some(&root.access),
            UPDATE,
            json!({ "id": deputy.id, "input": { "isSuperuser": false } }),
        )
        .await;
    assert_eq!(ok["data"]["updateUser"]["isSuperuser"], false, "{ok}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_superusers_demoting_each_other_at_once_leave_one() {
    let app = TestApp::spawn().await;
    for round in 0..5 {
        let a = app.user_with(&format!("sa{round}"), &[], true).await;
        let b = app.user_with(&format!("sb{round}"), &[], true).await;
        // Everyone else stops being a superuser, so a and b are the last two.
        app.sql(&format!(
            "UPDATE users SET is_superuser = false WHERE username NOT IN ('sa{round}', 'sb{round}')"
        ))
        .await;

        let (first, second) = tokio::join!(
            app.gql(
                Some(&a.access),
                UPDATE,
                json!({ "id": b.id, "input": { "isSuperuser": false } })
            ),
            app.gql(
                Some(&b.access),
                UPDATE,
                json!({ "id": a.id, "input": { "isSuperuser": false } })
            ),
        );

        let remaining: Vec<(String,)> = {
            use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
            entity::user::Entity::find()
                .select_only()
                .column(entity::user::Column::Username)
                .filter(entity::user::Column::IsSuperuser.eq(true))
                .into_tuple()
                .all(app.db())
                .await
                .unwrap()
        };
        assert_eq!(remaining.len(), 1, "round {round}: {first} / {second}");
        let codes = [code(&first), code(&second)];
        assert!(
            codes.contains(&"CONFLICT") || codes.contains(&"FORBIDDEN"),
            "round {round}: {codes:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hard_delete_racing_the_users_logins_never_fails_internally() {
    let app = TestApp::spawn().await;
    let root = app.user_with("root", &[], true).await;
    for round in 0..8 {
        let name = format!("gone{round}");
        let gone = app.user_with(&name, &[], false).await;

        let (deleted, logins) = tokio::join!(
            app.gql(
                Some(&root.access),
                "mutation($id: ID!) { hardDeleteUser(id: $id) }",
                json!({ "id": gone.id }),
            ),
            futures::future::join_all((0..4).map(|_| app.login(&name, PASSWORD))),
        );

        assert_eq!(deleted["data"]["hardDeleteUser"], true, "{deleted}");
        for body in &logins {
            let outcome = code(body);
            assert!(
                outcome.is_empty() || outcome == "INVALID_CREDENTIALS",
                "round {round}: {body}"
            );
        }
        assert_eq!(
            code(&app.login(&name, PASSWORD).await),
            "INVALID_CREDENTIALS"
        );
    }
}

#[tokio::test]
async fn create_user_without_a_username_makes_a_free_one_from_the_email() {
    let app = TestApp::spawn().await;
    let admin = app.user_with("boss", &["admin"], false).await;
    app.user_with("jane", &[], false).await;
    let create = async |email: &str| {
        let body = app
            .gql(
                Some(&admin.access),
                CREATE,
                json!({ "input": { "email": email, "password": PASSWORD } }),
            )
            .await;
        body["data"]["createUser"]["username"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_owned()
    };

    assert_eq!(create("Jane@Work.example").await, "jane2");
    assert_eq!(create("jane@other.org").await, "jane3");
    assert_eq!(create("J.O'Brien+news@example.com").await, "j.obrien");
    assert_eq!(create("x@example.com").await, "xuser");
    assert_eq!(create("-@example.com").await, "-user");
    let long = create("averyveryverylongname@example.com").await;
    assert_eq!(long, "averyveryverylon");
    assert_eq!(
        create("averyveryverylongname@example.org").await,
        "averyveryverylon2"
    );
}

#[tokio::test]
async fn concurrent_creates_from_one_local_part_each_get_their_own_username() {
    let app = TestApp::spawn().await;
    let admin = app.user_with("boss", &["admin"], false).await;

    let creates = (0..8).map(|i| {
        let (app, token) = (&app, admin.access.clone());
        async move {
            app.gql(Some(&token), CREATE, json!({ "input": { "email": format!("sam@host{i}.example"), "password": PASSWORD } }))
                .await
        }
    });
    let answers = futures::future::join_all(creates).await;

    let mut names: Vec<String> = answers
        .iter()
        .map(|body| {
            body["data"]["createUser"]["username"]
                .as_str()
                .unwrap_or_else(|| panic!("{body}"))
                .to_owned()
        })
        .collect();
    names.sort();
    let mut expected: Vec<String> = std::iter::once("sam".to_owned())
        .chain((2..=8).map(|n| format!("sam{n}")))
        .collect();
    expected.sort();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn create_user_takes_role_names_instead_of_ids() {
    let app = TestApp::spawn().await;
    let admin = app.user_with("boss", &["admin"], false).await;
    let viewer_id = app.role_id(&admin.access, "viewer").await;
    let with = async |roles: Value| {
        let mut input = new_user(&format!(
            "u{}",
            uuid::Uuid::new_v4().simple().to_string().get(..8).unwrap()
        ));
        input
            .as_object_mut()
            .unwrap()
            .extend(roles.as_object().unwrap().clone());
        app.gql(Some(&admin.access), CREATE, json!({ "input": input }))
            .await
    };

    let named = with(json!({ "roleNames": ["Viewer", "user"] })).await;
    let unknown = with(json!({ "roleNames": ["viewer", "nosuchrole"] })).await;
    let both = with(json!({ "roleNames": ["viewer"], "roleIds": [viewer_id] })).await;

    assert_eq!(
        named["data"]["createUser"]["roles"],
        json!([{ "name": "user" }, { "name": "viewer" }]),
        "{named}"
    );
    assert_eq!(
        (code(&unknown), field(&unknown)),
        ("NOT_FOUND", "roleNames")
    );
    assert_eq!((code(&both), field(&both)), ("BAD_USER_INPUT", "roleNames"));
}

#[tokio::test]
async fn update_user_changes_roles_with_the_profile_in_one_transaction() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let assigner_role = app
        .gql(Some(&root.access), "mutation { createRole(input: { name: \"assigner\", permissions: [USERS_READ, USERS_UPDATE, ROLES_ASSIGN] }) { id } }", json!({}))
        .await["data"]["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let assigner = app.user_with("asg", &[], false).await;
    app.set_roles(&root.access, &assigner.id, &[&assigner_role])
        .await;
    let assigner =
        crate::helpers::account(&app.login("asg", PASSWORD).await["data"]["login"]).unwrap();
    let ann = app.user_with("ann", &[], false).await;
    let update = "mutation($id: ID!, $input: UpdateUserInput!) { updateUser(id: $id, input: $input) { firstName roles { name } } }";

    let granted = app
        .gql(
            Some(&assigner.access),
            update,
            json!({ "id": ann.id, "input": { "firstName": "Ann", "roleNames": ["viewer"] } }),
        )
        .await;
    // The admin role holds USERS_DELETE, which the assigner lacks: refused,
    // and the first name given with it is not written either.
    let escalation = app
        .gql(
            Some(&assigner.access),
            update,
            json!({ "id": ann.id, "input": { "firstName": "Mallory", "roleNames": ["admin"] } }),
        )
        .await;
    let by_plain_user = app
        .gql(
            Some(&ann.access),
            update,
            json!({ "id": ann.id, "input": { "roleNames": ["viewer", "user"] } }),
        )
        .await;
    let after = app
        .gql(
            Some(&root.access),
            "query($id: ID!) { user(id: $id) { firstName roles { name } } }",
            json!({ "id": ann.id }),
        )
        .await;
    let events = app
        .gql(Some(&root.access), "query($id: ID!) { auditEvents(first: 5, filter: { targetId: $id, actions: [\"user.roles_changed\"] }) { nodes { changes } } }", json!({ "id": ann.id }))
        .await;

    assert_eq!(
        granted["data"]["updateUser"],
        json!({ "firstName": "Ann", "roles": [{ "name": "viewer" }] }),
        "{granted}"
    );
    assert_eq!(code(&escalation), "FORBIDDEN");
    assert_eq!(code(&by_plain_user), "FORBIDDEN");
    assert_eq!(
        after["data"]["user"],
        json!({ "firstName": "Ann", "roles": [{ "name": "viewer" }] })
    );
    assert_eq!(
        events["data"]["auditEvents"]["nodes"],
        json!([{ "changes": { "roles": { "old": [], "new": ["viewer"] } } }]),
        "{events}"
    );
}

#[tokio::test]
async fn roles_alone_need_only_roles_assign_and_a_change_of_roles_is_a_change_of_the_user() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let role = app
        .gql(Some(&root.access), "mutation { createRole(input: { name: \"assigner\", permissions: [ROLES_ASSIGN, USERS_READ] }) { id } }", json!({}))
        .await["data"]["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let assigner = app.user_with("asg", &[], false).await;
    app.set_roles(&root.access, &assigner.id, &[&role]).await;
    let assigner =
        crate::helpers::account(&app.login("asg", PASSWORD).await["data"]["login"]).unwrap();
    let ann = app.user_with("ann", &["user"], false).await;
    let updated_at = async || {
        app.gql(
            Some(&root.access),
            "query($id: ID!) { user(id: $id) { updatedAt } }",
            json!({ "id": ann.id }),
        )
        .await["data"]["user"]["updatedAt"]
            .clone()
    };
    let before = updated_at().await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // Found by review: updateUser asked USERS_UPDATE for roles alone, which
    // setUserRoles does not, and a change of roles left updatedAt behind.
    let roles_only = app
        .gql(Some(&assigner.access), "mutation($id: ID!) { updateUser(id: $id, input: { roleNames: [\"user\", \"viewer\"] }) { roles { name } } }", json!({ "id": ann.id }))
        .await;
    let after_update = updated_at().await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.set_roles(&assigner.access, &ann.id, &[]).await;
    let after_set = updated_at().await;
    let with_profile = app
        .gql(Some(&assigner.access), "mutation($id: ID!) { updateUser(id: $id, input: { firstName: \"X\", roleNames: [\"user\"] }) { id } }", json!({ "id": ann.id }))
        .await;
    let nothing = app
        .gql(
            Some(&assigner.access),
            "mutation($id: ID!) { updateUser(id: $id, input: {}) { id email } }",
            json!({ "id": ann.id }),
        )
        .await;

    assert_eq!(
        roles_only["data"]["updateUser"]["roles"],
        json!([{ "name": "user" }, { "name": "viewer" }]),
        "{roles_only}"
    );
    assert!(
        after_update.as_str() > before.as_str(),
        "{before} {after_update}"
    );
    assert!(
        after_set.as_str() > after_update.as_str(),
        "{after_update} {after_set}"
    );
    assert_eq!(code(&with_profile), "FORBIDDEN");
    assert_eq!(code(&nothing), "FORBIDDEN");
}
