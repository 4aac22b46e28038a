//! The HTTP surface: health, GraphiQL, GET queries, refused methods and
//! batches, limits, and coded errors for malformed documents.

use serde_json::{Value, json};

use crate::helpers::{TestApp, code};

#[tokio::test]
async fn health_endpoints_report_liveness_and_readiness() {
    let app = TestApp::spawn().await;

    let live = app.get("/health/live").await;
    let ready = app.get("/health/ready").await;

    assert_eq!(live.status(), 200);
    assert_eq!(live.json::<Value>().await.unwrap()["status"], "ok");
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["database"], "ok");
}

#[tokio::test]
async fn get_without_a_query_serves_graphiql_when_enabled() {
    let enabled = TestApp::spawn().await;
    let disabled = TestApp::spawn_with(&[("GRAPHIQL", "false")]).await;

    let browse = |app: &TestApp| {
        app.client
            .get(app.url("/graphql"))
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .send()
    };
    let page = browse(&enabled).await.unwrap();
    let missing = browse(&disabled).await.unwrap();
    let no_query: Value = enabled
        .client
        .get(enabled.url("/graphql"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("graphiql"));
    assert_eq!(missing.status(), 404);
    assert_eq!(
        code(&no_query),
        "BAD_USER_INPUT",
        "a client, not a browser: {no_query}"
    );
}

/// The console at `/admin`: on in development, off in production unless
/// `ADMIN_CONSOLE=true`; its page loads only its own versioned assets under
/// a CSP of `'self'`, and its documents, sent by hash, are trusted.
#[tokio::test]
async fn the_admin_console_is_served_in_development_and_only_when_asked_in_production() {
    let secret = "p".repeat(40);
    let development = TestApp::spawn().await;
    let production =
        TestApp::spawn_with(&[("APP_ENV", "production"), ("JWT_SECRET", &secret)]).await;
    let asked = TestApp::spawn_with(&[
        ("APP_ENV", "production"),
        ("JWT_SECRET", &secret),
        ("ADMIN_CONSOLE", "true"),
    ])
    .await;

    assert_eq!(production.get("/admin").await.status(), 404);
    for app in [&development, &asked] {
        let page = app.get("/admin").await;
        assert_eq!(page.status(), 200);
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
            "{csp}"
        );
        assert_eq!(page.headers()["x-frame-options"], "DENY");
        let html = page.text().await.unwrap();
        let script = html
            .split('"')
            .find(|part| part.starts_with("/admin/") && part.ends_with("/console.js"))
            .unwrap_or_else(|| panic!("{html}"))
            .to_owned();
        let asset = app.get(&script).await;
        assert_eq!(asset.status(), 200);
        assert!(
            asset.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("immutable")
        );
        assert_eq!(app.get("/admin/0000/console.js").await.status(), 404);
        // The console's sign-in, sent by hash alone, is known.
        let manifest = usergraph::http::console::manifest();
        let (hash, _) = manifest
            .iter()
            .find(|(_, text)| text.contains("ConsoleLogin"))
            .unwrap();
        let body = app
            .gql_body(
                None,
                json!({
                    "variables": { "input": { "login": "nobody", "password": "wrong-password" } },
                    "extensions": { "persistedQuery": { "version": 1, "sha256Hash": hash.trim_start_matches("sha256:") } },
                }),
            )
            .await;
        assert_eq!(code(&body), "INVALID_CREDENTIALS", "{body}");
    }
}

#[tokio::test]
async fn get_runs_queries_but_refuses_mutations() {
    let app = TestApp::spawn().await;

    let query = app.get("/graphql?query=%7B__typename%7D").await;
    let mutation = app.get("/graphql?query=mutation%7BlogoutAll%7D").await;

    assert_eq!(
        query.json::<Value>().await.unwrap()["data"]["__typename"],
        "Query"
    );
    assert_eq!(mutation.status(), 405);
}

#[tokio::test]
async fn a_batch_of_operations_is_refused() {
    let app = TestApp::spawn().await;

    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }]))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let app = TestApp::spawn().await;
    let padding = " ".repeat(100 * 1024);

    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": format!("{{ __typename {padding} }}") }))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 413);
    // The body limit's own answer is plain text; clients get the JSON error.
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
}

#[tokio::test]
async fn malformed_documents_and_overly_deep_queries_get_contract_codes() {
    let app = TestApp::spawn_with(&[("MAX_QUERY_DEPTH", "2")]).await;

    let unknown = app.gql(None, "{ nope }", json!({})).await;
    let syntax = app.gql(None, "{ me { ", json!({})).await;
    let deep = app
        .gql(
            None,
            "{ me { roles { name } tier { name } socialLinks { x } } }",
            json!({}),
        )
        .await;
    let bad_variable = app
        .gql(
            None,
            "mutation($t: String!) { refreshToken(refreshToken: $t) { tokenType } }",
            json!({}),
        )
        .await;

    assert_eq!(code(&unknown), "BAD_USER_INPUT", "{unknown}");
    assert_eq!(code(&syntax), "BAD_USER_INPUT", "{syntax}");
    assert_eq!(code(&deep), "QUERY_TOO_COMPLEX", "{deep}");
    assert_eq!(code(&bad_variable), "BAD_USER_INPUT", "{bad_variable}");
}

#[tokio::test]
async fn responses_carry_a_request_id() {
    let app = TestApp::spawn().await;

    let response = app.get("/health/live").await;

    assert!(response.headers().get("x-request-id").is_some());
}

#[tokio::test]
async fn metrics_count_statements_graphql_requests_and_error_answers() {
    let app = TestApp::spawn().await;
    let read = async || {
        let text = app.get("/metrics").await.text().await.unwrap();
        let value = |name: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().parse().unwrap())
                .unwrap()
        };
        (
            value("usergraph_sql_statements_total "),
            value("usergraph_graphql_requests_total "),
            value("usergraph_graphql_errors_total "),
        )
    };
    let (statements, requests, errors) = read().await;

    let kim = app.register_as("kim").await;
    app.me(&kim.access).await;
    let denied = app
        .gql(
            Some(&kim.access),
            "{ users { nodes { id } } }",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(crate::helpers::code(&denied), "FORBIDDEN");

    let (statements_after, requests_after, errors_after) = read().await;
    assert_eq!(requests_after - requests, 3);
    assert_eq!(
        errors_after - errors,
        1,
        "only the refused request answered errors"
    );
    // register: insert user, role lookup, link, session; then the viewer, twice.
    assert!(
        statements_after - statements >= 6,
        "{statements} -> {statements_after}"
    );
}

/// The address the session of a fresh registration records, when the
/// request comes through `forwarded_for`.
async fn recorded_ip(app: &TestApp, name: &str, forwarded_for: &str) -> String {
    let body: serde_json::Value = app
        .client
        .post(app.url("/graphql"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({ "query": crate::helpers::REGISTER, "variables": { "input": { "username": name, "email": format!("{name}@example.com"), "password": crate::helpers::PASSWORD } } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["data"]["register"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    let sessions = app
        .gql(Some(token), "{ mySessions { ip } }", json!({}))
        .await;
    sessions["data"]["mySessions"][0]["ip"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_trusted_proxies() {
    let direct = TestApp::spawn().await;
    let proxied = TestApp::spawn_with(&[("TRUSTED_PROXIES", "127.0.0.0/8")]).await;

    assert_eq!(
        recorded_ip(&direct, "dee", "198.51.100.7").await,
        "127.0.0.1"
    );
    assert_eq!(
        recorded_ip(&proxied, "pam", "6.6.6.6, 198.51.100.7").await,
        "198.51.100.7",
        "the right-most hop that is not a trusted proxy"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_rate_limit() {
    let app = TestApp::spawn_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("RATE_LIMITS", "on"),
        ("RATE_LIMIT_LOGIN", "2/day"),
    ])
    .await;
    let login = |client: &'static str| {
        app.client
            .post(app.url("/graphql"))
            .header("x-forwarded-for", client)
            .json(&json!({ "query": crate::helpers::LOGIN, "variables": { "input": { "login": "nobody", "password": "not-the-password-9" } } }))
            .send()
    };

    let mut codes = Vec::new();
    for client in [
        "198.51.100.1",
        "198.51.100.1",
        "198.51.100.1",
        "198.51.100.2",
    ] {
        let body: serde_json::Value = login(client).await.unwrap().json().await.unwrap();
        codes.push(code(&body).to_owned());
    }

    assert_eq!(
        codes,
        [
            "INVALID_CREDENTIALS",
            "INVALID_CREDENTIALS",
            "RATE_LIMITED",
            "INVALID_CREDENTIALS"
        ]
    );
}

#[tokio::test]
async fn a_clients_request_id_is_kept_when_plain_and_replaced_otherwise() {
    let app = TestApp::spawn().await;
    let echo = |id: &'static str| {
        app.client
            .post(app.url("/graphql"))
            .header("x-request-id", id)
            .json(&json!({ "query": "{ __typename }" }))
            .send()
    };

    let kept = echo("trace-42.a_b").await.unwrap();
    let replaced = echo("<script>alert(1)</script>").await.unwrap();

    assert_eq!(kept.headers()["x-request-id"], "trace-42.a_b");
    let new_id = replaced.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(new_id, "<script>alert(1)</script>");
    assert!(uuid::Uuid::parse_str(&new_id).is_ok(), "{new_id}");
}

#[tokio::test]
async fn a_sqlite_file_that_cannot_be_written_is_not_ready() {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        eprintln!("skipped: a SQLite check");
        return;
    }
    let app = TestApp::spawn().await;
    let ready = || async { app.get("/health/ready").await.status() };
    assert_eq!(ready().await, 200);

    // The pool's one connection refuses writes, as a read-only or full file would.
    app.sql("PRAGMA query_only = ON").await;
    let refused = ready().await;
    app.sql("PRAGMA query_only = OFF").await;

    assert_eq!(refused, 503);
    assert_eq!(ready().await, 200);
}
