//! Invitations end to end: an administrator invites by address, the
//! invitation mail arrives at a real SMTP server on loopback, and the
//! invitee accepts by choosing a password; resends supersede, and nothing
//! is sent for an invitation that fails.

use std::time::Duration;

use entity::outbox;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, code, field};

const INVITE: &str = "mutation($i: InviteUserInput!) { inviteUser(input: $i) { id username email invitationPending emailVerified } }";
const ACCEPT: &str = "mutation($t: String!, $p: String!, $u: String) { acceptInvitation(token: $t, password: $p, username: $u) { accessToken user { id username invitationPending emailVerified } } }";
const NEW_PASSWORD: &str = "marmalade-lantern-77";
const SEND_VERIFICATION: &str = "mutation($e: String) { sendVerificationEmail(email: $e) }";

fn ok(body: &Value) {
    assert!(body["errors"].is_null(), "unexpected errors: {body}");
}
#[tokio::test]
async fn an_invited_user_cannot_sign_in_until_they_accept() {
    let (app, sink) = TestApp::spawn_with_mail(&[]).await;
    let admin = app.user_with("boss", &["admin"], false).await;
    let body = app
        .gql(
            Some(&admin.access),
            INVITE,
            json!({ "i": { "email": "Dee@Example.com", "username": "dee", "firstName": "Dee" } }),
        )
        .await;
    ok(&body);
    let invited = &body["data"]["inviteUser"];
    assert_eq!(invited["invitationPending"], true);
    assert_eq!(invited["emailVerified"], false);
    let mail = sink.next("dee@example.com", 0).await;
    assert_eq!(mail.subject, "You are invited to usergraph");
    assert!(mail.text.contains("Hello Dee"), "{}", mail.text);
    assert!(mail.text.contains("expires in 7 days"));
    // No password matches an invitation, not even an empty one.
    for password in ["", PASSWORD] {
        assert_eq!(
            code(&app.login("dee", password).await),
            "INVALID_CREDENTIALS"
        );
    }
    // Other mail is refused until they accept.
    let reset = "mutation($id: ID!) { sendPasswordReset(id: $id) }";
    let body = app
        .gql(Some(&admin.access), reset, json!({ "id": invited["id"] }))
        .await;
    assert_eq!(code(&body), "CONFLICT");

    let body = app
        .gql(
            None,
            ACCEPT,
            json!({ "t": mail.token(), "p": "weak", "u": "deedee" }),
        )
        .await;
    assert_eq!((code(&body), field(&body)), ("BAD_USER_INPUT", "password"));
    let body = app
        .gql(
            None,
            ACCEPT,
            json!({ "t": mail.token(), "p": NEW_PASSWORD, "u": "deedee" }),
        )
        .await;
    ok(&body);
    let user = &body["data"]["acceptInvitation"]["user"];
    assert_eq!(user["username"], "deedee");
    assert_eq!(user["invitationPending"], false);
    assert_eq!(user["emailVerified"], true);
    ok(&app.login("deedee", NEW_PASSWORD).await);
    let again = app
        .gql(
            None,
            ACCEPT,
            json!({ "t": mail.token(), "p": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(code(&again), "TOKEN_INVALID");
    let resend = "mutation($id: ID!) { resendInvitation(id: $id) }";
    let body = app
        .gql(Some(&admin.access), resend, json!({ "id": invited["id"] }))
        .await;
    assert_eq!(code(&body), "CONFLICT");
}

#[tokio::test]
async fn a_pending_invitation_gets_no_verification_mail_and_suspended_users_no_reset() {
    let (app, sink) = TestApp::spawn_with_mail(&[]).await;
    let admin = app.user_with("boss", &["admin"], false).await;
    ok(&app
        .gql(
            Some(&admin.access),
            INVITE,
            json!({ "i": { "email": "dee@example.com" } }),
        )
        .await);
    sink.wait_for("dee@example.com", 1).await;
    ok(&app
        .gql(None, SEND_VERIFICATION, json!({ "e": "dee@example.com" }))
        .await);
    let kim = app.register_as("kim").await;
    sink.wait_for("kim@example.com", 1).await;
    let status = "mutation($id: ID!) { setUserStatus(id: $id, status: SUSPENDED) { id } }";
    ok(&app
        .gql(Some(&admin.access), status, json!({ "id": kim.id }))
        .await);
    let send = "mutation($id: ID!) { sendPasswordReset(id: $id) }";
    assert_eq!(
        code(
            &app.gql(Some(&admin.access), send, json!({ "id": kim.id }))
                .await
        ),
        "CONFLICT"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.to("dee@example.com").len(), 1, "the invitation only");
    assert_eq!(sink.to("kim@example.com").len(), 1, "the welcome only");
}

#[tokio::test]
async fn a_resent_invitation_supersedes_the_first_link() {
    let (app, sink) = TestApp::spawn_with_mail(&[]).await;
    let admin = app.user_with("boss", &["admin"], false).await;
    let body = app
        .gql(
            Some(&admin.access),
            INVITE,
            json!({ "i": { "email": "dee@example.com" } }),
        )
        .await;
    let id = body["data"]["inviteUser"]["id"].clone();
    let first = sink.next("dee@example.com", 0).await;
    let resend = "mutation($id: ID!) { resendInvitation(id: $id) }";
    let body = app
        .gql(Some(&admin.access), resend, json!({ "id": id }))
        .await;
    assert_eq!(body, json!({ "data": { "resendInvitation": true } }));
    let second = sink.next("dee@example.com", 1).await;
    let old = app
        .gql(
            None,
            ACCEPT,
            json!({ "t": first.token(), "p": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(code(&old), "TOKEN_INVALID");
    ok(&app
        .gql(
            None,
            ACCEPT,
            json!({ "t": second.token(), "p": NEW_PASSWORD }),
        )
        .await);
}

#[tokio::test]
async fn an_invitation_without_a_username_gets_one_from_the_address() {
    let (app, _sink) = TestApp::spawn_with_mail(&[]).await;
    let admin = app.user_with("boss", &["admin"], false).await;
    app.register_as("ann.lee").await;
    let mut names = Vec::new();
    for email in [
        "Ann.Lee+work@example.com",
        "ann.lee@other.example",
        "x@example.com",
    ] {
        let body = app
            .gql(
                Some(&admin.access),
                INVITE,
                json!({ "i": { "email": email } }),
            )
            .await;
        ok(&body);
        names.push(
            body["data"]["inviteUser"]["username"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(names, ["ann.lee2", "ann.lee3", "xuser"]);
    let taken = app
        .gql(
            Some(&admin.access),
            INVITE,
            json!({ "i": { "email": "ann.lee@example.com" } }),
        )
        .await;
    assert_eq!(code(&taken), "DUPLICATE_EMAIL");
}

#[tokio::test]
async fn an_invitation_that_fails_sends_nothing() {
    let (app, sink) = TestApp::spawn_with_mail(&[]).await;
    let root = app.superuser("root").await;
    // The user row is written, then the role is not found: all of it rolls back.
    let missing = usergraph::ids::encode(usergraph::ids::ROLE, uuid::Uuid::new_v4());
    let body = app
        .gql(
            Some(&root.access),
            INVITE,
            json!({ "i": { "email": "dee@example.com", "roleIds": [missing] } }),
        )
        .await;
    assert_eq!(
        (code(&body), field(&body)),
        ("NOT_FOUND", "roleIds"),
        "{body}"
    );
    let queued = outbox::Entity::find().count(app.db()).await.unwrap();
    assert_eq!(queued, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(sink.to("dee@example.com").is_empty());
    assert_eq!(
        code(&app.login("dee@example.com", PASSWORD).await),
        "INVALID_CREDENTIALS"
    );
}
