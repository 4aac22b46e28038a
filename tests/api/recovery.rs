//! Account recovery, verification, email change and invitations, end to end:
//! each flow's mail is received by a real SMTP server on loopback and its
//! link followed; the outbox's delivery under failure, shutdown and several
//! workers; and the limits.

use std::time::{Duration, Instant};

use entity::outbox;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait};
use serde_json::{Value, json};

use crate::helpers::{MailSink, PASSWORD, TestApp, code, field, logs};

const REQUEST_RESET: &str = "mutation($e: String!) { requestPasswordReset(email: $e) }";
const RESET: &str = "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { accessToken refreshToken user { id emailVerified } } }";
const VERIFY: &str = "mutation($t: String!) { verifyEmail(token: $t) }";
const SEND_VERIFICATION: &str = "mutation($e: String) { sendVerificationEmail(email: $e) }";
const REQUEST_CHANGE: &str =
    "mutation($e: String!, $p: String!) { requestEmailChange(newEmail: $e, password: $p) }";
const CONFIRM_CHANGE: &str =
    "mutation($t: String!) { confirmEmailChange(token: $t) { id email emailVerified } }";
const ACCEPT: &str = "mutation($t: String!, $p: String!, $u: String) { acceptInvitation(token: $t, password: $p, username: $u) { accessToken user { id username invitationPending emailVerified } } }";
const NEW_PASSWORD: &str = "marmalade-lantern-77";

fn ok(body: &Value) {
    assert!(body["errors"].is_null(), "unexpected errors: {body}");
}

async fn me_verified(app: &TestApp, token: &str) -> Value {
    app.gql(
        Some(token),
        "{ me { email emailVerified emailVerifiedAt invitationPending } }",
        json!({}),
    )
    .await["data"]["me"]
        .clone()
}

mod password_reset {
    use super::*;

    #[tokio::test]
    async fn a_forgotten_password_is_reset_through_the_mailed_link() {
        let (app, sink) =
            TestApp::spawn_with_mail(&[("PUBLIC_URL", "https://app.example.com/")]).await;
        let ann = app.register_as("ann").await;
        let verification = sink.next("ann@example.com", 0).await;
        assert!(verification.subject.contains("Confirm"), "{verification:?}");

        ok(&app
            .gql(None, REQUEST_RESET, json!({ "e": " ANN@example.com " }))
            .await);
        let mail = sink.next("ann@example.com", 1).await;
        assert_eq!(mail.subject, "Reset your usergraph password");
        assert!(mail.text.contains("expires in 1 hour"), "{}", mail.text);
        assert!(mail.text.contains("If this wasn't you"), "{}", mail.text);
        assert!(mail.html.contains(&format!("token={}", mail.token())));
        assert!(
            mail.text
                .contains("https://app.example.com/reset-password?token=")
        );

        let body = app
            .gql(None, RESET, json!({ "t": mail.token(), "p": NEW_PASSWORD }))
            .await;
        ok(&body);
        assert_eq!(body["data"]["resetPassword"]["user"]["emailVerified"], true);
        // Every earlier session ended; the new password signs in, the old does not.
        assert_eq!(code(&app.me(&ann.access).await), "UNAUTHENTICATED");
        assert_eq!(
            code(&app.login("ann", PASSWORD).await),
            "INVALID_CREDENTIALS"
        );
        ok(&app.login("ann", NEW_PASSWORD).await);
        // The link works once.
        let again = app
            .gql(
                None,
                RESET,
                json!({ "t": mail.token(), "p": "another-pass-phrase-9" }),
            )
            .await;
        assert_eq!(code(&again), "TOKEN_INVALID");
    }

    #[tokio::test]
    async fn an_unknown_address_gets_the_same_answer_and_no_mail() {
        let (app, sink) = TestApp::spawn_with_mail(&[]).await;
        app.register_as("ann").await;
        sink.wait_for("ann@example.com", 1).await;
        for email in ["nobody@example.com", "ann@example.com"] {
            let body = app.gql(None, REQUEST_RESET, json!({ "e": email })).await;
            assert_eq!(body, json!({ "data": { "requestPasswordReset": true } }));
        }
        sink.wait_for("ann@example.com", 2).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(sink.to("nobody@example.com").is_empty());
        let malformed = app
            .gql(None, REQUEST_RESET, json!({ "e": "not-an-address" }))
            .await;
        assert_eq!(
            (code(&malformed), field(&malformed)),
            ("BAD_USER_INPUT", "email")
        );
    }

    #[tokio::test]
    async fn a_request_for_a_known_address_takes_the_same_time_as_for_an_unknown_one() {
        let app = TestApp::spawn().await;
        app.register_as("ann").await;
        let cases = ["ann@example.com", "nobody@example.com"];
        crate::helpers::answers_take_the_same_time(|i| {
            let app = &app;
            async move {
                let body = app.gql(None, REQUEST_RESET, json!({ "e": cases[i] })).await;
                assert_eq!(body["data"]["requestPasswordReset"], true);
            }
        })
        .await;
    }

    #[tokio::test]
    async fn sixteen_racing_uses_of_one_token_give_exactly_one_success() {
        let (app, sink) = TestApp::spawn_with_mail(&[]).await;
        app.register_as("ann").await;
        ok(&app
            .gql(None, REQUEST_RESET, json!({ "e": "ann@example.com" }))
            .await);
        let token = sink.next("ann@example.com", 1).await.token();
        let attempts = (0..16).map(|i| {
            let (app, token) = (&app, token.clone());
            async move {
                app.gql(
                    None,
                    RESET,
                    json!({ "t": token, "p": format!("racing-password-{i:02}") }),
                )
                .await
            }
        });
        let answers = futures::future::join_all(attempts).await;
        let winners: Vec<&Value> = answers.iter().filter(|b| b["errors"].is_null()).collect();
        assert_eq!(winners.len(), 1, "{answers:?}");
        assert!(
            answers
                .iter()
                .filter(|b| !b["errors"].is_null())
                .all(|b| code(b) == "TOKEN_INVALID"),
            "{answers:?}"
        );
    }

    #[tokio::test]
    async fn an_expired_link_is_token_expired_and_a_later_password_change_kills_it() {
        let (app, sink) = TestApp::spawn_with_mail(&[("PASSWORD_RESET_TTL_SECS", "1")]).await;
        let ann = app.register_as("ann").await;
        ok(&app
            .gql(None, REQUEST_RESET, json!({ "e": "ann@example.com" }))
            .await);
        let expired = sink.next("ann@example.com", 1).await;
        assert!(expired.text.contains("expires in 1 second"));
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let body = app
            .gql(
                None,
                RESET,
                json!({ "t": expired.token(), "p": NEW_PASSWORD }),
            )
            .await;
        assert_eq!(code(&body), "TOKEN_EXPIRED");

        let (app, sink) = TestApp::spawn_with_mail(&[]).await;
        let ann2 = app.register_as("ann").await;
        let _ = ann;
        ok(&app
            .gql(None, REQUEST_RESET, json!({ "e": "ann@example.com" }))
            .await);
        let stale = sink.next("ann@example.com", 1).await;
        let change = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";
        ok(&app
            .gql(
                Some(&ann2.access),
                change,
                json!({ "c": PASSWORD, "n": NEW_PASSWORD }),
            )
            .await);
        let body = app
            .gql(
                None,
                RESET,
                json!({ "t": stale.token(), "p": "another-pass-phrase-9" }),
            )
            .await;
        assert_eq!(code(&body), "TOKEN_INVALID");
        for bad in ["", "x", &"y".repeat(500)] {
            let body = app
                .gql(None, RESET, json!({ "t": bad, "p": NEW_PASSWORD }))
                .await;
            assert_eq!(code(&body), "TOKEN_INVALID", "{bad}");
        }
    }

    #[tokio::test]
    async fn a_reset_clears_the_lockout() {
        let (app, sink) = TestApp::spawn_with_mail(&[("LOGIN_LOCKOUT_THRESHOLD", "2")]).await;
        app.register_as("ann").await;
        for _ in 0..3 {
            app.login("ann", "not-the-password-1").await;
        }
        assert_eq!(
            code(&app.login("ann", PASSWORD).await),
            "INVALID_CREDENTIALS"
        );
        ok(&app
            .gql(None, REQUEST_RESET, json!({ "e": "ann@example.com" }))
            .await);
        let token = sink.next("ann@example.com", 1).await.token();
        ok(&app
            .gql(None, RESET, json!({ "t": token, "p": NEW_PASSWORD }))
            .await);
        ok(&app.login("ann", NEW_PASSWORD).await);
    }

    #[tokio::test]
    async fn an_administrator_mails_a_reset_link_without_seeing_the_token() {
        let (app, sink) = TestApp::spawn_with_mail(&[]).await;
        let admin = app.user_with("boss", &["admin"], false).await;
        let root = app.superuser("root").await;
        let ann = app.register_as("ann").await;
        let send = "mutation($id: ID!) { sendPasswordReset(id: $id) }";
        let body = app
            .gql(Some(&admin.access), send, json!({ "id": ann.id }))
            .await;
        assert_eq!(body, json!({ "data": { "sendPasswordReset": true } }));
        let token = sink.next("ann@example.com", 1).await.token();
        assert!(!body.to_string().contains(&token));
        ok(&app
            .gql(None, RESET, json!({ "t": token, "p": NEW_PASSWORD }))
            .await);
        // Only a superuser acts on a superuser.
        let body = app
            .gql(Some(&admin.access), send, json!({ "id": root.id }))
            .await;
        assert_eq!(code(&body), "FORBIDDEN");
        let unknown = usergraph::ids::encode(usergraph::ids::USER, uuid::Uuid::new_v4());
        let body = app
            .gql(Some(&admin.access), send, json!({ "id": unknown }))
            .await;
        assert_eq!(code(&body), "NOT_FOUND", "{body}");
    }
}

mod verification {
    use super::*;

    #[tokio::test]
    async fn registration_mails_a_link_that_verifies_the_address() {
        let (app, sink) = TestApp::spawn_with_mail(&[]).await;
        let ann = app.register_as("ann").await;
        let me = me_verified(&app, &ann.access).await;
        assert_eq!(me["emailVerified"], false);
        assert!(me["emailVerifiedAt"].is_null());
        let mail = sink.next("ann@example.com", 0).await;
        assert!(mail.text.contains("/verify-email?token="), "{}", mail.text);
        assert!(mail.text.contains("expires in 1 day"));
        let body = app.gql(None, VERIFY, json!({ "t": mail.token() })).await;
        assert_eq!(body, json!({ "data": { "verifyEmail": true } }));
        let me = me_verified(&app, &ann.access).await;
        assert_eq!(me["emailVerified"], true);
        assert!(me["emailVerifiedAt"].is_string());
        // Verified already: nothing to send.
        let body = app
            .gql(Some(&ann.access), SEND_VERIFICATION, json!({}))
            .await;
        assert_eq!(body, json!({ "data": { "sendVerificationEmail": false } }));
        assert_eq!(
            code(&app.gql(None, VERIFY, json!({ "t": mail.token() })).await),
            "TOKEN_INVALID"
        );
    }

    #[tokio::test]
    async fn a_verification_link_dies_when_the_address_changes() {
        let (app, sink) = TestApp::spawn_with_mail(&[]).await;
        let admin = app.user_with("boss", &["admin"], false).await;
        let ann = app.register_as("ann").await;
        let link = sink.next("ann@example.com", 0).await;
        let update = "mutation($id: ID!, $e: String!) { updateUser(id: $id, input: { email: $e }) { email emailVerified } }";
        let body = app
            .gql(
                Some(&admin.access),
                update,
                json!({ "id": ann.id, "e": "ann@other.example" }),
            )
            .await;
        assert_eq!(body["data"]["updateUser"]["email"], "ann@other.example");
        assert_eq!(
            code(&app.gql(None, VERIFY, json!({ "t": link.token() })).await),
            "TOKEN_INVALID"
        );
        // A user's own updateUser cannot set the address at once.
        let own = app
            .gql(
                Some(&ann.access),
                update,
                json!({ "id": ann.id, "e": "ann@third.example" }),
            )
            .await;
        assert_eq!((code(&own), field(&own)), ("BAD_USER_INPUT", "email"));
    }

    #[tokio::test]
    async fn an_administrators_change_of_address_makes_it_unverified() {
        let (app, sink) = TestApp::spawn_with_mail(&[]).await;
        let admin = app.user_with("boss", &["admin"], false).await;
        let ann = app.register_as("ann").await;
        let link = sink.next("ann@example.com", 0).await;
        ok(&app.gql(None, VERIFY, json!({ "t": link.token() })).await);
        let update = "mutation($id: ID!, $e: String!) { updateUser(id: $id, input: { email: $e }) { email emailVerified } }";
        let body = app
            .gql(
                Some(&admin.access),
                update,
                json!({ "id": ann.id, "e": "ann@other.example" }),
            )
            .await;
        assert_eq!(body["data"]["updateUser"]["emailVerified"], false, "{body}");
    }

    #[tokio::test]
    async fn with_verification_required_an_unverified_user_cannot_sign_in_until_they_verify() {
        let (app, sink) = TestApp::spawn_with_mail(&[("REQUIRE_EMAIL_VERIFICATION", "true")]).await;
        let register = app
            .gql(
                None,
                crate::helpers::REGISTER,
                json!({ "input": { "username": "ann", "email": "ann@example.com", "password": PASSWORD } }),
            )
            .await;
        assert_eq!(code(&register), "EMAIL_NOT_VERIFIED", "{register}");
        assert!(register["data"].is_null() || register["data"]["register"].is_null());
        let first = sink.next("ann@example.com", 0).await;
        // The right password says so; a wrong one says nothing more than usual.
        assert_eq!(
            code(&app.login("ann", PASSWORD).await),
            "EMAIL_NOT_VERIFIED"
        );
        assert_eq!(
            code(&app.login("ann", "not-the-password-1").await),
            "INVALID_CREDENTIALS"
        );
        // Someone who lost the first mail asks for another without signing in.
        let body = app
            .gql(None, SEND_VERIFICATION, json!({ "e": "ann@example.com" }))
            .await;
        assert_eq!(body, json!({ "data": { "sendVerificationEmail": true } }));
        let second = sink.next("ann@example.com", 1).await;
        assert_ne!(first.token(), second.token());
        let unknown = app
            .gql(
                None,
                SEND_VERIFICATION,
                json!({ "e": "nobody@example.com" }),
            )
            .await;
        assert_eq!(
            unknown,
            json!({ "data": { "sendVerificationEmail": true } })
        );
        assert_eq!(
            code(&app.gql(None, SEND_VERIFICATION, json!({})).await),
            "UNAUTHENTICATED"
        );
        ok(&app.gql(None, VERIFY, json!({ "t": second.token() })).await);
        ok(&app.login("ann", PASSWORD).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(sink.to("nobody@example.com").is_empty());
    }

    #[tokio::test]
    async fn with_verification_required_the_first_superuser_signs_in_and_created_users_get_a_link()
    {
        let (app, sink) = TestApp::spawn_with_mail(&[("REQUIRE_EMAIL_VERIFICATION", "true")]).await;
        let root = app.superuser("root").await;
        let create =
            "mutation($i: CreateUserInput!) { createUser(input: $i) { id emailVerified } }";
        let body = app
            .gql(
                Some(&root.access),
                create,
                json!({ "i": { "username": "bob", "email": "bob@example.com", "password": PASSWORD } }),
            )
            .await;
        assert_eq!(body["data"]["createUser"]["emailVerified"], false, "{body}");
        assert_eq!(
            code(&app.login("bob", PASSWORD).await),
            "EMAIL_NOT_VERIFIED"
        );
        let link = sink.next("bob@example.com", 0).await;
        ok(&app.gql(None, VERIFY, json!({ "t": link.token() })).await);
        ok(&app.login("bob", PASSWORD).await);
    }

    #[tokio::test]
    async fn a_sixth_mail_of_a_kind_to_one_address_within_an_hour_is_refused() {
        let (app, sink) = TestApp::spawn_with_mail(&[]).await;
        let ann = app.register_as("ann").await;
        // Registration sent the first; four more fit in the budget.
        for _ in 0..4 {
            let body = app
                .gql(Some(&ann.access), SEND_VERIFICATION, json!({}))
                .await;
            assert_eq!(body["data"]["sendVerificationEmail"], true, "{body}");
        }
        let body = app
            .gql(Some(&ann.access), SEND_VERIFICATION, json!({}))
            .await;
        assert_eq!(code(&body), "RATE_LIMITED", "{body}");
        let retry_after = body["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap();
        assert!(retry_after > 3500 && retry_after <= 3600, "{retry_after}");
        sink.wait_for("ann@example.com", 5).await;
        // Another kind has its own budget. Strangers' requests stay silent
        // once they have caused 3, keeping 2 for the owner and administrators.
        for _ in 0..6 {
            ok(&app
                .gql(None, REQUEST_RESET, json!({ "e": "ann@example.com" }))
                .await);
        }
        sink.wait_for("ann@example.com", 8).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(sink.to("ann@example.com").len(), 8);
        let admin = app.user_with("boss", &["admin"], false).await;
        let send = "mutation($id: ID!) { sendPasswordReset(id: $id) }";
        for _ in 0..2 {
            ok(&app
                .gql(Some(&admin.access), send, json!({ "id": ann.id }))
                .await);
        }
        let body = app
            .gql(Some(&admin.access), send, json!({ "id": ann.id }))
            .await;
        assert_eq!(code(&body), "RATE_LIMITED");
        sink.wait_for("ann@example.com", 10).await;
    }
}

mod email_change {
    use super::*;

    #[tokio::test]
    async fn the_address_changes_when_the_new_one_confirms_and_the_old_one_is_told() {
        let (app, sink) = TestApp::spawn_with_mail(&[]).await;
        let ann = app.register_verified("ann").await;
        sink.wait_for("ann@example.com", 1).await;
        let wrong = app
            .gql(
                Some(&ann.access),
                REQUEST_CHANGE,
                json!({ "e": "ann@new.example", "p": "not-the-password-1" }),
            )
            .await;
        assert_eq!(
            (code(&wrong), field(&wrong)),
            ("BAD_USER_INPUT", "password")
        );
        let same = app
            .gql(
                Some(&ann.access),
                REQUEST_CHANGE,
                json!({ "e": "ANN@example.com", "p": PASSWORD }),
            )
            .await;
        assert_eq!((code(&same), field(&same)), ("BAD_USER_INPUT", "newEmail"));
        let body = app
            .gql(
                Some(&ann.access),
                REQUEST_CHANGE,
                json!({ "e": "Ann@New.example", "p": PASSWORD }),
            )
            .await;
        assert_eq!(body, json!({ "data": { "requestEmailChange": true } }));
        let notice = sink.next("ann@example.com", 1).await;
        assert!(notice.text.contains("ann@new.example"), "{}", notice.text);
        assert!(!notice.text.contains("token="));
        let link = sink.next("ann@new.example", 0).await;
        assert!(link.text.contains("/confirm-email-change?token="));
        // Nothing changes until the link is followed.
        assert_eq!(
            me_verified(&app, &ann.access).await["email"],
            "ann@example.com"
        );
        let body = app
            .gql(None, CONFIRM_CHANGE, json!({ "t": link.token() }))
            .await;
        ok(&body);
        assert_eq!(
            body["data"]["confirmEmailChange"]["email"],
            "ann@new.example"
        );
        assert_eq!(body["data"]["confirmEmailChange"]["emailVerified"], true);
        ok(&app.login("ann@new.example", PASSWORD).await);
        assert_eq!(
            code(
                &app.gql(None, CONFIRM_CHANGE, json!({ "t": link.token() }))
                    .await
            ),
            "TOKEN_INVALID"
        );
    }

    #[tokio::test]
    async fn update_me_with_an_email_starts_the_same_flow_and_needs_the_password() {
        let (app, sink) = TestApp::spawn_with_mail(&[]).await;
        let ann = app.register_as("ann").await;
        let update = "mutation($i: UpdateProfileInput!, $p: String) { updateMe(input: $i, currentPassword: $p) { email firstName } }";
        let missing = app
            .gql(
                Some(&ann.access),
                update,
                json!({ "i": { "email": "ann@new.example", "firstName": "Ann" } }),
            )
            .await;
        assert_eq!(
            (code(&missing), field(&missing)),
            ("BAD_USER_INPUT", "currentPassword")
        );
        let body = app
            .gql(
                Some(&ann.access),
                update,
                json!({ "i": { "email": "ann@new.example", "firstName": "Ann" }, "p": PASSWORD }),
            )
            .await;
        ok(&body);
        assert_eq!(body["data"]["updateMe"]["email"], "ann@example.com");
        assert_eq!(body["data"]["updateMe"]["firstName"], "Ann");
        let link = sink.next("ann@new.example", 0).await;
        ok(&app
            .gql(
                Some(&ann.access),
                CONFIRM_CHANGE,
                json!({ "t": link.token() }),
            )
            .await);
        assert_eq!(
            me_verified(&app, &ann.access).await["email"],
            "ann@new.example"
        );
        // The unchanged address needs no password.
        let body = app
            .gql(
                Some(&ann.access),
                update,
                json!({ "i": { "email": "ann@new.example", "lastName": "Lee" } }),
            )
            .await;
        ok(&body);
    }

    #[tokio::test]
    async fn a_password_change_cancels_a_pending_change_and_old_links_never_come_back() {
        let (app, sink) = TestApp::spawn_with_mail(&[]).await;
        let ann = app.register_as("ann").await;
        // Someone who knows the password asks to move the account away.
        ok(&app
            .gql(
                Some(&ann.access),
                REQUEST_CHANGE,
                json!({ "e": "evil@attacker.test", "p": PASSWORD }),
            )
            .await);
        let evil = sink.next("evil@attacker.test", 0).await;
        // The owner, told at the old address, changes the password.
        let change = "mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) }";
        ok(&app
            .gql(
                Some(&ann.access),
                change,
                json!({ "c": PASSWORD, "n": "marmalade-lantern-77" }),
            )
            .await);
        let body = app
            .gql(None, CONFIRM_CHANGE, json!({ "t": evil.token() }))
            .await;
        assert_eq!(code(&body), "TOKEN_INVALID", "{body}");

        // Links for an address end when it changes, even if it changes back.
        let p = "marmalade-lantern-77";
        ok(&app
            .gql(
                Some(&ann.access),
                REQUEST_CHANGE,
                json!({ "e": "x@elsewhere.test", "p": p }),
            )
            .await);
        let to_x = sink.next("x@elsewhere.test", 0).await;
        ok(&app
            .gql(
                Some(&ann.access),
                REQUEST_CHANGE,
                json!({ "e": "b@elsewhere.test", "p": p }),
            )
            .await);
        let to_b = sink.next("b@elsewhere.test", 0).await;
        // The newer request superseded the first.
        assert_eq!(
            code(
                &app.gql(None, CONFIRM_CHANGE, json!({ "t": to_x.token() }))
                    .await
            ),
            "TOKEN_INVALID"
        );
        ok(&app
            .gql(None, CONFIRM_CHANGE, json!({ "t": to_b.token() }))
            .await);
        ok(&app
            .gql(
                Some(&ann.access),
                REQUEST_CHANGE,
                json!({ "e": "ann@example.com", "p": p }),
            )
            .await);
        // ann@example.com has had the welcome and the notices for evil, x and b.
        let back = sink.next("ann@example.com", 4).await;
        ok(&app
            .gql(None, CONFIRM_CHANGE, json!({ "t": back.token() }))
            .await);
        assert_eq!(
            code(
                &app.gql(None, CONFIRM_CHANGE, json!({ "t": to_x.token() }))
                    .await
            ),
            "TOKEN_INVALID"
        );
        let first_verification = sink.to("ann@example.com")[0].token();
        assert_eq!(
            code(
                &app.gql(None, VERIFY, json!({ "t": first_verification }))
                    .await
            ),
            "TOKEN_INVALID"
        );
    }

    #[tokio::test]
    async fn one_account_can_ask_for_only_five_changes_an_hour() {
        let (app, _sink) = TestApp::spawn_with_mail(&[]).await;
        let ann = app.register_as("ann").await;
        for i in 0..5 {
            let body = app
                .gql(
                    Some(&ann.access),
                    REQUEST_CHANGE,
                    json!({ "e": format!("n{i}@new.example"), "p": PASSWORD }),
                )
                .await;
            ok(&body);
        }
        let body = app
            .gql(
                Some(&ann.access),
                REQUEST_CHANGE,
                json!({ "e": "bob@example.com", "p": PASSWORD }),
            )
            .await;
        assert_eq!(
            code(&body),
            "RATE_LIMITED",
            "uniqueness answers are bounded too: {body}"
        );
    }

    #[tokio::test]
    async fn an_address_taken_meanwhile_is_duplicate_email_and_nothing_changes() {
        let (app, sink) = TestApp::spawn_with_mail(&[]).await;
        let ann = app.register_as("ann").await;
        app.register_as("bob").await;
        let taken = app
            .gql(
                Some(&ann.access),
                REQUEST_CHANGE,
                json!({ "e": "bob@example.com", "p": PASSWORD }),
            )
            .await;
        assert_eq!(
            (code(&taken), field(&taken)),
            ("DUPLICATE_EMAIL", "newEmail")
        );
        ok(&app
            .gql(
                Some(&ann.access),
                REQUEST_CHANGE,
                json!({ "e": "shared@example.com", "p": PASSWORD }),
            )
            .await);
        let link = sink.next("shared@example.com", 0).await;
        app.gql(
            None,
            crate::helpers::REGISTER,
            json!({ "input": { "username": "carl", "email": "shared@example.com", "password": PASSWORD } }),
        )
        .await;
        let body = app
            .gql(None, CONFIRM_CHANGE, json!({ "t": link.token() }))
            .await;
        assert_eq!(
            (code(&body), field(&body)),
            ("DUPLICATE_EMAIL", "token"),
            "{body}"
        );
        assert_eq!(
            me_verified(&app, &ann.access).await["email"],
            "ann@example.com"
        );
    }
}

/// An address nobody has proven yet: anyone can register it, so what is
/// set up before it is proven does not outlive the proof, and mail to it
/// carries none of a stranger's words.
mod unproven_addresses {
    use super::*;

    /// Puts a key and a second factor on `username`'s account, then makes its
    /// address unverified again: the state an account registered by a
    /// stranger on someone else's address could reach before keys and
    /// factors needed a verified address.
    async fn armed_then_unproven(app: &TestApp, username: &str) -> String {
        let account = app.user_with(username, &[], false).await;
        let key = app
            .gql(
                Some(&account.access),
                "mutation($p: String!) { createApiKey(input: { name: \"stranger\" }, password: $p) { secret } }",
                json!({ "p": PASSWORD }),
            )
            .await["data"]["createApiKey"]["secret"]
            .as_str()
            .expect("a key")
            .to_owned();
        crate::mfa::enable(app, &account).await;
        app.sql(&format!(
            "UPDATE users SET email_verified_at = NULL WHERE username = '{username}'"
        ))
        .await;
        key
    }

    async fn works(app: &TestApp, key: &str) -> bool {
        app.gql(Some(key), "{ me { id } }", json!({})).await["errors"].is_null()
    }

    #[tokio::test]
    async fn an_unverified_account_cannot_create_keys_or_enrol_a_factor() {
        let app = TestApp::spawn().await;
        let eve = app.register_as("eve").await;
        let key = app
            .gql(
                Some(&eve.access),
                "mutation($p: String!) { createApiKey(input: { name: \"k\" }, password: $p) { secret } }",
                json!({ "p": PASSWORD }),
            )
            .await;
        assert_eq!(code(&key), "EMAIL_NOT_VERIFIED", "{key}");
        let enrol = app
            .gql(
                Some(&eve.access),
                "mutation($p: String!) { enrollTotp(password: $p) { secret } }",
                json!({ "p": PASSWORD }),
            )
            .await;
        assert_eq!(code(&enrol), "EMAIL_NOT_VERIFIED", "{enrol}");
    }

    #[tokio::test]
    async fn a_reset_that_proves_the_address_removes_what_was_set_up_before_it() {
        let (app, sink) = TestApp::spawn_with_mail(&[]).await;
        let key = armed_then_unproven(&app, "vic").await;
        assert!(works(&app, &key).await);

        ok(&app
            .gql(None, REQUEST_RESET, json!({ "e": "vic@example.com" }))
            .await);
        let link = sink.next("vic@example.com", 0).await;
        // No code is asked for: the factor was never the address owner's.
        let body = app
            .gql(None, RESET, json!({ "t": link.token(), "p": NEW_PASSWORD }))
            .await;
        ok(&body);
        assert_eq!(body["data"]["resetPassword"]["user"]["emailVerified"], true);
        assert!(!works(&app, &key).await, "the stranger's key is revoked");
        let login = app.login("vic", NEW_PASSWORD).await;
        assert!(
            login["data"]["login"]["accessToken"].is_string(),
            "no second factor is asked for: {login}"
        );
        let root = app.superuser("root").await;
        let events = app
            .gql(
                Some(&root.access),
                "{ auditEvents(filter: { actions: [\"auth.unverified_setup_removed\"] }) { edges { node { changes } } } }",
                json!({}),
            )
            .await;
        let changes = &events["data"]["auditEvents"]["edges"][0]["node"]["changes"];
        assert_eq!(changes["apiKeysRevoked"]["new"], 1, "{events}");
        assert_eq!(changes["mfaEnabled"]["old"], true, "{events}");
    }

    #[tokio::test]
    async fn a_verification_that_proves_the_address_removes_what_was_set_up_before_it() {
        let (app, sink) = TestApp::spawn_with_mail(&[]).await;
        let key = armed_then_unproven(&app, "vic").await;
        ok(&app
            .gql(None, SEND_VERIFICATION, json!({ "e": "vic@example.com" }))
            .await);
        let link = sink.next("vic@example.com", 0).await;
        ok(&app.gql(None, VERIFY, json!({ "t": link.token() })).await);
        assert!(!works(&app, &key).await);
        let mfa: Vec<bool> = app
            .rows("SELECT mfa_enabled FROM users WHERE username = 'vic'")
            .await
            .iter()
            .map(|row| row.try_get_by_index(0).unwrap())
            .collect();
        assert_eq!(mfa, [false]);
    }

    #[tokio::test]
    async fn mail_to_an_unproven_address_carries_no_text_a_stranger_chose() {
        let (app, sink) = TestApp::spawn_with_mail(&[]).await;
        let body = app
            .gql(
                None,
                crate::helpers::REGISTER,
                json!({ "input": { "username": "visit-evil.example", "name": "Claim your prize at evil.example", "email": "victim+call-evil-now@example.com", "password": PASSWORD } }),
            )
            .await;
        ok(&body);
        let welcome = sink.next("victim+call-evil-now@example.com", 0).await;
        ok(&app
            .gql(
                None,
                SEND_VERIFICATION,
                json!({ "e": "victim+call-evil-now@example.com" }),
            )
            .await);
        let resent = sink.next("victim+call-evil-now@example.com", 1).await;
        ok(&app
            .gql(
                None,
                REQUEST_RESET,
                json!({ "e": "victim+call-evil-now@example.com" }),
            )
            .await);
        let reset = sink.next("victim+call-evil-now@example.com", 2).await;
        for mail in [&welcome, &resent, &reset] {
            for part in [&mail.text, &mail.html] {
                assert!(!part.contains("evil"), "{}: {part}", mail.subject);
                assert!(!part.contains("victim+"), "{}: {part}", mail.subject);
                assert!(part.contains("Hello,"), "{}: {part}", mail.subject);
            }
        }
        // The owner of a proven address is greeted by name again.
        let ann = app.register_verified("ann").await;
        ok(&app
            .gql(
                Some(&ann.access),
                "mutation { updateMe(input: { name: \"Ann Example\" }) { id } }",
                json!({}),
            )
            .await);
        ok(&app
            .gql(None, REQUEST_RESET, json!({ "e": "ann@example.com" }))
            .await);
        let greeted = sink.next("ann@example.com", 1).await;
        assert!(
            greeted.text.contains("Hello Ann Example,"),
            "{}",
            greeted.text
        );
    }

    #[tokio::test]
    async fn taken_addresses_spend_the_email_change_budget_like_mail_does() {
        let (app, _sink) = TestApp::spawn_with_mail(&[]).await;
        let ann = app.register_verified("ann").await;
        for i in 0..5 {
            app.register_as(&format!("taken{i}")).await;
            let body = app
                .gql(
                    Some(&ann.access),
                    REQUEST_CHANGE,
                    json!({ "e": format!("taken{i}@example.com"), "p": PASSWORD }),
                )
                .await;
            assert_eq!(code(&body), "DUPLICATE_EMAIL", "{body}");
        }
        let body = app
            .gql(
                Some(&ann.access),
                REQUEST_CHANGE,
                json!({ "e": "free@example.com", "p": PASSWORD }),
            )
            .await;
        assert_eq!(code(&body), "RATE_LIMITED", "{body}");
    }

    #[tokio::test]
    async fn reset_and_invitation_links_count_toward_the_recovery_limit_per_address() {
        let (app, sink) = TestApp::spawn_with_mail(&[
            ("RATE_LIMITS", "true"),
            ("RATE_LIMIT_RECOVERY", "2/hour"),
            ("TRUSTED_PROXIES", "127.0.0.1"),
        ])
        .await;
        app.register_as("ann").await;
        let root = app.superuser("root").await;
        ok(&app
            .gql(
                Some(&root.access),
                "mutation($id: ID!) { sendPasswordReset(id: $id) }",
                json!({ "id": app.me(&app.register_as("bob").await.access).await["data"]["me"]["id"] }),
            )
            .await);
        let link = sink.next("bob@example.com", 1).await;
        let from = async |ip: &str, body: &Value| -> Value {
            app.client
                .post(app.url("/graphql"))
                .header("x-forwarded-for", ip.to_owned())
                .json(body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        };
        let weak = json!({ "query": RESET, "variables": { "t": link.token(), "p": "short" } });
        for _ in 0..2 {
            let body = from("203.0.113.9", &weak).await;
            assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
        }
        let body = from("203.0.113.9", &weak).await;
        assert_eq!(code(&body), "RATE_LIMITED", "{body}");
        let accept =
            json!({ "query": ACCEPT, "variables": { "t": "x".repeat(43), "p": NEW_PASSWORD } });
        let body = from("203.0.113.9", &accept).await;
        assert_eq!(code(&body), "RATE_LIMITED", "{body}");
        // Another address still has its budget.
        let body = from("198.51.100.7", &accept).await;
        assert_eq!(code(&body), "TOKEN_INVALID", "{body}");
    }
}

mod outbox_delivery {
    use super::*;
    use usergraph::mail::{Queued, Template};

    fn notice(to: &str) -> Queued {
        let mut values = serde_json::Map::new();
        for key in ["name", "username", "address", "new_address"] {
            values.insert(key.into(), key.into());
        }
        values.insert("lifetime".into(), "1 day".into());
        Queued {
            template: Template::EmailChangeNotice,
            locale: None,
            to: to.into(),
            values,
            sealed_token: None,
        }
    }

    #[tokio::test]
    async fn a_rolled_back_change_sends_nothing() {
        let (app, sink) = TestApp::spawn_with_mail(&[]).await;
        let txn = app.db().begin().await.unwrap();
        usergraph::service::account_mail::queue(&txn, &app.ctx, notice("gone@example.com"), None)
            .await
            .unwrap();
        txn.rollback().await.unwrap();
        let txn = app.db().begin().await.unwrap();
        usergraph::service::account_mail::queue(&txn, &app.ctx, notice("kept@example.com"), None)
            .await
            .unwrap();
        txn.commit().await.unwrap();
        usergraph::service::outbox::wake(&app.ctx);
        sink.wait_for("kept@example.com", 1).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(sink.all().len(), 1);
    }

    #[tokio::test]
    async fn mail_queued_while_the_server_is_down_arrives_once_it_is_up() {
        // A port with nothing listening on it, for now.
        let addr = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap()
        };
        let url = format!("smtp://{addr}?tls=none");
        let app = TestApp::spawn_with(&[
            ("MAIL_TRANSPORT", "smtp"),
            ("SMTP_URL", &url),
            ("OUTBOX_POLL_MS", "50"),
            ("OUTBOX_RETRY_BASE_MS", "200"),
        ])
        .await;
        app.register_as("ann").await;
        // Failed attempts are recorded with their error, and the mail waits.
        let deadline = Instant::now() + Duration::from_secs(10);
        let row = loop {
            let row = outbox::Entity::find().one(app.db()).await.unwrap().unwrap();
            if row.attempts >= 2 || Instant::now() > deadline {
                break row;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(row.attempts >= 2, "{row:?}");
        assert_eq!(row.status, outbox::Status::Pending);
        assert!(
            row.last_error.as_deref().unwrap_or_default().len() > 3,
            "{row:?}"
        );
        assert!(row.next_attempt_at > row.created_at);

        let sink = MailSink::start_on(addr, Duration::ZERO).await;
        let mail = sink.next("ann@example.com", 0).await;
        assert!(mail.subject.contains("Confirm"));
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let row = outbox::Entity::find().one(app.db()).await.unwrap().unwrap();
            if row.status == outbox::Status::Sent {
                assert!(row.sent_at.is_some() && row.last_error.is_none());
                assert!(!row.payload.contains("sealed_token"), "{}", row.payload);
                break;
            }
            assert!(Instant::now() < deadline, "never marked sent: {row:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn a_mailbox_the_server_refuses_is_not_retried() {
        let (app, sink) = TestApp::spawn_with_mail(&[]).await;
        app.gql(
            None,
            crate::helpers::REGISTER,
            json!({ "input": { "username": "ghost", "email": "nosuchuser@example.com", "password": PASSWORD } }),
        )
        .await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let row = outbox::Entity::find().one(app.db()).await.unwrap().unwrap();
            if row.status == outbox::Status::Failed {
                assert_eq!(row.attempts, 1, "a 550 is final");
                assert!(
                    row.last_error.as_deref().unwrap().contains("550")
                        || row
                            .last_error
                            .as_deref()
                            .unwrap()
                            .contains("no such mailbox"),
                    "{row:?}"
                );
                break;
            }
            assert!(Instant::now() < deadline, "never marked failed: {row:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(sink.all().is_empty());
    }

    #[tokio::test]
    async fn aliases_cannot_multiply_mail_requests() {
        let app = TestApp::spawn().await;
        let body = app
            .gql(
                None,
                "mutation { a: requestPasswordReset(email: \"a@example.com\") b: requestPasswordReset(email: \"b@example.com\") }",
                json!({}),
            )
            .await;
        assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "{body}");
    }

    #[tokio::test]
    async fn a_message_that_always_fails_is_marked_failed_after_the_last_attempt() {
        let addr = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap()
        };
        let url = format!("smtp://{addr}?tls=none");
        let app = TestApp::spawn_with(&[
            ("MAIL_TRANSPORT", "smtp"),
            ("SMTP_URL", &url),
            ("OUTBOX_POLL_MS", "20"),
            ("OUTBOX_RETRY_BASE_MS", "20"),
            ("OUTBOX_MAX_ATTEMPTS", "3"),
        ])
        .await;
        app.register_as("ann").await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let row = outbox::Entity::find().one(app.db()).await.unwrap().unwrap();
            if row.status == outbox::Status::Failed {
                assert_eq!(row.attempts, 3);
                assert!(row.last_error.is_some());
                assert!(!row.payload.contains("sealed_token"));
                break;
            }
            assert!(Instant::now() < deadline, "never marked failed: {row:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn the_outbox_and_the_token_table_never_hold_a_usable_token() {
        let (app, sink) = TestApp::spawn_with_mail(&[("OUTBOX_POLL_MS", "60000")]).await;
        let mut app = app;
        // Stop the worker so the queued row is read before delivery scrubs it.
        app.stop_background().await;
        app.register_as("ann").await;
        let row = outbox::Entity::find().one(app.db()).await.unwrap().unwrap();
        assert!(row.payload.contains("sealed_token"));
        usergraph::worker::outbox::drain(&app.ctx, None, None)
            .await
            .unwrap();
        let token = sink.next("ann@example.com", 0).await.token();
        assert!(!row.payload.contains(&token));
        let tokens = entity::account_token::Entity::find()
            .all(app.db())
            .await
            .unwrap();
        assert_eq!(tokens.len(), 1);
        assert!(!format!("{:?}", tokens[0]).contains(&token));
    }

    #[tokio::test]
    async fn two_workers_on_one_database_send_each_message_once() {
        let (mut app, sink) = TestApp::spawn_with_mail(&[]).await;
        app.stop_background().await;
        let txn = app.db().begin().await.unwrap();
        for i in 0..60 {
            usergraph::service::account_mail::queue(
                &txn,
                &app.ctx,
                notice(&format!("u{i}@example.com")),
                None,
            )
            .await
            .unwrap();
        }
        txn.commit().await.unwrap();
        let (one, two) = (app.replica().await, app.replica().await);
        let (a, b, c) = tokio::join!(
            usergraph::worker::outbox::drain(&one, None, None),
            usergraph::worker::outbox::drain(&two, None, None),
            usergraph::worker::outbox::drain(&app.ctx, None, None),
        );
        a.unwrap();
        b.unwrap();
        c.unwrap();
        let mut seen: Vec<String> = sink.all().into_iter().map(|m| m.to).collect();
        seen.sort();
        let mut expected: Vec<String> = (0..60).map(|i| format!("u{i}@example.com")).collect();
        expected.sort();
        assert_eq!(seen, expected, "every message exactly once");
        let sent = outbox::Entity::find()
            .filter(outbox::Column::Status.eq(outbox::Status::Sent))
            .filter(outbox::Column::Attempts.eq(1))
            .count(app.db())
            .await
            .unwrap();
        assert_eq!(sent, 60);
    }

    #[tokio::test]
    async fn a_shutdown_lets_the_send_in_progress_finish() {
        let slow =
            MailSink::start_on("127.0.0.1:0".parse().unwrap(), Duration::from_millis(800)).await;
        let url = slow.url();
        let mut app = TestApp::spawn_with(&[
            ("MAIL_TRANSPORT", "smtp"),
            ("SMTP_URL", &url),
            ("OUTBOX_POLL_MS", "20"),
        ])
        .await;
        app.register_as("ann").await;
        // The worker is inside the slow DATA exchange now.
        tokio::time::sleep(Duration::from_millis(300)).await;
        app.stop_background().await;
        assert_eq!(slow.to("ann@example.com").len(), 1);
        let row = outbox::Entity::find().one(app.db()).await.unwrap().unwrap();
        assert_eq!(row.status, outbox::Status::Sent, "{row:?}");
    }

    #[tokio::test]
    async fn the_log_transport_writes_the_whole_mail_with_its_link() {
        let app = TestApp::spawn_with(&[("PUBLIC_URL", "https://app.example.com")]).await;
        app.register_as("logged").await;
        ok(&app
            .gql(None, REQUEST_RESET, json!({ "e": "logged@example.com" }))
            .await);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let logs = logs();
            if let Some(at) =
                logs.find("mail to logged@example.com (MAIL_TRANSPORT=log)\nSubject: Reset")
            {
                let mail = &logs[at..];
                assert!(
                    mail.contains("https://app.example.com/reset-password?token="),
                    "{mail}"
                );
                assert!(mail.contains("If this wasn't you"), "{mail}");
                break;
            }
            assert!(Instant::now() < deadline, "no logged mail");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
