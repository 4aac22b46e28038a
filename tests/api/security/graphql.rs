//! GraphQL and HTTP abuse: credential fields multiplied by aliases, query
//! limits, production hardening, refused methods and bodies, panics, and
//! masked internal errors.

use std::time::Duration;

use axum::{Router, routing::get};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, code};

#[tokio::test]
async fn aliases_cannot_multiply_password_guesses() {
    let app = TestApp::spawn().await;
    app.register_as("victim").await;
    let guess = |alias: &str| {
        format!(
            "{alias}: login(input: {{ login: \"victim\", password: \"guess-{alias}-123\" }}) {{ accessToken }}"
        )
    };
    let documents = [
        format!("mutation {{ {} {} }}", guess("a"), guess("b")),
        format!(
            "mutation {{ ...F }} fragment F on Mutation {{ {} {} }}",
            guess("a"),
            guess("b")
        ),
        format!(
            "mutation {{ {} ... on Mutation {{ {} }} }}",
            guess("a"),
            guess("b")
        ),
        format!(
            "mutation {{ {} refreshToken(refreshToken: \"x\") {{ accessToken }} }}",
            guess("a")
        ),
        format!(
            "mutation {{ {} changePassword(currentPassword: \"a\", newPassword: \"b\") }}",
            guess("a")
        ),
    ];
    for document in documents {
        let checked = app.ctx.hasher.real_verifications();

        let (statements, body) = app
            .count_statements(app.gql(None, &document, json!({})))
            .await;

        assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "{document}: {body}");
        assert_eq!(
            (statements, app.ctx.hasher.real_verifications()),
            (0, checked),
            "refused before any resolver ran"
        );
    }
    let single = app
        .gql(None, &format!("mutation {{ {} }}", guess("a")), json!({}))
        .await;
    assert_eq!(
        code(&single),
        "INVALID_CREDENTIALS",
        "one guess is answered normally"
    );
}

#[tokio::test]
async fn documents_over_any_limit_are_refused_before_execution() {
    let app = TestApp::spawn_with(&[
        ("MAX_QUERY_DEPTH", "4"),
        ("MAX_QUERY_COMPLEXITY", "200"),
        ("MAX_QUERY_DIRECTIVES", "2"),
        ("MAX_RECURSIVE_DEPTH", "16"),
    ])
    .await;
    let nested_fragments = format!(
        "{{ {} __typename {} }}",
        "... on Query { ".repeat(40),
        "}".repeat(40)
    );
    let cases = [
        (
            "depth",
            "{ users { edges { node { roles { name } } } } }".to_owned(),
        ),
        (
            "complexity",
            format!(
                "{{ {} }}",
                (0..120)
                    .map(|i| format!("f{i}: roles {{ id }}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ),
        (
            "directives",
            "{ __typename @include(if: true) @include(if: true) @skip(if: false) }".to_owned(),
        ),
        ("recursion", nested_fragments),
    ];
    for (limit, document) in cases {
        let (statements, body) = app
            .count_statements(app.gql(None, &document, json!({})))
            .await;
        assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "{limit}: {body}");
        assert_eq!(statements, 0, "{limit}");
    }
    let page = app
        .gql(None, "{ users(first: 1000) { totalCount } }", json!({}))
        .await;
    assert_eq!(code(&page), "UNAUTHENTICATED", "auth is checked first");
}

#[tokio::test]
async fn production_hides_the_schema_and_graphiql() {
    let secret = "p".repeat(40);
    let app = TestApp::spawn_with(&[("APP_ENV", "production"), ("JWT_SECRET", &secret)]).await;

    let introspection = app
        .gql(None, "{ __schema { types { name } } }", json!({}))
        .await;
    let typo = app.gql(None, "{ mee { id } }", json!({})).await;
    let graphiql = app
        .client
        .get(app.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();

    assert_eq!(
        introspection["data"]["__schema"],
        Value::Null,
        "{introspection}"
    );
    assert!(
        !introspection.to_string().contains("AuthPayload"),
        "{introspection}"
    );
    assert!(!typo.to_string().contains("Did you mean"), "{typo}");
    assert_eq!(graphiql.status(), 404);
}

#[tokio::test]
async fn only_json_bodies_are_accepted() {
    let app = TestApp::spawn().await;
    let body = r#"{"query":"{ __typename }"}"#;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let response = app
            .client
            .post(app.url("/graphql"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 415, "{content_type}");
    }
    let json = app
        .client
        .post(app.url("/graphql"))
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 200);
    let batch = app
        .client
        .post(app.url("/graphql"))
        .json(&json!([{ "query": "{ __typename }" }]))
        .send()
        .await
        .unwrap();
    assert_eq!(batch.status(), 400);
    assert_eq!(
        code(&batch.json::<Value>().await.unwrap()),
        "BAD_USER_INPUT"
    );
}

/// Sends raw bytes and returns the status line of the answer.
async fn raw_status(app: &TestApp, head: &str, body: &[u8], pause: Duration) -> String {
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(pause).await;
    let _ = stream.write_all(body).await;
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&answer[..n])
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn an_oversized_chunked_body_is_refused_without_a_content_length() {
    let app = TestApp::spawn().await;
    let chunk = vec![b' '; 16 * 1024];
    let mut body = Vec::new();
    for _ in 0..8 {
        body.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        body.extend_from_slice(&chunk);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let head = "POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";

    let status = raw_status(&app, head, &body, Duration::ZERO).await;

    assert!(status.contains("413"), "{status}");
}

#[tokio::test]
async fn a_request_that_never_finishes_times_out() {
    let app = TestApp::spawn_with(&[("REQUEST_TIMEOUT_SECS", "1")]).await;
    let head = "POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{";

    let status = raw_status(&app, head, b"", Duration::from_millis(1500)).await;

    assert!(status.contains("408"), "{status}");
}

async fn boom() -> &'static str {
    panic!("secret detail")
}

#[tokio::test]
async fn a_panic_is_a_generic_500_and_the_server_keeps_serving() {
    let routes = Router::new()
        .route("/boom", get(boom))
        .route("/ok", get(|| async { "ok" }));
    let router = usergraph::http::with_middleware(routes, Duration::from_secs(5));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let client = reqwest::Client::new();

    let boom = client
        .get(format!("http://{addr}/boom"))
        .send()
        .await
        .unwrap();
    let status = boom.status();
    let body: Value = boom.json().await.unwrap();
    let after = client
        .get(format!("http://{addr}/ok"))
        .send()
        .await
        .unwrap();

    assert_eq!(status, 500);
    assert_eq!(code(&body), "INTERNAL_SERVER_ERROR");
    assert!(!body.to_string().contains("secret detail"), "{body}");
    assert_eq!(after.text().await.unwrap(), "ok");
}

#[tokio::test]
async fn internal_errors_are_masked_and_carry_the_request_id() {
    let app = TestApp::spawn().await;
    let root = app.user_with("root", &[], true).await;
    // Break the storage underneath a resolver.
    app.sql("ALTER TABLE tiers RENAME TO tiers_gone").await;

    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&root.access)
        .json(&json!({ "query": "{ tiers { id } }" }))
        .send()
        .await
        .unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();

    assert_eq!(code(&body), "INTERNAL_SERVER_ERROR", "{body}");
    assert_eq!(body["errors"][0]["message"], "internal server error");
    assert_eq!(
        body["errors"][0]["extensions"]["requestId"],
        request_id.as_str()
    );
    let text = body.to_string().to_lowercase();
    for leak in [
        "select",
        "no such table",
        "does not exist",
        "sql",
        "relation",
    ] {
        assert!(!text.contains(leak), "`{leak}` leaked: {body}");
    }
}

/// `levels` fragments that each spread the one before twice: 2^levels fields
/// once expanded, in about 40 bytes per level.
fn doubling_fragments(levels: usize) -> String {
    let mut doc = format!("query {{ ...F{levels} }} fragment F0 on Query {{ __typename }}");
    for i in 1..=levels {
        doc.push_str(&format!(
            " fragment F{i} on Query {{ ...F{j} ...F{j} }}",
            j = i - 1
        ));
    }
    doc
}

#[tokio::test]
async fn fragments_that_double_at_each_level_are_refused_before_validation() {
    let app = TestApp::spawn().await;
    let document = doubling_fragments(30);
    assert!(document.len() < 1500, "a small document");

    // Unrefused, validation alone would take minutes: the timeout only keeps
    // a regression from hanging the suite.
    let (statements, body) = tokio::time::timeout(
        Duration::from_secs(20),
        app.count_statements(app.gql(None, &document, json!({}))),
    )
    .await
    .expect("answered at once");
    let live = app.get("/health/live").await;

    assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("fragments are expanded"),
        "{body}"
    );
    assert_eq!(statements, 0);
    assert_eq!(live.status(), 200);
    let small = app.gql(None, &doubling_fragments(8), json!({})).await;
    assert_eq!(small["data"]["__typename"], "Query", "{small}");
}

#[tokio::test]
async fn aliased_pages_cost_their_page_size_in_complexity() {
    let app = TestApp::spawn().await;
    let admin = app.user_with("root", &["admin"], false).await;
    let pages = (0..330)
        .map(|i| format!("p{i}: users(first: 100) {{ nodes {{ id }} }}"))
        .collect::<Vec<_>>()
        .join(" ");

    let (statements, body) = app
        .count_statements(app.gql(Some(&admin.access), &format!("{{ {pages} }}"), json!({})))
        .await;
    let one = app
        .gql(
            Some(&admin.access),
            "{ users(first: 100) { nodes { id username email name roles { name } tier { name } createdAt } } }",
            json!({}),
        )
        .await;

    assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "{body}");
    assert!(
        statements <= 2,
        "only the viewer was loaded: {statements} statements"
    );
    assert!(one["data"]["users"]["nodes"].is_array(), "{one}");
}

#[tokio::test]
async fn answers_are_never_cached_or_sniffed_and_graphiql_cannot_be_framed() {
    let app = TestApp::spawn().await;

    let answer = app
        .client
        .post(app.url("/graphql"))
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    let page = app
        .client
        .get(app.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();

    for response in [&answer, &page] {
        let headers = response.headers();
        assert_eq!(headers["cache-control"], "no-store");
        assert_eq!(headers["x-content-type-options"], "nosniff");
    }
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
}

#[tokio::test]
async fn nul_bytes_are_refused_or_match_nothing_and_never_reach_the_database() {
    let app = TestApp::spawn().await;
    let admin = app.user_with("root", &["admin"], true).await;
    let nul = "ali\u{0}ce";
    let cases: [(Option<&str>, &str, Value, &str, &str); 8] = [
        (
            None,
            "mutation($l: String!) { login(input: { login: $l, password: \"tangerine-kettle-42\" }) { accessToken } }",
            json!({ "l": nul }),
            "INVALID_CREDENTIALS",
            "",
        ),
        (
            None,
            "mutation($u: String!) { register(input: { username: $u, email: \"a@example.com\", password: \"tangerine-kettle-42\" }) { accessToken } }",
            json!({ "u": nul }),
            "BAD_USER_INPUT",
            "username",
        ),
        (
            Some(&admin.access),
            "query($u: String!) { userByUsername(username: $u) { id } }",
            json!({ "u": nul }),
            "",
            "",
        ),
        (
            Some(&admin.access),
            "query($u: String!) { userTier(username: $u) { id } }",
            json!({ "u": nul }),
            "",
            "",
        ),
        (
            Some(&admin.access),
            "query($s: String!) { users(filter: { search: $s }) { nodes { id } } }",
            json!({ "s": nul }),
            "BAD_USER_INPUT",
            "search",
        ),
        (
            Some(&admin.access),
            "query($r: String!) { users(filter: { role: $r }) { nodes { id } } }",
            json!({ "r": nul }),
            "BAD_USER_INPUT",
            "role",
        ),
        (
            Some(&admin.access),
            "mutation($a: String!) { updateMe(input: { avatarUrl: $a }) { id } }",
            json!({ "a": "https://example.com/\u{0}.png" }),
            "BAD_USER_INPUT",
            "avatarUrl",
        ),
        (
            Some(&admin.access),
            "mutation($n: String!) { createRole(input: { name: $n, permissions: [] }) { id } }",
            json!({ "n": nul }),
            "BAD_USER_INPUT",
            "name",
        ),
    ];
    for (token, query, variables, expected_code, expected_field) in cases {
        let body = app.gql(token, query, variables).await;
        assert_eq!(code(&body), expected_code, "{query}: {body}");
        assert_eq!(
            crate::helpers::field(&body),
            expected_field,
            "{query}: {body}"
        );
    }
}

#[tokio::test]
async fn many_operations_spreading_one_large_fragment_count_once_each() {
    let app = TestApp::spawn().await;
    let mut document = doubling_fragments(11).replacen("query {", "query q0 {", 1);
    for i in 1..100 {
        document.push_str(&format!(" query q{i} {{ ...F11 }}"));
    }

    let body = app
        .gql_body(None, json!({ "query": document, "operationName": "q0" }))
        .await;

    assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "{body}");
}

#[tokio::test]
async fn aliased_lookups_and_lists_are_charged_for_their_statements_and_rows() {
    let app = TestApp::spawn().await;
    let ann = app.register_as("ann").await;
    let aliases = |field: &str, n: usize| {
        let fields: Vec<String> = (0..n).map(|i| format!("a{i}: {field}")).collect();
        format!("{{ {} }}", fields.join(" "))
    };

    let tiers = app
        .gql(
            Some(&ann.access),
            &aliases("userTier(username: \"ann\") { id }", 1450),
            json!({}),
        )
        .await;
    let sessions = app
        .gql(
            Some(&ann.access),
            &aliases(
                "mySessions { id createdAt lastUsedAt expiresAt ip userAgent current }",
                370,
            ),
            json!({}),
        )
        .await;
    let (statements, few) = app
        .count_statements(app.gql(
            Some(&ann.access),
            &aliases("userTier(username: \"ann\") { id }", 20),
            json!({}),
        ))
        .await;

    assert_eq!(code(&tiers), "QUERY_TOO_COMPLEX", "{tiers}");
    assert_eq!(code(&sessions), "QUERY_TOO_COMPLEX", "{sessions}");
    assert!(few["errors"].is_null(), "{few}");
    assert!(
        statements <= 3,
        "20 lookups batched into one: {statements} statements"
    );
}

/// `interfaces { possibleTypes { … } }` nested eight pairs deep asked for
/// 139 MB of JSON, 3.7 GB of memory and 8 s of CPU, anonymously, in 300
/// bytes; now it is refused before it runs, in development, in production
/// with introspection on, and under trusted documents only, while the full
/// standard query (and two copies of it) still runs.
#[tokio::test]
async fn a_nested_introspection_query_is_refused_before_it_runs() {
    let nested = format!(
        "{{ __schema {{ types {{ {} name {} }} }} }}",
        "interfaces { possibleTypes { ".repeat(8),
        "} } ".repeat(8)
    );
    let aliased: String = (0..40)
        .map(|i| {
            format!("a{i}: __schema {{ types {{ fields {{ args {{ type {{ name }} }} }} }} }} ")
        })
        .collect();
    // Found by review: 650 aliased descriptions per field asked for 39 MB.
    let descriptions: String = (0..650).map(|i| format!("d{i}: description ")).collect();
    let long_strings = format!("{{ __schema {{ types {{ fields {{ {descriptions} }} }} }} }}");
    // ... and beside a data field it ran on the async workers, past the timeout.
    let mixed = format!("{{ me {{ id }} __schema {{ types {{ fields {{ {descriptions} }} }} }} }}");
    let manifest = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(manifest.path(), "{}").unwrap();
    let secret = "p".repeat(40);
    let development = TestApp::spawn().await;
    let production = TestApp::spawn_with(&[
        ("APP_ENV", "production"),
        ("JWT_SECRET", &secret),
        ("INTROSPECTION", "true"),
        ("TRUSTED_DOCUMENTS", manifest.path().to_str().unwrap()),
        ("TRUSTED_DOCUMENTS_ONLY", "true"),
    ])
    .await;
    for app in [&development, &production] {
        for attack in [&nested, &format!("{{ {aliased} }}"), &long_strings, &mixed] {
            let started = std::time::Instant::now();
            let body = app.gql(None, attack, json!({})).await;
            assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "{body}");
            assert!(body["data"].is_null(), "{body}");
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "refused before it ran"
            );
        }
        let full = include_str!("../../../src/http/full_introspection.graphql");
        let body = app.gql(None, full, json!({})).await;
        assert!(body["errors"].is_null(), "{body}");
    }
}
