//! The authorization matrix: every root query and mutation, run by every kind
//! of caller, against the checked-in table `authorization.tsv`. A root field
//! the table does not list fails the test: access is denied by default.

use std::collections::BTreeSet;

use base64::Engine;
use serde_json::{Value, json};

use crate::helpers::{Account, PASSWORD, TestApp, code};

const TABLE: &str = include_str!("authorization.tsv");
const CALLERS: [&str; 7] = [
    "anonymous",
    "self",
    "other",
    "viewer",
    "admin",
    "superuser",
    "deleted",
];

struct Row {
    field: String,
    expected: Vec<String>,
}

fn table() -> Vec<Row> {
    TABLE
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(cols.len(), 1 + CALLERS.len(), "malformed row: {line}");
            Row {
                field: cols[0].to_owned(),
                expected: cols[1..].iter().map(|c| c.to_string()).collect(),
            }
        })
        .collect()
}

/// What one cell needs: the caller, its target, and fresh things to act on.
struct Cell {
    n: usize,
    caller: Option<Account>,
    target: Account,
    target_name: String,
    role_id: String,
    custom_role_id: String,
    tier_id: String,
    /// A live link token for the field's purpose made for the target, or
    /// the id of a key of the target's.
    token: String,
}

/// The organisation fields: their cells act on an organisation the target owns.
fn is_org_field(field: &str) -> bool {
    matches!(
        field,
        "organization"
            | "organizationBySlug"
            | "updateOrganization"
            | "deleteOrganization"
            | "setOrganizationTier"
            | "inviteToOrganization"
            | "revokeOrganizationInvitation"
            | "acceptOrganizationInvitation"
            | "organizationInvitation"
            | "setMemberRoles"
            | "removeMember"
            | "leaveOrganization"
            | "setActiveOrganization"
            | "createOrgRole"
            | "deleteOrgRole"
    )
}

/// What an organisation field's cell acts on, made directly.
pub struct OrgCell {
    pub org: String,
    pub slug: String,
    /// A membership of a plain member (not the owner).
    pub member: String,
    pub invitation: String,
    /// The token of `invitation`, to a fresh address.
    pub invitation_token: String,
    pub custom_role: String,
    pub member_role: String,
}

impl OrgCell {
    fn encode(&self) -> String {
        [
            &self.org,
            &self.slug,
            &self.member,
            &self.invitation,
            &self.invitation_token,
            &self.custom_role,
            &self.member_role,
        ]
        .map(|s| s.as_str())
        .join(" ")
    }

    pub fn decode(raw: &str) -> Self {
        let p: Vec<String> = raw.split(' ').map(str::to_owned).collect();
        Self {
            org: p[0].clone(),
            slug: p[1].clone(),
            member: p[2].clone(),
            invitation: p[3].clone(),
            invitation_token: p[4].clone(),
            custom_role: p[5].clone(),
            member_role: p[6].clone(),
        }
    }
}

/// An organisation `owner` owns, with a plain member, a pending invitation
/// to `fresh{n}@example.com` and a custom role.
pub async fn arrange_organization(app: &TestApp, owner: uuid::Uuid, n: usize) -> String {
    use sea_orm::{ActiveModelTrait, Set};
    use usergraph::{ids, service::memberships};
    let ts = chrono::Utc::now();
    let slug = format!(
        "org-{n}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let org = entity::organization::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        name: Set(format!("Org {n}")),
        slug: Set(slug.clone()),
        metadata: Set(json!({})),
        tier_id: Set(None),
        created_at: Set(ts),
        updated_at: Set(ts),
    }
    .insert(app.db())
    .await
    .unwrap();
    let org_id = ids::encode(ids::ORGANIZATION, org.id);
    crate::organizations::add_member(app, &org_id, &ids::user(owner), memberships::OWNER).await;
    let plain = app.user_with(&format!("om{n}"), &[], false).await;
    let member =
        crate::organizations::add_member(app, &org_id, &plain.id, memberships::MEMBER).await;
    let token = format!("org-invite-{n}-{}", uuid::Uuid::new_v4().simple());
    let invitation = entity::organization_invitation::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        organization_id: Set(org.id),
        email: Set(format!("fresh{n}@example.com")),
        role_ids: Set("[]".into()),
        invited_by: Set(Some(owner)),
        token_hash: Set(usergraph::service::tokens::hash_token(&token)),
        created_at: Set(ts),
        expires_at: Set(ts + chrono::Duration::hours(1)),
        accepted_at: Set(None),
    }
    .insert(app.db())
    .await
    .unwrap();
    let custom = entity::org_role::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        organization_id: Set(Some(org.id)),
        name: Set("readers".into()),
        description: Set(None),
        permissions: Set("[\"MEMBERS_READ\"]".into()),
        is_builtin: Set(false),
        created_at: Set(ts),
    }
    .insert(app.db())
    .await
    .unwrap();
    let member_role = memberships::builtin_role(app.db(), memberships::MEMBER)
        .await
        .unwrap();
    OrgCell {
        org: org_id,
        slug,
        member,
        invitation: ids::encode(ids::ORG_INVITATION, invitation.id),
        invitation_token: token,
        custom_role: ids::encode(ids::ORG_ROLE, custom.id),
        member_role: ids::encode(ids::ORG_ROLE, member_role.id),
    }
    .encode()
}

/// The operation of an organisation root field, on `org`'s things.
pub fn org_operation(field: &str, org: &OrgCell, n: usize) -> Option<(&'static str, Value)> {
    Some(match field {
        "organization" => (
            "query($o: ID!) { organization(id: $o) { id } }",
            json!({ "o": org.org }),
        ),
        "organizationBySlug" => (
            "query($s: String!) { organizationBySlug(slug: $s) { id } }",
            json!({ "s": org.slug }),
        ),
        "myOrganizations" => ("{ myOrganizations { id } }", json!({})),
        "organizations" => ("{ organizations(first: 1) { nodes { id } } }", json!({})),
        "createOrganization" => (
            "mutation($s: String!) { createOrganization(input: { name: \"New\", slug: $s }) { id } }",
            json!({ "s": format!("new-{n}") }),
        ),
        "updateOrganization" => (
            "mutation($o: ID!) { updateOrganization(id: $o, input: { name: \"Renamed\" }) { id } }",
            json!({ "o": org.org }),
        ),
        "deleteOrganization" => (
            "mutation($o: ID!) { deleteOrganization(id: $o) }",
            json!({ "o": org.org }),
        ),
        "setOrganizationTier" => (
            "mutation($o: ID!) { setOrganizationTier(id: $o, tierId: null) { id } }",
            json!({ "o": org.org }),
        ),
        "inviteToOrganization" => (
            "mutation($o: ID!, $e: String!) { inviteToOrganization(organizationId: $o, email: $e) { id } }",
            json!({ "o": org.org, "e": format!("asked{n}@example.com") }),
        ),
        "revokeOrganizationInvitation" => (
            "mutation($i: ID!) { revokeOrganizationInvitation(id: $i) }",
            json!({ "i": org.invitation }),
        ),
        "organizationInvitation" => (
            "query($t: String!) { organizationInvitation(token: $t) { email accountExists } }",
            json!({ "t": org.invitation_token }),
        ),
        "acceptOrganizationInvitation" => (
            "mutation($t: String!) { acceptOrganizationInvitation(token: $t, password: \"marmalade-otter-77\") { accessToken } }",
            json!({ "t": org.invitation_token }),
        ),
        "setMemberRoles" => (
            "mutation($m: ID!, $r: [ID!]!) { setMemberRoles(membershipId: $m, roleIds: $r) { id } }",
            json!({ "m": org.member, "r": [org.member_role] }),
        ),
        "removeMember" => (
            "mutation($m: ID!) { removeMember(membershipId: $m) }",
            json!({ "m": org.member }),
        ),
        "leaveOrganization" => (
            "mutation($o: ID!) { leaveOrganization(organizationId: $o) }",
            json!({ "o": org.org }),
        ),
        "setActiveOrganization" => (
            "mutation($o: ID) { setActiveOrganization(organizationId: $o) { id } }",
            json!({ "o": org.org }),
        ),
        "createOrgRole" => (
            "mutation($o: ID!, $name: String!) { createOrgRole(input: { organizationId: $o, name: $name, permissions: [MEMBERS_READ] }) { id } }",
            json!({ "o": org.org, "name": format!("role{n}") }),
        ),
        "deleteOrgRole" => (
            "mutation($r: ID!) { deleteOrgRole(id: $r) }",
            json!({ "r": org.custom_role }),
        ),
        _ => return None,
    })
}

/// The link purpose a field redeems, if any.
fn link_purpose(field: &str) -> Option<&'static str> {
    match field {
        "resetPassword" => Some("password_reset"),
        "verifyEmail" => Some("verify_email"),
        "confirmEmailChange" => Some("email_change"),
        "acceptInvitation" => Some("invitation"),
        _ => None,
    }
}

/// Arranges what a field's cell needs beyond its users: a link token as if
/// mailed to the target, or a pending invitation to resend.
async fn arrange(app: &TestApp, field: &str, target: &Account, n: usize) -> String {
    use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    let target_id =
        usergraph::ids::decode(usergraph::ids::USER, &target.id, "id").expect("a user id");
    if matches!(
        field,
        "webhookDeliveries" | "updateWebhook" | "deleteWebhook" | "redeliverWebhook"
    ) {
        // A webhook that subscribes to nothing, with one delivery of a
        // message still in the outbox.
        let now = chrono::Utc::now();
        let hook = uuid::Uuid::new_v4();
        let secret = app
            .ctx
            .webhook_sealer
            .seal(b"whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        entity::webhook::Entity::insert(entity::webhook::ActiveModel {
            id: Set(hook),
            url: Set("http://127.0.0.1:9/hook".into()),
            events: Set("[\"none.none\"]".into()),
            description: Set(None),
            secret_sealed: Set(secret),
            enabled: Set(true),
            disabled_reason: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .exec(app.db())
        .await
        .expect("arrange a webhook");
        if field != "redeliverWebhook" {
            return usergraph::ids::encode(usergraph::ids::WEBHOOK, hook);
        }
        let message = uuid::Uuid::new_v4();
        entity::outbox::Entity::insert(entity::outbox::ActiveModel {
            id: Set(message),
            kind: Set("webhook".into()),
            topic: Set("none.none".into()),
            recipient: Set(usergraph::ids::encode(usergraph::ids::WEBHOOK, hook)),
            payload: Set(
                json!({ "webhook_id": hook, "message_id": "msg_x", "body": {} }).to_string(),
            ),
            status: Set(entity::outbox::Status::Sent),
            attempts: Set(1),
            next_attempt_at: Set(now),
            last_error: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            sent_at: Set(Some(now)),
        })
        .exec(app.db())
        .await
        .expect("arrange a message");
        let delivery = uuid::Uuid::new_v4();
        entity::webhook_delivery::Entity::insert(entity::webhook_delivery::ActiveModel {
            id: Set(delivery),
            webhook_id: Set(hook),
            outbox_id: Set(message),
            message_id: Set("msg_x".into()),
            event_type: Set("none.none".into()),
            attempt: Set(1),
            status_code: Set(Some(200)),
            duration_ms: Set(1),
            error: Set(None),
            created_at: Set(now),
        })
        .exec(app.db())
        .await
        .expect("arrange a delivery");
        return usergraph::ids::encode(usergraph::ids::WEBHOOK_DELIVERY, delivery);
    }
    if is_org_field(field) {
        return arrange_organization(app, target_id, n).await;
    }
    if field == "revokeApiKey" {
        // A key of the target's, to revoke.
        let id = uuid::Uuid::new_v4();
        let now = chrono::Utc::now();
        entity::api_key::Entity::insert(entity::api_key::ActiveModel {
            id: Set(id),
            user_id: Set(target_id),
            name: Set("matrix".into()),
            prefix: Set("ugk_matrix00".into()),
            secret_hash: Set(format!("{:064}", n)),
            permissions: Set("[]".into()),
            created_at: Set(now),
            expires_at: Set(None),
            last_used_at: Set(None),
            revoked_at: Set(None),
        })
        .exec(app.db())
        .await
        .expect("arrange an API key");
        return usergraph::ids::encode(usergraph::ids::API_KEY, id);
    }
    if matches!(field, "acceptInvitation" | "resendInvitation") {
        entity::user::Entity::update_many()
            .col_expr(entity::user::Column::InvitationPending, Expr::value(true))
            .filter(entity::user::Column::Id.eq(target_id))
            .exec(app.db())
            .await
            .expect("arrange an invitation");
    }
    let Some(purpose) = link_purpose(field) else {
        return String::new();
    };
    let user = usergraph::service::users::find(app.db(), target_id)
        .await
        .unwrap()
        .expect("target exists");
    let token = format!("matrix-token-{n}-{}", uuid::Uuid::new_v4().simple());
    let now = chrono::Utc::now();
    let address = if purpose == "email_change" {
        format!("changed{n}@example.com")
    } else {
        user.email.clone()
    };
    entity::account_token::Entity::insert(entity::account_token::ActiveModel {
        id: Set(uuid::Uuid::new_v4()),
        token_hash: Set(usergraph::service::tokens::hash_token(&token)),
        purpose: Set(purpose.to_owned()),
        user_id: Set(user.id),
        address: Set(address),
        user_email: Set(user.email),
        created_at: Set(now),
        expires_at: Set(now + chrono::Duration::hours(1)),
        used_at: Set(None),
    })
    .exec(app.db())
    .await
    .expect("arrange a link token");
    token
}

fn session_of(account: &Account) -> String {
    let payload = account.access.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}

/// The operation that exercises `field`, with its variables.
fn operation(field: &str, cell: &Cell) -> (String, Value) {
    let n = cell.n;
    let target = json!({ "id": cell.target.id });
    if let Some((query, variables)) = org_operation(
        field,
        &OrgCell::decode(if is_org_field(field) {
            &cell.token
        } else {
            "- - - - - - -"
        }),
        n,
    ) {
        return (query.to_owned(), variables);
    }
    let (query, variables) = match field {
        "me" => ("{ me { id } }", json!({})),
        "user" => ("query($id: ID!) { user(id: $id) { id } }", target),
        "userByUsername" => (
            "query($u: String!) { userByUsername(username: $u) { id } }",
            json!({ "u": cell.target_name }),
        ),
        "users" => ("{ users(first: 1) { nodes { id } } }", json!({})),
        "userTier" => (
            "query($u: String!) { userTier(username: $u) { id } }",
            json!({ "u": cell.target_name }),
        ),
        "roles" => ("{ roles { id } }", json!({})),
        "role" => (
            "query($id: ID!) { role(id: $id) { id } }",
            json!({ "id": cell.role_id }),
        ),
        "tiers" => ("{ tiers { id } }", json!({})),
        "tier" => (
            "query($id: ID!) { tier(id: $id) { id } }",
            json!({ "id": cell.tier_id }),
        ),
        "mySessions" => ("{ mySessions { id } }", json!({})),
        "register" => (
            "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
            json!({ "i": { "username": format!("reg{n}"), "email": format!("reg{n}@example.com"), "password": PASSWORD } }),
        ),
        "login" => (
            "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
            json!({ "i": { "login": cell.target_name, "password": PASSWORD } }),
        ),
        "refreshToken" => (
            "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
            json!({ "t": cell.target.refresh }),
        ),
        "logout" => ("mutation { logout }", json!({})),
        "logoutAll" => ("mutation { logoutAll }", json!({})),
        "revokeSession" => (
            "mutation($id: ID!) { revokeSession(id: $id) }",
            json!({ "id": cell.caller.as_ref().map(session_of).unwrap_or_else(|| "ses_x".into()) }),
        ),
        "changePassword" => (
            "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }",
            json!({ "c": PASSWORD, "n": "marmalade-otter-77" }),
        ),
        "updateMe" => (
            "mutation { updateMe(input: { firstName: \"Me\" }) { id } }",
            json!({}),
        ),
        "deleteMe" => (
            "mutation($p: String!) { deleteMe(password: $p) }",
            json!({ "p": PASSWORD }),
        ),
        "createUser" => (
            "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
            json!({ "i": { "username": format!("new{n}"), "email": format!("new{n}@example.com"), "password": PASSWORD } }),
        ),
        "updateUser" => (
            "mutation($id: ID!) { updateUser(id: $id, input: { firstName: \"Up\" }) { id } }",
            target,
        ),
        "setUserStatus" => (
            "mutation($id: ID!) { setUserStatus(id: $id, status: INACTIVE) { id } }",
            target,
        ),
        "setUserRoles" => (
            "mutation($id: ID!, $r: [ID!]!) { setUserRoles(id: $id, roleIds: $r) { id } }",
            json!({ "id": cell.target.id, "r": [cell.role_id] }),
        ),
        "deleteUser" => ("mutation($id: ID!) { deleteUser(id: $id) { id } }", target),
        "restoreUser" => ("mutation($id: ID!) { restoreUser(id: $id) { id } }", target),
        "hardDeleteUser" => ("mutation($id: ID!) { hardDeleteUser(id: $id) }", target),
        "setUserTier" => (
            "mutation($id: ID!, $t: ID) { setUserTier(id: $id, tierId: $t) { id } }",
            json!({ "id": cell.target.id, "t": cell.tier_id }),
        ),
        "createRole" => (
            "mutation($name: String!) { createRole(input: { name: $name }) { id } }",
            json!({ "name": format!("role{n}") }),
        ),
        "updateRole" => (
            "mutation($id: ID!) { updateRole(id: $id, input: { description: \"changed\" }) { id } }",
            json!({ "id": cell.custom_role_id }),
        ),
        "deleteRole" => (
            "mutation($id: ID!) { deleteRole(id: $id) }",
            json!({ "id": cell.custom_role_id }),
        ),
        "createTier" => (
            "mutation($name: String!) { createTier(input: { name: $name }) { id } }",
            json!({ "name": format!("tier{n}") }),
        ),
        "updateTier" => (
            "mutation($id: ID!) { updateTier(id: $id, input: { description: \"changed\" }) { id } }",
            json!({ "id": cell.tier_id }),
        ),
        "deleteTier" => (
            "mutation($id: ID!) { deleteTier(id: $id) }",
            json!({ "id": cell.tier_id }),
        ),
        "requestPasswordReset" => (
            "mutation($e: String!) { requestPasswordReset(email: $e) }",
            json!({ "e": format!("{}@example.com", cell.target_name) }),
        ),
        "resetPassword" => (
            "mutation($t: String!) { resetPassword(token: $t, newPassword: \"marmalade-otter-77\") { accessToken } }",
            json!({ "t": cell.token }),
        ),
        "sendVerificationEmail" => (
            "mutation($e: String) { sendVerificationEmail(email: $e) }",
            json!({ "e": format!("{}@example.com", cell.target_name) }),
        ),
        "verifyEmail" => (
            "mutation($t: String!) { verifyEmail(token: $t) }",
            json!({ "t": cell.token }),
        ),
        "requestEmailChange" => (
            "mutation($e: String!, $p: String!) { requestEmailChange(newEmail: $e, password: $p) }",
            json!({ "e": format!("moved{n}@example.com"), "p": PASSWORD }),
        ),
        "confirmEmailChange" => (
            "mutation($t: String!) { confirmEmailChange(token: $t) { id } }",
            json!({ "t": cell.token }),
        ),
        "inviteUser" => (
            "mutation($e: String!) { inviteUser(input: { email: $e }) { id } }",
            json!({ "e": format!("inv{n}@example.com") }),
        ),
        "acceptInvitation" => (
            "mutation($t: String!) { acceptInvitation(token: $t, password: \"marmalade-otter-77\") { accessToken } }",
            json!({ "t": cell.token }),
        ),
        "resendInvitation" => ("mutation($id: ID!) { resendInvitation(id: $id) }", target),
        "sendPasswordReset" => ("mutation($id: ID!) { sendPasswordReset(id: $id) }", target),
        "enrollTotp" => (
            "mutation($p: String!) { enrollTotp(password: $p) { secret } }",
            json!({ "p": PASSWORD }),
        ),
        // Without a pending enrolment: the answer shows the caller got past
        // authorization (the code itself is tested in mfa.rs).
        "confirmTotp" => ("mutation { confirmTotp(code: \"123456\") }", json!({})),
        "disableTotp" => (
            "mutation($p: String!) { disableTotp(password: $p) }",
            json!({ "p": PASSWORD }),
        ),
        "regenerateRecoveryCodes" => (
            "mutation($p: String!) { regenerateRecoveryCodes(password: $p) }",
            json!({ "p": PASSWORD }),
        ),
        "resetUserMfa" => (
            "mutation($id: ID!) { resetUserMfa(id: $id) { id } }",
            target,
        ),
        // Anonymous by design; a real challenge is tested in mfa.rs.
        "verifyMfa" => (
            "mutation { verifyMfa(mfaToken: \"not-a-challenge\", code: \"123456\") { accessToken } }",
            json!({}),
        ),
        "createApiKey" => (
            "mutation($p: String!) { createApiKey(input: { name: \"matrix\" }, password: $p) { secret } }",
            json!({ "p": PASSWORD }),
        ),
        "myApiKeys" => ("{ myApiKeys { id } }", json!({})),
        "apiKeys" => ("query($id: ID!) { apiKeys(userId: $id) { id } }", target),
        "revokeApiKey" => (
            "mutation($id: ID!) { revokeApiKey(id: $id) }",
            json!({ "id": cell.token }),
        ),
        "auditEvents" => ("{ auditEvents(first: 1) { nodes { id } } }", json!({})),
        "webhooks" => ("{ webhooks { id } }", json!({})),
        "webhookDeliveries" => (
            "query($id: ID!) { webhookDeliveries(webhookId: $id) { nodes { id } } }",
            json!({ "id": cell.token }),
        ),
        "createWebhook" => (
            "mutation { createWebhook(input: { url: \"http://127.0.0.1:9/hook\", events: [\"webhook.disabled\"] }) { secret } }",
            json!({}),
        ),
        "updateWebhook" => (
            "mutation($id: ID!) { updateWebhook(id: $id, input: { description: \"m\" }) { id } }",
            json!({ "id": cell.token }),
        ),
        "deleteWebhook" => (
            "mutation($id: ID!) { deleteWebhook(id: $id) }",
            json!({ "id": cell.token }),
        ),
        "redeliverWebhook" => (
            "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) }",
            json!({ "id": cell.token }),
        ),
        "mySecurityEvents" => ("{ mySecurityEvents(first: 1) { nodes { id } } }", json!({})),
        "signingKeys" => ("{ signingKeys { id kid } }", json!({})),
        "rotateSigningKey" => ("mutation { rotateSigningKey { kid } }", json!({})),
        "identityProviders" => ("{ identityProviders { id name kind } }", json!({})),
        "requestSignInCode" => (
            "mutation { requestSignInCode(email: \"nobody@example.com\") }",
            json!({}),
        ),
        "signInWithCode" => (
            "mutation { signInWithCode(email: \"nobody@example.com\", code: \"123456\") { accessToken } }",
            json!({}),
        ),
        "signInWithLink" => (
            "mutation { signInWithLink(token: \"not-a-token\") { accessToken } }",
            json!({}),
        ),
        // LINK: signing in needs nobody; linking needs a session.
        "startExternalSignIn" => (
            "mutation($p: ID!, $pw: String) { startExternalSignIn(provider: $p, redirectUri: \"http://localhost:3000/callback\", intent: LINK, password: $pw) { state } }",
            json!({ "p": usergraph::ids::encode(
                usergraph::ids::IDENTITY_PROVIDER,
                usergraph::service::providers::provider_id("gh"),
            ), "pw": PASSWORD }),
        ),
        "finishExternalSignIn" => (
            "mutation { finishExternalSignIn(state: \"not-a-state\", code: \"c\") { accessToken } }",
            json!({}),
        ),
        "unlinkIdentity" => (
            "mutation($id: ID!) { unlinkIdentity(id: $id, password: \"x\") }",
            json!({ "id": usergraph::ids::encode(usergraph::ids::EXTERNAL_IDENTITY, uuid::Uuid::nil()) }),
        ),
        "setPassword" => (
            "mutation { setPassword(newPassword: \"another-long-passphrase-7\") }",
            json!({}),
        ),
        "myPasskeys" => ("{ myPasskeys { id } }", json!({})),
        "exportMyData" => ("{ exportMyData }", json!({})),
        "eraseUser" => (
            "mutation($id: ID!) { eraseUser(id: $id) }",
            json!({ "id": usergraph::ids::encode(usergraph::ids::USER, uuid::Uuid::nil()) }),
        ),
        "importUsers" => (
            "mutation { importUsers(users: [{ email: \"imported@example.com\" }], dryRun: true) { created } }",
            json!({}),
        ),
        "startPasskeyRegistration" => (
            "mutation($p: String!) { startPasskeyRegistration(password: $p) { challengeId } }",
            json!({ "p": PASSWORD }),
        ),
        "finishPasskeyRegistration" => (
            "mutation($c: ID!) { finishPasskeyRegistration(challengeId: $c, credential: {}) { id } }",
            json!({ "c": usergraph::ids::encode(usergraph::ids::PASSKEY_CHALLENGE, uuid::Uuid::nil()) }),
        ),
        "renamePasskey" => (
            "mutation($id: ID!) { renamePasskey(id: $id, name: \"laptop\") { id } }",
            json!({ "id": usergraph::ids::encode(usergraph::ids::PASSKEY, uuid::Uuid::nil()) }),
        ),
        "deletePasskey" => (
            "mutation($id: ID!) { deletePasskey(id: $id, password: \"x\") }",
            json!({ "id": usergraph::ids::encode(usergraph::ids::PASSKEY, uuid::Uuid::nil()) }),
        ),
        "startPasskeySignIn" => (
            "mutation { startPasskeySignIn(login: \"nobody\") { challengeId } }",
            json!({}),
        ),
        "finishPasskeySignIn" => (
            "mutation($c: ID!) { finishPasskeySignIn(challengeId: $c, credential: {}) { accessToken } }",
            json!({ "c": usergraph::ids::encode(usergraph::ids::PASSKEY_CHALLENGE, uuid::Uuid::nil()) }),
        ),
        "node" => ("query($id: ID!) { node(id: $id) { id } }", target),
        "nodes" => ("query($id: ID!) { nodes(ids: [$id]) { id } }", target),
        "roleByName" => ("{ roleByName(name: \"viewer\") { id } }", json!({})),
        "logoutOthers" => ("mutation { logoutOthers }", json!({})),
        "revokeUserSessions" => ("mutation($id: ID!) { revokeUserSessions(id: $id) }", target),
        "unlockUser" => ("mutation($id: ID!) { unlockUser(id: $id) { id } }", target),
        "impersonateUser" => (
            "mutation($id: ID!, $p: String!) { impersonateUser(id: $id, reason: \"matrix\", password: $p) { accessToken } }",
            json!({ "id": cell.target.id, "p": PASSWORD }),
        ),
        "endImpersonation" => ("mutation { endImpersonation }", json!({})),
        "tierByName" => (
            "query($name: String!) { tierByName(name: $name) { id } }",
            json!({ "name": format!("fresh{n}") }),
        ),
        other => panic!(
            "no operation written for root field `{other}`: add one here and a row to authorization.tsv"
        ),
    };
    (query.to_owned(), variables)
}

/// `ok`, `null` (no error, but nothing to see: a null answer, or a list of
/// only nulls), or the error's code.
fn outcome(field: &str, body: &Value) -> String {
    let answer = &body["data"][field];
    let nothing = answer.is_null()
        || answer
            .as_array()
            .is_some_and(|list| !list.is_empty() && list.iter().all(Value::is_null));
    match code(body) {
        "" if body["errors"].is_null() && nothing => "null".to_owned(),
        "" if body["errors"].is_null() => "ok".to_owned(),
        "" => format!("uncoded error {body}"),
        other => other.to_owned(),
    }
}

#[tokio::test]
async fn every_root_field_follows_the_authorization_matrix() {
    // Webhooks are created here for a loopback address.
    // Asymmetric tokens throughout, so rotations happen between the cells.
    // A GitHub provider needs no discovery, so starting a sign-in
    // contacts nobody.
    let app = TestApp::spawn_with(&[
        ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
        ("JWT_ALGORITHM", "EdDSA"),
        ("IDENTITY_PROVIDERS", "gh"),
        ("IDP_GH_KIND", "github"),
        ("IDP_GH_CLIENT_ID", "matrix"),
        ("IDP_GH_CLIENT_SECRET", "matrix-secret"),
        (
            "EXTERNAL_SIGNIN_REDIRECT_URLS",
            "http://localhost:3000/callback",
        ),
    ])
    .await;
    let setup = app.user_with("setup", &[], true).await;
    // The superuser's cell rotates: its next key has waited out the caches.
    crate::signing_keys::age_next_key(&app).await;
    // A spare superuser, so no cell ever acts on the last one.
    app.user_with("spare", &[], true).await;
    let rows = table();

    let schema = app
        .gql(
            Some(&setup.access),
            "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }",
            json!({}),
        )
        .await;
    let mut root_fields = BTreeSet::new();
    for kind in ["queryType", "mutationType"] {
        for f in schema["data"]["__schema"][kind]["fields"]
            .as_array()
            .unwrap()
        {
            root_fields.insert(f["name"].as_str().unwrap().to_owned());
        }
    }
    let listed: BTreeSet<String> = rows.iter().map(|r| r.field.clone()).collect();
    let missing: Vec<&String> = root_fields.difference(&listed).collect();
    let stale: Vec<&String> = listed.difference(&root_fields).collect();
    assert!(
        missing.is_empty(),
        "root fields missing from authorization.tsv (denied by default): {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "authorization.tsv lists fields the schema does not have: {stale:?}"
    );

    let role_id = app.role_id(&setup.access, "viewer").await;
    let mut failures = Vec::new();
    let mut n = 0;
    for row in &rows {
        for (caller_kind, expected) in CALLERS.iter().zip(&row.expected) {
            n += 1;
            let target_name = format!("t{n}");
            let target = app.user_with(&target_name, &[], false).await;
            let (caller, target, target_name) = match *caller_kind {
                "anonymous" => (None, target, target_name),
                "self" => {
                    let me = app.user_with(&format!("s{n}"), &[], false).await;
                    (Some(me.clone()), me, format!("s{n}"))
                }
                "other" => (
                    Some(app.user_with(&format!("o{n}"), &[], false).await),
                    target,
                    target_name,
                ),
                "viewer" => (
                    Some(app.user_with(&format!("v{n}"), &["viewer"], false).await),
                    target,
                    target_name,
                ),
                "admin" => (
                    Some(app.user_with(&format!("a{n}"), &["admin"], false).await),
                    target,
                    target_name,
                ),
                "superuser" => (
                    Some(app.user_with(&format!("su{n}"), &[], true).await),
                    target,
                    target_name,
                ),
                "deleted" => {
                    let gone = app.user_with(&format!("d{n}"), &[], false).await;
                    // Soft-deleted behind the session's back: the token and its
                    // session row are still live, only the user is gone.
                    app.sql(&format!(
                        "UPDATE users SET deleted_at = created_at WHERE username = 'd{n}'"
                    ))
                    .await;
                    (Some(gone), target, target_name)
                }
                other => unreachable!("{other}"),
            };
            let made = app
                .gql(Some(&setup.access), "mutation($r: String!, $t: String!) { createRole(input: { name: $r }) { id } createTier(input: { name: $t }) { id } }", json!({ "r": format!("fresh{n}"), "t": format!("fresh{n}") }))
                .await;
            let token = arrange(&app, &row.field, &target, n).await;
            let cell = Cell {
                token,
                n,
                caller,
                target,
                target_name,
                role_id: role_id.clone(),
                custom_role_id: made["data"]["createRole"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                tier_id: made["data"]["createTier"]["id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            };
            let (query, variables) = operation(&row.field, &cell);
            let body = app
                .gql(
                    cell.caller.as_ref().map(|c| c.access.as_str()),
                    &query,
                    variables,
                )
                .await;
            let got = outcome(&row.field, &body);
            if &got != expected {
                failures.push(format!(
                    "{:<16} as {:<10} expected {:<16} got {got}",
                    row.field, caller_kind, expected
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorization matrix mismatches:\n{}",
        failures.join("\n")
    );
}
