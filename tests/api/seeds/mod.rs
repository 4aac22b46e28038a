//! The five REST APIs the contract unifies (`docs/rest-mapping.md`), each
//! replayed call by call as GraphQL: its create, list with its parameters,
//! get, update, delete and its special calls, checking that each answer
//! carries what the seed's response carries.

mod blog;
mod boilerplate;
mod django;
mod management;
mod rbac;

use serde_json::Value;

use crate::helpers::TestApp;

/// The answer of a call that must succeed: the value of its one root field.
async fn call(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let body = app.gql(Some(token), query, variables).await;
    assert!(body["errors"].is_null(), "{query}: {body}");
    body["data"]
        .as_object()
        .and_then(|data| data.values().next())
        .unwrap_or_else(|| panic!("{query}: {body}"))
        .clone()
}

/// Asserts that `object` has every one of `fields` set (not null).
fn carries(object: &Value, fields: &[&str]) {
    for f in fields {
        assert!(!object[*f].is_null(), "`{f}` missing from {object}");
    }
}
