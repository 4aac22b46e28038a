//! The guides of docs/migrating.md, tried on real hashes. Each source's
//! tables hold users hashed by that stack's own library
//! (tests/fixtures/migrating/*.source.sql; Keycloak's realm export in
//! keycloak-realm.json, which `usergraph convert-keycloak` reads). On
//! PostgreSQL the guide's SQL runs on them and its
//! output must be the committed JSON lines; on both databases those lines
//! go through `usergraph import`, and the users sign in with their old
//! passwords (or are refused as their old state says).

use sea_orm::{ConnectOptions, ConnectionTrait, Database, Statement};
use serde_json::Value;

use crate::helpers::{TestApp, code};

/// What signing in as each user must give: `None` a session, else the code.
type Expected<'a> = &'a [(&'a str, &'a str, Option<&'a str>)];

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/migrating/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn guide(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/docs/migrating/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// Lines as values, read through what `import` reads, so formatting and
/// time zones do not count.
fn normalised(lines: &str) -> Vec<Value> {
    use usergraph::service::imports::{CatalogueLine, Record};
    lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| match serde_json::from_str::<CatalogueLine>(line) {
            Ok(entry) => serde_json::to_value(entry).unwrap(),
            Err(_) => serde_json::to_value(
                serde_json::from_str::<Record>(line).unwrap_or_else(|e| panic!("{line}: {e}")),
            )
            .unwrap(),
        })
        .collect()
}

/// On PostgreSQL, the guide's output on the source's tables, which must be
/// the committed lines; the committed lines either way.
async fn converted(source: &str, schema: &str) -> String {
    let committed = fixture(&format!("{source}.jsonl"));
    if !std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        return committed;
    }
    let (url, _) = crate::helpers::fresh_database().await;
    let mut options = ConnectOptions::new(url);
    // One connection: the search path is the session's.
    options.max_connections(1).sqlx_logging(false);
    let db = Database::connect(options).await.unwrap();
    db.execute_unprepared(&fixture(&format!("{source}.source.sql")))
        .await
        .unwrap();
    db.execute_unprepared(&format!("SET search_path TO {schema}; SET TIME ZONE 'UTC'"))
        .await
        .unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            guide(&format!("{source}.sql")),
        ))
        .await
        .unwrap();
    let output: String = rows
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap() + "\n")
        .collect();
    assert_eq!(
        normalised(&output),
        normalised(&committed),
        "docs/migrating/{source}.sql no longer gives tests/fixtures/migrating/{source}.jsonl"
    );
    output
}

/// Imports `lines` with the real binary, then signs in as each user.
async fn imported_and_signed_in(lines: &str, expected: Expected<'_>) {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.jsonl");
    std::fs::write(&file, lines).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_usergraph"))
        .args(["import", file.to_str().unwrap()])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", app.database_url())
        .env("RUST_LOG", "warn")
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("0 failed"), "{stderr}");
    for (login, password, refused) in expected {
        let body = app.login(login, password).await;
        match refused {
            None => assert!(
                body["data"]["login"]["accessToken"].is_string(),
                "{login}: {body}"
            ),
            Some(expected) => assert_eq!(code(&body), *expected, "{login}: {body}"),
        }
    }
}

#[tokio::test]
async fn the_fastapi_boilerplate_guide_brings_its_users_and_tiers() {
    let lines = converted("boilerplate", "boilerplate").await;
    imported_and_signed_in(
        &lines,
        &[
            ("alice", "boilerplate-alice-1", None),
            ("bob@example.com", "boilerplate-bob-22", None),
            ("bob", "boilerplate-bob-2", Some("INVALID_CREDENTIALS")),
            // Deleted there, deleted here.
            ("cleo", "boilerplate-cleo-3", Some("INVALID_CREDENTIALS")),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_fastapi_rbac_guide_brings_its_users_and_roles() {
    let lines = converted("rbac", "rbac").await;
    imported_and_signed_in(
        &lines,
        &[
            ("carla@example.com", "rbac-carla-pass-1", None),
            (
                "dan@example.com",
                "rbac-dan-pass-22",
                Some("ACCOUNT_DISABLED"),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_django_guide_brings_auth_user_and_its_groups() {
    let lines = converted("django", "django").await;
    imported_and_signed_in(
        &lines,
        &[
            ("erin", "django-erin-pass-1", None),
            // A username usergraph cannot take: one made from the address.
            ("frank@example.com", "django-frank-pass-2", None),
            ("frank", "django-frank-pass-2", None),
            // An unusable password is no password.
            (
                "gina",
                "!unusable-password-marker",
                Some("INVALID_CREDENTIALS"),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_guides_for_the_two_generic_apis_bring_their_users() {
    let lines = converted("management", "management").await;
    imported_and_signed_in(
        &lines,
        &[
            ("john@example.com", "management-john-1", None),
            (
                "jane@example.com",
                "management-jane-22",
                Some("ACCOUNT_DISABLED"),
            ),
        ],
    )
    .await;
    let lines = converted("blog", "blog").await;
    imported_and_signed_in(
        &lines,
        &[
            ("hana", "blog-hana-pass-1", None),
            ("ivan@example.com", "blog-ivan-pass-22", None),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_supabase_guide_brings_auth_users() {
    let lines = converted("supabase", "auth").await;
    imported_and_signed_in(
        &lines,
        &[
            ("jo@example.com", "supabase-jo-pass-1", None),
            (
                "kai@example.com",
                "supabase-kai-pass-22",
                Some("ACCOUNT_DISABLED"),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn convert_keycloak_turns_a_realm_export_into_lines_that_sign_in() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_usergraph"))
        .arg("convert-keycloak")
        .arg(format!(
            "{dir}/tests/fixtures/migrating/keycloak-realm.json"
        ))
        .env_clear()
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("3 users converted"));
    let lines = String::from_utf8(out.stdout).unwrap();
    assert_eq!(normalised(&lines), normalised(&fixture("keycloak.jsonl")));
    imported_and_signed_in(
        &lines,
        &[
            // pbkdf2-sha256, Keycloak's long-time default.
            ("lena", "keycloak-lena-pass-1", None),
            // pbkdf2-sha512, a disabled user.
            ("milo", "keycloak-milo-pass-22", Some("ACCOUNT_DISABLED")),
            // argon2, Keycloak's default since 24.
            ("nora@example.com", "keycloak-nora-pass-3", None),
        ],
    )
    .await;
}

#[test]
fn docs_migrating_md_shows_every_guide_as_it_is() {
    let doc = std::fs::read_to_string(format!("{}/docs/migrating.md", env!("CARGO_MANIFEST_DIR")))
        .unwrap();
    for name in [
        "boilerplate.sql",
        "rbac.sql",
        "django.sql",
        "management.sql",
        "blog.sql",
        "supabase.sql",
    ] {
        assert!(
            doc.contains(guide(name).trim()),
            "docs/migrating.md does not show docs/migrating/{name} as it is"
        );
    }
}
