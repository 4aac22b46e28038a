//! Sign-in codes by mail, against the SMTP server the tests start: the code
//! and the link, once and together; wrong codes that end the code but never
//! lock the account; the same answer and timing for unknown addresses; a
//! sign-up only with PASSWORDLESS_SIGNUP; what a code proves.

use sea_orm::{EntityTrait, PaginatorTrait, sea_query::Expr};
use serde_json::{Value, json};

use crate::helpers::{MailSink, PASSWORD, TestApp, code, field, logs, logs_mention};
use crate::mailbox::Received;

const REQUEST: &str = "mutation($e: String!) { requestSignInCode(email: $e) }";
const WITH_CODE: &str = "mutation($e: String!, $c: String!) { signInWithCode(email: $e, code: $c) { accessToken user { id username emailVerified } } }";
const WITH_LINK: &str =
    "mutation($t: String!) { signInWithLink(token: $t) { accessToken user { id emailVerified } } }";

/// The 6-digit code of a sign-in mail (its subject ends with it).
pub(crate) fn mailed_code(mail: &Received) -> String {
    let code = mail
        .subject
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{mail:?}"
    );
    assert!(mail.text.contains(&code) && mail.html.contains(&code));
    code
}

fn codes_to(sink: &MailSink, email: &str) -> Vec<Received> {
    sink.to(email)
        .into_iter()
        .filter(|m| m.subject.contains("sign-in code") || m.subject.contains("Anmeldecode"))
        .collect()
}

/// Asks for a code for `email` and returns the mail it brings (other mail,
/// such as a new account's verification, is passed over).
pub(crate) async fn request(app: &TestApp, sink: &MailSink, email: &str) -> Received {
    let seen = codes_to(sink, email).len();
    let body = app.gql(None, REQUEST, json!({ "e": email })).await;
    assert_eq!(body["data"]["requestSignInCode"], true, "{body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(mail) = codes_to(sink, email).get(seen) {
            return mail.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no sign-in code mail to {email}: {:?}",
            sink.all()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn signed_in<'a>(body: &'a Value, field: &str) -> &'a Value {
    assert!(body["errors"].is_null(), "{body}");
    &body["data"][field]
}

#[tokio::test]
async fn a_mailed_code_signs_in_once_and_the_link_with_it_dies() {
    let (app, sink) = TestApp::spawn_with_mail(&[]).await;
    let ann = app.register_verified("ann").await;
    let mail = request(&app, &sink, "ann@example.com").await;
    let code_ = mailed_code(&mail);

    let first = app
        .gql(
            None,
            WITH_CODE,
            json!({ "e": "ANN@example.com", "c": code_ }),
        )
        .await;
    let again = app
        .gql(
            None,
            WITH_CODE,
            json!({ "e": "ann@example.com", "c": code_ }),
        )
        .await;
    let link = app.gql(None, WITH_LINK, json!({ "t": mail.token() })).await;

    assert_eq!(
        signed_in(&first, "signInWithCode")["user"]["id"],
        ann.id.as_str()
    );
    assert_eq!((code(&again), field(&again)), ("BAD_USER_INPUT", "code"));
    assert_eq!(code(&link), "TOKEN_INVALID");
    assert!(mail.text.contains("10 minutes"), "{}", mail.text);
    // The check reads this test's lines: it finds the account they name.
    assert!(logs_mention(ann.id.as_str()).is_some(), "{}", logs());
    assert_eq!(logs_mention(&code_), None, "the code {code_} in the log");
    assert!(!logs().contains(&mail.token()));
    let stored = format!(
        "{:?}{:?}",
        entity::sign_in_code::Entity::find()
            .all(app.db())
            .await
            .unwrap(),
        entity::outbox::Entity::find().all(app.db()).await.unwrap()
    );
    assert!(!stored.contains(&code_) && !stored.contains(&mail.token()));
    let events = app
        .gql(
            Some(
                signed_in(&first, "signInWithCode")["accessToken"]
                    .as_str()
                    .unwrap(),
            ),
            "{ mySecurityEvents(first: 5) { nodes { action changes } } }",
            json!({}),
        )
        .await;
    assert!(events.to_string().contains("\"code\""), "{events}");
}

#[tokio::test]
async fn sixteen_racing_uses_of_one_link_give_one_session() {
    let (app, sink) = TestApp::spawn_with_mail(&[]).await;
    app.register_verified("ann").await;
    let token = request(&app, &sink, "ann@example.com").await.token();

    let answers =
        futures::future::join_all((0..16).map(|_| app.gql(None, WITH_LINK, json!({ "t": token }))))
            .await;

    assert_eq!(
        answers.iter().filter(|a| a["errors"].is_null()).count(),
        1,
        "{answers:?}"
    );
    assert!(
        answers
            .iter()
            .filter(|a| !a["errors"].is_null())
            .all(|a| code(a) == "TOKEN_INVALID")
    );
}

#[tokio::test]
async fn five_wrong_codes_end_the_code_but_never_lock_the_account() {
    let (app, sink) = TestApp::spawn_with_mail(&[("LOGIN_LOCKOUT_THRESHOLD", "3")]).await;
    app.register_verified("ann").await;
    let mail = request(&app, &sink, "ann@example.com").await;
    let right = mailed_code(&mail);
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };

    let racing = futures::future::join_all((0..5).map(|_| {
        app.gql(
            None,
            WITH_CODE,
            json!({ "e": "ann@example.com", "c": wrong }),
        )
    }))
    .await;
    let too_late = app
        .gql(
            None,
            WITH_CODE,
            json!({ "e": "ann@example.com", "c": right }),
        )
        .await;
    let link = app.gql(None, WITH_LINK, json!({ "t": mail.token() })).await;
    let by_password = app.login("ann", PASSWORD).await;
    let fresh = mailed_code(&request(&app, &sink, "ann@example.com").await);
    let with_fresh = app
        .gql(
            None,
            WITH_CODE,
            json!({ "e": "ann@example.com", "c": fresh }),
        )
        .await;

    assert!(racing.iter().all(|a| code(a) == "BAD_USER_INPUT"));
    assert_eq!(
        (code(&too_late), field(&too_late)),
        ("BAD_USER_INPUT", "code")
    );
    assert_eq!(code(&link), "TOKEN_INVALID");
    assert!(by_password["errors"].is_null(), "not locked: {by_password}");
    assert!(with_fresh["errors"].is_null(), "{with_fresh}");
}

#[tokio::test]
async fn unknown_addresses_get_the_same_answer_and_no_mail() {
    let (app, sink) = TestApp::spawn_with_mail(&[]).await;
    app.register_verified("ann").await;

    let unknown = app
        .gql(None, REQUEST, json!({ "e": "nobody@example.com" }))
        .await;
    let guessed = app
        .gql(
            None,
            WITH_CODE,
            json!({ "e": "nobody@example.com", "c": "123456" }),
        )
        .await;
    let malformed = app
        .gql(None, REQUEST, json!({ "e": "not-an-address" }))
        .await;
    // A known address's mail arrives; by then the unknown one's would have.
    request(&app, &sink, "ann@example.com").await;

    assert_eq!(unknown["data"]["requestSignInCode"], true);
    assert_eq!(
        (code(&guessed), field(&guessed)),
        ("BAD_USER_INPUT", "code")
    );
    assert_eq!(
        (code(&malformed), field(&malformed)),
        ("BAD_USER_INPUT", "email")
    );
    assert!(sink.to("nobody@example.com").is_empty());
    assert_eq!(
        entity::user::Entity::find().count(app.db()).await.unwrap(),
        1
    );
}

#[tokio::test]
async fn a_request_for_a_known_address_takes_the_same_time_as_for_an_unknown_one() {
    let app = TestApp::spawn().await;
    app.register_verified("ann").await;
    let cases = ["ann@example.com", "nobody@example.com"];
    crate::helpers::answers_take_the_same_time(|i| {
        let app = &app;
        async move {
            let body = app.gql(None, REQUEST, json!({ "e": cases[i] })).await;
            assert_eq!(body["data"]["requestSignInCode"], true);
        }
    })
    .await;
}

#[tokio::test]
async fn with_passwordless_signup_the_code_makes_the_account_when_it_is_used() {
    let (app, sink) = TestApp::spawn_with_mail(&[("PASSWORDLESS_SIGNUP", "true")]).await;
    let mail = request(&app, &sink, "zoe.new@example.com").await;
    let before = entity::user::Entity::find().count(app.db()).await.unwrap();

    let body = app
        .gql(
            None,
            WITH_CODE,
            json!({ "e": "zoe.new@example.com", "c": mailed_code(&mail) }),
        )
        .await;
    let user = &signed_in(&body, "signInWithCode")["user"];
    let me = app
        .gql(
            Some(
                signed_in(&body, "signInWithCode")["accessToken"]
                    .as_str()
                    .unwrap(),
            ),
            "{ me { hasPassword email } }",
            json!({}),
        )
        .await;

    assert_eq!(before, 0, "no account before the code is used");
    assert!(mail.text.contains("sign up"), "{}", mail.text);
    assert_eq!(user["emailVerified"], true);
    assert_eq!(user["username"], "zoe.new");
    assert_eq!(me["data"]["me"]["hasPassword"], false);
    assert_eq!(me["data"]["me"]["email"], "zoe.new@example.com");
}

#[tokio::test]
async fn closed_registration_mails_no_sign_up_code() {
    let (app, sink) = TestApp::spawn_with_mail(&[
        ("PASSWORDLESS_SIGNUP", "true"),
        ("REGISTRATION_ENABLED", "false"),
    ])
    .await;
    let root = app.superuser("root").await;
    let root_email = app.me(&root.access).await["data"]["me"]["email"]
        .as_str()
        .unwrap()
        .to_owned();
    app.sql(&format!(
        "UPDATE users SET email_verified_at = CURRENT_TIMESTAMP WHERE email = '{root_email}'"
    ))
    .await;
    app.gql(None, REQUEST, json!({ "e": "stranger@example.com" }))
        .await;
    // A known address's mail arrives; by then the stranger's would have.
    request(&app, &sink, &root_email).await;

    assert!(sink.to("stranger@example.com").is_empty());
}

#[tokio::test]
async fn a_code_that_proves_an_address_removes_the_password_set_before_it() {
    let (app, sink) = TestApp::spawn_with_mail(&[]).await;
    // Registered with a password, never verified: maybe by a stranger.
    let ann = app.register_as("ann").await;
    let mail = request(&app, &sink, "ann@example.com").await;

    let body = app
        .gql(
            None,
            WITH_CODE,
            json!({ "e": "ann@example.com", "c": mailed_code(&mail) }),
        )
        .await;
    let token = signed_in(&body, "signInWithCode")["accessToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_password = app.login("ann", PASSWORD).await;
    let old_session = app.me(&ann.access).await;
    let me = app
        .gql(
            Some(&token),
            "{ me { hasPassword emailVerified } }",
            json!({}),
        )
        .await;

    assert_eq!(code(&by_password), "INVALID_CREDENTIALS");
    assert_eq!(
        code(&old_session),
        "UNAUTHENTICATED",
        "sessions from before end"
    );
    assert_eq!(
        me["data"]["me"],
        json!({ "hasPassword": false, "emailVerified": true })
    );
}

#[tokio::test]
async fn a_second_factor_still_applies_and_an_expired_code_is_refused() {
    let (app, sink) = TestApp::spawn_with_mail(&[]).await;
    let ann = app.register_verified("ann").await;
    crate::mfa::enable(&app, &ann).await;
    let mail = request(&app, &sink, "ann@example.com").await;
    let with_factor = app
        .gql(
            None,
            WITH_CODE,
            json!({ "e": "ann@example.com", "c": mailed_code(&mail) }),
        )
        .await;

    let late = request(&app, &sink, "ann@example.com").await;
    entity::sign_in_code::Entity::update_many()
        .col_expr(
            entity::sign_in_code::Column::ExpiresAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)),
        )
        .exec(app.db())
        .await
        .unwrap();
    let expired = app
        .gql(
            None,
            WITH_CODE,
            json!({ "e": "ann@example.com", "c": mailed_code(&late) }),
        )
        .await;

    assert_eq!(code(&with_factor), "MFA_REQUIRED");
    assert!(with_factor["errors"][0]["extensions"]["mfaToken"].is_string());
    assert_eq!(
        (code(&expired), field(&expired)),
        ("BAD_USER_INPUT", "code")
    );
}

/// Mail in the user's language (`User.locale`, `MAIL_LOCALES`), English for
/// a language mail is not written in, and `Accept-Language` for a mail no
/// account's language decides.
#[tokio::test]
async fn mail_comes_in_the_users_language_with_english_as_the_fallback() {
    let (app, sink) =
        TestApp::spawn_with_mail(&[("MAIL_LOCALES", "en,de"), ("PASSWORDLESS_SIGNUP", "true")])
            .await;
    let ann = app.register_verified("ann").await;
    let bob = app.register_verified("bob").await;
    let set = "mutation($l: String) { updateMe(input: { locale: $l }) { locale } }";

    let german = app
        .gql(Some(&ann.access), set, json!({ "l": "de-AT" }))
        .await;
    let french = app.gql(Some(&bob.access), set, json!({ "l": "fr" })).await;
    let invalid = app
        .gql(Some(&bob.access), set, json!({ "l": "Deutsch!" }))
        .await;
    let to_ann = request(&app, &sink, "ann@example.com").await;
    let to_bob = request(&app, &sink, "bob@example.com").await;
    // An address with no account: the request's Accept-Language decides.
    let body: Value = app
        .client
        .post(format!("http://{}/graphql", app.addr))
        .header("accept-language", "fr-CH, de;q=0.9, en;q=0.8")
        .json(&json!({ "query": REQUEST, "variables": { "e": "new@example.com" } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["requestSignInCode"], true);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let to_new = loop {
        if let Some(mail) = sink.to("new@example.com").first() {
            break mail.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no mail to new@");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };

    assert_eq!(german["data"]["updateMe"]["locale"], "de-AT");
    assert_eq!(french["data"]["updateMe"]["locale"], "fr");
    assert_eq!(
        (code(&invalid), field(&invalid)),
        ("BAD_USER_INPUT", "locale")
    );
    assert!(
        to_ann.subject.starts_with("Ihr usergraph-Anmeldecode"),
        "{to_ann:?}"
    );
    assert!(to_ann.text.contains("10 Minuten") && to_ann.html.contains("lang=\"de\""));
    assert!(
        to_bob.subject.starts_with("Your usergraph sign-in code"),
        "{to_bob:?}"
    );
    assert!(
        to_new.subject.starts_with("Ihr usergraph-Anmeldecode"),
        "{to_new:?}"
    );
}

/// However many codes are asked for, one address's codes take at most 20
/// guesses a day, from anyone: a patient guesser gets nowhere.
#[tokio::test]
async fn guesses_at_one_addresss_codes_are_capped_per_day() {
    let (app, sink) = TestApp::spawn_with_mail(&[]).await;
    app.register_verified("ann").await;
    let first = mailed_code(&request(&app, &sink, "ann@example.com").await);
    let wrong = if first == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..20 {
        let answer = app
            .gql(
                None,
                WITH_CODE,
                json!({ "e": "ann@example.com", "c": wrong }),
            )
            .await;
        assert_eq!(code(&answer), "BAD_USER_INPUT", "{answer}");
    }
    let right = mailed_code(&request(&app, &sink, "ann@example.com").await);

    let capped = app
        .gql(
            None,
            WITH_CODE,
            json!({ "e": "ann@example.com", "c": right }),
        )
        .await;
    let other = app
        .gql(
            None,
            WITH_CODE,
            json!({ "e": "bob@example.com", "c": "123456" }),
        )
        .await;

    assert_eq!(code(&capped), "RATE_LIMITED", "{capped}");
    assert_eq!(
        code(&other),
        "BAD_USER_INPUT",
        "another address is not capped"
    );
}

/// Two sign-up codes for one new address: the second signs in to the
/// account the first made (found by review: it answered CONFLICT).
#[tokio::test]
async fn a_second_sign_up_code_signs_in_to_the_account_the_first_made() {
    let (app, sink) = TestApp::spawn_with_mail(&[("PASSWORDLESS_SIGNUP", "true")]).await;
    let one = mailed_code(&request(&app, &sink, "new@example.com").await);
    let two = mailed_code(&request(&app, &sink, "new@example.com").await);

    let first = app
        .gql(None, WITH_CODE, json!({ "e": "new@example.com", "c": one }))
        .await;
    let second = app
        .gql(None, WITH_CODE, json!({ "e": "new@example.com", "c": two }))
        .await;

    assert_eq!(
        signed_in(&first, "signInWithCode")["user"]["id"],
        signed_in(&second, "signInWithCode")["user"]["id"]
    );
}
