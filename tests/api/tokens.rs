//! Bearer tokens at the edge: a bad token is an error, never anonymous.

use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use crate::helpers::{JWT_SECRET, TestApp, code};

fn forge(claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

async fn status_and_code(app: &TestApp, token: &str) -> (u16, String) {
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": "{ me { id } }" }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    (status, code(&body).to_owned())
}

#[tokio::test]
async fn an_expired_access_token_is_token_expired() {
    let app = TestApp::spawn().await;
    let kim = app.register_as("kim").await;
    let claims: serde_json::Value = {
        let payload = kim.access.split('.').nth(1).unwrap();
        use base64::Engine;
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };
    let now = chrono::Utc::now().timestamp();
    let expired = forge(
        json!({ "sub": claims["sub"], "sid": claims["sid"], "iat": now - 120, "exp": now - 60,
                                "iss": "usergraph", "aud": "usergraph" }),
    );

    assert_eq!(
        status_and_code(&app, &expired).await,
        (401, "TOKEN_EXPIRED".into())
    );
}

#[tokio::test]
async fn a_malformed_tampered_or_foreign_token_is_token_invalid() {
    let app = TestApp::spawn().await;
    let lee = app.register_as("lee").await;
    let mut parts: Vec<&str> = lee.access.split('.').collect();
    let tampered_sig = format!("{}x", parts[2]);
    parts[2] = &tampered_sig;
    let tampered = parts.join(".");
    let foreign = jsonwebtoken::encode(
        &Header::default(),
        &json!({ "sub": lee.id, "sid": "ses_x", "iat": 0, "exp": 4102444800i64, "iss": "usergraph", "aud": "usergraph" }),
        &EncodingKey::from_secret(b"another-secret-another-secret-0000"),
    )
    .unwrap();
    let no_audience = forge(
        json!({ "sub": lee.id, "sid": "ses_x", "iat": 0, "exp": 4102444800i64, "iss": "usergraph" }),
    );

    for token in [
        "garbage",
        tampered.as_str(),
        foreign.as_str(),
        no_audience.as_str(),
    ] {
        assert_eq!(
            status_and_code(&app, token).await,
            (401, "TOKEN_INVALID".into()),
            "{token}"
        );
    }
}

#[tokio::test]
async fn a_token_of_a_suspended_or_deleted_user_stops_working_at_once() {
    let app = TestApp::spawn().await;
    let mae = app.register_as("mae").await;
    let ned = app.register_as("ned").await;
    app.sql("UPDATE users SET status = 'suspended' WHERE username = 'mae'")
        .await;
    app.sql("UPDATE users SET deleted_at = created_at WHERE username = 'ned'")
        .await;

    assert_eq!(code(&app.me(&mae.access).await), "ACCOUNT_DISABLED");
    assert_eq!(code(&app.me(&ned.access).await), "UNAUTHENTICATED");
}

#[tokio::test]
async fn without_a_token_me_is_unauthenticated() {
    let app = TestApp::spawn().await;

    let body = app.gql(None, "{ me { id } }", json!({})).await;

    assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
}
