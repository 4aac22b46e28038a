//! The audit trail: each action's event with its actor, target, changes and
//! origin; nothing secret in any event; nothing for a change that rolled
//! back; failed sign-ins bounded; who may read what; paging and statements.

use serde_json::{Value, json};

use crate::helpers::{Account, PASSWORD, TestApp, code};

const EVENTS: &str = "query($f: AuditEventFilter, $first: Int, $after: String) { auditEvents(filter: $f, first: $first, after: $after) { edges { cursor node { id action actorId apiKeyId targetId changes ip userAgent requestId createdAt actor { username } target { username } } } pageInfo { hasNextPage endCursor } } }";

async fn events(app: &TestApp, token: &str, filter: Value) -> Vec<Value> {
    let body = app
        .gql(Some(token), EVENTS, json!({ "f": filter, "first": 100 }))
        .await;
    body["data"]["auditEvents"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("auditEvents: {body}"))
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

fn actions(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_administrator_can_tell_who_suspended_a_user_and_from_where() {
    let app = TestApp::spawn().await;
    let ada = app.user_with("ada", &["admin"], false).await;
    let bob = app.register_as("bob").await;
    let body: Value = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&ada.access)
        .header("x-request-id", "req-suspend-1")
        .header("user-agent", "admin-console/2.1")
        .json(&json!({ "query": "mutation($id: ID!) { setUserStatus(id: $id, status: SUSPENDED) { status } }", "variables": { "id": bob.id } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["errors"].is_null(), "{body}");
    let found = events(
        &app,
        &ada.access,
        json!({ "targetId": bob.id, "actions": ["user.status_changed"] }),
    )
    .await;
    assert_eq!(found.len(), 1, "{found:?}");
    let event = &found[0];
    assert_eq!(event["actor"]["username"], "ada");
    assert_eq!(event["actorId"], ada.id.as_str());
    assert_eq!(event["target"]["username"], "bob");
    assert_eq!(event["ip"], "127.0.0.1");
    assert_eq!(event["userAgent"], "admin-console/2.1");
    assert_eq!(event["requestId"], "req-suspend-1");
    assert_eq!(
        event["changes"],
        json!({ "status": { "old": "ACTIVE", "new": "SUSPENDED" } })
    );
    assert!(event["id"].as_str().unwrap().starts_with("evt_"));
}

#[tokio::test]
async fn every_action_writes_its_event_and_none_holds_a_secret() {
    let (app, sink) = TestApp::spawn_with_mail(&[]).await;
    let root = app.superuser("root").await;
    let ann = app.register_verified("ann").await;
    let mut secrets: Vec<String> = vec![
        ann.access.clone(),
        ann.refresh.clone(),
        root.refresh.clone(),
    ];
    // The account's own actions.
    app.gql(
        Some(&ann.access),
        "mutation { updateMe(input: { firstName: \"Ann\" }) { id } }",
        json!({}),
    )
    .await;
    app.login("ann", "not-the-password-1").await;
    let login = app.login("ann", PASSWORD).await;
    let second = crate::helpers::account(&login["data"]["login"]).unwrap();
    secrets.push(second.refresh.clone());
    let key = app
        .gql(
            Some(&ann.access),
            "mutation($p: String!) { createApiKey(input: { name: \"k\" }, password: $p) { secret apiKey { id } } }",
            json!({ "p": PASSWORD }),
        )
        .await;
    secrets.push(
        key["data"]["createApiKey"]["secret"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let key_id = key["data"]["createApiKey"]["apiKey"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.gql(
        Some(&ann.access),
        "mutation($id: ID!) { revokeApiKey(id: $id) }",
        json!({ "id": key_id }),
    )
    .await;
    let enrolled = app
        .gql(
            Some(&ann.access),
            "mutation($p: String!) { enrollTotp(password: $p) { secret } }",
            json!({ "p": PASSWORD }),
        )
        .await;
    let totp_secret = enrolled["data"]["enrollTotp"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let codes = app
        .gql(
            Some(&ann.access),
            "mutation($c: String!) { confirmTotp(code: $c) }",
            json!({ "c": crate::mfa::totp_code(&totp_secret, 0) }),
        )
        .await;
    for code in codes["data"]["confirmTotp"].as_array().unwrap() {
        secrets.push(code.as_str().unwrap().to_owned());
    }
    secrets.push(totp_secret);
    app.gql(
        Some(&ann.access),
        "mutation($p: String!) { disableTotp(password: $p) }",
        json!({ "p": PASSWORD }),
    )
    .await;
    app.gql(Some(&ann.access), "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }", json!({ "c": PASSWORD, "n": "marmalade-lantern-77" }))
        .await;
    app.gql(
        None,
        "mutation { requestPasswordReset(email: \"ann@example.com\") }",
        json!({}),
    )
    .await;
    let reset = sink.next("ann@example.com", 1).await.token();
    secrets.push(reset.clone());
    app.gql(None, "mutation($t: String!) { resetPassword(token: $t, newPassword: \"tangerine-kettle-43\") { accessToken } }", json!({ "t": reset }))
        .await;
    secrets.push(sink.to("ann@example.com")[0].token());
    // An administrator's.
    let created = app
        .gql(Some(&root.access), "mutation { createUser(input: { username: \"bob\", email: \"bob@example.com\", password: \"marmalade-otter-77\" }) { id } }", json!({}))
        .await;
    let bob = created["data"]["createUser"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let viewer_role = app.role_id(&root.access, "viewer").await;
    let user_role = app.role_id(&root.access, "user").await;
    app.set_roles(&root.access, &bob, &[&user_role, &viewer_role])
        .await;
    app.gql(Some(&root.access), "mutation($id: ID!) { updateUser(id: $id, input: { lastName: \"Lee\", password: \"marmalade-otter-78\" }) { id } }", json!({ "id": bob }))
        .await;
    let tier = app
        .gql(
            Some(&root.access),
            "mutation { createTier(input: { name: \"Pro\" }) { id } }",
            json!({}),
        )
        .await;
    let tier = tier["data"]["createTier"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.gql(
        Some(&root.access),
        "mutation($id: ID!, $t: ID) { setUserTier(id: $id, tierId: $t) { id } }",
        json!({ "id": bob, "t": tier }),
    )
    .await;
    let role = app
        .gql(Some(&root.access), "mutation { createRole(input: { name: \"support\", permissions: [USERS_READ] }) { id } }", json!({}))
        .await;
    let role = role["data"]["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.gql(
        Some(&root.access),
        "mutation($id: ID!) { updateRole(id: $id, input: { description: \"Help desk\" }) { id } }",
        json!({ "id": role }),
    )
    .await;
    app.gql(
        Some(&root.access),
        "mutation($id: ID!) { deleteRole(id: $id) }",
        json!({ "id": role }),
    )
    .await;
    app.gql(
        Some(&root.access),
        "mutation($id: ID!) { deleteUser(id: $id) { id } }",
        json!({ "id": bob }),
    )
    .await;
    app.gql(
        Some(&root.access),
        "mutation($id: ID!) { restoreUser(id: $id) { id } }",
        json!({ "id": bob }),
    )
    .await;
    app.gql(
        Some(&root.access),
        "mutation($id: ID!) { setUserTier(id: $id, tierId: null) { id } }",
        json!({ "id": bob }),
    )
    .await;
    app.gql(
        Some(&root.access),
        "mutation($id: ID!) { hardDeleteUser(id: $id) }",
        json!({ "id": bob }),
    )
    .await;
    app.gql(
        Some(&root.access),
        "mutation { invitation: inviteUser(input: { email: \"dee@example.com\" }) { id } }",
        json!({}),
    )
    .await;

    let all = events(&app, &root.access, json!({})).await;
    let seen: std::collections::BTreeSet<String> = actions(&all).into_iter().collect();
    for expected in [
        "user.registered",
        "user.updated",
        "auth.login_failed",
        "auth.login",
        "api_key.created",
        "api_key.revoked",
        "auth.mfa_enabled",
        "auth.mfa_disabled",
        "auth.password_changed",
        "auth.password_reset",
        "user.created",
        "user.roles_changed",
        "user.tier_changed",
        "tier.created",
        "role.created",
        "role.updated",
        "role.deleted",
        "user.deleted",
        "user.restored",
        "user.hard_deleted",
        "user.invited",
    ] {
        assert!(seen.contains(expected), "no {expected} among {seen:?}");
    }
    // The hard-deleted user's events keep their id.
    let bobs = events(&app, &root.access, json!({ "targetId": bob })).await;
    assert!(bobs.len() >= 6, "{bobs:?}");
    assert!(
        bobs.iter()
            .all(|e| e["targetId"] == bob.as_str() && e["target"].is_null())
    );
    // The administrator's password change is recorded, never the password.
    let text = serde_json::to_string(&all).unwrap();
    for secret in secrets.iter().chain(
        [
            "marmalade-otter-78".to_owned(),
            "marmalade-lantern-77".to_owned(),
            PASSWORD.to_owned(),
        ]
        .iter(),
    ) {
        assert!(
            !text.contains(secret.as_str()),
            "an event holds a secret: {secret}"
        );
    }
    assert!(!text.contains("$argon2"), "an event holds a hash");
    let stored = entity::audit_event::Entity::find()
        .all(app.db())
        .await
        .unwrap();
    let raw = format!("{stored:?}");
    assert!(!raw.contains("$argon2") && !raw.contains("ugk_"));
}

use sea_orm::EntityTrait;

#[tokio::test]
async fn a_change_that_rolls_back_writes_no_event() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let ann = app.register_as("ann").await;
    let before = events(&app, &root.access, json!({})).await.len();
    let missing = usergraph::ids::encode(usergraph::ids::ROLE, uuid::Uuid::new_v4());
    let body = app.set_roles(&root.access, &ann.id, &[&missing]).await;
    assert_eq!(code(&body), "NOT_FOUND");
    let body = app
        .gql(Some(&root.access), "mutation { createUser(input: { username: \"ann\", email: \"x@example.com\", password: \"marmalade-otter-77\" }) { id } }", json!({}))
        .await;
    assert_eq!(code(&body), "DUPLICATE_USERNAME");
    let after = events(&app, &root.access, json!({})).await;
    assert_eq!(after.len(), before, "{:?}", actions(&after));
}

#[tokio::test]
async fn failed_sign_ins_are_recorded_for_real_accounts_only_and_bounded_by_the_lockout() {
    let app = TestApp::spawn_with(&[("LOGIN_LOCKOUT_THRESHOLD", "3")]).await;
    let root = app.superuser("root").await;
    app.register_as("ann").await;
    for i in 0..20 {
        app.login(&format!("nobody{i}"), "not-the-password-1").await;
        app.login("ann", "not-the-password-1").await;
    }
    let all = actions(&events(&app, &root.access, json!({})).await);
    let failed = all.iter().filter(|a| *a == "auth.login_failed").count();
    let locked = all.iter().filter(|a| *a == "auth.locked").count();
    assert_eq!((failed, locked), (3, 1), "{all:?}");
}

#[tokio::test]
async fn only_audit_readers_read_the_trail_and_users_read_their_own_security_events() {
    let app = TestApp::spawn().await;
    let vic = app.user_with("vic", &["viewer"], false).await;
    let ada = app.user_with("ada", &["admin"], false).await;
    let ann = app.register_as("ann").await;
    app.login("ann", "not-the-password-1").await;
    assert_eq!(
        code(&app.gql(Some(&vic.access), EVENTS, json!({})).await),
        "FORBIDDEN"
    );
    let on_user =
        "query($id: ID!) { user(id: $id) { auditEvents(first: 5) { nodes { action } } } }";
    assert_eq!(
        code(
            &app.gql(Some(&vic.access), on_user, json!({ "id": ann.id }))
                .await
        ),
        "FORBIDDEN"
    );
    let body = app
        .gql(Some(&ada.access), on_user, json!({ "id": ann.id }))
        .await;
    let mine: Vec<&str> = body["data"]["user"]["auditEvents"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["action"].as_str().unwrap())
        .collect();
    assert_eq!(mine, ["auth.login_failed", "user.registered"], "{body}");
    // A user's own security events: sign-ins, failures; not profile edits.
    app.gql(
        Some(&ann.access),
        "mutation { updateMe(input: { firstName: \"Ann\" }) { id } }",
        json!({}),
    )
    .await;
    let own = app
        .gql(
            Some(&ann.access),
            "{ mySecurityEvents { nodes { action ip actor { username } } } }",
            json!({}),
        )
        .await;
    let own: Vec<&str> = own["data"]["mySecurityEvents"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{own}"))
        .iter()
        .map(|n| n["action"].as_str().unwrap())
        .collect();
    assert_eq!(own, ["auth.login_failed"]);
}

#[tokio::test]
async fn events_page_by_cursor_and_a_page_of_users_costs_the_same_statements_with_their_events() {
    let app = TestApp::spawn().await;
    let ada = app.user_with("ada", &["admin"], false).await;
    let mut accounts: Vec<Account> = Vec::new();
    for i in 0..6 {
        accounts.push(app.register_as(&format!("u{i}")).await);
    }
    let first = app
        .gql(Some(&ada.access), EVENTS, json!({ "first": 4 }))
        .await;
    let page = &first["data"]["auditEvents"];
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let cursor = page["pageInfo"]["endCursor"].as_str().unwrap();
    let next = app
        .gql(
            Some(&ada.access),
            EVENTS,
            json!({ "first": 4, "after": cursor }),
        )
        .await;
    let a: Vec<&Value> = page["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"]["id"])
        .collect();
    let b: Vec<&Value> = next["data"]["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"]["id"])
        .collect();
    assert_eq!(b.len(), 2, "six registrations in all");
    assert!(a.iter().all(|id| !b.contains(id)));
    let query = |n: u32| {
        format!(
            "{{ users(first: {n}) {{ nodes {{ username auditEvents(first: 3) {{ nodes {{ action actor {{ username }} }} }} }} }} }}"
        )
    };
    let (small, body) = app
        .count_statements(app.gql(Some(&ada.access), &query(2), json!({})))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let (large, body) = app
        .count_statements(app.gql(Some(&ada.access), &query(7), json!({})))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(small, large, "statements grow with the page");
}

#[tokio::test]
async fn old_events_are_pruned_after_the_retention() {
    let app = TestApp::spawn_with(&[("AUDIT_RETENTION_DAYS", "30")]).await;
    app.register_as("ann").await;
    app.register_as("bob").await;
    app.sql("UPDATE audit_events SET created_at = '2020-01-01 00:00:00+00:00' WHERE action = 'user.registered' AND target_id IN (SELECT id FROM users WHERE username = 'ann')")
        .await;
    // The replica's own periodic job may prune it first: either way it goes.
    let pruned = usergraph::service::audit::prune(&app.ctx).await.unwrap();
    assert!(pruned <= 1);
    assert_eq!(
        entity::audit_event::Entity::find()
            .all(app.db())
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_users_own_history_shows_that_an_administrator_acted_but_not_from_where() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let bob = app.register_as("bob").await;
    let body: Value = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&root.access)
        .header("user-agent", "AdminWorkstation/9")
        .header("x-request-id", "root-req-2")
        .json(&json!({ "query": "mutation($id: ID!) { updateUser(id: $id, input: { password: \"marmalade-otter-77\" }) { id } }", "variables": { "id": bob.id } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body["errors"].is_null(), "{body}");
    let bob =
        crate::helpers::account(&app.login("bob", "marmalade-otter-77").await["data"]["login"])
            .unwrap();
    let own = app
        .gql(
            Some(&bob.access),
            "{ mySecurityEvents { nodes { action actorId ip userAgent requestId } } }",
            json!({}),
        )
        .await;
    let text = own.to_string();
    assert!(text.contains("auth.password_changed"), "{text}");
    assert!(
        !text.contains("AdminWorkstation") && !text.contains("root-req-2"),
        "{text}"
    );
}
