//! A provider on loopback that speaks the real protocols with real crypto,
//! for the sign-in-with-a-provider tests: an OpenID Connect provider
//! (discovery, a JWKS whose RS256 key can rotate, an authorization endpoint
//! that consents at once and redirects with a code, a token endpoint that
//! checks the client's secret, the redirect URI and the PKCE S256 verifier
//! and signs an ID token) and GitHub's OAuth 2 (authorize, access token,
//! `/user`, `/user/emails`). Misbehaviours are switched on per test.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{
    Form, Json, Router,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use base64::Engine;
use serde_json::{Value, json};
use sha2::Digest;
use usergraph::auth::signing::{Algorithm, KeyPair};

pub const CLIENT_ID: &str = "usergraph-test";
pub const CLIENT_SECRET: &str = "provider-secret-provider-secret";
pub const CALLBACK: &str = "http://localhost:3000/callback";

/// Who is signed in at the provider: the account a consent gives.
#[derive(Debug, Clone)]
pub struct Account {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
}

impl Account {
    pub fn new(subject: &str, email: &str) -> Self {
        Self {
            subject: subject.to_owned(),
            email: Some(email.to_owned()),
            email_verified: true,
        }
    }
}

/// How the next ID token goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    None,
    WrongNonce,
    WrongAudience,
    Expired,
    /// Signed with a key the JWKS never listed.
    ForeignKey,
    WrongIssuer,
    /// Another audience beside this client's, and no `azp`.
    ExtraAudience,
}

struct Grant {
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
    account: Account,
}

struct Inner {
    issuer: String,
    key: KeyPair,
    account: Account,
    grants: HashMap<String, Grant>,
    github_tokens: HashMap<String, Account>,
    flaw: Flaw,
    /// The token endpoint answers 503 (and keeps the code).
    down: bool,
}

#[derive(Clone)]
pub struct Provider {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    client: reqwest::Client,
}

fn new_key() -> KeyPair {
    KeyPair::generate(Algorithm::Rs256).expect("an RSA key")
}

impl Provider {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Mutex::new(Inner {
            issuer: format!("http://{addr}"),
            key: tokio::task::spawn_blocking(new_key).await.unwrap(),
            account: Account::new("sub-1", "someone@example.com"),
            grants: HashMap::new(),
            github_tokens: HashMap::new(),
            flaw: Flaw::None,
            down: false,
        }));
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/login/oauth/authorize", get(authorize))
            .route("/login/oauth/access_token", post(token))
            .route("/api/user", get(github_user))
            .route("/api/user/emails", get(github_emails))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self {
            addr,
            inner,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    pub fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The settings that configure this provider as `corp` (OpenID) and
    /// `gh` (GitHub) in usergraph.
    pub fn settings(&self) -> Vec<(String, String)> {
        let base = self.issuer();
        [
            ("IDENTITY_PROVIDERS", "corp,gh".to_owned()),
            ("IDP_CORP_ISSUER", base.clone()),
            ("IDP_CORP_CLIENT_ID", CLIENT_ID.to_owned()),
            ("IDP_CORP_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
            ("IDP_GH_KIND", "github".to_owned()),
            ("IDP_GH_DISPLAY_NAME", "GitHub".to_owned()),
            ("IDP_GH_CLIENT_ID", CLIENT_ID.to_owned()),
            ("IDP_GH_CLIENT_SECRET", CLIENT_SECRET.to_owned()),
            (
                "IDP_GH_AUTHORIZE_URL",
                format!("{base}/login/oauth/authorize"),
            ),
            (
                "IDP_GH_TOKEN_URL",
                format!("{base}/login/oauth/access_token"),
            ),
            ("IDP_GH_API_URL", format!("{base}/api")),
            ("EXTERNAL_SIGNIN_REDIRECT_URLS", CALLBACK.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Who the next consent signs in.
    pub fn sign_in_as(&self, account: Account) {
        self.inner.lock().unwrap().account = account;
    }

    pub fn flaw(&self, flaw: Flaw) {
        self.inner.lock().unwrap().flaw = flaw;
    }

    pub fn set_down(&self, down: bool) {
        self.inner.lock().unwrap().down = down;
    }

    /// A new signing key replaces the old one, in the JWKS too.
    pub async fn rotate_key(&self) {
        let key = tokio::task::spawn_blocking(new_key).await.unwrap();
        self.inner.lock().unwrap().key = key;
    }

    /// What the browser does at the authorization URL: the provider
    /// consents at once and redirects to the callback; returns its `code`
    /// and `state`.
    pub async fn consent(&self, authorization_url: &str) -> (String, String) {
        let response = self.client.get(authorization_url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{response:?}");
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let url = url::Url::parse(&location).unwrap();
        assert!(location.starts_with(CALLBACK), "{location}");
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
                .unwrap_or_else(|| panic!("no {name} in {location}"))
        };
        (param("code"), param("state"))
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn discovery(State(inner): State<Arc<Mutex<Inner>>>) -> Json<Value> {
    let issuer = inner.lock().unwrap().issuer.clone();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
    }))
}

async fn jwks(State(inner): State<Arc<Mutex<Inner>>>) -> Json<Value> {
    let jwk: Value = serde_json::from_str(&inner.lock().unwrap().key.public.jwk_json()).unwrap();
    Json(json!({ "keys": [jwk] }))
}

async fn authorize(
    State(inner): State<Arc<Mutex<Inner>>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let param = |name: &str| query.get(name).cloned().unwrap_or_default();
    if param("client_id") != CLIENT_ID
        || param("response_type") != "code"
        || param("code_challenge_method") != "S256"
        || param("code_challenge").is_empty()
        || param("state").is_empty()
    {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let code = b64(&rand_bytes());
    let mut inner = inner.lock().unwrap();
    let account = inner.account.clone();
    inner.grants.insert(
        code.clone(),
        Grant {
            redirect_uri: param("redirect_uri"),
            challenge: param("code_challenge"),
            nonce: query.get("nonce").cloned(),
            account,
        },
    );
    let mut target = url::Url::parse(&param("redirect_uri")).unwrap();
    target
        .query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &param("state"));
    Redirect::to(target.as_str()).into_response()
}

fn rand_bytes() -> [u8; 24] {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

fn refuse(error: &str, github: bool) -> Response {
    // GitHub answers a refused code with 200 and an `error` field.
    let status = if github {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
    (status, Json(json!({ "error": error }))).into_response()
}

/// Client authentication, either way RFC 6749 allows.
fn client_ok(headers: &HeaderMap, form: &HashMap<String, String>) -> bool {
    let basic = headers
        .get("authorization")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    match basic {
        Some(pair) => pair == format!("{CLIENT_ID}:{CLIENT_SECRET}"),
        None => {
            form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
        }
    }
}

async fn token(
    State(inner): State<Arc<Mutex<Inner>>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let github = uri.path().starts_with("/login/oauth");
    let mut inner = inner.lock().unwrap();
    if inner.down {
        return (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response();
    }
    if !client_ok(&headers, &form) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "error": "invalid_client" })),
        )
            .into_response();
    }
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    if field("grant_type") != "authorization_code" {
        return refuse("unsupported_grant_type", github);
    }
    // A code works once.
    let Some(grant) = inner.grants.remove(&field("code")) else {
        return refuse("invalid_grant", github);
    };
    let challenge = b64(&sha2::Sha256::digest(field("code_verifier").as_bytes()));
    if grant.redirect_uri != field("redirect_uri") || grant.challenge != challenge {
        return refuse("invalid_grant", github);
    }
    let access_token = b64(&rand_bytes());
    let Some(nonce) = grant.nonce else {
        // GitHub: an access token for its API, no ID token.
        inner
            .github_tokens
            .insert(access_token.clone(), grant.account);
        return Json(json!({ "access_token": access_token, "token_type": "bearer", "scope": "read:user,user:email" }))
            .into_response();
    };
    let now = chrono::Utc::now().timestamp();
    let flaw = inner.flaw;
    let mut claims = json!({
        "iss": if flaw == Flaw::WrongIssuer { "https://elsewhere.example".to_owned() } else { inner.issuer.clone() },
        "sub": grant.account.subject,
        "aud": match flaw {
            Flaw::WrongAudience => json!("someone-else"),
            Flaw::ExtraAudience => json!([CLIENT_ID, "someone-else"]),
            _ => json!(CLIENT_ID),
        },
        "iat": now,
        "exp": if flaw == Flaw::Expired { now - 600 } else { now + 600 },
        "nonce": if flaw == Flaw::WrongNonce { "not-the-nonce".to_owned() } else { nonce },
    });
    if let Some(email) = &grant.account.email {
        claims["email"] = json!(email);
        claims["email_verified"] = json!(grant.account.email_verified);
    }
    let foreign;
    let key = if flaw == Flaw::ForeignKey {
        foreign = new_key();
        &foreign
    } else {
        &inner.key
    };
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(key.public.kid.clone());
    let id_token = jsonwebtoken::encode(&header, &claims, &key.encoding).unwrap();
    Json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 600,
        "id_token": id_token,
    }))
    .into_response()
}

fn github_account(inner: &Inner, headers: &HeaderMap) -> Option<Account> {
    let token = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    inner.github_tokens.get(token).cloned()
}

async fn github_user(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap) -> Response {
    let inner = inner.lock().unwrap();
    match github_account(&inner, &headers) {
        Some(account) => Json(json!({
            "id": account.subject.parse::<u64>().unwrap_or(4242),
            "login": "octo",
        }))
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn github_emails(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap) -> Response {
    let inner = inner.lock().unwrap();
    match github_account(&inner, &headers) {
        Some(account) => Json(json!([
            { "email": "old-address@example.com", "primary": false, "verified": true },
            { "email": account.email, "primary": true, "verified": account.email_verified },
        ]))
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}
