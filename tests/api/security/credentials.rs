//! Credentials under attack: sign-in failures that cannot be told apart,
//! what the logs must and must never contain, the lockout under races and
//! step-ups, the password strength check's bound, look-alike passwords, and
//! per-address rate limits.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{LOGIN, PASSWORD, TestApp, logs};

/// The parts of a failed login a client can observe.
async fn observe(app: &TestApp, login: &str, password: &str) -> ((u16, String, String), Duration) {
    let started = Instant::now();
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": LOGIN, "variables": { "input": { "login": login, "password": password } } }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let elapsed = started.elapsed();
    let error = &body["errors"][0];
    (
        (
            status,
            error["message"].to_string(),
            error["extensions"].to_string(),
        ),
        elapsed,
    )
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

const CASES: [(&str, &str); 4] = [
    ("unknown", "nobody"),
    ("wrong password", "wrongpw"),
    ("deleted", "deleted"),
    ("locked", "locked"),
];

/// One measurement: the median time of each case over interleaved, rotated
/// rounds (so load drift and the after-effects of the previous request touch
/// every case alike), and every answer seen.
async fn measure(app: &TestApp) -> (Vec<Duration>, Vec<(u16, String, String)>) {
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); CASES.len()];
    let mut answers = Vec::new();
    for round in 0..16 {
        for offset in 0..CASES.len() {
            let i = (round + offset) % CASES.len();
            let login = CASES[i].1;
            let password = if login == "wrongpw" {
                "not-the-password-1"
            } else {
                PASSWORD
            };
            let (answer, elapsed) = observe(app, login, password).await;
            if round > 0 {
                times[i].push(elapsed);
            }
            answers.push(answer);
        }
    }
    (times.into_iter().map(median).collect(), answers)
}

#[tokio::test]
async fn unknown_wrong_deleted_and_locked_logins_look_and_take_the_same() {
    // A high threshold keeps the wrong-password account itself unlocked.
    let app = TestApp::spawn_with(&[("LOGIN_LOCKOUT_THRESHOLD", "100000")]).await;
    app.register_as("wrongpw").await;
    app.register_as("deleted").await;
    app.register_as("locked").await;
    app.sql("UPDATE users SET deleted_at = created_at WHERE username = 'deleted'")
        .await;
    app.sql("UPDATE users SET failed_login_count = 100000 WHERE username = 'locked'")
        .await;

    // Timing is statistical and the other tests hash passwords on the same two
    // cores, so up to three measurements are taken and medians may differ by
    // up to 2x: CI has seen 15 ms against 22 ms from load alone. The leak this
    // guards against is far larger (a path skipping argon2 answers in well
    // under 1 ms against ~20 ms) and fails every measurement.
    let mut attempts = Vec::new();
    for _ in 0..3 {
        let (medians, answers) = measure(&app).await;
        assert!(
            answers.windows(2).all(|w| w[0] == w[1]),
            "responses differ: {answers:?}"
        );
        assert!(answers[0].2.contains("INVALID_CREDENTIALS"));
        let (fastest, slowest) = (medians.iter().min().unwrap(), medians.iter().max().unwrap());
        let within = slowest.as_secs_f64() <= fastest.as_secs_f64() * 2.0;
        attempts.push(
            CASES
                .iter()
                .zip(&medians)
                .map(|((name, _), m)| format!("{name}: {m:?}"))
                .collect::<Vec<_>>(),
        );
        if within {
            return;
        }
    }
    panic!("median times differ by more than 2x in every measurement: {attempts:?}");
}

#[tokio::test]
async fn logins_are_logged_with_user_ip_and_request_id_but_never_secrets() {
    let app = TestApp::spawn().await;
    let tess = app.register_as("tess").await;
    let ok = app.login("tess", PASSWORD).await;
    app.login("tess", "wrong-password-logged-9").await;
    let new_refresh = ok["data"]["login"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    app.refresh(&new_refresh).await;
    let log = logs();

    // The public id, as the API shows it, so an id from the API finds its lines.
    let mine: Vec<&str> = log.lines().filter(|l| l.contains(&tess.id)).collect();
    let success = mine
        .iter()
        .find(|l| l.contains("login succeeded"))
        .expect("a success line");
    let failure = mine
        .iter()
        .find(|l| l.contains("login failed: wrong password"))
        .expect("a failure line");
    for line in [success, failure] {
        assert!(line.contains("ip=\"127.0.0.1\""), "{line}");
        assert!(line.contains("request_id=\""), "{line}");
    }
    for secret in [
        PASSWORD,
        "wrong-password-logged-9",
        &tess.access,
        &tess.refresh,
        &new_refresh,
        "$argon2id$",
    ] {
        assert!(!log.contains(secret), "a secret reached the log: {secret}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_right_passwords_all_sign_in() {
    let app = TestApp::spawn().await;
    app.register_as("tess").await;

    let bodies = futures::future::join_all((0..10).map(|_| app.login("tess", PASSWORD))).await;

    for body in &bodies {
        assert!(body["data"]["login"]["accessToken"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn password_guesses_through_a_step_up_count_toward_the_lockout() {
    let app = TestApp::spawn().await;
    let uli = app.register_as("uli").await;
    let change = "mutation($c: String!) { changePassword(currentPassword: $c, newPassword: \"a-brand-new-secret-77\") }";
    let delete = "mutation($p: String!) { deleteMe(password: $p) }";

    let mut codes = Vec::new();
    for i in 0..25 {
        let (query, variables) = if i % 2 == 0 {
            (change, json!({ "c": format!("wrong-guess-{i}-xx") }))
        } else {
            (delete, json!({ "p": format!("wrong-guess-{i}-xx") }))
        };
        let body = app.gql(Some(&uli.access), query, variables).await;
        codes.push(crate::helpers::code(&body).to_owned());
    }
    let right = app
        .gql(Some(&uli.access), change, json!({ "c": PASSWORD }))
        .await;

    assert!(
        codes[..5].iter().all(|c| c == "BAD_USER_INPUT"),
        "{codes:?}"
    );
    assert!(
        codes[5..].iter().all(|c| c == "ACCOUNT_LOCKED"),
        "{codes:?}"
    );
    assert_eq!(crate::helpers::code(&right), "ACCOUNT_LOCKED", "{right}");
    assert_eq!(
        crate::helpers::code(&app.login("uli", PASSWORD).await),
        "INVALID_CREDENTIALS",
        "the same lock holds for sign-in"
    );
    assert_eq!(app.ctx.hasher.real_verifications(), 5);
}

#[tokio::test]
async fn the_password_strength_check_waits_for_the_hashing_bound() {
    let app = TestApp::spawn_with(&[
        ("PASSWORD_HASH_CONCURRENCY", "1"),
        ("PASSWORD_HASH_QUEUE_TIMEOUT_MS", "100"),
    ])
    .await;
    // Hold the only permit, as a burst of hashes would.
    let hasher = app.ctx.hasher.clone();
    let busy = tokio::spawn(async move {
        hasher
            .run_bounded(|| {
                std::thread::sleep(Duration::from_millis(1500));
                Ok(())
            })
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;

    let weak_registration = || {
        app.gql(
            None,
            crate::helpers::REGISTER,
            json!({ "input": { "username": "vic", "email": "vic@example.com", "password": "qwertyuiop" } }),
        )
    };

    let queued = weak_registration().await;

    assert_eq!(crate::helpers::code(&queued), "RATE_LIMITED", "{queued}");
    busy.await.unwrap().unwrap();
    let weak = weak_registration().await;
    assert_eq!(crate::helpers::field(&weak), "password", "{weak}");
}

#[tokio::test]
async fn look_alikes_of_the_username_cannot_hide_in_a_password() {
    let app = TestApp::spawn().await;
    for password in [
        "ｗｅｎｄｙ-kettle-42",
        "wеndy-kettle-42",
        "WENDİ-kettle-42x",
    ] {
        let username = if password.contains('İ') {
            "wendi"
        } else {
            "wendy"
        };
        let body = app
            .gql(
                None,
                crate::helpers::REGISTER,
                json!({ "input": { "username": username, "email": "w@example.com", "password": password } }),
            )
            .await;
        assert_eq!(
            crate::helpers::field(&body),
            "password",
            "{password}: {body}"
        );
    }
}

#[tokio::test]
async fn credential_operations_are_rate_limited_per_address_in_the_database() {
    let mut app = TestApp::spawn_with(&[
        ("RATE_LIMITS", "on"),
        ("RATE_LIMIT_REGISTER", "3/day"),
        ("RATE_LIMIT_LOGIN", "4/day"),
    ])
    .await;
    for name in ["ra", "rb", "rc"] {
        app.register_as(name).await;
    }
    let fourth = app
        .gql(
            None,
            crate::helpers::REGISTER,
            json!({ "input": { "username": "rd", "email": "rd@example.com", "password": PASSWORD } }),
        )
        .await;
    assert_eq!(crate::helpers::code(&fourth), "RATE_LIMITED", "{fourth}");
    let retry = fourth["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    // Daily windows, so a run near a window's end cannot split the counts.
    assert!((1..=86_400).contains(&retry), "{fourth}");

    for _ in 0..2 {
        assert!(app.login("ra", PASSWORD).await["data"]["login"].is_object());
    }
    // The counts live in the database that replicas share: a new process sees them.
    app.restart().await;
    for _ in 0..2 {
        assert!(app.login("ra", PASSWORD).await["data"]["login"].is_object());
    }
    let fifth = app.login("ra", PASSWORD).await;
    assert_eq!(crate::helpers::code(&fifth), "RATE_LIMITED", "{fifth}");
    let checked = app.ctx.hasher.real_verifications();
    assert_eq!(checked, 2, "refused before any hash was checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sign_in_racing_a_password_change_leaves_no_session_behind() {
    let app = TestApp::spawn().await;
    let root = app.user_with("root", &[], true).await;
    for round in 0..6 {
        let name = format!("moved{round}");
        let user = app.user_with(&name, &[], false).await;
        let (change, token, variables) = if round % 2 == 0 {
            (
                "mutation { changePassword(currentPassword: \"tangerine-kettle-42\", newPassword: \"a-brand-new-secret-77\") }",
                &user.access,
                json!({}),
            )
        } else {
            (
                "mutation($id: ID!) { updateUser(id: $id, input: { password: \"a-brand-new-secret-77\" }) { id } }",
                &root.access,
                json!({ "id": user.id }),
            )
        };

        let (changed, logins) = tokio::join!(
            app.gql(Some(token), change, variables),
            futures::future::join_all((0..4).map(|i| {
                let (app, name) = (&app, &name);
                async move {
                    tokio::time::sleep(Duration::from_millis(10 * i)).await;
                    app.login(name, PASSWORD).await
                }
            })),
        );

        assert!(changed["errors"].is_null(), "{changed}");
        for body in &logins {
            if let Some(access) = body["data"]["login"]["accessToken"].as_str() {
                assert!(
                    !app.me(access).await["errors"].is_null(),
                    "round {round}: a session made with the old password survived the change"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_current_password_is_checked_before_the_new_one_is_judged() {
    let app = TestApp::spawn().await;
    let kim = app.register_as("kim").await;

    let body = app
        .gql(
            Some(&kim.access),
            "mutation { changePassword(currentPassword: \"wrong-guess-1-xx\", newPassword: \"qwertyuiop\") }",
            json!({}),
        )
        .await;

    assert_eq!(crate::helpers::field(&body), "currentPassword", "{body}");
    assert_eq!(
        app.ctx.hasher.real_verifications(),
        1,
        "the guess was counted"
    );
}
