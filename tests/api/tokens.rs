//! Tokens: a bad bearer token is an error, never anonymous (RFC 8725: one
//! algorithm, every claim required and checked, a 5-second leeway), and
//! refresh rotation (RFC 9700 §4.14) that cannot fork, cannot outlive a
//! revocation, and forgives a second tab within the reuse interval.

use base64::Engine;
use futures::future::join_all;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{Account, JWT_SECRET, TestApp, account, code};

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

fn claims_of(account: &Account) -> Value {
    let payload = account.access.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

fn sign(header: Header, claims: &Value) -> String {
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn forged_or_malformed_claims_are_token_invalid() {
    let app = TestApp::spawn().await;
    let joe = app.register_as("joe").await;
    let good = claims_of(&joe);
    let now = chrono::Utc::now().timestamp();
    let with = |key: &str, value: Value| {
        let mut claims = good.clone();
        claims[key] = value;
        claims
    };
    let without = |key: &str| {
        let mut claims = good.clone();
        claims.as_object_mut().unwrap().remove(key);
        claims
    };
    let hs256 = || Header::new(Algorithm::HS256);
    let unsigned = {
        let encode =
            |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.",
            encode(&json!({ "alg": "none", "typ": "JWT" })),
            encode(&good)
        )
    };
    let cases = [
        (
            "a control: the same claims, properly signed",
            sign(hs256(), &good),
            "ok",
        ),
        ("alg none", unsigned, "TOKEN_INVALID"),
        (
            "another HMAC algorithm",
            sign(Header::new(Algorithm::HS384), &good),
            "TOKEN_INVALID",
        ),
        (
            "wrong issuer",
            sign(hs256(), &with("iss", json!("evil"))),
            "TOKEN_INVALID",
        ),
        ("no issuer", sign(hs256(), &without("iss")), "TOKEN_INVALID"),
        (
            "wrong audience",
            sign(hs256(), &with("aud", json!("other-service"))),
            "TOKEN_INVALID",
        ),
        (
            "no audience",
            sign(hs256(), &without("aud")),
            "TOKEN_INVALID",
        ),
        (
            "no subject",
            sign(hs256(), &without("sub")),
            "TOKEN_INVALID",
        ),
        (
            "no session",
            sign(hs256(), &without("sid")),
            "TOKEN_INVALID",
        ),
        (
            "no issued-at",
            sign(hs256(), &without("iat")),
            "TOKEN_INVALID",
        ),
        (
            "issued in the future",
            sign(hs256(), &with("iat", json!(now + 600))),
            "TOKEN_INVALID",
        ),
        (
            "not valid before a future time",
            sign(hs256(), &with("nbf", json!(now + 600))),
            "TOKEN_INVALID",
        ),
        (
            "expired beyond the 5 s leeway",
            sign(hs256(), &with("exp", json!(now - 10))),
            "TOKEN_EXPIRED",
        ),
        (
            "another user's session",
            sign(
                hs256(),
                &with("sub", json!("usr_0190000000007000800000000000beef")),
            ),
            "UNAUTHENTICATED",
        ),
    ];
    for (case, token, expected) in cases {
        let body = app.me(&token).await;
        let got = if body["errors"].is_null() {
            "ok"
        } else {
            code(&body)
        };
        assert_eq!(got, expected, "{case}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_refreshes_of_one_token_yield_one_new_token() {
    let app = TestApp::spawn().await;
    let kit = app.register_as("kit").await;

    let bodies = join_all((0..16).map(|_| app.refresh(&kit.refresh))).await;

    let winners: Vec<&Value> = bodies.iter().filter(|b| b["errors"].is_null()).collect();
    assert_eq!(winners.len(), 1, "{bodies:?}");
    assert!(
        bodies
            .iter()
            .filter(|b| !b["errors"].is_null())
            .all(|b| code(b) == "TOKEN_INVALID")
    );
    // The losers presented a token that had just been rotated: reuse, so the chain ended.
    let new = account(&winners[0]["data"]["refreshToken"]).unwrap();
    assert_eq!(code(&app.refresh(&new.refresh).await), "TOKEN_INVALID");
}

#[tokio::test]
async fn a_session_has_an_absolute_lifetime_however_often_it_is_refreshed() {
    let app = TestApp::spawn_with(&[("SESSION_MAX_LIFETIME_SECS", "2")]).await;
    let lia = app.register_as("lia").await;
    let refreshed = account(&app.refresh(&lia.refresh).await["data"]["refreshToken"])
        .expect("refresh within the lifetime");

    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;

    assert_eq!(
        code(&app.refresh(&refreshed.refresh).await),
        "TOKEN_EXPIRED"
    );
    assert_eq!(code(&app.me(&refreshed.access).await), "UNAUTHENTICATED");
}

#[test]
fn a_secret_shorter_than_32_bytes_refuses_to_start() {
    let err =
        usergraph::config::Config::from_lookup(|k| (k == "JWT_SECRET").then(|| "x".repeat(31)))
            .unwrap_err();
    assert!(err.to_string().contains("32 bytes"), "{err}");
}

/// The refresh tokens of `user`'s sessions that could still be refreshed.
async fn live_links(app: &TestApp, user: &str) -> u64 {
    use entity::session;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let id = usergraph::ids::decode(usergraph::ids::USER, user, "id").unwrap();
    session::Entity::find()
        .filter(session::Column::UserId.eq(id))
        .filter(session::Column::RotatedAt.is_null())
        .filter(session::Column::RevokedAt.is_null())
        .count(app.db())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_session_outlives_a_revocation_that_races_its_refresh() {
    let app = TestApp::spawn().await;
    let root = app.user_with("root", &[], true).await;
    for round in 0..12 {
        let victim = app.user_with(&format!("victim{round}"), &[], false).await;
        let model = usergraph::service::users::find(
            app.db(),
            usergraph::ids::decode(usergraph::ids::USER, &victim.id, "id").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
        let mut chains = vec![victim.refresh.clone()];
        for _ in 0..2 {
            let tokens = usergraph::service::access::start(
                app.db(),
                &app.ctx,
                model.clone(),
                &Default::default(),
            )
            .await
            .unwrap();
            chains.push(tokens.refresh_token);
        }
        let (how, query, token, variables) = match round % 3 {
            0 => (
                "logoutAll",
                "mutation { logoutAll }",
                &victim.access,
                json!({}),
            ),
            1 => (
                "suspension",
                "mutation($id: ID!) { setUserStatus(id: $id, status: SUSPENDED) { id } }",
                &root.access,
                json!({ "id": victim.id }),
            ),
            _ => (
                "password reset by an admin",
                "mutation($id: ID!) { updateUser(id: $id, input: { password: \"a-brand-new-secret-77\" }) { id } }",
                &root.access,
                json!({ "id": victim.id }),
            ),
        };

        let (revoked, refreshed) = tokio::join!(
            app.gql(Some(token), query, variables),
            join_all(chains.iter().map(|t| app.refresh(t))),
        );

        assert!(revoked["errors"].is_null(), "{how}: {revoked}");
        assert_eq!(
            live_links(&app, &victim.id).await,
            0,
            "round {round}, {how}: a session survived; refreshes: {refreshed:?}"
        );
        for body in &refreshed {
            if let Some(new) = account(&body["data"]["refreshToken"]) {
                assert!(!app.refresh(&new.refresh).await["errors"].is_null());
                assert!(!app.me(&new.access).await["errors"].is_null());
            }
        }
    }
}

#[tokio::test]
async fn within_the_reuse_interval_a_rotated_token_returns_its_live_successor() {
    let app = TestApp::spawn_with(&[("REFRESH_REUSE_INTERVAL_SECS", "30")]).await;
    let ivy = app.register_as("ivy").await;

    let first = account(&app.refresh(&ivy.refresh).await["data"]["refreshToken"]).unwrap();
    let again = account(&app.refresh(&ivy.refresh).await["data"]["refreshToken"])
        .expect("the second tab's refresh succeeds");

    assert_eq!(again.refresh, first.refresh, "the same successor");
    assert!(app.me(&again.access).await["errors"].is_null());
    let next = account(&app.refresh(&first.refresh).await["data"]["refreshToken"]).unwrap();
    // The successor was rotated in turn: presenting the first token is reuse now.
    assert_eq!(code(&app.refresh(&ivy.refresh).await), "TOKEN_INVALID");
    assert_eq!(code(&app.refresh(&next.refresh).await), "TOKEN_INVALID");
}

#[tokio::test]
async fn without_a_reuse_interval_a_second_refresh_of_one_token_ends_the_session() {
    let app = TestApp::spawn().await;
    let max = app.register_as("max").await;
    let first = account(&app.refresh(&max.refresh).await["data"]["refreshToken"]).unwrap();

    assert_eq!(code(&app.refresh(&max.refresh).await), "TOKEN_INVALID");
    assert_eq!(code(&app.refresh(&first.refresh).await), "TOKEN_INVALID");
}

/// The token of `account`, forged to have expired a minute ago.
fn expired_token_of(account: &Account) -> String {
    let payload = account.access.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    let now = chrono::Utc::now().timestamp();
    forge(
        json!({ "sub": claims["sub"], "sid": claims["sid"], "iat": now - 120, "exp": now - 60,
                  "iss": "usergraph", "aud": "usergraph" }),
    )
}

/// A refused token answers in the media type the client accepts, so a
/// GraphQL client (Apollo Client 4, urql) reads `extensions.code` instead
/// of a bare 401.
#[tokio::test]
async fn a_refused_token_answers_in_the_media_type_the_client_accepts() {
    let app = TestApp::spawn().await;
    let kim = app.register_as("kim").await;
    let expired = expired_token_of(&kim);
    for (accept, media) in [
        (
            "application/graphql-response+json, application/json;q=0.9",
            "application/graphql-response+json",
        ),
        ("application/json", "application/json"),
    ] {
        let response = app
            .client
            .post(app.url("/graphql"))
            .bearer_auth(&expired)
            .header("accept", accept)
            .json(&json!({ "query": "{ me { id } }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["content-type"], media);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.unwrap();
        assert_eq!(code(&body), "TOKEN_EXPIRED", "{body}");
        assert!(body.get("data").is_none(), "{body}");
    }
}

/// A frontend that forgets to clear its `Authorization` header can still
/// sign in, register and refresh: operations that sign in on their own
/// arguments ignore a token that no longer works. Anything else is refused.
#[tokio::test]
async fn a_stale_authorization_header_does_not_stop_signing_in_again() {
    let app = TestApp::spawn().await;
    let kim = app.register_as("kim").await;
    let expired = expired_token_of(&kim);
    let revoked = kim.access.clone();
    app.gql(Some(&kim.access), "mutation { logoutAll }", json!({}))
        .await;
    let garbage = "not-a-token".to_owned();
    for (stale, refused) in [
        (&expired, "TOKEN_EXPIRED"),
        (&revoked, "UNAUTHENTICATED"),
        (&garbage, "TOKEN_INVALID"),
    ] {
        let login = app
            .gql(
                Some(stale),
                crate::helpers::LOGIN,
                json!({ "input": { "login": "kim", "password": crate::helpers::PASSWORD } }),
            )
            .await;
        let signed_in = account(&login["data"]["login"]).unwrap_or_else(|| panic!("{login}"));
        let refreshed = app
            .gql(
                Some(stale),
                crate::helpers::REFRESH,
                json!({ "token": signed_in.refresh }),
            )
            .await;
        assert!(refreshed["errors"].is_null(), "{refreshed}");
        assert_eq!(
            code(&app.gql(Some(stale), "{ me { id } }", json!({})).await),
            refused
        );
    }
    let registered = app
        .gql(
            Some(&expired),
            crate::helpers::REGISTER,
            json!({ "input": { "username": "lou", "email": "lou@example.com", "password": crate::helpers::PASSWORD } }),
        )
        .await;
    assert!(registered["errors"].is_null(), "{registered}");
    // Mixed with anything else, the stale token is refused.
    let mixed = app
        .gql(
            Some(&expired),
            "mutation($i: LoginInput!) { login(input: $i) { accessToken } logoutAll }",
            json!({ "i": { "login": "kim", "password": crate::helpers::PASSWORD } }),
        )
        .await;
    assert_eq!(code(&mixed), "TOKEN_EXPIRED", "{mixed}");
}
