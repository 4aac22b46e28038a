//! Bringing users in: `importUsers` with every hash format the stacks
//! users come from store (real hashes, tests/fixtures/password_hashes.json),
//! the upgrade to argon2id at the first sign-in (raced), dry runs, the
//! three conflict modes, uniqueness within a batch and against the
//! database, roles and tiers by name, and the bounds.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, code};

pub const IMPORT: &str = "mutation($u: [ImportUserInput!]!, $c: ImportConflict, $d: Boolean) {
  importUsers(users: $u, onConflict: $c, dryRun: $d) {
    created updated skipped failed dryRun
    results { index action user { id username email emailVerified externalId createdAt lastLoginAt roles { name } tier { name } } errors { code field message } }
  } }";

/// The fixture's password and hashes.
pub fn fixtures() -> (String, Vec<(String, String)>) {
    let raw: Value =
        serde_json::from_str(include_str!("../fixtures/password_hashes.json")).unwrap();
    let password = raw["password"].as_str().unwrap().to_owned();
    let hashes = raw["hashes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, hash)| (name.clone(), hash.as_str().unwrap().to_owned()))
        .collect();
    (password, hashes)
}

pub async fn import(app: &TestApp, token: &str, users: Value, conflict: &str, dry: bool) -> Value {
    app.gql(
        Some(token),
        IMPORT,
        json!({ "u": users, "c": conflict, "d": dry }),
    )
    .await
}

fn payload(body: &Value) -> &Value {
    let payload = &body["data"]["importUsers"];
    assert!(payload.is_object(), "{body}");
    payload
}

async fn stored_hash(app: &TestApp, username: &str) -> String {
    app.rows(&format!(
        "SELECT password_hash FROM users WHERE username = '{username}'"
    ))
    .await[0]
        .try_get("", "password_hash")
        .unwrap()
}

#[tokio::test]
async fn users_imported_with_each_hash_format_sign_in_and_their_hash_becomes_argon2id() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let (password, hashes) = fixtures();
    let users: Vec<Value> = hashes
        .iter()
        .map(|(name, hash)| {
            json!({
                "email": format!("{}@example.com", name.replace('_', "-")),
                "username": name.replace('_', "-"),
                "passwordHash": hash,
                "emailVerified": true,
                "externalId": format!("legacy-{name}"),
                "createdAt": "2021-03-04T05:06:07Z",
                "lastLoginAt": "2024-01-02T03:04:05Z",
            })
        })
        .collect();
    let body = import(&app, &root.access, json!(users), "FAIL", false).await;
    let payload = payload(&body);
    assert_eq!(payload["created"], 11, "{body}");
    assert_eq!(payload["failed"], 0, "{body}");
    let first = &payload["results"][0]["user"];
    assert_eq!(first["createdAt"], "2021-03-04T05:06:07Z");
    assert_eq!(first["lastLoginAt"], "2024-01-02T03:04:05Z");
    assert_eq!(first["emailVerified"], true);
    assert_eq!(first["roles"], json!([{ "name": "user" }]));

    for (name, hash) in &hashes {
        let username = name.replace('_', "-");
        let wrong = app.login(&username, "not the password").await;
        assert_eq!(code(&wrong), "INVALID_CREDENTIALS", "{name}: {wrong}");
        assert_eq!(
            &stored_hash(&app, &username).await,
            hash,
            "a wrong password changes nothing"
        );
        let body = app.login(&username, &password).await;
        assert!(
            body["data"]["login"]["accessToken"].is_string(),
            "{name}: {body}"
        );
        let upgraded = stored_hash(&app, &username).await;
        assert!(
            upgraded.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{name}: {upgraded}"
        );
        let again = app.login(&username, &password).await;
        assert!(
            again["data"]["login"]["accessToken"].is_string(),
            "{name}: {again}"
        );
    }

    // One audit event for the batch, listing its users.
    let events = app
        .rows("SELECT changes FROM audit_events WHERE action = 'users.imported'")
        .await;
    assert_eq!(events.len(), 1);

    // The directory finds them by their old ids.
    let found = app
        .gql(
            Some(&root.access),
            "{ users(first: 5, filter: { externalId: \"legacy-bcrypt_2b\" }) { nodes { username externalId } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        found["data"]["users"]["nodes"],
        json!([{ "username": "bcrypt-2b", "externalId": "legacy-bcrypt_2b" }]),
        "{found}"
    );
}

#[tokio::test]
async fn the_first_two_sign_ins_racing_both_succeed_and_leave_one_argon2id_hash() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let (password, hashes) = fixtures();
    let hash = &hashes.iter().find(|(n, _)| n == "bcrypt_2b").unwrap().1;
    let body = import(
        &app,
        &root.access,
        json!([{ "email": "old@example.com", "username": "old", "passwordHash": hash }]),
        "FAIL",
        false,
    )
    .await;
    assert_eq!(payload(&body)["created"], 1, "{body}");
    let results = futures::future::join_all((0..2).map(|_| app.login("old", &password))).await;
    for body in &results {
        assert!(body["data"]["login"]["accessToken"].is_string(), "{body}");
    }
    let stored = stored_hash(&app, "old").await;
    assert!(stored.starts_with("$argon2id$v=19$m=19456"), "{stored}");
    assert!(app.login("old", &password).await["data"]["login"].is_object());
}

#[tokio::test]
async fn a_dry_run_checks_everything_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    app.register_as("taken").await;
    let users = json!([
        { "email": "new@example.com", "username": "fresh", "password": PASSWORD },
        { "email": "taken@example.com" },
        { "email": "twice@example.com", "username": "twice" },
        { "email": "twice@example.com" },
        { "email": "bad-hash@example.com", "passwordHash": "$2b$15$abcdefghijklmnopqrstuuNBHWHZw3kgH/9j6t8FPD0P6Fz1VIz9O" },
        { "email": "no-role@example.com", "roleNames": ["nonexistent"] },
        { "email": "no-tier@example.com", "tierName": "platinum" },
        { "email": "not-an-address" },
    ]);
    let body = import(&app, &root.access, users, "SKIP", true).await;
    let payload = payload(&body);
    assert_eq!(payload["dryRun"], true);
    let results = payload["results"].as_array().unwrap();
    let outcome = |i: usize| {
        (
            results[i]["action"].as_str().unwrap().to_owned(),
            results[i]["errors"][0]["code"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
            results[i]["errors"][0]["field"]
                .as_str()
                .unwrap_or("")
                .to_owned(),
        )
    };
    assert_eq!(outcome(0), ("CREATED".into(), "".into(), "".into()));
    assert_eq!(outcome(1).0, "SKIPPED", "an existing user, with SKIP");
    assert_eq!(outcome(2).0, "CREATED");
    assert_eq!(
        outcome(3),
        ("FAILED".into(), "DUPLICATE_EMAIL".into(), "email".into())
    );
    assert_eq!(
        outcome(4),
        (
            "FAILED".into(),
            "BAD_USER_INPUT".into(),
            "passwordHash".into()
        )
    );
    assert_eq!(
        outcome(5),
        ("FAILED".into(), "NOT_FOUND".into(), "roleNames".into())
    );
    assert_eq!(
        outcome(6),
        ("FAILED".into(), "NOT_FOUND".into(), "tierName".into())
    );
    assert_eq!(
        outcome(7),
        ("FAILED".into(), "BAD_USER_INPUT".into(), "email".into())
    );
    assert_eq!(results[0]["user"]["username"], "fresh");
    assert_eq!(payload["created"], 0, "a dry run creates nothing");
    let count = app.rows("SELECT id FROM users").await.len();
    assert_eq!(count, 2, "root and taken only");
    assert!(
        app.rows("SELECT id FROM audit_events WHERE action = 'users.imported'")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn fail_is_all_or_nothing_skip_passes_over_and_update_changes_the_existing_user() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let body = app
        .gql(
            Some(&root.access),
            "mutation { createTier(input: { name: \"gold\" }) { id } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let first = json!([
        { "email": "ann@example.com", "username": "ann", "externalId": "A-1", "firstName": "Ann" },
    ]);
    assert_eq!(
        payload(&import(&app, &root.access, first, "FAIL", false).await)["created"],
        1
    );

    let batch = json!([
        { "email": "bob@example.com", "username": "bob", "externalId": "B-1" },
        { "email": "ANN@example.com", "externalId": "A-1", "firstName": "Annette", "tierName": "gold", "roleNames": ["viewer"] },
    ]);
    let body = import(&app, &root.access, batch.clone(), "FAIL", false).await;
    let failed = payload(&body);
    assert_eq!(
        (failed["created"].clone(), failed["failed"].clone()),
        (json!(0), json!(1)),
        "{body}"
    );
    assert_eq!(
        failed["results"][0]["action"], "SKIPPED",
        "not written: the batch failed"
    );
    assert!(
        app.rows("SELECT id FROM users WHERE username = 'bob'")
            .await
            .is_empty()
    );

    let body = import(&app, &root.access, batch.clone(), "SKIP", false).await;
    let skipped = payload(&body);
    assert_eq!(
        (skipped["created"].clone(), skipped["skipped"].clone()),
        (json!(1), json!(1)),
        "{body}"
    );

    let body = import(&app, &root.access, batch, "UPDATE", false).await;
    let updated = payload(&body);
    assert_eq!(updated["updated"], 2, "{body}");
    let ann = &updated["results"][1]["user"];
    assert_eq!(ann["tier"]["name"], "gold", "{body}");
    assert_eq!(ann["roles"], json!([{ "name": "viewer" }]), "{body}");
    let name = app
        .gql(
            Some(&root.access),
            "{ users(first: 1, filter: { externalId: \"A-1\" }) { nodes { firstName } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        name["data"]["users"]["nodes"][0]["firstName"], "Annette",
        "{name}"
    );
}

#[tokio::test]
async fn only_a_superuser_imports_and_a_batch_is_bounded() {
    let app = TestApp::spawn().await;
    let plain = app.register_verified("plain").await;
    let body = import(
        &app,
        &plain.access,
        json!([{ "email": "x@example.com" }]),
        "FAIL",
        false,
    )
    .await;
    assert_eq!(code(&body), "FORBIDDEN", "{body}");
    let root = app.superuser("root").await;
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({ "email": format!("u{i}@example.com") }))
        .collect();
    let body = import(&app, &root.access, json!(many), "FAIL", true).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let plain_passwords: Vec<Value> = (0..101)
        .map(|i| json!({ "email": format!("u{i}@example.com"), "password": PASSWORD }))
        .collect();
    let body = import(&app, &root.access, json!(plain_passwords), "FAIL", true).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    // A thousand is fine, checked in one go.
    let thousand: Vec<Value> = (0..1000)
        .map(|i| json!({ "email": format!("u{i}@example.com") }))
        .collect();
    let body = import(&app, &root.access, json!(thousand), "FAIL", false).await;
    assert_eq!(payload(&body)["created"], 1000, "{body}");
    let body = app
        .gql(Some(&root.access), "{ users(first: 1, filter: { search: \"u999\" }) { totalCount nodes { username hasPassword } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["users"]["nodes"][0]["hasPassword"], false,
        "{body}"
    );
}

/// Runs the real binary with `args` on `database_url`; its exit, standard
/// output and standard error.
async fn usergraph(args: &[&str], database_url: &str) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_usergraph"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test]
async fn an_export_imported_into_a_fresh_database_gives_the_same_directory_and_working_sign_ins() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    for mutation in [
        "mutation { createRole(input: { name: \"support\", permissions: [USERS_READ] }) { id } }",
        "mutation { createTier(input: { name: \"gold\", description: \"paying\" }) { id } }",
    ] {
        let body = app.gql(Some(&root.access), mutation, json!({})).await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let (legacy_password, hashes) = fixtures();
    let bcrypt = &hashes.iter().find(|(n, _)| n == "bcrypt_2y").unwrap().1;
    let body = import(
        &app,
        &root.access,
        json!([
            { "email": "ann@example.com", "username": "ann", "password": PASSWORD, "firstName": "Ann",
              "roleNames": ["support", "user"], "tierName": "gold", "emailVerified": true,
              "metadata": { "plan": "pro" }, "externalId": "u-1", "locale": "de" },
            { "email": "carol@example.com", "username": "carol", "passwordHash": bcrypt, "status": "SUSPENDED" },
            { "email": "dave@example.com", "username": "dave", "lastLoginAt": "2023-05-06T07:08:09Z" },
        ]),
        "FAIL",
        false,
    )
    .await;
    assert_eq!(payload(&body)["created"], 3, "{body}");
    // A soft-deleted user stays deleted through the round trip.
    let dave = payload(&body)["results"][2]["user"]["id"].clone();
    let body = app
        .gql(
            Some(&root.access),
            "mutation($u: ID!) { deleteUser(id: $u) { id } }",
            json!({ "u": dave }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");

    let (ok, exported, err) =
        usergraph(&["export", "--include-password-hashes"], app.database_url()).await;
    assert!(ok, "{err}");
    assert!(err.contains("4 users exported"), "{err}");
    let lines: Vec<&str> = exported.lines().collect();
    assert_eq!(lines.len(), 6, "a role, a tier and four users: {exported}");
    assert!(lines[0].starts_with("{\"role\""), "{exported}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"dave\"") && l.contains("\"deletedAt\"")),
        "{exported}"
    );
    let (_, without, _) = usergraph(&["export"], app.database_url()).await;
    assert!(!without.contains("passwordHash"), "{without}");

    // Into a fresh SQLite database (from PostgreSQL on the PostgreSQL run).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.jsonl");
    std::fs::write(&file, &exported).unwrap();
    let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("b.db").display());
    let (ok, _, err) = usergraph(&["import", file.to_str().unwrap()], &sqlite).await;
    assert!(ok, "{err}");
    assert!(err.contains("4 created"), "{err}");
    let (_, again, _) = usergraph(&["export", "--include-password-hashes"], &sqlite).await;
    assert_eq!(again, exported, "the same directory, roles and tiers");

    // And back into a fresh test database (SQLite to PostgreSQL there).
    let (fresh, _keep) = crate::helpers::fresh_database().await;
    let (ok, _, err) = usergraph(&["import", file.to_str().unwrap()], &fresh).await;
    assert!(ok, "{err}");
    let (_, third, _) = usergraph(&["export", "--include-password-hashes"], &fresh).await;
    assert_eq!(third, exported);

    // Sign-ins work there: a password, and an imported bcrypt hash.
    let there = TestApp::spawn_with(&[("DATABASE_URL", fresh.as_str())]).await;
    assert!(there.login("ann", PASSWORD).await["data"]["login"].is_object());
    assert_eq!(
        code(&there.login("carol", &legacy_password).await),
        "ACCOUNT_DISABLED"
    );
    let root_there = there.login("root", PASSWORD).await;
    let me = there
        .gql(
            root_there["data"]["login"]["accessToken"].as_str(),
            "{ users(first: 1, filter: { externalId: \"u-1\" }) { nodes { username locale tier { name } roles { name } metadata } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        me["data"]["users"]["nodes"][0],
        json!({ "username": "ann", "locale": "de", "tier": { "name": "gold" },
                "roles": [{ "name": "support" }, { "name": "user" }], "metadata": { "plan": "pro" } }),
        "{me}"
    );
}

#[tokio::test]
async fn an_import_file_with_failing_lines_writes_nothing_and_says_which() {
    let app = TestApp::spawn().await;
    app.register_as("taken").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.jsonl");
    std::fs::write(
        &file,
        [
            r#"{"email": "one@example.com", "username": "one"}"#,
            "",
            r#"{"email": "taken@example.com"}"#,
            r#"{"email": "two@example.com", "passwordHash": "md5$nope"}"#,
            r#"not json"#,
            r#"{"email": "one@example.com", "username": "other"}"#,
            r#"{"email": "three@example.com", "unknownField": 1}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let (ok, _, err) = usergraph(&["import", file.to_str().unwrap()], app.database_url()).await;
    assert!(!ok, "{err}");
    for expected in [
        "line 3: DUPLICATE_EMAIL on email",
        "line 4: BAD_USER_INPUT on passwordHash",
        "line 5: BAD_USER_INPUT",
        "line 6: BAD_USER_INPUT on email: line 1 has the same email",
        "line 7: BAD_USER_INPUT",
        "nothing was written",
    ] {
        assert!(err.contains(expected), "{expected}: {err}");
    }
    assert!(
        app.rows("SELECT id FROM users WHERE username = 'one'")
            .await
            .is_empty()
    );

    // With --on-conflict skip the good lines go in, the failing are listed.
    let (ok, _, err) = usergraph(
        &["import", "--on-conflict", "skip", file.to_str().unwrap()],
        app.database_url(),
    )
    .await;
    assert!(!ok, "{err}");
    assert!(
        err.contains("1 created, 0 updated, 1 skipped, 4 failed"),
        "{err}"
    );
    assert_eq!(
        app.rows("SELECT id FROM users WHERE username = 'one'")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn an_update_never_takes_over_by_username_keeps_passwords_and_the_last_superuser() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let (legacy, hashes) = fixtures();
    let bcrypt = &hashes.iter().find(|(n, _)| n == "bcrypt_2b").unwrap().1;
    // A source's `root` is not this service's.
    let body = import(
        &app,
        &root.access,
        json!([{ "email": "someone@source.example", "username": "root", "passwordHash": bcrypt }]),
        "UPDATE",
        false,
    )
    .await;
    let failed = payload(&body);
    assert_eq!(
        failed["results"][0]["errors"][0]["code"], "CONFLICT",
        "{body}"
    );
    assert!(app.login("root", PASSWORD).await["data"]["login"].is_object());
    // Nor can an update demote or suspend the last superuser.
    let body = import(
        &app,
        &root.access,
        json!([{ "email": "root@example.com", "isSuperuser": false, "status": "SUSPENDED" }]),
        "UPDATE",
        false,
    )
    .await;
    assert_eq!(code(&body), "CONFLICT", "{body}");
    assert!(app.login("root", PASSWORD).await["data"]["login"].is_object());

    // A re-run after the first sign-in keeps the upgraded password and
    // signs nobody out.
    let line = json!([{ "email": "old@example.com", "username": "old", "passwordHash": bcrypt, "externalId": "7" }]);
    assert_eq!(
        payload(&import(&app, &root.access, line.clone(), "FAIL", false).await)["created"],
        1
    );
    let session = app.login("old", &legacy).await;
    let refresh = session["data"]["login"]["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let upgraded = stored_hash(&app, "old").await;
    let body = import(&app, &root.access, line, "UPDATE", false).await;
    assert_eq!(payload(&body)["updated"], 1, "{body}");
    assert_eq!(stored_hash(&app, "old").await, upgraded);
    let refreshed = app.refresh(&refresh).await;
    assert!(
        refreshed["data"]["refreshToken"]["accessToken"].is_string(),
        "the session lives on: {refreshed}"
    );
    // A changed email is unproven unless the record says otherwise.
    let moved = json!([{ "email": "new@example.com", "externalId": "7" }]);
    let body = import(&app, &root.access, moved, "UPDATE", false).await;
    assert_eq!(
        payload(&body)["results"][0]["user"]["emailVerified"],
        false,
        "{body}"
    );
}

#[tokio::test]
async fn a_username_made_from_an_email_never_takes_one_a_later_line_asks_for() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.jsonl");
    std::fs::write(
        &file,
        [
            r#"{"email": "alice@example.com"}"#,
            r#"{"email": "bob@example.com"}"#,
            r#"{"email": "someone@example.com", "username": "alice"}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    let (ok, _, err) = usergraph(
        &["import", "--batch-size", "1", file.to_str().unwrap()],
        app.database_url(),
    )
    .await;
    assert!(ok, "{err}");
    assert!(err.contains("3 created"), "{err}");
    let names: Vec<String> = app
        .rows("SELECT username FROM users ORDER BY username")
        .await
        .iter()
        .map(|r| r.try_get::<String>("", "username").unwrap())
        .collect();
    assert_eq!(names, ["alice", "alice2", "bob"]);
}
