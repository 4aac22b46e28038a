//! Sign-in with another provider: against a provider on loopback that
//! speaks OpenID Connect and GitHub's OAuth 2 with real keys (provider.rs).

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::{
    helpers::{PASSWORD, TestApp, code, field},
    provider::{Account, CALLBACK, Flaw, Provider},
};

const START: &str = "mutation($p: ID!, $r: String!, $i: ExternalSignInIntent, $pw: String) {
  startExternalSignIn(provider: $p, redirectUri: $r, intent: $i, password: $pw) { authorizationUrl state expiresAt } }";
const FINISH: &str = "mutation($s: String!, $c: String!) {
  finishExternalSignIn(state: $s, code: $c) { accessToken refreshToken user { id username email emailVerified } } }";
const MINE: &str = "{ me { id hasPassword identities { id subject email emailVerified linkedAt lastUsedAt provider { id name kind } } } }";

async fn spawn(extra: &[(&str, &str)]) -> (TestApp, Provider) {
    let provider = Provider::start().await;
    let settings = provider.settings();
    let mut all: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    all.extend_from_slice(extra);
    (TestApp::spawn_with(&all).await, provider)
}

/// The `idp_…` id of the provider named `name`, as `identityProviders` lists it.
async fn provider_id(app: &TestApp, name: &str) -> String {
    let body = app
        .gql(None, "{ identityProviders { id name kind } }", json!({}))
        .await;
    body["data"]["identityProviders"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {body}"))["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Starts a sign-in (as `token`'s holder when given) and has the provider
/// consent: returns the `state` and `code` the callback page gets.
async fn consent(
    app: &TestApp,
    provider: &Provider,
    name: &str,
    intent: &str,
    token: Option<&str>,
) -> (String, String) {
    let id = provider_id(app, name).await;
    let started = app
        .gql(
            token,
            START,
            json!({ "p": id, "r": CALLBACK, "i": intent, "pw": PASSWORD }),
        )
        .await;
    let start = &started["data"]["startExternalSignIn"];
    let url = start["authorizationUrl"]
        .as_str()
        .unwrap_or_else(|| panic!("{started}"));
    let (code, state) = provider.consent(url).await;
    assert_eq!(state, start["state"].as_str().unwrap());
    (state, code)
}

async fn finish(app: &TestApp, state: &str, code: &str) -> Value {
    app.gql(None, FINISH, json!({ "s": state, "c": code }))
        .await
}

/// A whole sign-in with the provider named `name`.
async fn sign_in(app: &TestApp, provider: &Provider, name: &str) -> Value {
    let (state, code) = consent(app, provider, name, "SIGN_IN", None).await;
    finish(app, &state, &code).await
}

async fn users(app: &TestApp) -> u64 {
    entity::user::Entity::find().count(app.db()).await.unwrap()
}

fn access(body: &Value) -> &str {
    body["data"]["finishExternalSignIn"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
}

#[tokio::test]
async fn a_new_provider_account_signs_up_without_a_password_and_signs_in_again() {
    // Trusted for email: the address it vouches for counts as verified.
    let (app, provider) = spawn(&[("IDP_CORP_TRUST_EMAIL", "true")]).await;
    provider.sign_in_as(Account::new("alice-at-corp", "Alice@Example.com"));

    let listed = app
        .gql(
            None,
            "{ identityProviders { name displayName kind } }",
            json!({}),
        )
        .await;
    let id = provider_id(&app, "corp").await;
    let started = app
        .gql(None, START, json!({ "p": id, "r": CALLBACK }))
        .await;
    let url = started["data"]["startExternalSignIn"]["authorizationUrl"]
        .as_str()
        .unwrap_or_else(|| panic!("{started}"))
        .to_owned();
    let (auth_code, state) = provider.consent(&url).await;
    let first = finish(&app, &state, &auth_code).await;
    let stored = entity::external_signin::Entity::find()
        .all(app.db())
        .await
        .unwrap();
    let mine = app.gql(Some(access(&first)), MINE, json!({})).await;
    let again = sign_in(&app, &provider, "corp").await;

    assert_eq!(
        listed["data"]["identityProviders"],
        json!([
            { "name": "corp", "displayName": "Corp", "kind": "OIDC" },
            { "name": "gh", "displayName": "GitHub", "kind": "GITHUB" }
        ])
    );
    let query: std::collections::HashMap<String, String> = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(query["nonce"].len() >= 32 && query["scope"].contains("openid"));
    assert!(!url.contains(crate::provider::CLIENT_SECRET));
    let user = &first["data"]["finishExternalSignIn"]["user"];
    assert_eq!(user["email"], "alice@example.com");
    assert_eq!(user["emailVerified"], true);
    assert_eq!(user["username"], "alice");
    let me = &mine["data"]["me"];
    assert_eq!(me["hasPassword"], false);
    let identity = &me["identities"][0];
    assert!(identity["id"].as_str().unwrap().starts_with("ext_"));
    assert_eq!(identity["subject"], "alice-at-corp");
    assert_eq!(identity["provider"]["name"], "corp");
    assert_eq!(identity["provider"]["id"], id.as_str());
    assert_eq!(
        again["data"]["finishExternalSignIn"]["user"]["id"],
        user["id"]
    );
    // Neither the code nor the state is kept or logged as it is.
    let kept = format!("{stored:?}");
    assert!(!kept.contains(&auth_code) && !kept.contains(&state));
    let logged = crate::helpers::logs();
    assert!(!logged.contains(&auth_code) && !logged.contains(&state));
    // No password matches an account that has none.
    assert_eq!(
        code(&app.login("alice", PASSWORD).await),
        "INVALID_CREDENTIALS"
    );
    let logins = entity::audit_event::Entity::find()
        .filter(entity::audit_event::Column::Action.eq("auth.login"))
        .all(app.db())
        .await
        .unwrap();
    assert!(
        logins.iter().all(|e| e
            .changes
            .as_deref()
            .unwrap_or_default()
            .contains("provider:corp")),
        "{logins:?}"
    );
}

#[tokio::test]
async fn a_github_account_signs_in_with_its_primary_verified_address() {
    let (app, provider) = spawn(&[("IDP_GH_TRUST_EMAIL", "true")]).await;
    provider.sign_in_as(Account::new("583231", "octo@example.com"));

    let first = sign_in(&app, &provider, "gh").await;
    let again = sign_in(&app, &provider, "gh").await;

    let user = &first["data"]["finishExternalSignIn"]["user"];
    assert_eq!(user["email"], "octo@example.com", "{first}");
    assert_eq!(user["emailVerified"], true);
    assert_eq!(
        again["data"]["finishExternalSignIn"]["user"]["id"],
        user["id"]
    );
    let mine = app.gql(Some(access(&again)), MINE, json!({})).await;
    assert_eq!(mine["data"]["me"]["identities"][0]["subject"], "583231");
    assert_eq!(
        mine["data"]["me"]["identities"][0]["provider"]["kind"],
        "GITHUB"
    );
}

#[tokio::test]
async fn a_state_finishes_once_and_not_after_it_expires() {
    let (app, provider) = spawn(&[]).await;
    let (state, code_) = consent(&app, &provider, "corp", "SIGN_IN", None).await;
    let first = finish(&app, &state, &code_).await;
    let replayed = finish(&app, &state, &code_).await;
    let unknown = finish(&app, "no-such-state", &code_).await;

    let (late_state, late_code) = consent(&app, &provider, "corp", "SIGN_IN", None).await;
    entity::external_signin::Entity::update_many()
        .col_expr(
            entity::external_signin::Column::ExpiresAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::seconds(1)),
        )
        .exec(app.db())
        .await
        .unwrap();
    let late = finish(&app, &late_state, &late_code).await;

    assert!(first["errors"].is_null(), "{first}");
    assert_eq!(code(&replayed), "TOKEN_INVALID");
    assert_eq!(code(&unknown), "TOKEN_INVALID");
    assert_eq!(code(&late), "TOKEN_INVALID");
}

#[tokio::test]
async fn sixteen_racing_finishes_of_one_state_give_one_sign_in() {
    let (app, provider) = spawn(&[]).await;
    let (state, code_) = consent(&app, &provider, "corp", "SIGN_IN", None).await;

    let answers = futures::future::join_all((0..16).map(|_| finish(&app, &state, &code_))).await;

    let signed_in = answers.iter().filter(|a| a["errors"].is_null()).count();
    assert_eq!(signed_in, 1, "{answers:?}");
    assert!(
        answers
            .iter()
            .filter(|a| !a["errors"].is_null())
            .all(|a| code(a) == "TOKEN_INVALID")
    );
    assert_eq!(users(&app).await, 1);
}

#[tokio::test]
async fn id_tokens_that_do_not_prove_the_account_are_refused_and_write_nothing() {
    let (app, provider) = spawn(&[]).await;
    for flaw in [
        Flaw::WrongNonce,
        Flaw::WrongAudience,
        Flaw::Expired,
        Flaw::ForeignKey,
        Flaw::WrongIssuer,
        Flaw::ExtraAudience,
    ] {
        provider.flaw(flaw);
        let answer = sign_in(&app, &provider, "corp").await;
        assert_eq!(code(&answer), "TOKEN_INVALID", "{flaw:?}: {answer}");
    }
    provider.flaw(Flaw::None);

    assert_eq!(users(&app).await, 0);
    assert!(sign_in(&app, &provider, "corp").await["errors"].is_null());
}

#[tokio::test]
async fn a_provider_that_rotates_its_keys_is_followed() {
    let (app, provider) = spawn(&[]).await;
    assert!(sign_in(&app, &provider, "corp").await["errors"].is_null());

    provider.rotate_key().await;
    let after = sign_in(&app, &provider, "corp").await;

    assert!(after["errors"].is_null(), "{after}");
}

#[tokio::test]
async fn a_provider_that_cannot_be_reached_changes_nothing_and_the_state_can_be_finished_later() {
    let (app, provider) = spawn(&[]).await;
    let (state, code_) = consent(&app, &provider, "corp", "SIGN_IN", None).await;

    provider.set_down(true);
    let down = finish(&app, &state, &code_).await;
    let users_meanwhile = users(&app).await;
    provider.set_down(false);
    let later = finish(&app, &state, &code_).await;

    assert_eq!(code(&down), "CONFLICT");
    assert_eq!(
        down["errors"][0]["extensions"]["reason"],
        "PROVIDER_UNAVAILABLE"
    );
    assert_eq!(users_meanwhile, 0);
    assert!(later["errors"].is_null(), "{later}");
}

#[tokio::test]
async fn an_address_of_a_local_account_is_email_in_use_unless_the_provider_is_trusted() {
    let (mut app, provider) = spawn(&[]).await;
    let ann = app.register_verified("ann").await;
    provider.sign_in_as(Account::new("ann-at-corp", "ann@example.com"));

    let refused = sign_in(&app, &provider, "corp").await;
    app.restart_with(&[("IDP_CORP_TRUST_EMAIL", "true")]).await;
    let linked = sign_in(&app, &provider, "corp").await;
    // Trusted, but the provider does not vouch for the address: refused.
    provider.sign_in_as(Account {
        email_verified: false,
        ..Account::new("other-at-corp", "ann@example.com")
    });
    let unverified = sign_in(&app, &provider, "corp").await;

    assert_eq!(code(&refused), "CONFLICT");
    assert_eq!(refused["errors"][0]["extensions"]["reason"], "EMAIL_IN_USE");
    assert_eq!(
        linked["data"]["finishExternalSignIn"]["user"]["id"],
        ann.id.as_str(),
        "{linked}"
    );
    assert_eq!(code(&unverified), "CONFLICT");
    assert_eq!(users(&app).await, 1);
    let events = app
        .gql(
            Some(access(&linked)),
            "{ mySecurityEvents(first: 10) { nodes { action } } }",
            json!({}),
        )
        .await;
    assert!(events.to_string().contains("identity.linked"), "{events}");
}

#[tokio::test]
async fn a_signed_in_user_links_and_unlinks_a_provider_account() {
    let (app, provider) = spawn(&[]).await;
    let ann = app.register_verified("ann").await;
    let bob = app.register_verified("bob").await;
    provider.sign_in_as(Account::new("ann-elsewhere", "ann.private@example.com"));

    let corp = provider_id(&app, "corp").await;
    let anonymous = app
        .gql(
            None,
            START,
            json!({ "p": corp, "r": CALLBACK, "i": "LINK" }),
        )
        .await;
    let link_without_password = app
        .gql(
            Some(&ann.access),
            START,
            json!({ "p": corp, "r": CALLBACK, "i": "LINK" }),
        )
        .await;
    let unverified = app.register_as("cleo").await;
    let unproven = app
        .gql(
            Some(&unverified.access),
            START,
            json!({ "p": corp, "r": CALLBACK, "i": "LINK", "pw": PASSWORD }),
        )
        .await;
    let (state, code_) = consent(&app, &provider, "corp", "LINK", Some(&ann.access)).await;
    let linked = finish(&app, &state, &code_).await;
    let (state, code_) = consent(&app, &provider, "corp", "LINK", Some(&bob.access)).await;
    let taken = finish(&app, &state, &code_).await;
    let signed_in = sign_in(&app, &provider, "corp").await;
    let mine = app.gql(Some(&ann.access), MINE, json!({})).await;
    let identity = mine["data"]["me"]["identities"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let seen_by_bob = app
        .gql(
            Some(&bob.access),
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": identity }),
        )
        .await;
    let seen_by_ann = app
        .gql(
            Some(&ann.access),
            "query($id: ID!) { node(id: $id) { ... on ExternalIdentity { subject } } }",
            json!({ "id": identity }),
        )
        .await;
    let unlink = "mutation($id: ID!, $p: String) { unlinkIdentity(id: $id, password: $p) }";
    let by_bob = app
        .gql(
            Some(&bob.access),
            unlink,
            json!({ "id": identity, "p": PASSWORD }),
        )
        .await;
    let no_password = app
        .gql(Some(&ann.access), unlink, json!({ "id": identity }))
        .await;
    let unlinked = app
        .gql(
            Some(&ann.access),
            unlink,
            json!({ "id": identity, "p": PASSWORD }),
        )
        .await;
    let after = app.gql(Some(&ann.access), MINE, json!({})).await;

    assert_eq!(code(&anonymous), "UNAUTHENTICATED");
    assert_eq!(
        (code(&link_without_password), field(&link_without_password)),
        ("BAD_USER_INPUT", "password")
    );
    assert_eq!(code(&unproven), "EMAIL_NOT_VERIFIED");
    assert_eq!(
        linked["data"]["finishExternalSignIn"]["user"]["id"],
        ann.id.as_str(),
        "{linked}"
    );
    assert_eq!(code(&taken), "CONFLICT");
    assert_eq!(
        signed_in["data"]["finishExternalSignIn"]["user"]["id"],
        ann.id.as_str()
    );
    assert!(seen_by_bob["data"]["node"].is_null());
    assert_eq!(seen_by_ann["data"]["node"]["subject"], "ann-elsewhere");
    assert_eq!(code(&by_bob), "NOT_FOUND");
    assert_eq!(
        (code(&no_password), field(&no_password)),
        ("BAD_USER_INPUT", "password")
    );
    assert_eq!(unlinked["data"]["unlinkIdentity"], true, "{unlinked}");
    assert_eq!(after["data"]["me"]["identities"], json!([]));
    assert_eq!(after["data"]["me"]["hasPassword"], true);
}

#[tokio::test]
async fn the_last_way_to_sign_in_stays_until_a_password_is_set() {
    let (app, provider) = spawn(&[]).await;
    provider.sign_in_as(Account::new("carol-sub", "carol@example.com"));
    let first = sign_in(&app, &provider, "corp").await;
    let token = access(&first).to_owned();
    let identity =
        app.gql(Some(&token), MINE, json!({})).await["data"]["me"]["identities"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    let unlink = "mutation($id: ID!) { unlinkIdentity(id: $id) }";
    let set = "mutation($p: String!) { setPassword(newPassword: $p) }";

    let last = app
        .gql(Some(&token), unlink, json!({ "id": identity }))
        .await;
    let weak = app.gql(Some(&token), set, json!({ "p": "carol" })).await;
    let set_once = app.gql(Some(&token), set, json!({ "p": PASSWORD })).await;
    let set_twice = app.gql(Some(&token), set, json!({ "p": PASSWORD })).await;
    let by_password = app.login("carol", PASSWORD).await;
    let mine = app.gql(Some(&token), MINE, json!({})).await;

    assert_eq!(code(&last), "CONFLICT");
    assert_eq!(
        (code(&weak), field(&weak)),
        ("BAD_USER_INPUT", "newPassword")
    );
    assert_eq!(set_once["data"]["setPassword"], true, "{set_once}");
    assert_eq!(code(&set_twice), "CONFLICT");
    assert!(by_password["errors"].is_null(), "{by_password}");
    assert_eq!(mine["data"]["me"]["hasPassword"], true);
}

#[tokio::test]
async fn a_second_factor_a_suspension_and_a_deletion_apply_as_to_a_password() {
    let (app, provider) = spawn(&[]).await;
    let ann = app.register_verified("ann").await;
    crate::mfa::enable(&app, &ann).await;
    provider.sign_in_as(Account::new("ann-sub", "ann.corp@example.com"));

    let (state, code_) = consent(&app, &provider, "corp", "LINK", Some(&ann.access)).await;
    let linking = finish(&app, &state, &code_).await;
    let signing_in = sign_in(&app, &provider, "corp").await;
    let root = app.superuser("root").await;
    app.gql(
        Some(&root.access),
        "mutation($id: ID!) { setUserStatus(id: $id, status: SUSPENDED) { id } }",
        json!({ "id": ann.id }),
    )
    .await;
    let suspended = sign_in(&app, &provider, "corp").await;
    app.gql(
        Some(&root.access),
        "mutation($id: ID!) { deleteUser(id: $id) { id } }",
        json!({ "id": ann.id }),
    )
    .await;
    let deleted = sign_in(&app, &provider, "corp").await;

    // Linking completes; the new session still needs the second factor.
    assert_eq!(code(&linking), "MFA_REQUIRED");
    assert_eq!(code(&signing_in), "MFA_REQUIRED");
    assert!(signing_in["errors"][0]["extensions"]["mfaToken"].is_string());
    assert_eq!(code(&suspended), "ACCOUNT_DISABLED");
    assert_eq!(code(&deleted), "INVALID_CREDENTIALS");
    assert_eq!(
        users(&app).await,
        2,
        "no new account for a deleted user's identity"
    );
}

#[tokio::test]
async fn closed_registration_makes_no_account_for_an_unknown_provider_account() {
    let (app, provider) = spawn(&[("REGISTRATION_ENABLED", "false")]).await;

    let answer = sign_in(&app, &provider, "corp").await;

    assert_eq!(code(&answer), "FORBIDDEN");
    assert_eq!(users(&app).await, 0);
    assert_eq!(
        entity::external_identity::Entity::find()
            .count(app.db())
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_sign_in_started_on_one_replica_finishes_on_another() {
    let (app, provider) = spawn(&[]).await;
    let other = app.spawn_replica().await;
    let (state, code_) = consent(&app, &provider, "corp", "SIGN_IN", None).await;

    let body: Value = app
        .client
        .post(format!("http://{}/graphql", other.addr))
        .json(&json!({ "query": FINISH, "variables": { "s": state, "c": code_ } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn a_redirect_uri_off_the_allow_list_is_refused() {
    let (app, _provider) = spawn(&[]).await;
    let id = provider_id(&app, "corp").await;

    let elsewhere = app
        .gql(
            None,
            START,
            json!({ "p": id, "r": "http://localhost:3000/callback/../steal" }),
        )
        .await;
    let unknown = app
        .gql(
            None,
            START,
            json!({ "p": "idp_00000000000000000000000000000000", "r": CALLBACK }),
        )
        .await;

    assert_eq!(
        (code(&elsewhere), field(&elsewhere)),
        ("BAD_USER_INPUT", "redirectUri"),
        "{elsewhere}"
    );
    assert_eq!(
        (code(&unknown), field(&unknown)),
        ("NOT_FOUND", "provider"),
        "{unknown}"
    );
    assert_eq!(
        entity::external_signin::Entity::find()
            .filter(entity::external_signin::Column::Provider.eq("corp"))
            .count(app.db())
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn an_account_without_a_password_steps_up_by_a_recent_sign_in() {
    let (app, provider) = spawn(&[("IDP_CORP_TRUST_EMAIL", "true")]).await;
    provider.sign_in_as(Account::new("dora-sub", "dora@example.com"));
    let token = access(&sign_in(&app, &provider, "corp").await).to_owned();
    let keys = "mutation { createApiKey(input: { name: \"k\" }, password: \"\") { secret } }";
    let delete = "mutation { deleteMe(password: \"\") }";

    let recent = app.gql(Some(&token), keys, json!({})).await;
    entity::session::Entity::update_many()
        .col_expr(
            entity::session::Column::CreatedAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now() - chrono::Duration::hours(1)),
        )
        .exec(app.db())
        .await
        .unwrap();
    let stale = app.gql(Some(&token), delete, json!({})).await;
    let again = app.gql(Some(&token), delete, json!({})).await;

    assert!(recent["errors"].is_null(), "{recent}");
    assert_eq!(
        (code(&stale), field(&stale)),
        ("BAD_USER_INPUT", "password")
    );
    assert_eq!(code(&again), "BAD_USER_INPUT", "no lockout: {again}");
}

#[tokio::test]
async fn an_address_a_provider_does_not_vouch_for_stays_unverified_and_its_proof_unlinks() {
    let provider = Provider::start().await;
    let settings = provider.settings();
    let pairs: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (app, sink) = TestApp::spawn_with_mail(&pairs).await;
    // A stranger's provider account claims the victim's address.
    provider.sign_in_as(Account::new("stranger-sub", "victim@example.com"));
    let stranger = sign_in(&app, &provider, "corp").await;
    let user = stranger["data"]["finishExternalSignIn"]["user"].clone();

    // The owner of the address resets the password through the mailed link.
    app.gql(
        None,
        "mutation($e: String!) { requestPasswordReset(email: $e) }",
        json!({ "e": "victim@example.com" }),
    )
    .await;
    let mail = sink.wait_for("victim@example.com", 1).await[0].clone();
    let reset = app
        .gql(
            None,
            "mutation($t: String!, $p: String!) { resetPassword(token: $t, newPassword: $p) { accessToken } }",
            json!({ "t": mail.token(), "p": "marmalade-lantern-77" }),
        )
        .await;
    let token = reset["data"]["resetPassword"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{reset}"))
        .to_owned();
    let mine = app.gql(Some(&token), MINE, json!({})).await;
    let stranger_again = sign_in(&app, &provider, "corp").await;

    assert_eq!(user["emailVerified"], false, "untrusted: {stranger}");
    assert_eq!(mine["data"]["me"]["identities"], json!([]));
    assert_eq!(code(&stranger_again), "CONFLICT", "{stranger_again}");
}

#[tokio::test]
async fn with_verification_required_a_sign_up_nobody_vouches_for_is_refused() {
    let (app, provider) = spawn(&[("REQUIRE_EMAIL_VERIFICATION", "true")]).await;

    let answer = sign_in(&app, &provider, "corp").await;

    assert_eq!(code(&answer), "EMAIL_NOT_VERIFIED");
    assert_eq!(users(&app).await, 0);
}

#[tokio::test]
async fn closed_registration_does_not_tell_which_addresses_have_accounts() {
    let (app, provider) = spawn(&[("REGISTRATION_ENABLED", "false")]).await;
    let root = app.superuser("root").await;
    let email = app.me(&root.access).await["data"]["me"]["email"]
        .as_str()
        .unwrap()
        .to_owned();

    provider.sign_in_as(Account::new("a", &email));
    let known = sign_in(&app, &provider, "corp").await;
    provider.sign_in_as(Account::new("b", "nobody@example.com"));
    let unknown = sign_in(&app, &provider, "corp").await;

    assert_eq!(code(&known), "FORBIDDEN");
    assert_eq!(code(&unknown), "FORBIDDEN");
}

#[tokio::test]
async fn a_github_code_refused_with_a_200_answer_uses_the_state_up() {
    let (app, provider) = spawn(&[]).await;
    let (state, _) = consent(&app, &provider, "gh", "SIGN_IN", None).await;

    let wrong = finish(&app, &state, "not-the-code").await;
    let replay = finish(&app, &state, "not-the-code").await;

    assert_eq!(code(&wrong), "TOKEN_INVALID", "{wrong}");
    assert_eq!(code(&replay), "TOKEN_INVALID");
}
