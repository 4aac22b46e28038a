//! Tokens other services verify: asymmetric keys made at start and shared
//! by every replica through the database, published as a JWKS, rotated and
//! retired; the claims for the engines beside usergraph.

use base64::Engine;
use jsonwebtoken::{DecodingKey, Validation, jwk::JwkSet};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, code};

/// The JWKS a replica at `addr` publishes, with its Cache-Control.
async fn jwks(client: &reqwest::Client, addr: std::net::SocketAddr) -> (JwkSet, String) {
    let response = client
        .get(format!("http://{addr}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cache = response.headers()["cache-control"]
        .to_str()
        .unwrap()
        .to_owned();
    (response.json().await.unwrap(), cache)
}

fn header(token: &str) -> jsonwebtoken::Header {
    jsonwebtoken::decode_header(token).unwrap()
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// Verifies `token` as another service would, with the JWKS alone: the
/// README shows this function as it is (a test below holds it).
// README: Rust
// Rust: verify a usergraph access token with its published keys
// (jsonwebtoken 10 with its `rust_crypto` or `aws_lc_rs` feature). Fetch the
// set from {PUBLIC_URL}/.well-known/jwks.json, keep it up to 5 minutes, and
// fetch it again when a token names a kid it does not have (at most every
// 30 seconds or so: a token can name any kid).
fn verify(set: &JwkSet, token: &str, issuer: &str) -> jsonwebtoken::errors::Result<Value> {
    use jsonwebtoken::errors::ErrorKind;
    let header = jsonwebtoken::decode_header(token)?;
    let jwk = header
        .kid
        .as_deref()
        .and_then(|kid| set.find(kid))
        .ok_or(ErrorKind::InvalidToken)?;
    // The key's own algorithm, never the one the token's header claims.
    let algorithm: jsonwebtoken::Algorithm = jwk
        .common
        .key_algorithm
        .ok_or(ErrorKind::InvalidAlgorithm)?
        .to_string()
        .parse()?;
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&["usergraph"]);
    let key = DecodingKey::from_jwk(jwk)?;
    Ok(jsonwebtoken::decode::<Value>(token, &key, &validation)?.claims)
}
// README: end

#[test]
fn the_readme_shows_the_rust_verifier_as_it_is() {
    let source = include_str!("signing_keys.rs");
    let snippet = source
        .split("// README: Rust\n")
        .nth(1)
        .and_then(|rest| rest.split("// README: end").next())
        .unwrap()
        .trim();
    let readme = include_str!("../../README.md");
    assert!(
        readme.contains(snippet),
        "README.md does not show tests/api/signing_keys.rs's verify as it is"
    );
}

async fn me(app_addr: std::net::SocketAddr, token: &str) -> Value {
    reqwest::Client::new()
        .post(format!("http://{app_addr}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": "{ me { username } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn each_asymmetric_algorithm_signs_tokens_the_jwks_verifies() {
    for algorithm in ["EdDSA", "ES256", "RS256"] {
        let app = TestApp::spawn_with(&[
            ("JWT_ALGORITHM", algorithm),
            ("PUBLIC_URL", "https://id.example.com"),
        ])
        .await;
        let ann = app.register_as("ann").await;

        let (set, cache) = jwks(&app.client, app.addr).await;
        let discovery: Value = app
            .get("/.well-known/openid-configuration")
            .await
            .json()
            .await
            .unwrap();

        assert_eq!(format!("{:?}", header(&ann.access).alg), algorithm);
        assert_eq!(
            set.keys.len(),
            2,
            "the active key and the next: {algorithm}"
        );
        assert_eq!(cache, "public, max-age=300");
        let claims = verify(&set, &ann.access, "https://id.example.com")
            .unwrap_or_else(|e| panic!("{algorithm}: {e}"));
        assert_eq!(claims["sub"], ann.id.as_str());
        assert_eq!(discovery["issuer"], "https://id.example.com");
        assert_eq!(
            discovery["jwks_uri"],
            "https://id.example.com/.well-known/jwks.json"
        );
        assert_eq!(
            discovery["id_token_signing_alg_values_supported"],
            json!([algorithm])
        );
        assert!(me(app.addr, &ann.access).await["errors"].is_null());
    }
}

#[tokio::test]
async fn hs256_publishes_no_key_and_its_tokens_name_their_secret() {
    let app = TestApp::spawn().await;
    let ann = app.register_as("ann").await;

    let (set, _) = jwks(&app.client, app.addr).await;

    assert!(set.keys.is_empty());
    assert_eq!(header(&ann.access).alg, jsonwebtoken::Algorithm::HS256);
    assert_eq!(
        header(&ann.access).kid.as_deref(),
        Some(app.ctx.jwt.active_kid().as_str())
    );
}

#[tokio::test]
async fn a_rotation_on_one_replica_applies_to_the_next_token_on_another() {
    let app = TestApp::spawn_with(&[("JWT_ALGORITHM", "EdDSA")]).await;
    let other = app.spawn_replica().await;
    let root = app.superuser("root").await;
    app.register_as("ann").await;
    let before = login_on(other.addr, "ann").await;
    let old_kid = header(&before).kid.unwrap();
    // What a verifier cached before the rotation.
    let (cached, _) = jwks(&app.client, app.addr).await;
    let too_soon = app
        .gql(
            Some(&root.access),
            "mutation { rotateSigningKey { kid } }",
            json!({}),
        )
        .await;
    assert_eq!(
        code(&too_soon),
        "CONFLICT",
        "the next key is brand new: {too_soon}"
    );
    age_next_key(&app).await;

    let rotated = app
        .gql(
            Some(&root.access),
            "mutation { rotateSigningKey { id kid algorithm state retiresAt } }",
            json!({}),
        )
        .await;
    let new_kid = rotated["data"]["rotateSigningKey"]["kid"]
        .as_str()
        .unwrap_or_else(|| panic!("{rotated}"))
        .to_owned();
    let after = login_on(other.addr, "ann").await;

    assert_ne!(new_kid, old_kid);
    assert_eq!(rotated["data"]["rotateSigningKey"]["state"], "ACTIVE");
    assert!(
        rotated["data"]["rotateSigningKey"]["id"]
            .as_str()
            .unwrap()
            .starts_with("sgk_")
    );
    assert_eq!(
        header(&after).kid.as_deref(),
        Some(new_kid.as_str()),
        "the other replica signs with the new key at once"
    );
    assert!(
        verify(&cached, &after, &app.ctx.config.jwt_issuer).is_ok(),
        "the new key was published before it signed"
    );
    // The old key still verifies, on both, and both publish both keys.
    for addr in [app.addr, other.addr] {
        assert!(me(addr, &before).await["errors"].is_null());
        assert!(me(addr, &after).await["errors"].is_null());
        let (set, _) = jwks(&app.client, addr).await;
        assert!(set.find(&old_kid).is_some() && set.find(&new_kid).is_some());
    }
    let keys = app
        .gql(
            Some(&root.access),
            "{ signingKeys { kid state retiresAt } }",
            json!({}),
        )
        .await;
    let keys = keys["data"]["signingKeys"].as_array().unwrap().clone();
    let in_state = |state: &str| {
        keys.iter()
            .find(|k| k["state"] == state)
            .unwrap_or_else(|| panic!("no {state} key: {keys:?}"))
    };
    assert_eq!(keys.len(), 3);
    assert_eq!(in_state("ACTIVE")["kid"], new_kid.as_str());
    assert_eq!(in_state("VERIFY_ONLY")["kid"], old_kid.as_str());
    assert!(in_state("NEXT")["retiresAt"].is_null());
    assert!(in_state("VERIFY_ONLY")["retiresAt"].is_string());
    let audited = app
        .gql(
            Some(&root.access),
            "{ auditEvents(filter: { actions: [\"signing_key.rotated\"] }) { nodes { targetId changes } } }",
            json!({}),
        )
        .await;
    let event = &audited["data"]["auditEvents"]["nodes"][0];
    assert_eq!(event["changes"]["kid"]["old"], old_kid.as_str());
    assert_eq!(event["changes"]["kid"]["new"], new_kid.as_str());
}

/// A replica that has not read the keys since a rotation elsewhere meets
/// many tokens of the new key at once: one reload, and every one verifies.
#[tokio::test]
async fn tokens_of_a_key_a_replica_has_not_loaded_all_verify_at_once() {
    let app = TestApp::spawn_with(&[("JWT_ALGORITHM", "EdDSA")]).await;
    let other = app.spawn_replica().await;
    let root = app.superuser("root").await;
    app.register_as("ann").await;
    // Twice: the second makes active a key made after the replica loaded.
    for _ in 0..2 {
        age_next_key(&app).await;
        let body = app
            .gql(
                Some(&root.access),
                "mutation { rotateSigningKey { kid } }",
                json!({}),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let token = login_on(app.addr, "ann").await;

    let answers = futures::future::join_all((0..16).map(|_| me(other.addr, &token))).await;

    for answer in answers {
        assert!(answer["errors"].is_null(), "{answer}");
    }
}

/// Concurrent rotations never fail inside: each succeeds or is CONFLICT,
/// and one key is active and one next afterwards.
#[tokio::test]
async fn racing_rotations_leave_one_active_key_and_one_next() {
    let app = TestApp::spawn_with(&[("JWT_ALGORITHM", "EdDSA")]).await;
    let root = app.superuser("root").await;
    age_next_key(&app).await;

    let answers = futures::future::join_all((0..6).map(|_| {
        app.gql(
            Some(&root.access),
            "mutation { rotateSigningKey { kid } }",
            json!({}),
        )
    }))
    .await;
    let keys = app
        .gql(Some(&root.access), "{ signingKeys { state } }", json!({}))
        .await;

    assert!(answers.iter().any(|a| a["errors"].is_null()));
    for answer in &answers {
        assert!(
            answer["errors"].is_null() || code(answer) == "CONFLICT",
            "{answer}"
        );
    }
    let states: Vec<&str> = keys["data"]["signingKeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states.iter().filter(|s| **s == "ACTIVE").count(),
        1,
        "{states:?}"
    );
    assert_eq!(
        states.iter().filter(|s| **s == "NEXT").count(),
        1,
        "{states:?}"
    );
}

/// During a rolling change of JWT_ALGORITHM back to HS256, a replica on
/// HS256 leaves the shared keys alone: the replicas still on EdDSA (with a
/// generated key or a key file) keep signing with the same key, and their
/// tokens verify on both (found by review: they answered 500).
#[tokio::test]
async fn a_replica_started_with_hs256_leaves_the_others_their_key() {
    let pair =
        usergraph::auth::signing::KeyPair::generate(usergraph::auth::signing::Algorithm::EdDsa)
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signing.pem");
    write_pem(&path, &pair);
    for file in [None, Some(path.to_str().unwrap())] {
        let mut settings = vec![("JWT_ALGORITHM", "EdDSA")];
        if let Some(file) = file {
            settings.push(("JWT_PRIVATE_KEY_FILE", file));
        }
        let app = TestApp::spawn_with(&settings).await;
        app.register_as("ann").await;
        let before = login_on(app.addr, "ann").await;

        let hs256 = [("JWT_ALGORITHM", "HS256"), ("JWT_PRIVATE_KEY_FILE", "")];
        app.try_start_with(if file.is_some() { &hs256 } else { &hs256[..1] })
            .await
            .unwrap();
        usergraph::service::signing::reload(app.db(), &app.ctx)
            .await
            .unwrap();
        let after = login_on(app.addr, "ann").await;

        assert_eq!(header(&after).kid, header(&before).kid, "{file:?}");
        assert!(me(app.addr, &before).await["errors"].is_null());
        assert!(me(app.addr, &after).await["errors"].is_null());
        // And the key file's replica still starts.
        app.try_start_with(&[]).await.unwrap();
    }
}

/// Backdates the next key as if it had been published for 10 minutes (the
/// test's stand-in for waiting out the key set's caches).
pub async fn age_next_key(app: &TestApp) {
    use entity::signing_key;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
    signing_key::Entity::update_many()
        .col_expr(
            signing_key::Column::CreatedAt,
            Expr::value(chrono::Utc::now() - chrono::Duration::minutes(10)),
        )
        .filter(signing_key::Column::State.eq(signing_key::State::Next))
        .exec(app.db())
        .await
        .unwrap();
}

async fn login_on(addr: std::net::SocketAddr, username: &str) -> String {
    let body: Value = reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .json(&json!({ "query": crate::helpers::LOGIN, "variables": { "input": { "login": username, "password": PASSWORD } } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"]["login"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned()
}

#[tokio::test]
async fn a_replaced_key_stops_verifying_and_leaves_the_jwks_once_it_retires() {
    let app = TestApp::spawn_with(&[("JWT_ALGORITHM", "ES256")]).await;
    let root = app.superuser("root").await;
    let ann = app.register_as("ann").await;
    let old_kid = header(&ann.access).kid.unwrap();
    age_next_key(&app).await;
    app.gql(
        Some(&root.access),
        "mutation { rotateSigningKey { kid } }",
        json!({}),
    )
    .await;
    let fresh = login_on(app.addr, "root").await;

    // The window passes (the test moves it rather than waiting 15 minutes).
    {
        use entity::signing_key;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        signing_key::Entity::update_many()
            .col_expr(
                signing_key::Column::RetiresAt,
                Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)),
            )
            .filter(signing_key::Column::Kid.eq(old_kid.as_str()))
            .exec(app.db())
            .await
            .unwrap();
    }
    usergraph::service::signing::reload(app.db(), &app.ctx)
        .await
        .unwrap();
    let retired = usergraph::service::signing::retire_expired(app.db())
        .await
        .unwrap();

    assert_eq!(retired, 1);
    assert_eq!(code(&me(app.addr, &ann.access).await), "TOKEN_INVALID");
    assert!(me(app.addr, &fresh).await["errors"].is_null());
    let (set, _) = jwks(&app.client, app.addr).await;
    assert!(set.find(&old_kid).is_none());
    assert_eq!(set.keys.len(), 2, "the active key and the next");
    let keys = app
        .gql(Some(&fresh), "{ signingKeys { kid state } }", json!({}))
        .await;
    let retired = keys["data"]["signingKeys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == old_kid.as_str())
        .cloned();
    assert_eq!(retired.unwrap()["state"], "RETIRED", "{keys}");
}

#[tokio::test]
async fn a_token_naming_a_key_nobody_has_is_refused() {
    let app = TestApp::spawn_with(&[("JWT_ALGORITHM", "EdDSA")]).await;
    let ann = app.register_as("ann").await;
    let stranger =
        usergraph::auth::signing::KeyPair::generate(usergraph::auth::signing::Algorithm::EdDsa)
            .unwrap();
    let mut forged_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    forged_header.kid = Some(stranger.public.kid.clone());
    let forged =
        jsonwebtoken::encode(&forged_header, &payload(&ann.access), &stranger.encoding).unwrap();
    // The same claims with the real kid: the signature does not match it.
    forged_header.kid = header(&ann.access).kid;
    let mislabelled =
        jsonwebtoken::encode(&forged_header, &payload(&ann.access), &stranger.encoding).unwrap();

    assert_eq!(code(&me(app.addr, &forged).await), "TOKEN_INVALID");
    assert_eq!(code(&me(app.addr, &mislabelled).await), "TOKEN_INVALID");
    assert!(me(app.addr, &ann.access).await["errors"].is_null());
}

#[tokio::test]
async fn hs256_tokens_outlive_the_switch_only_within_the_accepted_window() {
    let mut app = TestApp::spawn().await;
    let ann = app.register_as("ann").await;

    app.restart_with(&[("JWT_ALGORITHM", "EdDSA")]).await;
    let strict = me(app.addr, &ann.access).await;
    let until = (chrono::Utc::now() + chrono::Duration::minutes(5)).to_rfc3339();
    app.restart_with(&[("JWT_ACCEPT_HS256_UNTIL", &until)])
        .await;
    let lenient = me(app.addr, &ann.access).await;
    let fresh = login_on(app.addr, "ann").await;

    assert_eq!(code(&strict), "TOKEN_INVALID");
    assert!(lenient["errors"].is_null(), "{lenient}");
    assert_eq!(header(&fresh).alg, jsonwebtoken::Algorithm::EdDSA);
}

#[tokio::test]
async fn back_to_hs256_the_asymmetric_keys_still_verify_their_tokens() {
    let mut app = TestApp::spawn_with(&[("JWT_ALGORITHM", "RS256")]).await;
    let ann = app.register_as("ann").await;

    app.restart_with(&[("JWT_ALGORITHM", "HS256")]).await;
    let old = me(app.addr, &ann.access).await;
    let fresh = login_on(app.addr, "ann").await;
    let (set, _) = jwks(&app.client, app.addr).await;

    assert!(old["errors"].is_null(), "{old}");
    assert_eq!(header(&fresh).alg, jsonwebtoken::Algorithm::HS256);
    assert_eq!(
        set.keys.len(),
        2,
        "left as they are: the active and the next key"
    );
}

/// Writes `pair`'s private key to `path` as PKCS#8 PEM.
fn write_pem(path: &std::path::Path, pair: &usergraph::auth::signing::KeyPair) {
    let body = base64::engine::general_purpose::STANDARD.encode(pair.pkcs8_der());
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    std::fs::write(
        path,
        format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        ),
    )
    .unwrap();
}

#[tokio::test]
async fn a_private_key_file_signs_every_token_and_cannot_be_rotated_here() {
    let pair =
        usergraph::auth::signing::KeyPair::generate(usergraph::auth::signing::Algorithm::Es256)
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signing.pem");
    write_pem(&path, &pair);
    let app = TestApp::spawn_with(&[
        ("JWT_ALGORITHM", "ES256"),
        ("JWT_PRIVATE_KEY_FILE", path.to_str().unwrap()),
    ])
    .await;
    let root = app.superuser("root").await;
    let ann = app.register_as("ann").await;

    let rotated = app
        .gql(
            Some(&root.access),
            "mutation { rotateSigningKey { kid } }",
            json!({}),
        )
        .await;
    let (set, _) = jwks(&app.client, app.addr).await;

    assert_eq!(
        header(&ann.access).kid.as_deref(),
        Some(pair.public.kid.as_str())
    );
    assert_eq!(code(&rotated), "CONFLICT");
    assert!(set.find(&pair.public.kid).is_some());
    assert_eq!(set.keys.len(), 1, "with a key file no next key waits");

    // The file is the rotation; a replaced key's file does not bring it back.
    let second = dir.path().join("second.pem");
    write_pem(
        &second,
        &usergraph::auth::signing::KeyPair::generate(usergraph::auth::signing::Algorithm::Es256)
            .unwrap(),
    );
    app.try_start_with(&[("JWT_PRIVATE_KEY_FILE", second.to_str().unwrap())])
        .await
        .unwrap();
    let err = app.try_start_with(&[]).await.unwrap_err();
    assert!(format!("{err:#}").contains("which was replaced"), "{err:#}");

    // A key of another kind is refused at start, naming the variable.
    let ed = dir.path().join("ed.pem");
    std::fs::copy(&path, &ed).unwrap();
    let env = [
        ("DATABASE_URL", "sqlite::memory:"),
        ("JWT_SECRET", crate::helpers::JWT_SECRET),
        ("JWT_ALGORITHM", "EdDSA"),
        ("JWT_PRIVATE_KEY_FILE", ed.to_str().unwrap()),
    ];
    let config = usergraph::config::Config::from_lookup(|key| {
        env.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let err = usergraph::app::build(config).await.err().unwrap();
    assert!(
        format!("{err:#}").contains("JWT_PRIVATE_KEY_FILE: the key is not a EdDSA key"),
        "{err:#}"
    );
}

#[tokio::test]
async fn presets_and_templates_put_their_claims_in_the_token() {
    let app = TestApp::spawn_with(&[
        ("JWT_ALGORITHM", "EdDSA"),
        ("JWT_CLAIMS_PRESET", "hasura"),
        (
            "JWT_CLAIMS_TEMPLATE",
            r#"{"email": "{{ user.email }}", "tier": "{{ user.tier }}", "tenant": "{{ user.appMetadata.tenant }}"}"#,
        ),
    ])
    .await;
    let root = app.superuser("root").await;
    let ann = app.register_as("ann").await;
    app.gql(
        Some(&root.access),
        "mutation($id: ID!) { updateUser(id: $id, input: { appMetadata: { tenant: \"acme\" } }) { id } }",
        json!({ "id": ann.id }),
    )
    .await;

    let token = login_on(app.addr, "ann").await;
    let claims = payload(&token);

    assert_eq!(
        claims["https://hasura.io/jwt/claims"],
        json!({
            "x-hasura-user-id": ann.id,
            "x-hasura-default-role": "user",
            "x-hasura-allowed-roles": ["user"],
        })
    );
    assert_eq!(claims["email"], "ann@example.com");
    assert_eq!(claims["tier"], Value::Null, "no tier: null");
    assert_eq!(claims["tenant"], "acme");
    assert!(me(app.addr, &token).await["errors"].is_null());
}

#[tokio::test]
async fn a_template_that_could_pass_four_kibibytes_stops_the_start() {
    let env = [
        ("DATABASE_URL", "sqlite::memory:"),
        ("JWT_SECRET", crate::helpers::JWT_SECRET),
        (
            "JWT_CLAIMS_TEMPLATE",
            r#"{"all": "{{ user.appMetadata }}", "perms": "{{ user.permissions }}", "roles": "{{ user.roles }}"}"#,
        ),
    ];
    let config = usergraph::config::Config::from_lookup(|key| {
        env.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let err = usergraph::app::build(config).await.err().unwrap();
    assert!(format!("{err:#}").contains("more than 4096"), "{err:#}");
}

/// N replicas starting at once on a fresh PostgreSQL each try to make the
/// first key: one wins, and every replica signs with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_at_once_share_one_active_key() {
    let on_postgres = std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"));
    if !on_postgres {
        eprintln!("skipped: the race runs on PostgreSQL (TEST_DATABASE_URL)");
        return;
    }
    let (url, _) = crate::helpers::fresh_database().await;
    let url = url.replace("localhost", "127.0.0.1");
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("JWT_SECRET", crate::helpers::JWT_SECRET),
        ("MFA_ENCRYPTION_KEY", crate::helpers::MFA_KEY),
        ("JWT_ALGORITHM", "ES256"),
    ];
    let config = || {
        usergraph::config::Config::from_lookup(|key| {
            env.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        })
        .unwrap()
    };

    let replicas = futures::future::join_all((0..6).map(|_| usergraph::app::build(config()))).await;

    let kids: std::collections::HashSet<String> = replicas
        .into_iter()
        .map(|built| built.expect("every replica starts").0.jwt.active_kid())
        .collect();
    assert_eq!(kids.len(), 1, "{kids:?}");
    use sea_orm::ConnectionTrait;
    let admin = sea_orm::Database::connect(&url).await.unwrap();
    let rows = admin
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT state FROM signing_keys",
        ))
        .await
        .unwrap();
    let mut states: Vec<String> = rows
        .iter()
        .map(|row| row.try_get::<String>("", "state").unwrap())
        .collect();
    states.sort();
    assert_eq!(
        states,
        ["active", "next"],
        "one active and one next key made, the losers made none"
    );
}

/// A key that may have leaked goes at once with `compromised: true`: its
/// tokens stop verifying, the next key (kept beside it) goes too, and two
/// new keys take their places.
#[tokio::test]
async fn a_compromised_rotation_ends_the_old_key_and_the_next_at_once() {
    let app = TestApp::spawn_with(&[("JWT_ALGORITHM", "ES256")]).await;
    let root = app.superuser("root").await;
    let ann = app.register_as("ann").await;
    let (before, _) = jwks(&app.client, app.addr).await;

    let rotated = app
        .gql(
            Some(&root.access),
            "mutation { rotateSigningKey(compromised: true) { kid state } }",
            json!({}),
        )
        .await;
    let (after, _) = jwks(&app.client, app.addr).await;

    assert_eq!(
        rotated["data"]["rotateSigningKey"]["state"], "ACTIVE",
        "{rotated}"
    );
    assert_eq!(code(&me(app.addr, &ann.access).await), "TOKEN_INVALID");
    assert!(
        before
            .keys
            .iter()
            .all(|old| after.find(old.common.key_id.as_deref().unwrap()).is_none()),
        "neither old key is published"
    );
    assert_eq!(after.keys.len(), 2);
    assert!(me(app.addr, &login_on(app.addr, "root").await).await["errors"].is_null());
}
