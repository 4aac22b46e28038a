//! Impersonation: `impersonateUser`, `endImpersonation`, the guard on what
//! an impersonation runs, the per-request re-check of its administrator,
//! and what the user sees of it.

use base64::Engine;
use serde_json::{Value, json};
use usergraph::http::guardrails::{IMPERSONATION_MAY_RUN, IMPERSONATION_MAY_WRITE};

use crate::helpers::{Account, PASSWORD, TestApp, code, field};

const IMPERSONATE: &str = "mutation($id: ID!, $reason: String!, $readOnly: Boolean, $ttl: Int, $password: String!) {
  impersonateUser(id: $id, reason: $reason, readOnly: $readOnly, ttlSeconds: $ttl, password: $password) {
    accessToken refreshToken expiresIn user { id username }
  }
}";

/// A support administrator: a custom role with `USERS_IMPERSONATE` beside
/// the built-in `admin`, which holds every permission a plain user has.
async fn support(app: &TestApp, username: &str) -> Account {
    let root = app.superuser(&format!("root{username}")).await;
    let created = app
        .gql(
            Some(&root.access),
            "mutation($input: CreateRoleInput!) { createRole(input: $input) { id } }",
            json!({ "input": { "name": format!("support{username}"), "permissions": ["USERS_IMPERSONATE", "USERS_READ"] } }),
        )
        .await;
    let role = created["data"]["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let account = app.user_with(username, &["admin"], false).await;
    let admin = app.role_id(&root.access, "admin").await;
    let set = app
        .set_roles(&root.access, &account.id, &[&admin, &role])
        .await;
    assert!(set["errors"].is_null(), "{set}");
    account
}

async fn impersonate(
    app: &TestApp,
    actor: &Account,
    target: &str,
    read_only: bool,
    ttl: i32,
) -> Value {
    app.gql(
        Some(&actor.access),
        IMPERSONATE,
        json!({ "id": target, "reason": "ticket #4711: cannot see invoices", "readOnly": read_only, "ttl": ttl, "password": PASSWORD }),
    )
    .await
}

/// The impersonation's tokens, or a panic with the answer.
async fn started(app: &TestApp, actor: &Account, target: &str, read_only: bool) -> Account {
    let body = impersonate(app, actor, target, read_only, 900).await;
    let payload = &body["data"]["impersonateUser"];
    assert!(payload["accessToken"].is_string(), "{body}");
    Account {
        id: target.to_owned(),
        access: payload["accessToken"].as_str().unwrap().to_owned(),
        refresh: payload["refreshToken"].as_str().unwrap().to_owned(),
    }
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Sets a user's status as `token`'s holder.
async fn set_status(app: &TestApp, token: &str, id: &str, status: &str) -> Value {
    app.gql(
        Some(token),
        "mutation($id: ID!, $s: UserStatus!) { setUserStatus(id: $id, status: $s) { status } }",
        json!({ "id": id, "s": status }),
    )
    .await
}

/// Asserts that `session` is refused each of `names` by the guard (by name,
/// before the document's arguments are even read), with nothing run;
/// returns how many it tried.
async fn assert_refused<'a>(
    app: &TestApp,
    session: &Account,
    names: impl IntoIterator<Item = &'a str>,
) -> usize {
    let mut tried = 0;
    for name in names {
        if IMPERSONATION_MAY_RUN.contains(&name) {
            continue;
        }
        let body = app
            .gql(
                Some(&session.access),
                &format!("mutation {{ {name} }}"),
                json!({}),
            )
            .await;
        assert_eq!(code(&body), "FORBIDDEN", "{name}: {body}");
        assert!(body["data"].is_null(), "{name}: {body}");
        tried += 1;
    }
    tried
}

/// Every mutation of the schema, by name.
async fn mutations(app: &TestApp, token: &str) -> Vec<String> {
    let schema = app
        .gql(
            Some(token),
            "{ __schema { mutationType { fields { name } } } }",
            json!({}),
        )
        .await;
    schema["data"]["__schema"]["mutationType"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_impersonation_acts_as_the_user_and_its_token_names_the_administrator() {
    let app = TestApp::spawn().await;
    let admin = support(&app, "helpdesk").await;
    let ann = app.user_with("ann", &["user"], false).await;
    let body = impersonate(&app, &admin, &ann.id, true, 900).await;
    let payload = &body["data"]["impersonateUser"];
    assert_eq!(payload["user"]["username"], "ann", "{body}");
    assert!(payload["expiresIn"].as_i64().unwrap() <= 900);
    let access = payload["accessToken"].as_str().unwrap();
    let claims = claims(access);
    assert_eq!(claims["sub"], ann.id.as_str());
    assert_eq!(claims["act"]["sub"], admin.id.as_str(), "{claims}");
    // The user's own tokens carry no `act`.
    assert!(self::claims(&ann.access)["act"].is_null());

    let me = app.me(access).await;
    assert_eq!(me["data"]["me"]["username"], "ann", "{me}");
    // The administrator's own session is untouched.
    let own = app.me(&admin.access).await;
    assert_eq!(own["data"]["me"]["username"], "helpdesk");
}

#[tokio::test]
async fn a_read_only_impersonation_is_refused_every_mutation_but_ending_itself() {
    let app = TestApp::spawn().await;
    let admin = support(&app, "helpdesk").await;
    let ann = app.user_with("ann", &["user"], false).await;
    let session = started(&app, &admin, &ann.id, true).await;
    let all = mutations(&app, &admin.access).await;
    assert!(all.len() > 60, "{all:?}");
    for name in IMPERSONATION_MAY_RUN.iter().chain(&IMPERSONATION_MAY_WRITE) {
        assert!(all.iter().any(|m| m == name), "{name} is no mutation");
    }
    let refused = assert_refused(&app, &session, all.iter().map(String::as_str)).await;
    assert_eq!(refused, all.len() - IMPERSONATION_MAY_RUN.len());
    // A real change, written out in full, is refused as well, and nothing changed.
    let body = app
        .gql(
            Some(&session.access),
            "mutation { updateMe(input: { name: \"Changed\" }) { name } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let me = app.me(&ann.access).await;
    assert_ne!(me["data"]["me"]["name"], "Changed");
    // Reading works, and so does refreshing its own tokens.
    let read = app
        .gql(Some(&session.access), "{ mySessions { id current readOnly impersonationReason impersonator { id username } } }", json!({}))
        .await;
    let current = read["data"]["mySessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .cloned()
        .unwrap();
    assert_eq!(current["readOnly"], true);
    assert_eq!(current["impersonator"]["id"], admin.id.as_str(), "{read}");
    let refreshed = app.refresh(&session.refresh).await;
    let access = refreshed["data"]["refreshToken"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{refreshed}"));
    assert_eq!(claims(access)["act"]["sub"], admin.id.as_str());
    // And it ends.
    let ended = app
        .gql(Some(access), "mutation { endImpersonation }", json!({}))
        .await;
    assert_eq!(ended["data"]["endImpersonation"], true, "{ended}");
    assert_eq!(code(&app.me(access).await), "UNAUTHENTICATED");
    assert_eq!(
        app.me(&admin.access).await["data"]["me"]["username"],
        "helpdesk"
    );
}

#[tokio::test]
async fn a_writing_impersonation_changes_only_the_profile_never_credentials_nor_organisations() {
    let app = TestApp::spawn().await;
    let admin = support(&app, "helpdesk").await;
    // Ann is an administrator herself, and owns an organisation: what an
    // administrator or an owner may do, the session still may not.
    let ann = app.user_with("ann", &["admin"], false).await;
    let org = app
        .gql(
            Some(&ann.access),
            "mutation { createOrganization(input: { name: \"Acme\", slug: \"acme\" }) { id } }",
            json!({}),
        )
        .await;
    let org = org["data"]["createOrganization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let session = started(&app, &admin, &ann.id, false).await;
    let all = mutations(&app, &admin.access).await;
    let allowed = IMPERSONATION_MAY_RUN.iter().chain(&IMPERSONATION_MAY_WRITE);
    let refused = all
        .iter()
        .map(String::as_str)
        .filter(|name| !allowed.clone().any(|a| a == name));
    let tried = assert_refused(&app, &session, refused).await;
    assert_eq!(
        tried,
        all.len() - IMPERSONATION_MAY_RUN.len() - IMPERSONATION_MAY_WRITE.len()
    );

    // The profile changes, and the event names the administrator.
    let renamed = app
        .gql(
            Some(&session.access),
            "mutation { updateMe(input: { name: \"Ann B.\" }) { name } }",
            json!({}),
        )
        .await;
    assert_eq!(renamed["data"]["updateMe"]["name"], "Ann B.", "{renamed}");
    let events = app
        .gql(
            Some(&admin.access),
            "query($id: ID!) { auditEvents(filter: { targetId: $id }) { nodes { action actorId impersonatorId } } }",
            json!({ "id": ann.id }),
        )
        .await;
    let event = events["data"]["auditEvents"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "user.updated")
        .cloned()
        .unwrap_or_else(|| panic!("{events}"));
    assert_eq!(event["actorId"], ann.id.as_str());
    assert_eq!(event["impersonatorId"], admin.id.as_str());
    // The address is a credential: no impersonation confirms the password it needs.
    let moved = app
        .gql(
            Some(&session.access),
            "mutation($p: String!) { updateMe(input: { email: \"elsewhere@example.com\" }, currentPassword: $p) { email } }",
            json!({ "p": PASSWORD }),
        )
        .await;
    assert_eq!(code(&moved), "FORBIDDEN", "{moved}");
    // Inside her organisation, which she owns, the session only reads.
    let held = app
        .gql(
            Some(&session.access),
            "query($id: ID!) { organization(id: $id) { viewerPermissions } }",
            json!({ "id": org }),
        )
        .await;
    // (Reading the trail comes from her AUDIT_READ, which the administrator holds too.)
    assert_eq!(
        held["data"]["organization"]["viewerPermissions"],
        json!(["MEMBERS_READ", "ORG_AUDIT_READ"]),
        "{held}"
    );
    // Her own session list shows the impersonation, not where the administrator sits.
    let sessions = app
        .gql(
            Some(&ann.access),
            "{ mySessions { ip userAgent impersonator { id } } }",
            json!({}),
        )
        .await;
    let acted = sessions["data"]["mySessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| !s["impersonator"].is_null())
        .cloned()
        .unwrap_or_else(|| panic!("{sessions}"));
    assert!(
        acted["ip"].is_null() && acted["userAgent"].is_null(),
        "{acted}"
    );
}

#[tokio::test]
async fn impersonation_is_refused_for_superusers_stronger_users_oneself_the_inactive_and_bad_input()
{
    let app = TestApp::spawn().await;
    let admin = support(&app, "helpdesk").await;
    let plain = app.user_with("plain", &["admin"], false).await;
    let ann = app.user_with("ann", &["user"], false).await;
    let root = app.superuser("root").await;
    let viewer_role = app.role_id(&root.access, "viewer").await;
    let user_role = app.role_id(&root.access, "user").await;
    // Carol may impersonate too, and holds less than the support administrator.
    let created = app
        .gql(
            Some(&root.access),
            "mutation($input: CreateRoleInput!) { createRole(input: $input) { id } }",
            json!({ "input": { "name": "impersonators", "permissions": ["USERS_IMPERSONATE"] } }),
        )
        .await;
    let impersonators = created["data"]["createRole"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let carol = app.user_with("carol", &[], false).await;
    app.set_roles(
        &root.access,
        &carol.id,
        &[&user_role, &viewer_role, &impersonators],
    )
    .await;
    let dave = app.user_with("dave", &["user"], false).await;
    set_status(&app, &root.access, &dave.id, "SUSPENDED").await;

    // No USERS_IMPERSONATE: an administrator without it.
    let body = impersonate(&app, &plain, &ann.id, true, 900).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = impersonate(&app, &admin, &root.id, true, 900).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("superuser")
    );
    // Everything carol holds, the support administrator holds: she may be
    // impersonated. The administrator holds what carol lacks: not by her.
    let body = impersonate(&app, &admin, &carol.id, true, 900).await;
    assert!(body["errors"].is_null(), "{body}");
    let body = impersonate(&app, &carol, &admin.id, true, 900).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("permission you do not"),
        "{body}"
    );
    let body = impersonate(&app, &admin, &admin.id, true, 900).await;
    assert_eq!(
        (code(&body), field(&body)),
        ("BAD_USER_INPUT", "id"),
        "{body}"
    );
    let body = impersonate(&app, &admin, &dave.id, true, 900).await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    for ttl in [3601, 59, 0, -5] {
        let body = impersonate(&app, &admin, &ann.id, true, ttl).await;
        assert_eq!(
            (code(&body), field(&body)),
            ("BAD_USER_INPUT", "ttlSeconds"),
            "{body}"
        );
    }
    let body = app
        .gql(
            Some(&admin.access),
            IMPERSONATE,
            json!({ "id": ann.id, "reason": "  ", "readOnly": true, "ttl": 900, "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        (code(&body), field(&body)),
        ("BAD_USER_INPUT", "reason"),
        "{body}"
    );
    let body = app
        .gql(
            Some(&admin.access),
            IMPERSONATE,
            json!({ "id": ann.id, "reason": "x", "readOnly": true, "ttl": 900, "password": "not the password" }),
        )
        .await;
    assert_eq!(
        (code(&body), field(&body)),
        ("BAD_USER_INPUT", "password"),
        "{body}"
    );
    let body = impersonate(
        &app,
        &admin,
        &usergraph::ids::encode(usergraph::ids::USER, uuid::Uuid::nil()),
        true,
        900,
    )
    .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
    // Not from inside another impersonation (a writing one: the guard
    // refuses it by name, the service by the session).
    let inside = started(&app, &admin, &ann.id, false).await;
    let body = impersonate(&app, &inside, &plain.id, true, 900).await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    // Nor with an API key.
    let key = app
        .gql(
            Some(&admin.access),
            "mutation($p: String!) { createApiKey(input: { name: \"k\", permissions: [USERS_IMPERSONATE, USERS_READ] }, password: $p) { secret } }",
            json!({ "p": PASSWORD }),
        )
        .await;
    let secret = key["data"]["createApiKey"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("{key}"));
    let body = app
        .gql(
            Some(secret),
            IMPERSONATE,
            json!({ "id": ann.id, "reason": "x", "readOnly": true, "ttl": 900, "password": PASSWORD }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
}

#[tokio::test]
async fn suspending_the_administrator_or_taking_their_permission_ends_their_impersonations_on_every_replica()
 {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let admin = support(&app, "helpdesk").await;
    let ann = app.user_with("ann", &["user"], false).await;
    let replica = app.spawn_replica().await;

    // The permission taken away: the next request, on another replica, is refused.
    let session = started(&app, &admin, &ann.id, true).await;
    let me = app
        .gql_at(replica.addr, &session.access, "{ me { id } }")
        .await;
    assert_eq!(me["data"]["me"]["id"], ann.id.as_str(), "{me}");
    let admin_role = app.role_id(&root.access, "admin").await;
    app.set_roles(&root.access, &admin.id, &[&admin_role]).await;
    let me = app
        .gql_at(replica.addr, &session.access, "{ me { id } }")
        .await;
    assert_eq!(code(&me), "UNAUTHENTICATED", "{me}");
    assert_eq!(code(&app.refresh(&session.refresh).await), "TOKEN_INVALID");

    // Suspended: refused at once, and the session is ended for good.
    let admin = support(&app, "helpdesk2").await;
    let session = started(&app, &admin, &ann.id, true).await;
    set_status(&app, &root.access, &admin.id, "SUSPENDED").await;
    let me = app
        .gql_at(replica.addr, &session.access, "{ me { id } }")
        .await;
    assert_eq!(code(&me), "UNAUTHENTICATED", "{me}");
    set_status(&app, &root.access, &admin.id, "ACTIVE").await;
    assert_eq!(code(&app.me(&session.access).await), "UNAUTHENTICATED");
    // Ann's own session never depended on it.
    assert_eq!(
        app.me(&ann.access).await["data"]["me"]["id"],
        ann.id.as_str()
    );
}

#[tokio::test]
async fn an_impersonation_ends_when_its_time_is_up_whatever_refreshes_it() {
    let app = TestApp::spawn().await;
    let admin = support(&app, "helpdesk").await;
    let ann = app.user_with("ann", &["user"], false).await;
    let body = impersonate(&app, &admin, &ann.id, true, 120).await;
    let payload = &body["data"]["impersonateUser"];
    assert!(payload["expiresIn"].as_i64().unwrap() <= 120, "{body}");
    let access = payload["accessToken"].as_str().unwrap();
    let refresh = payload["refreshToken"].as_str().unwrap();
    let claims = claims(access);
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 120);
    let sessions = app
        .gql(
            Some(access),
            "{ mySessions { current expiresAt } }",
            json!({}),
        )
        .await;
    let expires: chrono::DateTime<chrono::Utc> = sessions["data"]["mySessions"][0]["expiresAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        expires <= chrono::Utc::now() + chrono::Duration::seconds(121),
        "{sessions}"
    );
    // Its time passes (moved back rather than waited for).
    app.sql(
        "UPDATE sessions SET impersonation_ends_at = created_at, expires_at = created_at WHERE impersonator_id IS NOT NULL",
    )
    .await;
    assert_eq!(code(&app.refresh(refresh).await), "TOKEN_EXPIRED");
    assert_eq!(code(&app.me(access).await), "UNAUTHENTICATED");
}

#[tokio::test]
async fn the_user_sees_the_impersonation_in_their_sessions_and_security_events_and_by_mail() {
    let (app, mail) = TestApp::spawn_with_mail(&[]).await;
    let admin = support(&app, "helpdesk").await;
    let ann = app.user_with("ann", &["user"], false).await;
    let session = started(&app, &admin, &ann.id, true).await;
    let sessions = app
        .gql(
            Some(&ann.access),
            "{ mySessions { current readOnly impersonationReason impersonator { id username } } }",
            json!({}),
        )
        .await;
    let other = sessions["data"]["mySessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .cloned()
        .unwrap_or_else(|| panic!("{sessions}"));
    assert_eq!(other["impersonator"]["username"], "helpdesk", "{sessions}");
    assert_eq!(
        other["impersonationReason"],
        "ticket #4711: cannot see invoices"
    );
    assert_eq!(other["readOnly"], true);
    app.gql(
        Some(&session.access),
        "mutation { endImpersonation }",
        json!({}),
    )
    .await;
    let events = app
        .gql(
            Some(&ann.access),
            "{ mySecurityEvents { nodes { action actorId impersonatorId changes } } }",
            json!({}),
        )
        .await;
    let nodes = events["data"]["mySecurityEvents"]["nodes"]
        .as_array()
        .unwrap();
    let started_event = nodes
        .iter()
        .find(|e| e["action"] == "impersonation.started")
        .unwrap_or_else(|| panic!("{events}"));
    assert_eq!(started_event["actorId"], admin.id.as_str());
    assert_eq!(started_event["changes"]["readOnly"]["new"], true);
    let ended = nodes
        .iter()
        .find(|e| e["action"] == "impersonation.ended")
        .unwrap_or_else(|| panic!("{events}"));
    assert_eq!(ended["actorId"], ann.id.as_str());
    assert_eq!(ended["impersonatorId"], admin.id.as_str());

    let received = mail.wait_for("ann@example.com", 1).await;
    let notice = &received[0];
    assert!(
        notice.subject.contains("Support is acting"),
        "{}",
        notice.subject
    );
    assert!(notice.text.contains("helpdesk"), "{}", notice.text);
    assert!(notice.text.contains("ticket #4711"), "{}", notice.text);
    assert!(notice.text.contains("15 minutes"), "{}", notice.text);
}

#[tokio::test]
async fn without_impersonation_notify_no_mail_goes() {
    let (app, mail) = TestApp::spawn_with_mail(&[("IMPERSONATION_NOTIFY", "false")]).await;
    let admin = support(&app, "helpdesk").await;
    let ann = app.user_with("ann", &["user"], false).await;
    started(&app, &admin, &ann.id, true).await;
    // Mail that is queued goes within the poll interval; wait well past it.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(mail.to("ann@example.com").is_empty());
}

#[tokio::test]
async fn a_request_in_an_impersonation_costs_the_statements_of_any_other() {
    let app = TestApp::spawn().await;
    let admin = support(&app, "helpdesk").await;
    let ann = app.user_with("ann", &["user"], false).await;
    let session = started(&app, &admin, &ann.id, true).await;
    let query = "{ me { id username } }";
    let (own, body) = app
        .count_statements(app.gql(Some(&ann.access), query, json!({})))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let (impersonated, body) = app
        .count_statements(app.gql(Some(&session.access), query, json!({})))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(own, impersonated);
}

/// The race a replica could lose: refreshes of impersonations against
/// their administrator's suspension. Whichever commits first, no live link
/// of the administrator's impersonations is left (a refresh locks the
/// administrator's row before the user's, as the suspension does).
#[tokio::test]
async fn a_refresh_racing_the_administrators_suspension_leaves_no_live_impersonation() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let ann = app.user_with("ann", &["user"], false).await;
    for round in 0..5 {
        let admin = support(&app, &format!("helpdesk{round}")).await;
        let mut sessions = Vec::new();
        for _ in 0..8 {
            sessions.push(started(&app, &admin, &ann.id, true).await);
        }
        let suspend = set_status(&app, &root.access, &admin.id, "SUSPENDED");
        let refreshes = futures::future::join_all(sessions.iter().map(|s| app.refresh(&s.refresh)));
        let (suspended, refreshed) = tokio::join!(suspend, refreshes);
        assert_eq!(
            suspended["data"]["setUserStatus"]["status"], "SUSPENDED",
            "{suspended}"
        );
        let live = app
            .rows(
                "SELECT s.id FROM sessions s JOIN users u ON u.id = s.impersonator_id \
                 WHERE s.revoked_at IS NULL AND s.rotated_at IS NULL AND u.status = 'suspended'",
            )
            .await;
        assert!(
            live.is_empty(),
            "round {round}: {} live impersonations survived",
            live.len()
        );
        for body in refreshed {
            if let Some(access) = body["data"]["refreshToken"]["accessToken"].as_str() {
                assert_eq!(code(&app.me(access).await), "UNAUTHENTICATED");
            }
        }
    }
}
