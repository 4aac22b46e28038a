//! Organisations (#32): the built-in org roles, an organisation keeping an
//! owner (raced), and the API as a B2B product meets it: create, invite,
//! accept, switch, manage members, and what an org admin can and cannot see
//! on every path.

use entity::{membership, organization};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set, TransactionTrait};
use usergraph::{
    auth::org::OrgPermission,
    service::memberships::{self, ADMIN, MEMBER, OWNER},
};

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, account, code, field};

/// An organisation whose `owners` users own it.
async fn owned_by(app: &TestApp, owners: &[&str]) -> (uuid::Uuid, Vec<membership::Model>) {
    let ts = chrono::Utc::now();
    let org = organization::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        name: Set("Acme".into()),
        slug: Set(format!("acme-{}", uuid::Uuid::now_v7().simple())),
        metadata: Set(serde_json::json!({})),
        tier_id: Set(None),
        created_at: Set(ts),
        updated_at: Set(ts),
    }
    .insert(app.db())
    .await
    .unwrap();
    let owner = memberships::builtin_role(app.db(), OWNER).await.unwrap();
    let mut members = Vec::new();
    for name in owners {
        let account = app.register_as(name).await;
        let member = joining(org.id, &account.id).insert(app.db()).await.unwrap();
        memberships::set_roles(app.db(), &member, &[owner.id])
            .await
            .unwrap();
        members.push(member);
    }
    (org.id, members)
}

async fn owner_count(app: &TestApp, members: &[membership::Model]) -> usize {
    let mut owners = 0;
    for member in members {
        let roles = memberships::roles_of(app.db(), member.id).await.unwrap();
        owners += usize::from(roles.iter().any(|r| r.name == OWNER));
    }
    owners
}

#[tokio::test]
async fn the_built_in_org_roles_hold_their_permissions() {
    let app = TestApp::spawn().await;
    for (name, expected) in [
        (OWNER, OrgPermission::ALL.to_vec()),
        (
            ADMIN,
            OrgPermission::ALL
                .into_iter()
                .filter(|p| *p != OrgPermission::OrgDelete)
                .collect(),
        ),
        (MEMBER, vec![OrgPermission::MembersRead]),
    ] {
        let role = memberships::builtin_role(app.db(), name).await.unwrap();
        let held: Vec<OrgPermission> = memberships::permissions(&[role]).into_iter().collect();
        assert_eq!(held, expected, "{name}");
    }
}

#[tokio::test]
async fn the_last_owner_cannot_leave_be_removed_or_lose_the_role() {
    let app = TestApp::spawn().await;
    let (org, members) = owned_by(&app, &["ann"]).await;
    let member = memberships::builtin_role(app.db(), MEMBER).await.unwrap();
    let err = memberships::set_roles(app.db(), &members[0], &[member.id])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "CONFLICT");
    let err = memberships::remove(app.db(), &members[0])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "CONFLICT");
    let (held, permissions) = memberships::standing(app.db(), org, members[0].user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held.id, members[0].id);
    assert!(permissions.contains(&OrgPermission::OrgDelete));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_owners_demoting_each_other_at_once_leave_an_owner() {
    let app = TestApp::spawn().await;
    let member = memberships::builtin_role(app.db(), MEMBER).await.unwrap();
    for round in 0..8 {
        let (_, members) = owned_by(&app, &[&format!("a{round}"), &format!("b{round}")]).await;
        let demote = |target: membership::Model| {
            let db = app.db().clone();
            let role = member.id;
            tokio::spawn(async move {
                let txn = db.begin().await?;
                memberships::set_roles(&txn, &target, &[role]).await?;
                txn.commit().await?;
                Ok::<_, usergraph::error::AppError>(())
            })
        };
        let (first, second) = tokio::join!(demote(members[1].clone()), demote(members[0].clone()));
        let outcomes = [first.unwrap(), second.unwrap()];
        assert!(
            outcomes.iter().any(Result::is_err),
            "round {round}: both demotions went through"
        );
        assert_eq!(
            owner_count(&app, &members).await,
            1,
            "round {round}: {outcomes:?}"
        );
    }
}

const CREATE: &str = "mutation($n: String!, $s: String!) { createOrganization(input: { name: $n, slug: $s, metadata: { plan: \"b2b\" } }) { id slug viewerPermissions viewerMembership { roles { name } } } }";
const INVITE: &str = "mutation($o: ID!, $e: String!, $r: [ID!]) { inviteToOrganization(organizationId: $o, email: $e, roleIds: $r) { id email roles { name } } }";
const ACCEPT: &str = "mutation($t: String!, $p: String, $u: String) { acceptOrganizationInvitation(token: $t, password: $p, username: $u) { accessToken refreshToken user { id username email emailVerified } } }";
const MEMBERS: &str = "query($o: ID!, $n: Int, $f: UserFilter) { organization(id: $o) { members(first: $n, filter: $f) { totalCount nodes { id joinedAt roles { name } user { id username email name } } } } }";

/// An organisation made through the API by `owner` (an `ORGS_CREATE` holder).
pub async fn create(app: &TestApp, token: &str, slug: &str) -> String {
    let body = app
        .gql(
            Some(token),
            CREATE,
            json!({ "n": format!("Org {slug}"), "s": slug }),
        )
        .await;
    body["data"]["createOrganization"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("create failed: {body}"))
        .to_owned()
}

/// A membership of the user with API id `who` in the organisation `org`,
/// joining now, not yet written.
fn joining(org: uuid::Uuid, who: &str) -> membership::ActiveModel {
    membership::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        organization_id: Set(org),
        user_id: Set(usergraph::ids::decode(usergraph::ids::USER, who, "id").unwrap()),
        joined_at: Set(chrono::Utc::now()),
    }
}

/// Makes `who` a member of `org` holding `role` (a built-in name), directly.
pub async fn add_member(app: &TestApp, org: &str, who: &str, role: &str) -> String {
    let org = usergraph::ids::decode(usergraph::ids::ORGANIZATION, org, "id").unwrap();
    let member = joining(org, who).insert(app.db()).await.unwrap();
    let role = memberships::builtin_role(app.db(), role).await.unwrap();
    memberships::set_roles(app.db(), &member, &[role.id])
        .await
        .unwrap();
    usergraph::ids::encode(usergraph::ids::MEMBERSHIP, member.id)
}

/// The id of the org role `name` that `org` offers, as `token`'s holder sees it.
async fn org_role_id(app: &TestApp, token: &str, org: &str, name: &str) -> Value {
    let body = app
        .gql(
            Some(token),
            "query($o: ID!) { organization(id: $o) { roles { id name } } }",
            json!({ "o": org }),
        )
        .await;
    body["data"]["organization"]["roles"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no org role {name}: {body}"))["id"]
        .clone()
}

fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn creating_an_organisation_needs_orgs_create_unless_self_service_is_on() {
    let app = TestApp::spawn().await;
    let plain = app.register_as("plain").await;
    let body = app
        .gql(
            Some(&plain.access),
            CREATE,
            json!({ "n": "Acme", "s": "acme" }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let admin = app.user_with("boss", &["admin"], false).await;
    let body = app
        .gql(
            Some(&admin.access),
            CREATE,
            json!({ "n": "Acme", "s": "Acme" }),
        )
        .await;
    let made = &body["data"]["createOrganization"];
    assert_eq!(made["slug"], "acme", "{body}");
    assert_eq!(made["viewerMembership"]["roles"][0]["name"], "owner");
    assert_eq!(made["viewerPermissions"].as_array().unwrap().len(), 6);
    let again = app
        .gql(
            Some(&admin.access),
            CREATE,
            json!({ "n": "Other", "s": "acme" }),
        )
        .await;
    assert_eq!(code(&again), "CONFLICT", "{again}");
    let bad = app
        .gql(
            Some(&admin.access),
            CREATE,
            json!({ "n": "Bad", "s": "-no" }),
        )
        .await;
    assert_eq!(
        (code(&bad), field(&bad)),
        ("BAD_USER_INPUT", "slug"),
        "{bad}"
    );

    let open = TestApp::spawn_with(&[("ORG_SELF_SERVICE", "true")]).await;
    let anyone = open.register_as("anyone").await;
    create(&open, &anyone.access, "mine").await;
}

#[tokio::test]
async fn an_invitation_to_a_new_address_makes_the_account_and_its_membership() {
    let (app, sink) = TestApp::spawn_with_mail(&[]).await;
    let boss = app.user_with("boss", &["admin"], false).await;
    let org = create(&app, &boss.access, "acme").await;
    let member_role = org_role_id(&app, &boss.access, &org, ADMIN).await;
    let body = app
        .gql(
            Some(&boss.access),
            INVITE,
            json!({ "o": org, "e": "New.Hire@Example.com", "r": [member_role] }),
        )
        .await;
    assert_eq!(
        body["data"]["inviteToOrganization"]["email"], "new.hire@example.com",
        "{body}"
    );
    let mail = sink.wait_for("new.hire@example.com", 1).await.remove(0);
    assert!(mail.subject.contains("Org acme"), "{}", mail.subject);
    let preview = app
        .gql(None, "query($t: String!) { organizationInvitation(token: $t) { email organizationName organizationSlug accountExists } }", json!({ "t": mail.token() }))
        .await;
    assert_eq!(
        preview["data"]["organizationInvitation"],
        json!({ "email": "new.hire@example.com", "organizationName": "Org acme", "organizationSlug": "acme", "accountExists": false }),
        "{preview}"
    );
    let missing = app.gql(None, ACCEPT, json!({ "t": mail.token() })).await;
    assert_eq!(
        (code(&missing), field(&missing)),
        ("BAD_USER_INPUT", "password")
    );
    let body = app
        .gql(
            None,
            ACCEPT,
            json!({ "t": mail.token(), "p": PASSWORD, "u": "newhire" }),
        )
        .await;
    assert_eq!(
        body["data"]["acceptOrganizationInvitation"]["user"]["username"], "newhire",
        "{body}"
    );
    let joined =
        account(&body["data"]["acceptOrganizationInvitation"]).unwrap_or_else(|| panic!("{body}"));
    assert_eq!(
        body["data"]["acceptOrganizationInvitation"]["user"]["emailVerified"],
        true
    );
    let token = claims(&joined.access);
    assert_eq!(token["org"], org.as_str());
    assert_eq!(token["org_roles"], json!(["admin"]));
    let again = app
        .gql(None, ACCEPT, json!({ "t": mail.token(), "p": PASSWORD }))
        .await;
    assert_eq!(code(&again), "TOKEN_INVALID", "{again}");
    let mine = app
        .gql(
            Some(&joined.access),
            "{ myOrganizations { organization { slug } roles { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        mine["data"]["myOrganizations"][0]["organization"]["slug"], "acme",
        "{mine}"
    );
}

#[tokio::test]
async fn an_existing_account_accepts_signed_in_or_with_its_password_and_on_another_replica() {
    let (app, sink) = TestApp::spawn_with_mail(&[]).await;
    let boss = app.user_with("boss", &["admin"], false).await;
    let org = create(&app, &boss.access, "acme").await;
    let ann = app.register_as("ann").await;
    let bob = app.register_as("bob").await;
    for who in ["ann@example.com", "bob@example.com"] {
        let body = app
            .gql(Some(&boss.access), INVITE, json!({ "o": org, "e": who }))
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    // Each has had the welcome mail first.
    let invited = |mut mails: Vec<crate::mailbox::Received>| {
        mails.retain(|m| m.subject.contains("invited"));
        mails.remove(0)
    };
    let to_ann = invited(sink.wait_for("ann@example.com", 2).await);
    let to_bob = invited(sink.wait_for("bob@example.com", 2).await);
    // Signed in as someone else: the token is not theirs to use.
    let wrong = app
        .gql(Some(&bob.access), ACCEPT, json!({ "t": to_ann.token() }))
        .await;
    assert_eq!(code(&wrong), "BAD_USER_INPUT", "{wrong}");
    // Ann, signed in, on another replica: no password needed.
    let replica = app.spawn_replica().await;
    let body: Value = reqwest::Client::new()
        .post(format!("http://{}/graphql", replica.addr))
        .bearer_auth(&ann.access)
        .json(&json!({ "query": ACCEPT, "variables": { "t": to_ann.token() } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session =
        account(&body["data"]["acceptOrganizationInvitation"]).unwrap_or_else(|| panic!("{body}"));
    assert_eq!(claims(&session.access)["org_roles"], json!(["member"]));
    // Bob, not signed in: his password, checked as login checks it.
    let wrong = app
        .gql(
            None,
            ACCEPT,
            json!({ "t": to_bob.token(), "p": "not-his-password-1" }),
        )
        .await;
    assert_eq!(code(&wrong), "INVALID_CREDENTIALS", "{wrong}");
    let body = app
        .gql(None, ACCEPT, json!({ "t": to_bob.token(), "p": PASSWORD }))
        .await;
    assert_eq!(
        body["data"]["acceptOrganizationInvitation"]["user"]["id"], bob.id,
        "{body}"
    );
    let members = app
        .gql(Some(&boss.access), MEMBERS, json!({ "o": org }))
        .await;
    assert_eq!(
        members["data"]["organization"]["members"]["totalCount"], 3,
        "{members}"
    );
}

#[tokio::test]
async fn the_active_organisation_rides_in_refreshed_tokens_and_templates() {
    let app = TestApp::spawn_with(&[(
        "JWT_CLAIMS_TEMPLATE",
        r#"{"tenant": "{{ user.organization.slug if user.organization else '' }}"}"#,
    )])
    .await;
    let boss = app.user_with("boss", &["admin"], false).await;
    let org = create(&app, &boss.access, "acme").await;
    let set = app
        .gql(Some(&boss.access), "mutation($o: ID) { setActiveOrganization(organizationId: $o) { current activeOrganization { slug } } }", json!({ "o": org }))
        .await;
    assert_eq!(
        set["data"]["setActiveOrganization"]["activeOrganization"]["slug"], "acme",
        "{set}"
    );
    let refreshed = app.refresh(&boss.refresh).await;
    let access = refreshed["data"]["refreshToken"]["accessToken"]
        .as_str()
        .unwrap();
    let token = claims(access);
    assert_eq!(token["org"], org.as_str(), "{token}");
    assert_eq!(token["org_roles"], json!(["owner"]));
    assert_eq!(token["tenant"], "acme");
    // Not a member: refused.
    let outsider = app.register_as("outsider").await;
    let body = app
        .gql(
            Some(&outsider.access),
            "mutation($o: ID) { setActiveOrganization(organizationId: $o) { id } }",
            json!({ "o": org }),
        )
        .await;
    assert_eq!(code(&body), "NOT_FOUND", "{body}");
}

/// A session acting in an organisation costs its requests no statement
/// more than one that does not (#34): the viewer is read in one statement
/// either way, and the organisation is read only where a field asks.
#[tokio::test]
async fn a_request_acting_in_an_organisation_costs_the_statements_of_any_other() {
    let app = TestApp::spawn().await;
    let boss = app.user_with("boss", &["admin"], false).await;
    let plain = app.user_with("plain", &["admin"], false).await;
    let org = create(&app, &boss.access, "acme").await;
    app.gql(
        Some(&boss.access),
        "mutation($o: ID) { setActiveOrganization(organizationId: $o) { id } }",
        json!({ "o": org }),
    )
    .await;
    let refreshed = app.refresh(&boss.refresh).await;
    let acting = refreshed["data"]["refreshToken"]["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(claims(&acting)["org"], org.as_str());
    for query in [
        "{ me { id username } }",
        "{ users(first: 5) { nodes { id } } }",
    ] {
        let (own, body) = app
            .count_statements(app.gql(Some(&plain.access), query, json!({})))
            .await;
        assert!(body["errors"].is_null(), "{body}");
        let (in_org, body) = app
            .count_statements(app.gql(Some(&acting), query, json!({})))
            .await;
        assert!(body["errors"].is_null(), "{body}");
        assert_eq!(own, in_org, "{query}");
    }
}

#[tokio::test]
async fn an_org_admin_manages_members_but_never_beyond_their_own_permissions() {
    let app = TestApp::spawn().await;
    let boss = app.user_with("boss", &["admin"], false).await;
    let org = create(&app, &boss.access, "acme").await;
    let boss_membership = app
        .gql(Some(&boss.access), "{ myOrganizations { id } }", json!({}))
        .await["data"]["myOrganizations"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ada = app.register_as("ada").await;
    let max = app.register_as("max").await;
    add_member(&app, &org, &ada.id, ADMIN).await;
    let max_membership = add_member(&app, &org, &max.id, MEMBER).await;
    let (owner_role, admin_role, member_role) = (
        org_role_id(&app, &ada.access, &org, OWNER).await,
        org_role_id(&app, &ada.access, &org, ADMIN).await,
        org_role_id(&app, &ada.access, &org, MEMBER).await,
    );
    let role = |name: &str| match name {
        OWNER => owner_role.clone(),
        ADMIN => admin_role.clone(),
        _ => member_role.clone(),
    };
    const SET: &str = "mutation($m: ID!, $r: [ID!]!) { setMemberRoles(membershipId: $m, roleIds: $r) { roles { name } } }";
    // An admin may not make an owner, nor touch one.
    let body = app
        .gql(
            Some(&ada.access),
            SET,
            json!({ "m": max_membership, "r": [role(OWNER)] }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = app
        .gql(
            Some(&ada.access),
            SET,
            json!({ "m": boss_membership, "r": [role(MEMBER)] }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = app
        .gql(
            Some(&ada.access),
            "mutation($m: ID!) { removeMember(membershipId: $m) }",
            json!({ "m": boss_membership }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    // It may promote a member to admin, and a custom role within its own permissions.
    let body = app
        .gql(
            Some(&ada.access),
            SET,
            json!({ "m": max_membership, "r": [role(ADMIN)] }),
        )
        .await;
    assert_eq!(
        body["data"]["setMemberRoles"]["roles"][0]["name"], "admin",
        "{body}"
    );
    let custom = app
        .gql(Some(&ada.access), "mutation($o: ID!) { createOrgRole(input: { organizationId: $o, name: \"auditor\", permissions: [ORG_AUDIT_READ, ORG_DELETE] }) { id } }", json!({ "o": org }))
        .await;
    assert_eq!(code(&custom), "FORBIDDEN", "{custom}");
    let custom = app
        .gql(Some(&ada.access), "mutation($o: ID!) { createOrgRole(input: { organizationId: $o, name: \"auditor\", permissions: [ORG_AUDIT_READ] }) { id permissions } }", json!({ "o": org }))
        .await;
    assert_eq!(
        custom["data"]["createOrgRole"]["permissions"],
        json!(["ORG_AUDIT_READ"]),
        "{custom}"
    );
    // The last owner cannot leave; once another owner exists, they can.
    let body = app
        .gql(
            Some(&boss.access),
            "mutation($o: ID!) { leaveOrganization(organizationId: $o) }",
            json!({ "o": org }),
        )
        .await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    let body = app
        .gql(
            Some(&boss.access),
            SET,
            json!({ "m": max_membership, "r": [role(OWNER)] }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let body = app
        .gql(
            Some(&boss.access),
            "mutation($o: ID!) { leaveOrganization(organizationId: $o) }",
            json!({ "o": org }),
        )
        .await;
    assert_eq!(body["data"]["leaveOrganization"], true, "{body}");
    // Its trail shows who did what, to its admins.
    let trail = app
        .gql(
            Some(&ada.access),
            "query($o: ID!) { auditEvents(filter: { organizationId: $o }) { nodes { action } } }",
            json!({ "o": org }),
        )
        .await;
    let actions: Vec<&str> = trail["data"]["auditEvents"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{trail}"))
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"membership.left") && actions.contains(&"organization.created"),
        "{actions:?}"
    );
    let outsider = app.register_as("outsider").await;
    let trail = app
        .gql(
            Some(&outsider.access),
            "query($o: ID!) { auditEvents(filter: { organizationId: $o }) { nodes { action } } }",
            json!({ "o": org }),
        )
        .await;
    assert_eq!(code(&trail), "FORBIDDEN", "{trail}");
}

#[tokio::test]
async fn deleting_an_organisation_ends_its_memberships_and_sessions_acting_in_it() {
    let app = TestApp::spawn().await;
    let boss = app.user_with("boss", &["admin"], false).await;
    let org = create(&app, &boss.access, "acme").await;
    let ada = app.register_as("ada").await;
    add_member(&app, &org, &ada.id, ADMIN).await;
    app.gql(
        Some(&boss.access),
        "mutation($o: ID) { setActiveOrganization(organizationId: $o) { id } }",
        json!({ "o": org }),
    )
    .await;
    // An admin lacks ORG_DELETE.
    let body = app
        .gql(
            Some(&ada.access),
            "mutation($o: ID!) { deleteOrganization(id: $o) }",
            json!({ "o": org }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let body = app
        .gql(
            Some(&boss.access),
            "mutation($o: ID!) { deleteOrganization(id: $o) }",
            json!({ "o": org }),
        )
        .await;
    assert_eq!(body["data"]["deleteOrganization"], true, "{body}");
    let mine = app
        .gql(Some(&ada.access), "{ myOrganizations { id } }", json!({}))
        .await;
    assert_eq!(mine["data"]["myOrganizations"], json!([]));
    let refreshed = app.refresh(&boss.refresh).await;
    let token = claims(
        refreshed["data"]["refreshToken"]["accessToken"]
            .as_str()
            .unwrap(),
    );
    assert!(token.get("org").is_none(), "{token}");
    let trail = app
        .gql(
            Some(&boss.access),
            "query($o: ID!) { auditEvents(filter: { organizationId: $o }) { nodes { action } } }",
            json!({ "o": org }),
        )
        .await;
    assert_eq!(
        trail["data"]["auditEvents"]["nodes"][0]["action"], "organization.deleted",
        "{trail}"
    );
}

#[tokio::test]
async fn a_members_page_costs_the_same_statements_whatever_its_size() {
    let app = TestApp::spawn().await;
    let boss = app.user_with("boss", &["admin"], false).await;
    let org = create(&app, &boss.access, "acme").await;
    let ada = app.register_as("ada").await;
    add_member(&app, &org, &ada.id, ADMIN).await;
    for i in 0..30 {
        let who = app.register_as(&format!("m{i:02}")).await;
        add_member(&app, &org, &who.id, MEMBER).await;
    }
    let mut counts = Vec::new();
    for n in [2, 30] {
        let (count, body) = app
            .count_statements(app.gql(Some(&ada.access), MEMBERS, json!({ "o": org, "n": n })))
            .await;
        assert_eq!(
            body["data"]["organization"]["members"]["nodes"]
                .as_array()
                .map(Vec::len),
            Some(n),
            "{body}"
        );
        counts.push(count);
    }
    assert_eq!(counts[0], counts[1], "statements by page size: {counts:?}");
    // The viewer, the organisation with the caller's standing there (their
    // membership, its roles), the page with its memberships and their
    // roles, and its count.
    assert_eq!(counts[0], 4, "statements of a members page");
}

/// Every path an org admin could read a user or an organisation through:
/// what it shows must stay inside their organisations.
#[tokio::test]
async fn no_query_path_shows_an_org_admin_anything_outside_their_organisations() {
    use rand::{Rng, SeedableRng};
    let app = TestApp::spawn().await;
    let boss = app.user_with("boss", &["admin"], false).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(32);
    let mut people = Vec::new();
    for i in 0..12 {
        people.push(app.register_as(&format!("p{i:02}")).await);
        app.sql(&format!(
            "UPDATE users SET app_metadata = '{{\"secret\":\"s3cret-p{i:02}\"}}' WHERE username = 'p{i:02}'"
        ))
        .await;
    }
    let mut orgs: Vec<(String, Vec<usize>)> = Vec::new();
    for o in 0..4 {
        let org = create(&app, &boss.access, &format!("org-{o}")).await;
        let mut members = Vec::new();
        for (i, person) in people.iter().enumerate() {
            if rng.random_bool(0.4) {
                let role = [OWNER, ADMIN, MEMBER][rng.random_range(0..3)];
                add_member(&app, &org, &person.id, role).await;
                members.push(i);
            }
        }
        orgs.push((org, members));
    }
    for (i, person) in people.iter().enumerate() {
        let mine: Vec<&String> = orgs
            .iter()
            .filter(|(_, m)| m.contains(&i))
            .map(|(o, _)| o)
            .collect();
        let allowed_users: std::collections::BTreeSet<String> = orgs
            .iter()
            .filter(|(_, m)| m.contains(&i))
            .flat_map(|(_, m)| m.iter().map(|j| people[*j].id.clone()))
            .chain([person.id.clone(), boss.id.clone()])
            .collect();
        for (org, _) in &orgs {
            let body = app
                .gql(Some(&person.access), "query($o: ID!) { organization(id: $o) { id members(first: 100) { nodes { id user { id email } } } } node(id: $o) { id } }", json!({ "o": org }))
                .await;
            if mine.contains(&org) {
                for m in body["data"]["organization"]["members"]["nodes"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{body}"))
                {
                    assert!(
                        allowed_users.contains(m["user"]["id"].as_str().unwrap()),
                        "{body}"
                    );
                }
            } else {
                assert_eq!(code(&body), "NOT_FOUND", "{body}");
                assert!(
                    body["data"].is_null() || body["data"]["node"].is_null(),
                    "{body}"
                );
            }
            // appMetadata and other organisations are never in reach.
            let leak = app
                .gql(Some(&person.access), "query($o: ID!) { organization(id: $o) { members(first: 100) { nodes { user { appMetadata } } } } }", json!({ "o": org }))
                .await;
            let shown = leak.to_string().replace(&format!("s3cret-p{i:02}"), "");
            assert!(!shown.contains("s3cret"), "{leak}");
            let others = app
                .gql(Some(&person.access), "query($o: ID!) { organization(id: $o) { members(first: 100) { nodes { user { memberships { id } } } } } }", json!({ "o": org }))
                .await;
            let other_members = others["data"]["organization"]["members"]["nodes"]
                .as_array()
                .map(|list| {
                    list.iter()
                        .filter(|m| !m["user"].is_null() && m["user"]["memberships"].is_array())
                        .count()
                })
                .unwrap_or(0);
            assert!(
                other_members <= 1,
                "another member's organisations showed: {others}"
            );
        }
        // Users, nodes, audit events and organisations beyond them.
        for query in [
            "{ users(first: 100) { nodes { id } } }",
            "{ organizations(first: 10) { nodes { id } } }",
            "{ auditEvents(first: 10) { nodes { id } } }",
        ] {
            let body = app.gql(Some(&person.access), query, json!({})).await;
            assert_eq!(code(&body), "FORBIDDEN", "{query}: {body}");
        }
        let ids: Vec<&String> = people.iter().map(|p| &p.id).collect();
        let body = app
            .gql(
                Some(&person.access),
                "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
                json!({ "ids": ids }),
            )
            .await;
        for node in body["data"]["nodes"].as_array().unwrap() {
            if !node.is_null() {
                assert_eq!(node["id"], person.id.as_str(), "{body}");
            }
        }
    }
}

/// Every organisation root field, run by the org's owner, an org admin, a
/// plain member and an outsider (the service-wide callers are in
/// authorization.tsv): `ok`, or the expected `extensions.code`.
const ORG_MATRIX: &str = "
# field                        owner           admin           member          outsider
organization                   ok              ok              ok              NOT_FOUND
organizationBySlug             ok              ok              ok              NOT_FOUND
myOrganizations                ok              ok              ok              ok
organizations                  FORBIDDEN       FORBIDDEN       FORBIDDEN       FORBIDDEN
createOrganization             FORBIDDEN       FORBIDDEN       FORBIDDEN       FORBIDDEN
updateOrganization             ok              ok              FORBIDDEN       NOT_FOUND
deleteOrganization             ok              FORBIDDEN       FORBIDDEN       NOT_FOUND
setOrganizationTier            FORBIDDEN       FORBIDDEN       FORBIDDEN       FORBIDDEN
inviteToOrganization           ok              ok              FORBIDDEN       NOT_FOUND
revokeOrganizationInvitation   ok              ok              FORBIDDEN       NOT_FOUND
acceptOrganizationInvitation   BAD_USER_INPUT  BAD_USER_INPUT  BAD_USER_INPUT  BAD_USER_INPUT
organizationInvitation         ok              ok              ok              ok
setMemberRoles                 ok              ok              FORBIDDEN       NOT_FOUND
removeMember                   ok              ok              FORBIDDEN       NOT_FOUND
leaveOrganization              CONFLICT        ok              ok              NOT_FOUND
setActiveOrganization          ok              ok              ok              NOT_FOUND
createOrgRole                  ok              ok              FORBIDDEN       NOT_FOUND
deleteOrgRole                  ok              ok              FORBIDDEN       NOT_FOUND
";

#[tokio::test]
async fn every_organisation_field_follows_the_org_callers_matrix() {
    use crate::authorization::{OrgCell, arrange_organization, org_operation};
    let app = TestApp::spawn().await;
    let mut failures = Vec::new();
    let mut n = 0;
    let rows: Vec<Vec<&str>> = ORG_MATRIX
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect())
        .collect();
    for row in &rows {
        for (caller, expected) in ["owner", "admin", "member", "outsider"]
            .iter()
            .zip(&row[1..])
        {
            n += 1;
            let owner = app.register_as(&format!("ow{n}")).await;
            let owner_key = usergraph::ids::decode(usergraph::ids::USER, &owner.id, "id").unwrap();
            let cell = OrgCell::decode(&arrange_organization(&app, owner_key, n).await);
            let acting = match *caller {
                "owner" => owner,
                other => {
                    let who = app.register_as(&format!("{}{n}", &other[..2])).await;
                    match other {
                        "admin" => drop(add_member(&app, &cell.org, &who.id, ADMIN).await),
                        "member" => drop(add_member(&app, &cell.org, &who.id, MEMBER).await),
                        _ => {}
                    }
                    who
                }
            };
            let (query, variables) = org_operation(row[0], &cell, n)
                .unwrap_or_else(|| panic!("no operation for {}", row[0]));
            let body = app.gql(Some(&acting.access), query, variables).await;
            let got = if body["errors"].is_null() {
                "ok"
            } else {
                code(&body)
            };
            if got != *expected {
                failures.push(format!(
                    "{:<30} as {caller:<8} expected {expected:<15} got {got}: {body}",
                    row[0]
                ));
            }
        }
    }
    let listed: Vec<&str> = rows.iter().map(|r| r[0]).collect();
    for field in [
        "organization",
        "createOrganization",
        "setActiveOrganization",
        "deleteOrgRole",
    ] {
        assert!(listed.contains(&field));
    }
    assert!(
        failures.is_empty(),
        "org matrix mismatches:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn erasing_a_person_ends_their_memberships_and_invitations_to_them() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let org = create(&app, &root.access, "acme").await;
    let ada = app.register_as("ada").await;
    let bob = app.register_as("bob").await;
    add_member(&app, &org, &ada.id, MEMBER).await;
    let invited = app
        .gql(
            Some(&root.access),
            INVITE,
            json!({ "o": org, "e": "bob@example.com" }),
        )
        .await;
    assert!(invited["errors"].is_null(), "{invited}");
    for who in [&ada, &bob] {
        let body = app
            .gql(
                Some(&root.access),
                "mutation($id: ID!) { eraseUser(id: $id) }",
                json!({ "id": who.id }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let left = app
        .gql(Some(&root.access), "query($o: ID!) { organization(id: $o) { members { totalCount } invitations { email } } }", json!({ "o": org }))
        .await;
    assert_eq!(
        left["data"]["organization"]["members"]["totalCount"], 1,
        "{left}"
    );
    assert_eq!(
        left["data"]["organization"]["invitations"],
        json!([]),
        "{left}"
    );
    let memberships = app.rows("SELECT id FROM memberships").await.len();
    assert_eq!(memberships, 1);
    // The invitation's event keeps no trace of the address.
    let trail = app
        .gql(Some(&root.access), "query($o: ID!) { auditEvents(filter: { organizationId: $o, actions: [\"membership.invited\"] }) { nodes { changes } } }", json!({ "o": org }))
        .await;
    assert!(!trail.to_string().contains("bob@example.com"), "{trail}");
}

#[tokio::test]
async fn an_invitation_dies_with_its_inviters_right_to_send_it() {
    let (app, sink) = TestApp::spawn_with_mail(&[]).await;
    let boss = app.user_with("boss", &["admin"], false).await;
    let org = create(&app, &boss.access, "acme").await;
    let ada = app.register_as("ada").await;
    let ada_membership = add_member(&app, &org, &ada.id, ADMIN).await;
    // Ada, an admin, invites her own spare address as an admin, then is removed.
    let admin_role = org_role_id(&app, &ada.access, &org, ADMIN).await;
    let invited = app
        .gql(
            Some(&ada.access),
            INVITE,
            json!({ "o": org, "e": "spare@example.com", "r": [admin_role] }),
        )
        .await;
    assert!(invited["errors"].is_null(), "{invited}");
    let removed = app
        .gql(
            Some(&boss.access),
            "mutation($m: ID!) { removeMember(membershipId: $m) }",
            json!({ "m": ada_membership }),
        )
        .await;
    assert_eq!(removed["data"]["removeMember"], true, "{removed}");
    let mail = sink.wait_for("spare@example.com", 1).await.remove(0);
    let body = app
        .gql(None, ACCEPT, json!({ "t": mail.token(), "p": PASSWORD }))
        .await;
    assert_eq!(code(&body), "TOKEN_INVALID", "{body}");
    // The trail shows her actions to the organisation's admins without her
    // address or browser.
    let max = app.register_as("max").await;
    add_member(&app, &org, &max.id, ADMIN).await;
    let trail = app
        .gql(Some(&max.access), "query($o: ID!) { auditEvents(filter: { organizationId: $o }) { nodes { action actorId ip userAgent requestId apiKeyId } } }", json!({ "o": org }))
        .await;
    let events = trail["data"]["auditEvents"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{trail}"));
    assert!(!events.is_empty());
    for event in events {
        assert!(
            event["ip"].is_null() && event["userAgent"].is_null() && event["requestId"].is_null(),
            "{event}"
        );
    }
}

#[tokio::test]
async fn a_suspended_member_drops_out_and_a_custom_role_cannot_pass_for_a_built_in_one() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let org = create(&app, &root.access, "acme").await;
    let ada = app.register_as("ada").await;
    let max = app.register_as("max").await;
    add_member(&app, &org, &ada.id, ADMIN).await;
    let max_membership = add_member(&app, &org, &max.id, MEMBER).await;
    app.sql("UPDATE users SET status = 'suspended' WHERE username = 'max'")
        .await;
    let members = app
        .gql(Some(&ada.access), MEMBERS, json!({ "o": org }))
        .await;
    assert_eq!(
        members["data"]["organization"]["members"]["totalCount"], 2,
        "{members}"
    );
    let node = app
        .gql(
            Some(&ada.access),
            "query($m: ID!) { node(id: $m) { ... on Membership { user { email } } } }",
            json!({ "m": max_membership }),
        )
        .await;
    assert!(!node.to_string().contains("max@example.com"), "{node}");
    for (name, expected) in [("Owner", "CONFLICT"), ("own\u{200b}er", "BAD_USER_INPUT")] {
        let body = app
            .gql(Some(&ada.access), "mutation($o: ID!, $n: String!) { createOrgRole(input: { organizationId: $o, name: $n, permissions: [MEMBERS_READ] }) { id } }", json!({ "o": org, "n": name }))
            .await;
        assert_eq!(code(&body), expected, "{name}: {body}");
    }
}

#[tokio::test]
async fn a_members_list_filters_only_by_what_its_reader_sees() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let org = create(&app, &root.access, "acme").await;
    let ada = app.register_as("ada").await;
    let max = app.register_as("max").await;
    add_member(&app, &org, &ada.id, ADMIN).await;
    add_member(&app, &org, &max.id, MEMBER).await;
    let found = app
        .gql(
            Some(&ada.access),
            MEMBERS,
            json!({ "o": org, "f": { "search": "max" } }),
        )
        .await;
    assert_eq!(
        found["data"]["organization"]["members"]["totalCount"], 1,
        "{found}"
    );
    for filter in [
        json!({ "metadata": [{ "key": "plan", "equals": "pro" }] }),
        json!({ "or": [{ "lastLoginAfter": "2020-01-01T00:00:00Z" }] }),
        json!({ "role": "admin" }),
        json!({ "includeDeleted": true }),
    ] {
        let body = app
            .gql(Some(&ada.access), MEMBERS, json!({ "o": org, "f": filter }))
            .await;
        assert_eq!(
            (code(&body), field(&body)),
            ("BAD_USER_INPUT", "filter"),
            "{filter}: {body}"
        );
    }
    // Holders of USERS_READ filter by anything but deletion.
    let body = app
        .gql(
            Some(&root.access),
            MEMBERS,
            json!({ "o": org, "f": { "role": "user" } }),
        )
        .await;
    assert_eq!(
        body["data"]["organization"]["members"]["totalCount"], 3,
        "{body}"
    );
    // users(filter: { organizationId }) is the directory's, with USERS_READ.
    let body = app
        .gql(
            Some(&root.access),
            "query($o: ID!) { users(filter: { organizationId: $o }) { totalCount } }",
            json!({ "o": org }),
        )
        .await;
    assert_eq!(body["data"]["users"]["totalCount"], 3, "{body}");
    let body = app
        .gql(
            Some(&ada.access),
            "query($o: ID!) { users(filter: { organizationId: $o }) { totalCount } }",
            json!({ "o": org }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
}

/// An organisation's head count as `users` answers it: the kept count (the
/// organisation alone) and the count of the general condition (the same
/// filter inside an `and`), which must agree.
async fn head_counts(app: &TestApp, token: &str, org: &str) -> (i64, i64) {
    use crate::directory::total_count;
    (
        total_count(app, token, json!({ "organizationId": org })).await,
        total_count(app, token, json!({ "and": [{ "organizationId": org }] })).await,
    )
}

#[tokio::test]
async fn an_organisations_head_count_stays_exact_through_every_way_in_and_out() {
    let app = TestApp::spawn().await;
    let root = app.user_with("root", &[], true).await;
    let org = create(&app, &root.access, "acme").await;
    let names = [
        "leaver",
        "removed",
        "suspended",
        "deleted",
        "erased",
        "gone",
        "quitter",
    ];
    let mut people = std::collections::HashMap::new();
    for name in names {
        let person = app.user_with(name, &[], false).await;
        let membership = add_member(&app, &org, &person.id, MEMBER).await;
        people.insert(name, (person, membership));
    }
    let as_root = async |query: &str, id: &str| {
        let body = app
            .gql(Some(&root.access), query, json!({ "id": id }))
            .await;
        assert!(body["errors"].is_null(), "{query}: {body}");
    };
    let steps: [(&str, i64); 10] = [
        ("joined", 8),
        ("left", 7),
        ("removed", 6),
        ("suspended", 6),
        ("deleted", 5),
        ("restored", 6),
        ("erased", 5),
        ("gone", 4),
        ("quit", 3),
        ("deleted then gone", 2),
    ];
    for (step, expected) in steps {
        match step {
            "left" => {
                let body = app
                    .gql(
                        Some(&people["leaver"].0.access),
                        "mutation($o: ID!) { leaveOrganization(organizationId: $o) }",
                        json!({ "o": org }),
                    )
                    .await;
                assert_eq!(body["data"]["leaveOrganization"], true, "{body}");
            }
            "removed" => {
                as_root(
                    "mutation($id: ID!) { removeMember(membershipId: $id) }",
                    &people["removed"].1,
                )
                .await
            }
            "suspended" => {
                let body = app
                    .gql(
                        Some(&root.access),
                        "mutation($id: ID!) { setUserStatus(id: $id, status: SUSPENDED) { id } }",
                        json!({ "id": people["suspended"].0.id }),
                    )
                    .await;
                assert!(body["errors"].is_null(), "{body}");
            }
            "deleted" => {
                as_root(
                    "mutation($id: ID!) { deleteUser(id: $id) { id } }",
                    &people["deleted"].0.id,
                )
                .await
            }
            "restored" => {
                as_root(
                    "mutation($id: ID!) { restoreUser(id: $id) { id } }",
                    &people["deleted"].0.id,
                )
                .await
            }
            "erased" => {
                as_root(
                    "mutation($id: ID!) { eraseUser(id: $id) }",
                    &people["erased"].0.id,
                )
                .await
            }
            "gone" => {
                as_root(
                    "mutation($id: ID!) { hardDeleteUser(id: $id) }",
                    &people["gone"].0.id,
                )
                .await
            }
            "quit" => {
                let body = app
                    .gql(
                        Some(&people["quitter"].0.access),
                        "mutation($p: String!) { deleteMe(password: $p) }",
                        json!({ "p": PASSWORD }),
                    )
                    .await;
                assert_eq!(body["data"]["deleteMe"], true, "{body}");
            }
            "deleted then gone" => {
                // Counted out once, when deleted; not again when removed for good.
                let deleted = &people["deleted"].0.id;
                as_root("mutation($id: ID!) { deleteUser(id: $id) { id } }", deleted).await;
                as_root("mutation($id: ID!) { hardDeleteUser(id: $id) }", deleted).await;
            }
            _ => {}
        }
        assert_eq!(
            head_counts(&app, &root.access, &org).await,
            (expected, expected),
            "after {step}"
        );
    }
    // An operator's own SQL is counted too: a deleted user's row joining
    // counts nothing, a live one's does.
    let late = app.user_with("late", &[], false).await;
    app.sql("UPDATE users SET deleted_at = created_at WHERE username = 'late'")
        .await;
    add_member(&app, &org, &late.id, MEMBER).await;
    assert_eq!(head_counts(&app, &root.access, &org).await, (2, 2));
    app.sql("UPDATE users SET deleted_at = NULL WHERE username = 'late'")
        .await;
    assert_eq!(head_counts(&app, &root.access, &org).await, (3, 3));
    // One statement adding several members counts the live ones.
    let org_key = usergraph::ids::decode(usergraph::ids::ORGANIZATION, &org, "id").unwrap();
    let mut rows = Vec::new();
    for name in ["bulk1", "bulk2", "bulk3"] {
        let person = app.user_with(name, &[], false).await;
        rows.push(joining(org_key, &person.id));
    }
    app.sql("UPDATE users SET deleted_at = created_at WHERE username = 'bulk3'")
        .await;
    membership::Entity::insert_many(rows)
        .exec_without_returning(app.db())
        .await
        .unwrap();
    assert_eq!(head_counts(&app, &root.access, &org).await, (5, 5));
    // A membership does not move to someone else; emptied, it counts nobody.
    app.user_with("outsider", &[], false).await;
    let moved = app
        .db()
        .execute_unprepared(
            "UPDATE memberships SET user_id = (SELECT id FROM users WHERE username = 'outsider') \
             WHERE user_id = (SELECT id FROM users WHERE username = 'late')",
        )
        .await;
    assert!(
        moved
            .as_ref()
            .is_err_and(|e| e.to_string().contains("does not move")),
        "{moved:?}"
    );
    if app.db().get_database_backend() == sea_orm::DbBackend::Postgres {
        app.sql("TRUNCATE memberships CASCADE").await;
        assert_eq!(head_counts(&app, &root.access, &org).await, (0, 0));
    }
    // An organisation deleted, or never made, counts nobody.
    as_root("mutation($id: ID!) { deleteOrganization(id: $id) }", &org).await;
    assert_eq!(head_counts(&app, &root.access, &org).await, (0, 0));
}

/// The kept count of every organisation against a count of its rows.
async fn kept_and_counted(app: &TestApp) -> Vec<(i64, i64)> {
    use sea_orm::{ConnectionTrait, Statement};
    let rows = app
        .db()
        .query_all_raw(Statement::from_string(
            app.db().get_database_backend(),
            "SELECT member_count, (SELECT COUNT(*) FROM memberships JOIN users \
             ON users.id = memberships.user_id WHERE memberships.organization_id = \
             organizations.id AND users.deleted_at IS NULL) FROM organizations ORDER BY slug",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            (
                row.try_get_by_index::<i64>(0).unwrap(),
                row.try_get_by_index::<i64>(1).unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_or_departure_racing_its_users_deletion_is_counted_as_the_deletion_leaves_it() {
    use sea_orm::{ConnectionTrait, DatabaseTransaction};
    let app = TestApp::spawn().await;
    let root = app.user_with("root", &[], true).await;
    let org = create(&app, &root.access, "acme").await;
    let org_key = usergraph::ids::decode(usergraph::ids::ORGANIZATION, &org, "id").unwrap();
    let delete = |username: &str| {
        format!("UPDATE users SET deleted_at = CURRENT_TIMESTAMP WHERE username = '{username}'")
    };
    // Each round holds one side's transaction open while the other starts:
    // a join or a departure, before the deletion and after it.
    enum Change {
        Join(membership::ActiveModel),
        Sql(String),
    }
    async fn apply(txn: &DatabaseTransaction, change: Change) -> Result<(), sea_orm::DbErr> {
        match change {
            Change::Join(model) => model.insert(txn).await.map(drop),
            Change::Sql(sql) => txn.execute_unprepared(&sql).await.map(drop),
        }
    }
    for round in 0..8 {
        let name = format!("racer{round}");
        let person = app.user_with(&name, &[], false).await;
        let membership = if round % 4 < 2 {
            Change::Join(joining(org_key, &person.id))
        } else {
            add_member(&app, &org, &person.id, MEMBER).await;
            Change::Sql(format!(
                "DELETE FROM memberships WHERE user_id = \
                 (SELECT id FROM users WHERE username = '{name}')"
            ))
        };
        let deletion = Change::Sql(delete(&name));
        let (held, racing) = if round % 2 == 0 {
            (membership, deletion)
        } else {
            (deletion, membership)
        };
        let first: DatabaseTransaction = app.db().begin().await.unwrap();
        apply(&first, held).await.unwrap();
        let db = app.db().clone();
        let second = tokio::spawn(async move {
            let txn = db.begin().await?;
            apply(&txn, racing).await?;
            txn.commit().await
        });
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        first.commit().await.unwrap();
        second.await.unwrap().unwrap();
        let [(kept, counted)] = kept_and_counted(&app).await[..] else {
            panic!("one organisation")
        };
        assert_eq!(kept, counted, "round {round}");
    }
    // Many joins at once, each its own transaction, all counted.
    let mut joins = Vec::new();
    for n in 0..12 {
        let person = app.user_with(&format!("crowd{n}"), &[], false).await;
        let db = app.db().clone();
        let model = joining(org_key, &person.id);
        joins.push(tokio::spawn(
            async move { model.insert(&db).await.map(drop) },
        ));
    }
    for join in joins {
        join.await.unwrap().unwrap();
    }
    assert_eq!(kept_and_counted(&app).await, vec![(13, 13)]);
}

/// An organisation `acme` of its creator `root` and a member `ann`, with
/// ann's membership, and a transaction that has locked the organisation's
/// row (by a write, so SQLite's lock too), as a member change begins.
async fn member_with_organisation_locked() -> (
    TestApp,
    crate::helpers::Account,
    String,
    crate::helpers::Account,
    membership::Model,
    sea_orm::DatabaseTransaction,
) {
    let app = TestApp::spawn().await;
    let root = app.user_with("root", &[], true).await;
    let org = create(&app, &root.access, "acme").await;
    let ann = app.user_with("ann", &[], false).await;
    let membership = add_member(&app, &org, &ann.id, MEMBER).await;
    let membership = membership::Entity::find_by_id(
        usergraph::ids::decode(usergraph::ids::MEMBERSHIP, &membership, "id").unwrap(),
    )
    .one(app.db())
    .await
    .unwrap()
    .unwrap();
    let txn = app.db().begin().await.unwrap();
    txn.execute_unprepared("UPDATE organizations SET updated_at = updated_at WHERE slug = 'acme'")
        .await
        .unwrap();
    (app, root, org, ann, membership, txn)
}

/// Sends `query` as `token`'s holder while `txn` (a member change under
/// way, from `member_with_organisation_locked`) removes `membership` 300 ms
/// later and commits: the query's answer and the removal's result.
async fn while_removing(
    app: &TestApp,
    token: &str,
    query: &str,
    variables: Value,
    txn: sea_orm::DatabaseTransaction,
    membership: membership::Model,
) -> (Value, Result<(), usergraph::error::AppError>) {
    tokio::join!(app.gql(Some(token), query, variables), async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        memberships::remove(&txn, &membership).await?;
        txn.commit().await?;
        Ok(())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_removed_while_their_account_is_deleted_waits_instead_of_deadlocking() {
    // A member change's order: its organisation locked first (by a write,
    // so SQLite's lock too), the membership removed after, while the
    // account's deletion is under way.
    let (app, root, org, ann, membership, txn) = member_with_organisation_locked().await;
    let (deleted, removed) = while_removing(
        &app,
        &root.access,
        "mutation($id: ID!) { deleteUser(id: $id) { id } }",
        json!({ "id": ann.id }),
        txn,
        membership,
    )
    .await;
    assert!(deleted["errors"].is_null(), "{deleted}");
    removed.unwrap();
    assert_eq!(head_counts(&app, &root.access, &org).await, (1, 1));
}

/// The usernames of `org`'s members, read `first` at a time through the
/// page's cursors, as `token`'s holder reads them.
async fn members_by_page(app: &TestApp, token: &str, org: &str, first: i32) -> Vec<String> {
    let mut names = Vec::new();
    let mut after = Value::Null;
    for _ in 0..100 {
        let body = app
            .gql(
                Some(token),
                "query($o: ID!, $n: Int, $a: String) { organization(id: $o) { members(first: $n, after: $a) { pageInfo { hasNextPage endCursor } nodes { user { username } } } } }",
                json!({ "o": org, "n": first, "a": after }),
            )
            .await;
        let members = &body["data"]["organization"]["members"];
        let nodes = members["nodes"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"));
        names.extend(
            nodes
                .iter()
                .map(|n| n["user"]["username"].as_str().unwrap().to_owned()),
        );
        if members["pageInfo"]["hasNextPage"] != true {
            return names;
        }
        after = members["pageInfo"]["endCursor"].clone();
    }
    panic!("the pages never ended: {names:?}")
}

/// Memberships whose copy of their member's username is not the username.
async fn stale_usernames(app: &TestApp) -> i64 {
    use sea_orm::Statement;
    app.db()
        .query_one_raw(Statement::from_string(
            app.db().get_database_backend(),
            "SELECT COUNT(*) FROM memberships JOIN users ON users.id = memberships.user_id \
             WHERE memberships.username <> users.username",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

/// Asserts that every membership's copy of its username is right, and that
/// reading `org`'s members two at a time lists exactly `expected`, sorted.
async fn listed_in_order(app: &TestApp, token: &str, org: &str, expected: &[&str], after: &str) {
    assert_eq!(stale_usernames(app).await, 0, "after {after}");
    let mut sorted: Vec<String> = expected.iter().map(|s| (*s).to_owned()).collect();
    sorted.sort();
    assert_eq!(
        members_by_page(app, token, org, 2).await,
        sorted,
        "after {after}"
    );
}

#[tokio::test]
async fn a_members_page_follows_its_members_usernames_through_every_change() {
    let app = TestApp::spawn().await;
    let root = app.user_with("root", &[], true).await;
    let org = create(&app, &root.access, "acme").await;
    let mut people = std::collections::HashMap::new();
    for name in ["mia", "bob", "kai", "eve", "dan"] {
        let person = app.user_with(name, &[], false).await;
        add_member(&app, &org, &person.id, MEMBER).await;
        people.insert(name, person);
    }
    let mut listed = vec!["root", "mia", "bob", "kai", "eve", "dan"];
    listed_in_order(&app, &root.access, &org, &listed, "joining").await;
    // The page carries each member's roles whole, built-in and custom ones
    // alike, as the organisation lists them.
    let body = app
        .gql(
            Some(&root.access),
            "mutation($o: ID!) { createOrgRole(input: { organizationId: $o, name: \"auditor\", description: \"Reads the trail\", permissions: [ORG_AUDIT_READ] }) { id } }",
            json!({ "o": org }),
        )
        .await;
    let auditor = body["data"]["createOrgRole"]["id"].clone();
    assert!(auditor.is_string(), "{body}");
    let member = org_role_id(&app, &root.access, &org, MEMBER).await;
    let body = app
        .gql(
            Some(&root.access),
            "query($o: ID!) { organization(id: $o) { members(first: 10) { nodes { id user { username } } } } }",
            json!({ "o": org }),
        )
        .await;
    let dan = body["data"]["organization"]["members"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["user"]["username"] == "dan")
        .unwrap()["id"]
        .clone();
    let body = app
        .gql(
            Some(&root.access),
            "mutation($m: ID!, $r: [ID!]!) { setMemberRoles(membershipId: $m, roleIds: $r) { id } }",
            json!({ "m": dan, "r": [member, auditor] }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    const ROLE: &str = "id name description isBuiltin permissions";
    let body = app
        .gql(
            Some(&root.access),
            &format!("query($o: ID!) {{ organization(id: $o) {{ roles {{ {ROLE} }} members(first: 10) {{ nodes {{ user {{ username }} roles {{ {ROLE} }} }} }} }} }}"),
            json!({ "o": org }),
        )
        .await;
    let offered = body["data"]["organization"]["roles"].as_array().unwrap();
    let of = |name: &str| offered.iter().find(|r| r["name"] == name).unwrap().clone();
    for node in body["data"]["organization"]["members"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
    {
        let expected = match node["user"]["username"].as_str() {
            Some("dan") => json!([of("auditor"), of(MEMBER)]),
            Some("root") => json!([of(OWNER)]),
            _ => json!([of(MEMBER)]),
        };
        assert_eq!(node["roles"], expected, "{node}");
    }
    // Renamed through the API, a member moves to their new place.
    let body = app
        .gql(
            Some(&root.access),
            "mutation($id: ID!) { updateUser(id: $id, input: { username: \"aaron\" }) { username } }",
            json!({ "id": people["kai"].id }),
        )
        .await;
    assert_eq!(body["data"]["updateUser"]["username"], "aaron", "{body}");
    listed[3] = "aaron";
    listed_in_order(&app, &root.access, &org, &listed, "a rename").await;
    // An operator's own SQL: a rename is followed, a copy written by hand
    // is put back.
    app.sql("UPDATE users SET username = 'zed' WHERE username = 'bob'")
        .await;
    listed[2] = "zed";
    listed_in_order(&app, &root.access, &org, &listed, "a rename in SQL").await;
    app.sql("UPDATE memberships SET username = 'aaaa'").await;
    listed_in_order(&app, &root.access, &org, &listed, "a copy written by hand").await;
    // An import that renames an existing user.
    let body = crate::imports::import(
        &app,
        &root.access,
        json!([{ "email": "dan@example.com", "username": "dax" }]),
        "UPDATE",
        false,
    )
    .await;
    assert_eq!(body["data"]["importUsers"]["updated"], 1, "{body}");
    listed[5] = "dax";
    listed_in_order(&app, &root.access, &org, &listed, "an import").await;
    // One statement adding several members names each.
    let org_key = usergraph::ids::decode(usergraph::ids::ORGANIZATION, &org, "id").unwrap();
    let mut rows = Vec::new();
    for name in ["bulk2", "bulk1", "cy"] {
        let person = app.user_with(name, &[], false).await;
        rows.push(joining(org_key, &person.id));
        listed.push(name);
    }
    membership::Entity::insert_many(rows)
        .exec_without_returning(app.db())
        .await
        .unwrap();
    listed_in_order(&app, &root.access, &org, &listed, "a bulk insert").await;
    // A member who leaves, or is suspended, drops out; the others keep
    // their order.
    let body = app
        .gql(
            Some(&people["eve"].access),
            "mutation($o: ID!) { leaveOrganization(organizationId: $o) }",
            json!({ "o": org }),
        )
        .await;
    assert_eq!(body["data"]["leaveOrganization"], true, "{body}");
    app.sql("UPDATE users SET status = 'suspended' WHERE username = 'mia'")
        .await;
    listed.retain(|name| !["eve", "mia"].contains(name));
    listed_in_order(&app, &root.access, &org, &listed, "leaving").await;
    // A copy left stale (an operator's SQL with the trigger off) puts its
    // member in the old name's place, and paging still moves forward
    // through everyone once.
    if app.db().get_database_backend() == sea_orm::DbBackend::Postgres {
        app.sql("ALTER TABLE users DISABLE TRIGGER users_member_renamed")
            .await;
        // cy ends the second page of two, so its cursor leads on.
        app.sql("UPDATE users SET username = 'abe' WHERE username = 'cy'")
            .await;
        app.sql("ALTER TABLE users ENABLE TRIGGER users_member_renamed")
            .await;
        let mut expected: Vec<String> = listed.iter().map(|s| (*s).to_owned()).collect();
        expected.sort();
        let at = expected.iter().position(|n| n == "cy").unwrap();
        assert_eq!(at, 3, "{expected:?}");
        expected[at] = "abe".into();
        assert_eq!(members_by_page(&app, &root.access, &org, 2).await, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_racing_its_members_rename_lists_them_by_the_new_name() {
    use sea_orm::DatabaseTransaction;
    let app = TestApp::spawn().await;
    let root = app.user_with("root", &[], true).await;
    let org = create(&app, &root.access, "acme").await;
    let org_key = usergraph::ids::decode(usergraph::ids::ORGANIZATION, &org, "id").unwrap();
    // Each round holds one side's transaction open while the other starts:
    // the join first, then the rename first.
    for round in 0..4 {
        let name = format!("racer{round}");
        let person = app.user_with(&name, &[], false).await;
        let join = joining(org_key, &person.id);
        let rename =
            format!("UPDATE users SET username = 'renamed{round}' WHERE username = '{name}'");
        let first: DatabaseTransaction = app.db().begin().await.unwrap();
        let db = app.db().clone();
        let second = if round % 2 == 0 {
            join.insert(&first).await.unwrap();
            tokio::spawn(async move {
                let txn = db.begin().await?;
                txn.execute_unprepared(&rename).await?;
                txn.commit().await
            })
        } else {
            first.execute_unprepared(&rename).await.unwrap();
            tokio::spawn(async move {
                let txn = db.begin().await?;
                join.insert(&txn).await?;
                txn.commit().await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        first.commit().await.unwrap();
        second.await.unwrap().unwrap();
        assert_eq!(stale_usernames(&app).await, 0, "round {round}");
    }
    let mut listed: Vec<String> = (0..4).map(|n| format!("renamed{n}")).collect();
    listed.push("root".into());
    assert_eq!(members_by_page(&app, &root.access, &org, 2).await, listed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_renamed_while_their_membership_is_removed_waits_instead_of_deadlocking() {
    // A removal as an organisation's deletion makes it: the organisation
    // locked, the membership reached (locked) and, a moment later,
    // deleted, when the head count's trigger takes its user's row; the
    // rename meanwhile takes the user's row and would write the membership.
    let (app, root, org, ann, membership, txn) = member_with_organisation_locked().await;
    if app.db().get_database_backend() == sea_orm::DbBackend::Postgres {
        // (SQLite's one writer already waits at the first write.)
        txn.execute_unprepared(&format!(
            "SELECT id FROM memberships WHERE id = '{}' FOR UPDATE",
            membership.id
        ))
        .await
        .unwrap();
    }
    let (renamed, removed) = while_removing(
        &app,
        &root.access,
        "mutation($id: ID!) { updateUser(id: $id, input: { username: \"anna\" }) { username } }",
        json!({ "id": ann.id }),
        txn,
        membership,
    )
    .await;
    assert_eq!(
        renamed["data"]["updateUser"]["username"], "anna",
        "{renamed}"
    );
    removed.unwrap();
    assert_eq!(stale_usernames(&app).await, 0);
    assert_eq!(head_counts(&app, &root.access, &org).await, (1, 1));
}
