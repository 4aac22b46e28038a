//! The HTTP surface: health, GraphiQL, GET queries, refused methods and
//! batches, limits, and coded errors for malformed documents.

use serde_json::{Value, json};

use crate::helpers::{TestApp, code};

#[tokio::test]
async fn health_endpoints_report_liveness_and_readiness() {
    let app = TestApp::spawn().await;

    let live = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .unwrap();
    let ready = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();

    assert_eq!(live.status(), 200);
    assert_eq!(live.json::<Value>().await.unwrap()["status"], "ok");
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["database"], "ok");
}

#[tokio::test]
async fn get_without_a_query_serves_graphiql_when_enabled() {
    let enabled = TestApp::spawn().await;
    let disabled = TestApp::spawn_with(&[("GRAPHIQL", "false")]).await;

    let page = enabled
        .client
        .get(enabled.url("/graphql"))
        .send()
        .await
        .unwrap();
    let missing = disabled
        .client
        .get(disabled.url("/graphql"))
        .send()
        .await
        .unwrap();

    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("graphiql"));
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn get_runs_queries_but_refuses_mutations() {
    let app = TestApp::spawn().await;

    let query = app
        .client
        .get(app.url("/graphql?query=%7B__typename%7D"))
        .send()
        .await
        .unwrap();
    let mutation = app
        .client
        .get(app.url("/graphql?query=mutation%7BlogoutAll%7D"))
        .send()
        .await
        .unwrap();

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

    let response = app
        .client
        .get(app.url("/health/live"))
        .send()
        .await
        .unwrap();

    assert!(response.headers().get("x-request-id").is_some());
}

#[tokio::test]
async fn metrics_count_statements_graphql_requests_and_error_answers() {
    let app = TestApp::spawn().await;
    let read = async || {
        let text = app
            .client
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
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
