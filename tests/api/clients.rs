//! What GraphQL clients meet first: GraphiQL from the binary, introspection
//! under the default limits, CORS, GraphQL over HTTP media types and
//! statuses, persisted queries and trusted documents, operation selection,
//! and answers in the selection's order.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{PASSWORD, TestApp, code, field};

/// graphql-js's `getIntrospectionQuery()` with every option on, as
/// GraphiQL, graphql-codegen, Rover and Postman send it.
const INTROSPECTION: &str = include_str!("../../src/http/full_introspection.graphql");

fn sha256(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

async fn post(app: &TestApp, body: Value, accept: Option<&str>) -> reqwest::Response {
    let mut request = app.client.post(app.url("/graphql")).json(&body);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn the_standard_introspection_query_runs_under_the_default_limits() {
    let app = TestApp::spawn().await;

    let body = app.gql(None, INTROSPECTION, json!({})).await;

    assert!(body["errors"].is_null(), "{body}");
    let types = body["data"]["__schema"]["types"].as_array().unwrap();
    let date_time = types.iter().find(|t| t["name"] == "DateTime").unwrap();
    assert_eq!(
        date_time["specifiedByURL"],
        "https://www.rfc-editor.org/rfc/rfc3339"
    );
    assert!(types.iter().any(|t| t["name"] == "User"));
}

#[tokio::test]
async fn introspection_beside_data_fields_keeps_the_limits_and_production_keeps_it_off() {
    let app = TestApp::spawn_with(&[("MAX_QUERY_DEPTH", "3")]).await;
    let deep_type = "{ __type(name: \"User\") { fields { type { ofType { ofType { name } } } } } }";
    let mixed =
        "{ me { id } __type(name: \"User\") { fields { type { ofType { ofType { name } } } } } }";

    assert!(app.gql(None, deep_type, json!({})).await["errors"].is_null());
    assert_eq!(
        code(&app.gql(None, mixed, json!({})).await),
        "QUERY_TOO_COMPLEX"
    );

    let secret = "p".repeat(40);
    let prod = TestApp::spawn_with(&[("APP_ENV", "production"), ("JWT_SECRET", &secret)]).await;
    let hidden = prod.gql(None, INTROSPECTION, json!({})).await;
    assert!(hidden["data"].is_null(), "{hidden}");
    assert_eq!(code(&hidden), "FORBIDDEN", "{hidden}");
    let message = hidden["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("INTROSPECTION"),
        "the error names the setting: {message}"
    );
    let one_type = prod
        .gql(
            None,
            "{ me { id } __type(name: \"User\") { name } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&one_type), "FORBIDDEN", "{one_type}");
    let typename = prod.gql(None, "{ __typename }", json!({})).await;
    assert_eq!(typename["data"]["__typename"], "Query", "{typename}");
}

#[tokio::test]
async fn graphiql_and_every_asset_it_loads_come_from_the_binary() {
    let app = TestApp::spawn().await;

    let page = app
        .client
        .get(app.url("/graphql"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let html = page.text().await.unwrap();

    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    let assets: Vec<&str> = html
        .split('"')
        .filter(|part| part.starts_with("/graphiql/"))
        .collect();
    assert_eq!(assets.len(), 6, "{html}");
    for asset in assets {
        let response = app.get(asset).await;
        assert_eq!(response.status(), 200, "{asset}");
        assert_eq!(
            response.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert!(!response.bytes().await.unwrap().is_empty());
    }
    let stale = app.get("/graphiql/0.0.1/graphiql.min.js").await;
    assert_eq!(stale.status(), 404);
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, app.url("/graphql"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_development_server_lets_local_origins_call_it_and_no_others() {
    let app = TestApp::spawn().await;

    let local = preflight(&app, "http://localhost:5173").await;
    let foreign = preflight(&app, "https://evil.example").await;
    let call = app
        .client
        .post(app.url("/graphql"))
        .header("origin", "http://127.0.0.1:3000")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();

    assert_eq!(local.status(), 204);
    assert_eq!(
        local.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    let allowed = local.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"));
    assert!(local.headers().contains_key("access-control-max-age"));
    assert!(
        !foreign
            .headers()
            .contains_key("access-control-allow-origin")
    );
    assert_eq!(
        call.headers()["access-control-allow-origin"],
        "http://127.0.0.1:3000"
    );
    assert!(
        call.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("x-request-id")
    );
}

#[tokio::test]
async fn configured_origins_are_the_only_ones_allowed() {
    let app = TestApp::spawn_with(&[("CORS_ALLOWED_ORIGINS", "https://app.example.com")]).await;

    let listed = preflight(&app, "https://app.example.com").await;
    let local = preflight(&app, "http://localhost:5173").await;

    assert_eq!(
        listed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(!local.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn a_preflight_allows_the_tracing_headers_and_the_configured_ones() {
    let app = TestApp::spawn_with(&[("CORS_ALLOWED_HEADERS", "x-tenant, X-Feature-Flags")]).await;
    let asking = |headers: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/graphql"))
            .header("origin", "http://localhost:5173")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", headers)
            .send()
    };

    let traced = asking(
        "content-type, traceparent, tracestate, baggage, sentry-trace, x-tenant, x-feature-flags",
    )
    .await
    .unwrap();

    assert_eq!(traced.status(), 204);
    let allowed = traced.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    for header in [
        "traceparent",
        "tracestate",
        "baggage",
        "sentry-trace",
        "x-tenant",
        "x-feature-flags",
    ] {
        assert!(allowed.contains(header), "{header} not allowed: {allowed}");
    }
    assert!(!allowed.contains("x-other"), "{allowed}");
}

#[tokio::test]
async fn answers_use_the_media_type_and_statuses_the_client_accepts() {
    let app = TestApp::spawn().await;
    let ok = json!({ "query": "{ __typename }" });
    let invalid = json!({ "query": "{ nope }" });

    let modern = post(&app, ok.clone(), Some("application/graphql-response+json")).await;
    let legacy = post(&app, ok.clone(), Some("application/json")).await;
    let unspecified = post(&app, ok.clone(), None).await;
    let modern_invalid = post(
        &app,
        invalid.clone(),
        Some("application/graphql-response+json"),
    )
    .await;
    let legacy_invalid = post(&app, invalid, Some("application/json")).await;
    let html_only = post(&app, ok, Some("text/html")).await;
    let no_query = post(&app, json!({ "qeury": "{ __typename }" }), None).await;

    let media = |r: &reqwest::Response| r.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(media(&modern), "application/graphql-response+json");
    assert_eq!(media(&legacy), "application/json");
    assert_eq!(media(&unspecified), "application/json");
    assert_eq!(modern_invalid.status(), 400);
    assert_eq!(legacy_invalid.status(), 200);
    assert_eq!(html_only.status(), 406);
    assert_eq!(no_query.status(), 400);
    let batch = post(
        &app,
        json!([{ "query": "{ __typename }" }]),
        Some("application/graphql-response+json"),
    )
    .await;
    assert_eq!(batch.status(), 400);
    assert_eq!(media(&batch), "application/graphql-response+json");
    let batch_body = batch.text().await.unwrap();
    assert!(!batch_body.contains("\"data\""), "{batch_body}");
    let refused = modern_invalid.text().await.unwrap();
    assert!(
        !refused.contains("\"data\""),
        "a request that never ran has no data: {refused}"
    );
}

#[tokio::test]
async fn only_the_named_operation_counts_toward_the_per_request_rules() {
    let app = TestApp::spawn().await;
    app.register_as("nia").await;
    let document = format!(
        "mutation Register {{ register(input: {{ username: \"x1\", email: \"x1@example.com\", password: \"{PASSWORD}\" }}) {{ accessToken }} }} \
         mutation Login {{ login(input: {{ login: \"nia\", password: \"{PASSWORD}\" }}) {{ accessToken }} }}"
    );

    let login = post(
        &app,
        json!({ "query": document, "operationName": "Login" }),
        None,
    )
    .await
    .json::<Value>()
    .await
    .unwrap();
    let get_mutation = app
        .client
        .get(app.url("/graphql"))
        .query(&[("query", document.as_str()), ("operationName", "Login")])
        .send()
        .await
        .unwrap();

    assert!(login["data"]["login"]["accessToken"].is_string(), "{login}");
    assert_eq!(get_mutation.status(), 405);
}

#[tokio::test]
async fn answers_keep_the_order_of_the_selection() {
    let app = TestApp::spawn().await;
    let ann = app.register_as("ann").await;

    let text = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(&ann.access)
        .json(&json!({ "query": "{ tiers { id } me { username id } roles { name } ...F } fragment F on Query { mySessions { id } }" }))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    // serde_json's map sorts keys, so the order is read from the text itself.
    let at = |key: &str| {
        text.find(&format!("\"{key}\":"))
            .unwrap_or_else(|| panic!("{key}: {text}"))
    };
    let root = [at("tiers"), at("me"), at("roles"), at("mySessions")];
    assert!(root.is_sorted(), "{text}");
    assert!(
        at("username") < text.find("\"id\":\"usr_").unwrap(),
        "{text}"
    );
}

#[tokio::test]
async fn automatic_persisted_queries_follow_apollos_protocol_over_post_and_get() {
    let app = TestApp::spawn().await;
    let query = "query Typename { __typename }";
    let hash = sha256(query);
    let apq = json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } });

    let unknown = app.gql_body(None, json!({ "extensions": apq })).await;
    let registered = app
        .gql_body(None, json!({ "query": query, "extensions": apq }))
        .await;
    let by_hash = app.gql_body(None, json!({ "extensions": apq })).await;
    let over_get: Value = app
        .client
        .get(app.url("/graphql"))
        .query(&[("extensions", apq.to_string())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mismatch = app
        .gql_body(None, json!({ "query": "{ me { id } }", "extensions": apq }))
        .await;

    assert_eq!(code(&unknown), "PERSISTED_QUERY_NOT_FOUND", "{unknown}");
    assert_eq!(unknown["errors"][0]["message"], "PersistedQueryNotFound");
    for body in [&registered, &by_hash, &over_get] {
        assert_eq!(body["data"]["__typename"], "Query", "{body}");
    }
    assert_eq!(code(&mismatch), "BAD_USER_INPUT");
    assert_eq!(field(&mismatch), "persistedQuery");
}

#[tokio::test]
async fn with_trusted_documents_only_nothing_else_runs_but_introspection() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = "query Me { me { id } }";
    let manifest = dir.path().join("persisted-documents.json");
    std::fs::write(&manifest, json!({ sha256(trusted): trusted }).to_string()).unwrap();
    let app = TestApp::spawn_with(&[
        ("TRUSTED_DOCUMENTS", manifest.to_str().unwrap()),
        ("TRUSTED_DOCUMENTS_ONLY", "true"),
    ])
    .await;
    // Signed in through the service: `register` is not a trusted document.
    let pia = app.user_with("pia", &[], false).await.access;
    let by_hash = json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": sha256(trusted) } } });

    let known = app.gql_body(Some(&pia), by_hash).await;
    let as_text = app.gql(Some(&pia), trusted, json!({})).await;
    let other = app.gql(Some(&pia), "{ me { username } }", json!({})).await;
    let schema = app.gql(None, INTROSPECTION, json!({})).await;

    assert!(known["data"]["me"]["id"].is_string(), "{known}");
    assert!(as_text["data"]["me"]["id"].is_string(), "{as_text}");
    assert_eq!(code(&other), "PERSISTED_QUERY_NOT_FOUND", "{other}");
    assert!(schema["errors"].is_null());
}
