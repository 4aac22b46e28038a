//! Typed configuration, read once from the environment at start-up (the
//! binary loads `.env` first when present). Every variable is documented in
//! the README and `.env.example`; secrets are `SecretString`s so they never
//! appear in `Debug` output or logs.

use std::{net::SocketAddr, time::Duration};

use anyhow::bail;
use secrecy::{ExposeSecret, SecretString};

use std::str::FromStr;

/// `APP_ENV`: production hardens the defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

/// `LOG_FORMAT`: human-readable or one JSON object per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// `CORS_ALLOWED_ORIGINS`: comma-separated exact origins, or `*`. Unset, a
/// development server allows any `http://localhost:*` and
/// `http://127.0.0.1:*` origin and a production server none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    Any,
    LocalDevelopment,
    List(Vec<String>),
}

/// `JWT_ALGORITHM`: how access tokens are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    /// HMAC with `JWT_SECRET`: only holders of the secret verify (the default).
    Hs256,
    /// Ed25519.
    EdDsa,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys.
    Rs256,
}

impl SigningAlgorithm {
    pub const ASYMMETRIC: [SigningAlgorithm; 3] = [
        SigningAlgorithm::EdDsa,
        SigningAlgorithm::Es256,
        SigningAlgorithm::Rs256,
    ];

    /// The name in a JWT header, a JWK and `JWT_ALGORITHM`.
    pub fn name(self) -> &'static str {
        match self {
            SigningAlgorithm::Hs256 => "HS256",
            SigningAlgorithm::EdDsa => "EdDSA",
            SigningAlgorithm::Es256 => "ES256",
            SigningAlgorithm::Rs256 => "RS256",
        }
    }

    pub fn is_asymmetric(self) -> bool {
        self != SigningAlgorithm::Hs256
    }

    pub fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            SigningAlgorithm::Hs256 => jsonwebtoken::Algorithm::HS256,
            SigningAlgorithm::EdDsa => jsonwebtoken::Algorithm::EdDSA,
            SigningAlgorithm::Es256 => jsonwebtoken::Algorithm::ES256,
            SigningAlgorithm::Rs256 => jsonwebtoken::Algorithm::RS256,
        }
    }

    /// The algorithm of a token's header, when it is one usergraph signs with.
    pub fn of_jwt(alg: jsonwebtoken::Algorithm) -> Option<Self> {
        [SigningAlgorithm::Hs256]
            .into_iter()
            .chain(Self::ASYMMETRIC)
            .find(|known| known.jwt() == alg)
    }
}

impl FromStr for SigningAlgorithm {
    type Err = String;

    fn from_str(raw: &str) -> std::result::Result<Self, Self::Err> {
        [SigningAlgorithm::Hs256]
            .into_iter()
            .chain(Self::ASYMMETRIC)
            .find(|alg| alg.name().eq_ignore_ascii_case(raw.trim()))
            .ok_or_else(|| format!("`{raw}` is not one of HS256, EdDSA, ES256, RS256"))
    }
}

impl std::fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `IDP_<NAME>_KIND`: how a provider signs people in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenID Connect: discovery, an ID token verified with the provider's keys.
    Oidc,
    /// GitHub's OAuth 2: the user and verified-email endpoints of its API.
    Github,
}

impl FromStr for ProviderKind {
    type Err = String;

    fn from_str(raw: &str) -> std::result::Result<Self, Self::Err> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "oidc" => Ok(Self::Oidc),
            "github" => Ok(Self::Github),
            other => Err(format!("`{other}` is not one of oidc, github")),
        }
    }
}

/// One provider of `IDENTITY_PROVIDERS`, from its `IDP_<NAME>_*` variables.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// As listed in `IDENTITY_PROVIDERS` (lower case).
    pub name: String,
    pub kind: ProviderKind,
    /// `IDP_<NAME>_ISSUER` (OIDC): where discovery starts, exactly as
    /// written (a trailing slash or none is part of the issuer).
    pub issuer: Option<String>,
    pub client_id: String,
    /// `IDP_<NAME>_CLIENT_SECRET` (or `_FILE`); none for a public client.
    pub client_secret: Option<SecretString>,
    /// `IDP_<NAME>_SCOPES`, space- or comma-separated.
    pub scopes: Vec<String>,
    /// `IDP_<NAME>_TRUST_EMAIL`: the provider's verified email may link to
    /// a local account with the same verified address.
    pub trust_email: bool,
    /// `IDP_<NAME>_DISPLAY_NAME`: what a sign-in button says ("Google");
    /// the name, capitalised, unless set.
    pub display_name: String,
    /// GitHub's endpoints (`IDP_<NAME>_AUTHORIZE_URL`, `_TOKEN_URL`,
    /// `_API_URL`): github.com's unless set (GitHub Enterprise, tests).
    pub authorize_url: url::Url,
    pub token_url: url::Url,
    pub api_url: url::Url,
}

/// The languages mail has templates in (`mail::LOCALES`), English first.
pub const MAIL_LANGUAGES: &[&str] = &["en", "de"];

/// `JWT_CLAIMS_PRESET`: the claims an engine beside usergraph expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimsPreset {
    None,
    /// `https://hasura.io/jwt/claims` with the user's id and roles.
    Hasura,
    /// `role` and `user_id`, as PostGraphile's `pgSettings` reads them.
    Postgraphile,
}

impl ClaimsPreset {
    /// The top-level claims the preset sets (a template may not set them).
    pub fn claim_names(self) -> &'static [&'static str] {
        match self {
            Self::None => &[],
            Self::Hasura => &["https://hasura.io/jwt/claims"],
            Self::Postgraphile => &["role", "user_id"],
        }
    }
}

impl FromStr for ClaimsPreset {
    type Err = String;

    fn from_str(raw: &str) -> std::result::Result<Self, Self::Err> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "hasura" => Ok(Self::Hasura),
            "postgraphile" => Ok(Self::Postgraphile),
            other => Err(format!(
                "`{other}` is not one of none, hasura, postgraphile"
            )),
        }
    }
}

/// A budget such as `10/hour`: at most `hits` per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub hits: u32,
    pub per: Duration,
}

impl FromStr for Rate {
    type Err = String;

    /// `N/second`, `N/minute`, `N/hour` or `N/day` (also `s`, `m`, `h`, `d`).
    fn from_str(raw: &str) -> std::result::Result<Self, Self::Err> {
        let invalid = || format!("`{raw}` is not a rate such as 10/hour or 60/minute");
        let (hits, unit) = raw.trim().split_once('/').ok_or_else(invalid)?;
        let hits: u32 = hits.trim().parse().map_err(|_| invalid())?;
        let secs = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            "d" | "day" => 86_400,
            _ => return Err(invalid()),
        };
        if hits == 0 {
            return Err(invalid());
        }
        Ok(Self {
            hits,
            per: Duration::from_secs(secs),
        })
    }
}

/// `RATE_LIMITS` and the budgets of each limited operation.
#[derive(Debug, Clone)]
pub struct RateLimits {
    pub enabled: bool,
    pub register: Rate,
    pub login: Rate,
    /// Anonymous requests for account mail (`requestPasswordReset`, `sendVerificationEmail`).
    pub recovery: Rate,
}

/// `MAIL_TRANSPORT`: where mail goes.
#[derive(Debug, Clone)]
pub enum MailTransport {
    /// Each mail, link included, is written to the log (development).
    Log,
    /// Sent over SMTP to `SMTP_URL`.
    Smtp(SecretString),
}

/// Account recovery, verification and invitation mail.
#[derive(Debug, Clone)]
pub struct MailConfig {
    pub transport: MailTransport,
    /// `MAIL_FROM`: the sender, `name <address>` or a bare address.
    pub from: String,
    /// `PRODUCT_NAME`: how mail names the service.
    pub product_name: String,
    /// `PASSWORD_RESET_URL`, `VERIFY_EMAIL_URL`, `INVITATION_URL`,
    /// `EMAIL_CHANGE_URL`: links, with `{token}` where the token goes.
    pub password_reset_url: String,
    pub verify_email_url: String,
    pub invitation_url: String,
    pub email_change_url: String,
    /// `ORGANIZATION_INVITATION_URL`: the link of an invitation to an organisation.
    pub organization_invitation_url: String,
    /// `SIGN_IN_LINK_URL`: the link of a mailed sign-in code.
    pub sign_in_link_url: String,
    /// `PASSWORD_RESET_TTL_SECS`, `EMAIL_TOKEN_TTL_SECS`, `INVITATION_TTL_SECS`.
    pub password_reset_ttl: Duration,
    pub email_token_ttl: Duration,
    pub invitation_ttl: Duration,
    /// How long a mailed sign-in code and its link work (10 minutes).
    pub sign_in_code_ttl: Duration,
    /// `MAIL_LOCALES` (`en`): the languages mail is sent in, among
    /// `mail::LOCALES`; English stays the fallback.
    pub locales: Vec<String>,
    /// `RATE_LIMIT_MAIL` (`5/hour`): mails of one kind to one address, over
    /// a sliding window, counted in the outbox.
    pub per_address: Rate,
    /// `OUTBOX_RETRY_BASE_MS`: the first retry's delay; each later one doubles, with jitter.
    pub retry_base: Duration,
    /// `OUTBOX_MAX_ATTEMPTS`: attempts before a message is marked failed.
    pub max_attempts: u32,
}

/// The outbox workers.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// `OUTBOX_POLL_MS`: how often each worker looks for due messages that
    /// nothing on its own replica announced (retries, other replicas' rows).
    pub poll_interval: Duration,
}

/// Webhook deliveries.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// `WEBHOOK_RETRY_SCHEDULE`: the delays before each retry of a webhook
    /// message; after the last, the message fails and the webhook is disabled.
    pub retry_schedule: Vec<Duration>,
    /// `WEBHOOK_ALLOW_PRIVATE_TARGETS`: allow webhook URLs that resolve to
    /// special-purpose addresses (private, loopback, link-local, …).
    pub allow_private_targets: bool,
}

/// Live sockets (`/graphql/ws`).
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// `WS_MAX_PER_USER`: live sockets one user may hold on one replica.
    pub max_per_user: usize,
    /// `WS_MAX_PER_ADDRESS`: live sockets one client address may hold on
    /// one replica, signed in or not.
    pub max_per_address: usize,
    /// `WS_INIT_TIMEOUT_SECS`: how long a socket may stay open without
    /// signing in (`connection_init`) before it is closed with 4408.
    pub init_timeout: Duration,
}

/// The first superuser, created at start when it does not exist yet.
#[derive(Debug, Clone)]
pub struct AdminBootstrap {
    pub username: String,
    pub email: String,
    pub password: SecretString,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `APP_ENV`.
    pub app_env: AppEnv,
    /// `DATABASE_URL`: SQLite (`sqlite://…`) or PostgreSQL (`postgres://…`).
    pub database_url: SecretString,
    /// `BIND_ADDR`: where the HTTP server listens.
    pub bind_addr: SocketAddr,
    /// `JWT_SECRET`: HS256 key of at least 32 bytes.
    pub jwt_secret: SecretString,
    /// Whether `jwt_secret` was generated at start (development only).
    pub jwt_secret_generated: bool,
    /// `MFA_ENCRYPTION_KEY`: seals TOTP secrets at rest; at least 32 bytes.
    /// Required in production; in development `JWT_SECRET` stands in.
    pub mfa_encryption_key: SecretString,
    /// `JWT_ISSUER` / `JWT_AUDIENCE`: the `iss` and `aud` claims issued and
    /// required (the issuer defaults to `PUBLIC_URL`).
    pub jwt_issuer: String,
    /// `JWT_ALGORITHM`: HS256 (with `JWT_SECRET`, the default), EdDSA, ES256 or RS256.
    pub jwt_algorithm: SigningAlgorithm,
    /// `JWT_PRIVATE_KEY_FILE` (or `JWT_PRIVATE_KEY`): a PKCS#8 PEM key of
    /// `jwt_algorithm`'s kind; unset, keys are made and kept in the database.
    pub jwt_private_key: Option<SecretString>,
    /// `JWT_ACCEPT_HS256_UNTIL`: with an asymmetric algorithm, HS256 tokens
    /// issued before this time still verify (a migration window).
    pub jwt_accept_hs256_until: Option<chrono::DateTime<chrono::Utc>>,
    /// `JWT_CLAIMS_PRESET`: claims for Hasura or PostGraphile.
    pub jwt_claims_preset: ClaimsPreset,
    /// `JWT_CLAIMS_TEMPLATE`: a JSON object of claims over the user, merged in.
    pub jwt_claims_template: Option<String>,
    /// `IDENTITY_PROVIDERS` and their `IDP_<NAME>_*` settings.
    pub identity_providers: Vec<ProviderConfig>,
    /// `EXTERNAL_SIGNIN_REDIRECT_URLS`: the frontend callback URLs a
    /// provider may send people back to, compared exactly.
    pub external_signin_redirect_urls: Vec<String>,
    /// `PUBLIC_URL`: where clients reach the service (links in mail, the
    /// issuer, the JWKS URL); `http://` and `BIND_ADDR` when unset.
    pub public_url: String,
    pub jwt_audience: String,
    /// `ACCESS_TOKEN_TTL_SECS`.
    pub access_token_ttl: Duration,
    /// `REFRESH_TOKEN_TTL_SECS`: lifetime of a session since its last refresh.
    pub refresh_token_ttl: Duration,
    /// `ADMIN_USERNAME`, `ADMIN_EMAIL`, `ADMIN_PASSWORD`, when all three are set.
    pub admin: Option<AdminBootstrap>,
    /// `REGISTRATION_ENABLED`.
    pub registration_enabled: bool,
    /// `ORG_SELF_SERVICE` (false): any signed-in user may create an
    /// organisation; otherwise only holders of `ORGS_CREATE`.
    pub org_self_service: bool,
    /// `IMPERSONATION_NOTIFY` (true): mail a user when an administrator
    /// starts acting as them.
    pub impersonation_notify: bool,
    /// `JWT_ROTATION_NOTICE_SECS` (360): how long the next signing key is
    /// published before `rotateSigningKey` may make it active (the key set's
    /// 5-minute `max-age`, a verifier's refetch cooldown, a margin).
    pub jwt_rotation_notice: Duration,
    /// Passkeys (`WEBAUTHN_RP_ID`, `WEBAUTHN_RP_NAME`, `WEBAUTHN_ORIGINS`,
    /// `PASSKEYS`); `None` when they are off.
    pub webauthn: Option<WebauthnConfig>,
    /// `PASSWORDLESS_SIGNUP`: a mailed sign-in code to an address with no
    /// account makes one when it is used (with registration open).
    pub passwordless_signup: bool,
    /// `GRAPHIQL`: serve GraphiQL on `GET /graphql`.
    pub graphiql: bool,
    /// `ADMIN_CONSOLE`: serve the administrator's console at `/admin`
    /// (on in development, off in production unless set).
    pub admin_console: bool,
    /// `INTROSPECTION`: answer introspection queries (and field suggestions).
    pub introspection: bool,
    /// `MAX_QUERY_DEPTH`, `MAX_QUERY_COMPLEXITY`.
    pub max_query_depth: usize,
    pub max_query_complexity: usize,
    /// `MAX_QUERY_NODES`: fields a document may select once its fragments are
    /// expanded, counted before validation (which expands them without memory).
    pub max_query_nodes: usize,
    /// `MAX_QUERY_DIRECTIVES`: directives allowed on one field.
    pub max_query_directives: usize,
    /// `MAX_RECURSIVE_DEPTH`: nesting allowed in a document's values and selections while parsing.
    pub max_recursive_depth: usize,
    /// `REFRESH_REUSE_INTERVAL_SECS`: how long after a rotation the rotated
    /// token still returns its (live) successor instead of ending the session.
    pub refresh_reuse_interval: Duration,
    /// `SESSION_MAX_LIFETIME_SECS`: a session ends this long after sign-in, however often it is refreshed.
    pub session_max_lifetime: Duration,
    /// `LOG_FORMAT`.
    pub log_format: LogFormat,
    /// `LOGIN_LOCKOUT_THRESHOLD`: consecutive failed logins that lock an account.
    pub lockout_threshold: u32,
    /// `LOGIN_LOCKOUT_SECS`: how long a locked account stays locked.
    pub lockout_duration: Duration,
    /// `PASSWORD_HASH_CONCURRENCY`: argon2 computations allowed at once.
    pub password_hash_concurrency: usize,
    /// `PASSWORD_HASH_QUEUE_TIMEOUT_MS`: how long a request waits for one before `RATE_LIMITED`.
    pub password_hash_queue_timeout: Duration,
    /// `REQUEST_TIMEOUT_SECS`: a request still running after this gets 408.
    pub request_timeout: Duration,
    /// `DATABASE_CONNECT_TIMEOUT_SECS`: how long start-up waits for the database.
    pub database_connect_timeout: Duration,
    /// `DATABASE_MAX_CONNECTIONS`: pool size (PostgreSQL; SQLite always uses one).
    pub database_max_connections: u32,
    /// `RATE_LIMITS` (on in production, off in development unless set),
    /// `RATE_LIMIT_REGISTER` (`10/hour`), `RATE_LIMIT_LOGIN` (`60/minute`):
    /// per client address, counted in the database.
    pub rate_limits: RateLimits,
    /// `HEADER_READ_TIMEOUT_SECS`: a connection that has not sent a request's
    /// headers within this is closed.
    pub header_read_timeout: Duration,
    /// `SHUTDOWN_DRAIN_SECS`: how long a stopping replica keeps serving
    /// while its readiness answers 503, so load balancers stop sending it
    /// requests before it stops accepting them (5 in production, 0 in development).
    pub shutdown_drain: Duration,
    /// `SHUTDOWN_GRACE_SECS`: how long a shutdown waits for open requests
    /// before closing their connections.
    pub shutdown_grace: Duration,
    /// `CORS_ALLOWED_ORIGINS`: which browser origins may call the API.
    pub cors: CorsOrigins,
    /// `CORS_ALLOWED_HEADERS`: request headers browsers may send besides
    /// the ones the API reads and the tracing headers.
    pub cors_allowed_headers: Vec<axum::http::HeaderName>,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` set: export traces over OTLP/HTTP.
    pub export_traces: bool,
    /// `METRICS_TOKEN`: when set, `/metrics` needs `Authorization: Bearer <token>`.
    pub metrics_token: Option<SecretString>,
    /// `METRICS_ADDR`: serve `/metrics` on this address instead of the API's.
    pub metrics_addr: Option<SocketAddr>,
    /// Whether `/metrics` is served at all: always in development; in
    /// production only with `METRICS_TOKEN` or `METRICS_ADDR`.
    pub metrics_enabled: bool,
    /// `TRUSTED_PROXIES`: the networks whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `TRUSTED_DOCUMENTS`: a manifest (JSON object from SHA-256 to document).
    pub trusted_documents: Option<std::path::PathBuf>,
    /// `TRUSTED_DOCUMENTS_ONLY`: refuse any document not in the manifest.
    pub trusted_documents_only: bool,
    /// `REQUIRE_EMAIL_VERIFICATION`: an unverified user's right password gives `EMAIL_NOT_VERIFIED`.
    pub require_email_verification: bool,
    /// Account mail.
    pub mail: MailConfig,
    /// The outbox workers.
    pub outbox: OutboxConfig,
    /// `AUDIT_RETENTION_DAYS`: audit events older than this are deleted.
    pub audit_retention_days: u32,
    /// Webhook deliveries.
    pub webhooks: WebhookConfig,
    /// Live sockets.
    pub live: LiveConfig,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads configuration through `lookup`, so tests can supply their own
    /// values. Every problem is reported at once, one per line, so an
    /// operator fixes them in one go rather than one per start.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let env = Env::new(lookup);
        let config = read(&env);
        env.finish()?;
        Ok(config)
    }

    /// The environment as `migrate` and `create-superuser` need it: the
    /// database settings are checked as for serving, but production's
    /// secrets (`JWT_SECRET`, `MFA_ENCRYPTION_KEY`, `SMTP_URL`) and the
    /// `ADMIN_*` trio need not be there, so an operator can see or apply
    /// migrations with the database URL alone.
    pub fn for_database_from_env() -> anyhow::Result<Self> {
        let mut env = Env::new(|key: &str| std::env::var(key).ok());
        env.serving = false;
        let config = read(&env);
        env.finish()?;
        Ok(config)
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.expose_secret().starts_with("sqlite:")
    }
}

/// One secret from the process environment: `KEY`, or the file `KEY_FILE` names.
pub fn secret_from_env(key: &str) -> anyhow::Result<Option<SecretString>> {
    let env = Env::new(|key: &str| std::env::var(key).ok());
    let secret = env.secret(key);
    env.finish()?;
    Ok(secret)
}

/// Reads every setting, noting each problem in `env` and going on with the
/// default, so one pass finds them all.
fn read(env: &Env<impl Fn(&str) -> Option<String>>) -> Config {
    let app_env = match env
        .get("APP_ENV")
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("development" | "dev" | "test") => AppEnv::Development,
        Some("production" | "prod") => AppEnv::Production,
        Some(other) => {
            env.fail(format!(
                "APP_ENV must be `development` or `production`, not `{other}`"
            ));
            AppEnv::Development
        }
    };
    let production = app_env == AppEnv::Production;

    let (jwt_secret, jwt_secret_generated) = match env.secret("JWT_SECRET") {
        Some(secret) => {
            if secret.expose_secret().len() < 32 {
                env.fail("JWT_SECRET must be at least 32 bytes long");
            }
            (secret, false)
        }
        None => {
            // A file that could not be read is reported already.
            if production && env.serving && !env.secret_is_set("JWT_SECRET") {
                env.fail("JWT_SECRET (or JWT_SECRET_FILE) must be set when APP_ENV=production (at least 32 bytes)");
            }
            (SecretString::from(random_secret()), true)
        }
    };

    let admin = match (
        env.get("ADMIN_USERNAME"),
        env.get("ADMIN_EMAIL"),
        env.secret("ADMIN_PASSWORD"),
    ) {
        (Some(username), Some(email), Some(password)) => Some(AdminBootstrap {
            username,
            email,
            password,
        }),
        (None, None, None) => None,
        (username, email, password) => {
            let missing: Vec<&str> = [
                ("ADMIN_USERNAME", username.is_none()),
                ("ADMIN_EMAIL", email.is_none()),
                (
                    "ADMIN_PASSWORD",
                    password.is_none() && !env.secret_is_set("ADMIN_PASSWORD"),
                ),
            ]
            .into_iter()
            .filter_map(|(key, missing)| missing.then_some(key))
            .collect();
            if !missing.is_empty() && env.serving {
                env.fail(format!(
                    "ADMIN_USERNAME, ADMIN_EMAIL and ADMIN_PASSWORD make the first superuser together: {} missing",
                    missing.join(" and ")
                ));
            }
            None
        }
    };

    let mfa_encryption_key = match env.secret("MFA_ENCRYPTION_KEY") {
        Some(key) => {
            if key.expose_secret().len() < 32 {
                env.fail("MFA_ENCRYPTION_KEY must be at least 32 bytes long");
            }
            key
        }
        None => {
            if production && env.serving && !env.secret_is_set("MFA_ENCRYPTION_KEY") {
                env.fail(
                    "MFA_ENCRYPTION_KEY (or MFA_ENCRYPTION_KEY_FILE) must be set when APP_ENV=production (32+ random bytes, the same on every replica, kept apart from the database)",
                );
            }
            // A development server without JWT_SECRET makes a new one at
            // every start; enrolled factors must still open after a restart.
            if jwt_secret_generated {
                SecretString::from(DEVELOPMENT_MFA_KEY)
            } else {
                jwt_secret.clone()
            }
        }
    };
    let bind_addr = env.parse("BIND_ADDR", SocketAddr::from(([127, 0, 0, 1], 8000)));
    let (mail, public_url) = mail_config(env, production, bind_addr);
    let jwt_algorithm = env.parse("JWT_ALGORITHM", SigningAlgorithm::Hs256);
    // The key itself is read at start (service::signing), which says what is wrong with it.
    let jwt_private_key = env.secret("JWT_PRIVATE_KEY");
    if jwt_private_key.is_some() && !jwt_algorithm.is_asymmetric() {
        env.fail("JWT_PRIVATE_KEY_FILE is set but JWT_ALGORITHM is HS256: set JWT_ALGORITHM to the key's algorithm (EdDSA, ES256 or RS256)");
    }
    let jwt_accept_hs256_until = env.get("JWT_ACCEPT_HS256_UNTIL").and_then(|raw| {
        chrono::DateTime::parse_from_rfc3339(raw.trim())
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|_| {
                env.fail(format!(
                    "JWT_ACCEPT_HS256_UNTIL `{}` is not an RFC 3339 time such as 2027-01-31T00:00:00Z",
                    raw.trim()
                ))
            })
            .ok()
    });
    // A migration window, not a standing door for whoever holds JWT_SECRET.
    if let Some(until) = jwt_accept_hs256_until
        && until > chrono::Utc::now() + chrono::Duration::days(7)
    {
        env.fail(format!(
            "JWT_ACCEPT_HS256_UNTIL {} is more than 7 days away: set it to the switch plus the access-token lifetime",
            until.to_rfc3339()
        ));
    }

    // Other services check `iss` against the address they know usergraph
    // by; one made up from BIND_ADDR (0.0.0.0 in a container) is none.
    if production
        && env.serving
        && jwt_algorithm.is_asymmetric()
        && env.get("PUBLIC_URL").is_none()
        && env.get("JWT_ISSUER").is_none()
    {
        env.fail("JWT_ALGORITHM is asymmetric, so other services verify the tokens: set PUBLIC_URL (the address they reach usergraph at, also the tokens' issuer) or JWT_ISSUER when APP_ENV=production");
    }

    Config {
        app_env,
        database_url: env
            .secret("DATABASE_URL")
            .unwrap_or_else(|| SecretString::from("sqlite://usergraph.db?mode=rwc")),
        bind_addr,
        jwt_secret,
        jwt_secret_generated,
        mfa_encryption_key,
        jwt_issuer: env.get("JWT_ISSUER").unwrap_or_else(|| public_url.clone()),
        jwt_algorithm,
        jwt_private_key,
        jwt_accept_hs256_until,
        jwt_claims_preset: env.parse("JWT_CLAIMS_PRESET", ClaimsPreset::None),
        jwt_claims_template: env.get("JWT_CLAIMS_TEMPLATE"),
        identity_providers: identity_providers(env, production),
        external_signin_redirect_urls: env.list("EXTERNAL_SIGNIN_REDIRECT_URLS", |raw| {
            match url::Url::parse(raw) {
                Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
                    Ok(raw.to_owned())
                }
                _ => Err(format!("`{raw}` is not an http(s) URL")),
            }
        }),
        public_url,
        jwt_audience: env
            .get("JWT_AUDIENCE")
            .unwrap_or_else(|| "usergraph".into()),
        access_token_ttl: env.secs("ACCESS_TOKEN_TTL_SECS", 900),
        refresh_token_ttl: env.secs("REFRESH_TOKEN_TTL_SECS", 2_592_000),
        refresh_reuse_interval: env.secs("REFRESH_REUSE_INTERVAL_SECS", 0),
        admin,
        registration_enabled: env.switch("REGISTRATION_ENABLED", true),
        org_self_service: env.switch("ORG_SELF_SERVICE", false),
        impersonation_notify: env.switch("IMPERSONATION_NOTIFY", true),
        passwordless_signup: env.switch("PASSWORDLESS_SIGNUP", false),
        webauthn: webauthn_config(env, production, &mail.product_name),
        jwt_rotation_notice: env.secs("JWT_ROTATION_NOTICE_SECS", 360),
        graphiql: env.switch("GRAPHIQL", !production),
        admin_console: env.switch("ADMIN_CONSOLE", !production),
        introspection: env.switch("INTROSPECTION", !production),
        max_query_depth: env.parse("MAX_QUERY_DEPTH", 12),
        // A connection's children count once per row it may return, so a
        // page of 100 users with ~40 selected fields fits and 300 aliased
        // pages do not (graphql/directory.rs, `users`).
        max_query_complexity: env.parse("MAX_QUERY_COMPLEXITY", 5000),
        max_query_nodes: env.parse("MAX_QUERY_NODES", 3000),
        max_query_directives: env.parse("MAX_QUERY_DIRECTIVES", 5),
        max_recursive_depth: env.parse("MAX_RECURSIVE_DEPTH", 32),
        session_max_lifetime: env.secs("SESSION_MAX_LIFETIME_SECS", 7_776_000),
        log_format: match env.get("LOG_FORMAT").as_deref() {
            Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            None if production => LogFormat::Json,
            None => LogFormat::Pretty,
            Some(other) => {
                env.fail(format!(
                    "LOG_FORMAT must be `pretty` or `json`, not `{other}`"
                ));
                LogFormat::Pretty
            }
        },
        lockout_threshold: env.parse("LOGIN_LOCKOUT_THRESHOLD", 5),
        lockout_duration: env.secs("LOGIN_LOCKOUT_SECS", 900),
        // One core is left to everything else, so logins cannot starve
        // reads: with every core hashing, a mix's page p99 rose 4.5x under
        // logins, against 1.55x with one core left (BENCHMARKS.md, step 14).
        password_hash_concurrency: env.parse(
            "PASSWORD_HASH_CONCURRENCY",
            std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1)),
        ),
        password_hash_queue_timeout: env.millis("PASSWORD_HASH_QUEUE_TIMEOUT_MS", 10_000),
        request_timeout: env.secs("REQUEST_TIMEOUT_SECS", 30),
        database_max_connections: env.parse("DATABASE_MAX_CONNECTIONS", 10),
        database_connect_timeout: env.secs("DATABASE_CONNECT_TIMEOUT_SECS", 30),
        rate_limits: RateLimits {
            enabled: env.switch("RATE_LIMITS", production),
            register: env.rate("RATE_LIMIT_REGISTER", "10/hour"),
            login: env.rate("RATE_LIMIT_LOGIN", "60/minute"),
            recovery: env.rate("RATE_LIMIT_RECOVERY", "10/hour"),
        },
        header_read_timeout: env.secs("HEADER_READ_TIMEOUT_SECS", 10),
        shutdown_drain: env.secs("SHUTDOWN_DRAIN_SECS", if production { 5 } else { 0 }),
        shutdown_grace: env.secs("SHUTDOWN_GRACE_SECS", 20),
        cors: match env.get("CORS_ALLOWED_ORIGINS") {
            Some(raw) if raw.trim() == "*" => CorsOrigins::Any,
            Some(raw) => CorsOrigins::List(
                raw.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_owned())
                    .filter(|o| !o.is_empty())
                    .collect(),
            ),
            None if production => CorsOrigins::List(Vec::new()),
            None => CorsOrigins::LocalDevelopment,
        },
        cors_allowed_headers: env.list("CORS_ALLOWED_HEADERS", |name| {
            axum::http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("`{name}` is not a header name"))
        }),
        export_traces: env.get("OTEL_EXPORTER_OTLP_ENDPOINT").is_some(),
        metrics_token: env.secret("METRICS_TOKEN"),
        metrics_addr: env.parse_optional("METRICS_ADDR", "an address such as 0.0.0.0:9100"),
        metrics_enabled: !production
            || env.secret_is_set("METRICS_TOKEN")
            || env.get("METRICS_ADDR").is_some(),
        trusted_proxies: env.list("TRUSTED_PROXIES", |net| {
            net.parse::<ipnet::IpNet>()
                .or_else(|_| net.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("`{net}` is not an address or a CIDR network"))
        }),
        trusted_documents: env.get("TRUSTED_DOCUMENTS").map(Into::into),
        trusted_documents_only: env.switch("TRUSTED_DOCUMENTS_ONLY", false),
        require_email_verification: env.switch("REQUIRE_EMAIL_VERIFICATION", false),
        mail,
        outbox: OutboxConfig {
            poll_interval: env
                .millis("OUTBOX_POLL_MS", 1000)
                .max(Duration::from_millis(10)),
        },
        audit_retention_days: env.parse::<u32>("AUDIT_RETENTION_DAYS", 365).max(1),
        webhooks: WebhookConfig {
            retry_schedule: schedule(
                env.get("WEBHOOK_RETRY_SCHEDULE")
                    .as_deref()
                    .unwrap_or("5s,5m,30m,2h,5h,10h"),
            )
            .unwrap_or_else(|problem| {
                env.fail(format!("WEBHOOK_RETRY_SCHEDULE: {problem}"));
                Vec::new()
            }),
            allow_private_targets: env.switch("WEBHOOK_ALLOW_PRIVATE_TARGETS", false),
        },
        live: LiveConfig {
            max_per_user: env.parse::<usize>("WS_MAX_PER_USER", 16).max(1),
            max_per_address: env.parse::<usize>("WS_MAX_PER_ADDRESS", 64).max(1),
            init_timeout: env
                .secs("WS_INIT_TIMEOUT_SECS", 10)
                .max(Duration::from_secs(1)),
        },
    }
}

/// `IDENTITY_PROVIDERS`: each provider's settings from `IDP_<NAME>_*`.
fn identity_providers(
    env: &Env<impl Fn(&str) -> Option<String>>,
    production: bool,
) -> Vec<ProviderConfig> {
    let names = env.list("IDENTITY_PROVIDERS", |name| {
        let name = name.to_ascii_lowercase();
        let valid = (1..=32).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid {
            Ok(name)
        } else {
            Err(format!(
                "`{name}` is not a provider name (1 to 32 of a-z, 0-9 and -)"
            ))
        }
    });
    let mut providers = Vec::new();
    for name in names {
        let prefix = format!("IDP_{}_", name.to_ascii_uppercase().replace('-', "_"));
        let key = |suffix: &str| format!("{prefix}{suffix}");
        let kind = env.parse(&key("KIND"), ProviderKind::Oidc);
        // An issuer or endpoint: https, or a loopback host outside production
        // (the tests run their providers on 127.0.0.1).
        let endpoint = |suffix: &str, default: Option<&str>| -> Option<url::Url> {
            let variable = key(suffix);
            let raw = env.get(&variable).or(default.map(str::to_owned))?;
            let url = url::Url::parse(raw.trim()).ok();
            let loopback = url.as_ref().is_some_and(|u| {
                matches!(u.host(), Some(url::Host::Domain("localhost")))
                    || matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
                    || matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
            });
            match url {
                Some(url) if url.scheme() == "https" => Some(url),
                Some(url) if url.scheme() == "http" && loopback && !production => Some(url),
                _ => {
                    env.fail(format!(
                        "{variable} `{}` must be an https URL (http only for a loopback host outside production)",
                        raw.trim()
                    ));
                    None
                }
            }
        };
        let issuer = match kind {
            ProviderKind::Oidc => {
                let issuer = endpoint("ISSUER", None);
                if issuer.is_none() && env.get(&key("ISSUER")).is_none() {
                    env.fail(format!(
                        "{} must be set for the OpenID provider `{name}`",
                        key("ISSUER")
                    ));
                }
                issuer.and(env.get(&key("ISSUER")).map(|raw| raw.trim().to_owned()))
            }
            ProviderKind::Github => None,
        };
        let client_id = env.get(&key("CLIENT_ID")).unwrap_or_else(|| {
            env.fail(format!(
                "{} must be set for the provider `{name}`",
                key("CLIENT_ID")
            ));
            String::new()
        });
        let scopes = env
            .get(&key("SCOPES"))
            .unwrap_or_else(|| match kind {
                ProviderKind::Oidc => "openid email profile".into(),
                ProviderKind::Github => "read:user user:email".into(),
            })
            .split([' ', ','])
            .filter(|scope| !scope.is_empty())
            .map(str::to_owned)
            .collect();
        let fallback = || url::Url::parse("https://invalid.example").expect("a URL");
        providers.push(ProviderConfig {
            kind,
            issuer,
            client_secret: env.secret(&key("CLIENT_SECRET")),
            client_id,
            scopes,
            trust_email: env.switch(&key("TRUST_EMAIL"), false),
            display_name: env
                .get(&key("DISPLAY_NAME"))
                .map(|n| n.trim().chars().take(64).collect())
                .unwrap_or_else(|| {
                    let mut chars = name.chars();
                    chars
                        .next()
                        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                        .unwrap_or_default()
                }),
            authorize_url: endpoint(
                "AUTHORIZE_URL",
                Some("https://github.com/login/oauth/authorize"),
            )
            .unwrap_or_else(fallback),
            token_url: endpoint(
                "TOKEN_URL",
                Some("https://github.com/login/oauth/access_token"),
            )
            .unwrap_or_else(fallback),
            api_url: endpoint("API_URL", Some("https://api.github.com")).unwrap_or_else(fallback),
            name,
        });
    }
    if !providers.is_empty() && env.get("EXTERNAL_SIGNIN_REDIRECT_URLS").is_none() {
        env.fail("EXTERNAL_SIGNIN_REDIRECT_URLS must list the frontend pages providers send people back to");
    }
    providers
}

/// The relying party passkeys are made for.
#[derive(Debug, Clone)]
pub struct WebauthnConfig {
    /// `WEBAUTHN_RP_ID`: the domain passkeys are bound to (`localhost` in
    /// development).
    pub rp_id: String,
    /// `WEBAUTHN_RP_NAME` (`PRODUCT_NAME`): shown by the authenticator.
    pub rp_name: String,
    /// `WEBAUTHN_ORIGINS`: the origins of the pages that run the ceremony.
    pub origins: Vec<url::Url>,
    /// Development's `localhost` on any port (a dev server's port changes).
    pub any_port: bool,
}

/// Passkeys are on in development (for `http://localhost` on any port);
/// in production with `WEBAUTHN_RP_ID` and `WEBAUTHN_ORIGINS`, and never
/// with half of them: a passkey is bound to its domain for good, so a
/// guessed one would strand every passkey made under it. `PASSKEYS=off`
/// turns them off anywhere.
fn webauthn_config(
    env: &Env<impl Fn(&str) -> Option<String>>,
    production: bool,
    product_name: &str,
) -> Option<WebauthnConfig> {
    let rp_id = env
        .get("WEBAUTHN_RP_ID")
        .map(|id| id.trim().to_ascii_lowercase());
    let origins = env.list("WEBAUTHN_ORIGINS", |raw| match url::Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(url),
        _ => Err(format!(
            "`{raw}` is not an origin such as https://app.example.com"
        )),
    });
    let configured = rp_id.is_some() || !origins.is_empty();
    let wanted = env.switch("PASSKEYS", configured || !production);
    if !wanted {
        return None;
    }
    let rp_name = env
        .get("WEBAUTHN_RP_NAME")
        .unwrap_or_else(|| product_name.to_owned());
    let config = match (rp_id, origins.is_empty()) {
        (Some(rp_id), false) => WebauthnConfig {
            rp_id,
            rp_name,
            origins,
            any_port: false,
        },
        (rp_id, _) if production || rp_id.is_some() || !origins.is_empty() => {
            env.fail(
                "passkeys need both WEBAUTHN_RP_ID (the domain they are bound to) and WEBAUTHN_ORIGINS (the origins of the pages that use them); or set PASSKEYS=off",
            );
            return None;
        }
        _ => WebauthnConfig {
            rp_id: "localhost".into(),
            rp_name,
            origins: vec![url::Url::parse("http://localhost").expect("a URL")],
            any_port: true,
        },
    };
    // Browsers run passkeys only in a secure context: https, or localhost.
    if production
        && let Some(origin) = config
            .origins
            .iter()
            .find(|o| o.scheme() != "https" && o.host_str() != Some("localhost"))
    {
        env.fail(format!(
            "WEBAUTHN_ORIGINS: `{origin}` is not https (browsers run passkeys only on https pages, or localhost)"
        ));
    }
    if let Some(origin) = config.origins.iter().find(|origin| {
        let host = origin.host_str().unwrap_or_default();
        host != config.rp_id && !host.ends_with(&format!(".{}", config.rp_id))
    }) {
        env.fail(format!(
            "WEBAUTHN_ORIGINS: `{origin}` is not on WEBAUTHN_RP_ID `{}` or a subdomain of it",
            config.rp_id
        ));
    }
    Some(config)
}

/// Where mail links point when `PUBLIC_URL` is unset: the address the
/// server listens on, with a loopback address for an unspecified one.
fn listening_url(bind_addr: SocketAddr) -> String {
    let mut addr = bind_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    format!("http://{addr}")
}

/// The mail settings, and `PUBLIC_URL` (also the default issuer).
fn mail_config(
    env: &Env<impl Fn(&str) -> Option<String>>,
    production: bool,
    bind_addr: SocketAddr,
) -> (MailConfig, String) {
    let transport = match env.get("MAIL_TRANSPORT").as_deref().map(str::trim) {
        Some("log") => MailTransport::Log,
        None if !production => MailTransport::Log,
        None | Some("smtp") => match env.secret("SMTP_URL") {
            Some(url) => MailTransport::Smtp(url),
            None => {
                if env.serving && !env.secret_is_set("SMTP_URL") {
                    env.fail(
                        "SMTP_URL (or SMTP_URL_FILE) must be set when MAIL_TRANSPORT=smtp (the production default); \
                         set MAIL_TRANSPORT=log to write mail to the log instead",
                    );
                }
                MailTransport::Log
            }
        },
        Some(other) => {
            env.fail(format!(
                "MAIL_TRANSPORT must be `log` or `smtp`, not `{other}`"
            ));
            MailTransport::Log
        }
    };
    let public_url = match env.get("PUBLIC_URL") {
        Some(url) => {
            let url = url.trim().trim_end_matches('/').to_owned();
            let valid = url::Url::parse(&url)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
            if !valid {
                env.fail(format!("PUBLIC_URL `{url}` is not an http(s) URL"));
            }
            url
        }
        None => {
            let unset: Vec<&str> = [
                "PASSWORD_RESET_URL",
                "VERIFY_EMAIL_URL",
                "INVITATION_URL",
                "EMAIL_CHANGE_URL",
                "SIGN_IN_LINK_URL",
                "ORGANIZATION_INVITATION_URL",
            ]
            .into_iter()
            .filter(|key| env.get(key).is_none())
            .collect();
            if production
                && env.serving
                && matches!(transport, MailTransport::Smtp(_))
                && !unset.is_empty()
            {
                env.fail(format!(
                    "PUBLIC_URL must be set when APP_ENV=production and mail is sent (or each link: {} is not): the links in it would point at this server's listening address",
                    unset.join(", ")
                ));
            }
            listening_url(bind_addr)
        }
    };
    let link = |key: &str, page: &str| -> String {
        let link = env
            .get(key)
            .unwrap_or_else(|| format!("{public_url}/{page}?token={{token}}"));
        if !link.contains("{token}") {
            env.fail(format!(
                "{key} must contain `{{token}}`, where the link's token goes"
            ));
        }
        link
    };
    let from = env
        .get("MAIL_FROM")
        .unwrap_or_else(|| "usergraph <no-reply@localhost>".into());
    if from.parse::<lettre::message::Mailbox>().is_err() {
        env.fail(format!(
            "MAIL_FROM `{from}` is not an address such as `Name <no-reply@example.com>`"
        ));
    }
    let mail = MailConfig {
        transport,
        from,
        product_name: env
            .get("PRODUCT_NAME")
            .unwrap_or_else(|| "usergraph".into()),
        password_reset_url: link("PASSWORD_RESET_URL", "reset-password"),
        verify_email_url: link("VERIFY_EMAIL_URL", "verify-email"),
        invitation_url: link("INVITATION_URL", "accept-invitation"),
        email_change_url: link("EMAIL_CHANGE_URL", "confirm-email-change"),
        organization_invitation_url: link(
            "ORGANIZATION_INVITATION_URL",
            "accept-organization-invitation",
        ),
        sign_in_link_url: link("SIGN_IN_LINK_URL", "sign-in"),
        password_reset_ttl: env.secs("PASSWORD_RESET_TTL_SECS", 3600),
        email_token_ttl: env.secs("EMAIL_TOKEN_TTL_SECS", 86_400),
        invitation_ttl: env.secs("INVITATION_TTL_SECS", 604_800),
        sign_in_code_ttl: Duration::from_secs(600),
        locales: {
            let locales = env.list("MAIL_LOCALES", |raw| {
                let locale = raw.trim().to_ascii_lowercase();
                if MAIL_LANGUAGES.contains(&locale.as_str()) {
                    Ok(locale)
                } else {
                    Err(format!(
                        "mail has no templates in `{raw}` (there are: {})",
                        MAIL_LANGUAGES.join(", ")
                    ))
                }
            });
            if locales.is_empty() {
                vec!["en".to_owned()]
            } else {
                locales
            }
        },
        per_address: env.rate("RATE_LIMIT_MAIL", "5/hour"),
        retry_base: env.millis("OUTBOX_RETRY_BASE_MS", 30_000),
        max_attempts: env.parse::<u32>("OUTBOX_MAX_ATTEMPTS", 8).max(1),
    };
    (mail, public_url)
}

/// The development MFA key when neither `MFA_ENCRYPTION_KEY` nor
/// `JWT_SECRET` is set: not secret, never used in production (which
/// requires the variable).
const DEVELOPMENT_MFA_KEY: &str = "usergraph-development-only-mfa-key-not-secret";

/// A comma-separated list of delays: `500ms`, `5s`, `5m`, `2h`, `1d`.
fn schedule(raw: &str) -> Result<Vec<Duration>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            let invalid = || format!("`{d}` is not a delay such as 5s or 30m");
            let split = d.find(|c: char| !c.is_ascii_digit()).unwrap_or(d.len());
            let (n, unit) = d.split_at(split);
            let n: u64 = n.parse().map_err(|_| invalid())?;
            Ok(match unit {
                "ms" => Duration::from_millis(n),
                "s" => Duration::from_secs(n),
                "m" => Duration::from_secs(n * 60),
                "h" => Duration::from_secs(n * 3600),
                "d" => Duration::from_secs(n * 86_400),
                _ => return Err(invalid()),
            })
        })
        .collect()
}

/// The environment as start-up reads it: values through `lookup`, secrets
/// also from files, and every problem noted rather than returned, so
/// `finish` reports them all at once.
struct Env<L> {
    lookup: L,
    problems: std::cell::RefCell<Vec<String>>,
    /// Whether the configuration will serve requests (and so needs
    /// production's secrets); `migrate` does not.
    serving: bool,
}

impl<L: Fn(&str) -> Option<String>> Env<L> {
    fn new(lookup: L) -> Self {
        Self {
            lookup,
            problems: Default::default(),
            serving: true,
        }
    }

    fn fail(&self, problem: impl Into<String>) {
        self.problems.borrow_mut().push(problem.into());
    }

    /// Every problem noted, or none.
    fn finish(self) -> anyhow::Result<()> {
        let problems = self.problems.into_inner();
        match problems.as_slice() {
            [] => Ok(()),
            [one] => bail!("{one}"),
            many => bail!(
                "{} configuration problems:\n- {}",
                many.len(),
                many.join("\n- ")
            ),
        }
    }

    /// A variable's value; an empty one counts as unset.
    fn get(&self, key: &str) -> Option<String> {
        (self.lookup)(key).filter(|v| !v.trim().is_empty())
    }

    /// A secret: `KEY`, or the contents of the file `KEY_FILE` names (as
    /// container orchestrators mount secrets), without its final newline.
    fn secret(&self, key: &str) -> Option<SecretString> {
        let file_key = format!("{key}_FILE");
        match (self.get(key), self.get(&file_key)) {
            (Some(_), Some(_)) => {
                self.fail(format!("{key} and {file_key} are both set: set one"));
                None
            }
            (Some(value), None) => Some(SecretString::from(value)),
            (None, Some(path)) => match std::fs::read_to_string(path.trim()) {
                Ok(contents) => {
                    let value = contents.trim_end_matches(['\r', '\n']);
                    if value.trim().is_empty() {
                        self.fail(format!("{file_key}: `{}` is empty", path.trim()));
                        return None;
                    }
                    Some(SecretString::from(value.to_owned()))
                }
                Err(err) => {
                    self.fail(format!("{file_key}: cannot read `{}`: {err}", path.trim()));
                    None
                }
            },
            (None, None) => None,
        }
    }

    /// Whether a secret is set, without reading (or failing on) its file.
    fn secret_is_set(&self, key: &str) -> bool {
        self.get(key).is_some() || self.get(&format!("{key}_FILE")).is_some()
    }

    fn parse<T>(&self, key: &str, default: T) -> T
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let Some(raw) = self.get(key) else {
            return default;
        };
        raw.trim().parse().unwrap_or_else(|err| {
            self.fail(format!(
                "{key} has an invalid value `{}`: {err}",
                raw.trim()
            ));
            default
        })
    }

    fn parse_optional<T: FromStr>(&self, key: &str, expected: &str) -> Option<T> {
        let raw = self.get(key)?;
        let parsed = raw.trim().parse().ok();
        if parsed.is_none() {
            self.fail(format!("{key} `{}` is not {expected}", raw.trim()));
        }
        parsed
    }

    fn secs(&self, key: &str, default: u64) -> Duration {
        Duration::from_secs(self.parse(key, default))
    }

    fn millis(&self, key: &str, default: u64) -> Duration {
        Duration::from_millis(self.parse(key, default))
    }

    /// A boolean that also reads `on`/`off`, `yes`/`no` and `1`/`0`.
    fn switch(&self, key: &str, default: bool) -> bool {
        match self
            .get(key)
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None => default,
            Some("on" | "true" | "yes" | "1") => true,
            Some("off" | "false" | "no" | "0") => false,
            Some(other) => {
                self.fail(format!("{key} must be `on` or `off`, not `{other}`"));
                default
            }
        }
    }

    fn rate(&self, key: &str, default: &str) -> Rate {
        self.get(key)
            .as_deref()
            .unwrap_or(default)
            .parse()
            .unwrap_or_else(|problem| {
                self.fail(format!("{key}: {problem}"));
                default.parse().expect("the default rates parse")
            })
    }

    /// A comma-separated list, each item read by `item`.
    fn list<T>(&self, key: &str, item: impl Fn(&str) -> Result<T, String>) -> Vec<T> {
        let Some(raw) = self.get(key) else {
            return Vec::new();
        };
        raw.split(',')
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .filter_map(|value| {
                item(value)
                    .map_err(|problem| self.fail(format!("{key}: {problem}")))
                    .ok()
            })
            .collect()
    }
}

fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> anyhow::Result<Config> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_serve_sqlite_on_localhost_with_graphiql() {
        let config = config(&[]).unwrap();
        assert_eq!(config.bind_addr.to_string(), "127.0.0.1:8000");
        assert!(config.is_sqlite());
        assert!(config.graphiql && config.introspection && config.jwt_secret_generated);
        assert_eq!(config.access_token_ttl, Duration::from_secs(900));
    }

    #[test]
    fn production_refuses_to_start_without_a_jwt_secret() {
        let err = config(&[("APP_ENV", "production")]).unwrap_err();
        assert!(err.to_string().contains("JWT_SECRET"), "{err}");
    }

    #[test]
    fn mail_locales_are_languages_with_templates() {
        assert_eq!(config(&[]).unwrap().mail.locales, ["en"]);
        let both = config(&[("MAIL_LOCALES", "en, DE")]).unwrap();
        assert_eq!(both.mail.locales, ["en", "de"]);
        let err = config(&[("MAIL_LOCALES", "en,fr")]).unwrap_err();
        assert!(err.to_string().contains("no templates in `fr`"), "{err}");
    }

    #[test]
    fn production_with_published_keys_needs_the_address_others_know_it_by() {
        let secret = "x".repeat(32);
        let base = [
            ("APP_ENV", "production"),
            ("JWT_SECRET", secret.as_str()),
            ("MAIL_TRANSPORT", "log"),
            ("MFA_ENCRYPTION_KEY", secret.as_str()),
            ("JWT_ALGORITHM", "EdDSA"),
        ];
        let err = config(&base).unwrap_err();
        assert!(err.to_string().contains("set PUBLIC_URL"), "{err}");
        for set in [
            ("PUBLIC_URL", "https://id.example.com"),
            ("JWT_ISSUER", "https://id.example.com"),
        ] {
            let mut env = base.to_vec();
            env.push(set);
            let config = config(&env).unwrap();
            assert_eq!(config.jwt_issuer, "https://id.example.com");
        }
    }

    #[test]
    fn production_turns_graphiql_and_introspection_off_unless_enabled() {
        let secret = "x".repeat(32);
        let prod = config(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", &secret),
            ("MAIL_TRANSPORT", "log"),
            ("MFA_ENCRYPTION_KEY", &secret),
        ])
        .unwrap();
        assert!(!prod.graphiql && !prod.introspection);
        assert_eq!(prod.log_format, LogFormat::Json);
        let enabled = config(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", &secret),
            ("MAIL_TRANSPORT", "log"),
            ("MFA_ENCRYPTION_KEY", &secret),
            ("GRAPHIQL", "true"),
        ])
        .unwrap();
        assert!(enabled.graphiql);
    }

    #[test]
    fn rate_limits_are_on_in_production_and_off_in_development_unless_set() {
        let secret = "x".repeat(32);
        let prod = config(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", &secret),
            ("MAIL_TRANSPORT", "log"),
            ("MFA_ENCRYPTION_KEY", &secret),
        ])
        .unwrap();
        assert!(prod.rate_limits.enabled);
        assert_eq!(prod.rate_limits.register.hits, 10);
        assert!(!config(&[]).unwrap().rate_limits.enabled);
        let on = config(&[("RATE_LIMITS", "on"), ("RATE_LIMIT_LOGIN", "3/second")]).unwrap();
        assert!(on.rate_limits.enabled);
        assert_eq!(on.rate_limits.login.hits, 3);
        assert!(config(&[("RATE_LIMIT_LOGIN", "lots")]).is_err());
    }

    #[test]
    fn cors_allows_local_origins_in_development_none_in_production_unless_listed() {
        let secret = "x".repeat(32);
        assert_eq!(config(&[]).unwrap().cors, CorsOrigins::LocalDevelopment);
        let prod = config(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", &secret),
            ("MAIL_TRANSPORT", "log"),
            ("MFA_ENCRYPTION_KEY", &secret),
        ])
        .unwrap();
        assert_eq!(prod.cors, CorsOrigins::List(vec![]));
        let listed = config(&[(
            "CORS_ALLOWED_ORIGINS",
            "https://app.example.com/, https://admin.example.com",
        )])
        .unwrap();
        assert_eq!(
            listed.cors,
            CorsOrigins::List(vec![
                "https://app.example.com".into(),
                "https://admin.example.com".into()
            ])
        );
        assert_eq!(
            config(&[("CORS_ALLOWED_ORIGINS", "*")]).unwrap().cors,
            CorsOrigins::Any
        );
    }

    #[test]
    fn rates_parse_in_words_and_letters() {
        assert_eq!(
            "10/hour".parse::<Rate>().unwrap(),
            Rate {
                hits: 10,
                per: Duration::from_secs(3600)
            }
        );
        assert_eq!("60/m".parse::<Rate>().unwrap().per, Duration::from_secs(60));
        for bad in ["10", "0/hour", "x/hour", "10/fortnight"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn trusted_proxies_are_networks_or_addresses() {
        let listed = config(&[("TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7 ,::1")]).unwrap();
        assert_eq!(listed.trusted_proxies.len(), 3);
        assert!(
            listed.trusted_proxies[1].contains(&"192.0.2.7".parse::<std::net::IpAddr>().unwrap())
        );
        assert!(config(&[("TRUSTED_PROXIES", "10.0.0.0/33")]).is_err());
        assert!(config(&[]).unwrap().trusted_proxies.is_empty());
    }

    #[test]
    fn mail_goes_to_the_log_in_development_and_needs_an_smtp_url_in_production() {
        let secret = "x".repeat(32);
        assert!(matches!(
            config(&[]).unwrap().mail.transport,
            MailTransport::Log
        ));
        let err = config(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", &secret),
            ("MFA_ENCRYPTION_KEY", &secret),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("SMTP_URL"), "{err}");
        let smtp = config(&[("MAIL_TRANSPORT", "smtp"), ("SMTP_URL", "smtp://mail:2525")]).unwrap();
        assert!(matches!(smtp.mail.transport, MailTransport::Smtp(_)));
        let mail = config(&[("PUBLIC_URL", "https://app.example.com/")])
            .unwrap()
            .mail;
        assert_eq!(
            mail.password_reset_url,
            "https://app.example.com/reset-password?token={token}"
        );
        assert!(config(&[("VERIFY_EMAIL_URL", "https://app.example.com/verify")]).is_err());
        assert!(config(&[("MAIL_FROM", "not an address")]).is_err());
        assert!(config(&[("PUBLIC_URL", "ftp://x")]).is_err());
    }

    #[test]
    fn production_needs_an_mfa_key_of_its_own_and_development_derives_one() {
        let secret = "x".repeat(32);
        let err = config(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", &secret),
            ("MAIL_TRANSPORT", "log"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("MFA_ENCRYPTION_KEY"), "{err}");
        assert!(config(&[("MFA_ENCRYPTION_KEY", "short")]).is_err());
        let dev = config(&[("JWT_SECRET", &secret)]).unwrap();
        assert_eq!(dev.mfa_encryption_key.expose_secret(), secret);
    }

    #[test]
    fn the_webhook_retry_schedule_reads_durations() {
        let default = config(&[]).unwrap().webhooks.retry_schedule;
        assert_eq!(default.len(), 6);
        assert_eq!(default[0], Duration::from_secs(5));
        assert_eq!(default[5], Duration::from_secs(36_000));
        let short = config(&[("WEBHOOK_RETRY_SCHEDULE", "10ms, 1s")]).unwrap();
        assert_eq!(
            short.webhooks.retry_schedule,
            [Duration::from_millis(10), Duration::from_secs(1)]
        );
        assert!(config(&[("WEBHOOK_RETRY_SCHEDULE", "soon")]).is_err());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = config(&[
            ("APP_ENV", "production"),
            ("RATE_LIMIT_LOGIN", "lots"),
            ("BIND_ADDR", "here"),
            ("GRAPHIQL", "maybe"),
        ])
        .unwrap_err()
        .to_string();
        for variable in [
            "JWT_SECRET",
            "MFA_ENCRYPTION_KEY",
            "SMTP_URL",
            "RATE_LIMIT_LOGIN",
            "BIND_ADDR",
            "GRAPHIQL",
        ] {
            assert!(err.contains(variable), "{variable} missing: {err}");
        }
        assert!(err.starts_with("6 configuration problems:\n- "), "{err}");
    }

    #[test]
    fn secrets_are_read_from_files_named_by_their_file_variables() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, contents: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, contents).unwrap();
            path.display().to_string()
        };
        let jwt = write("jwt", &format!("{}\n", "j".repeat(40)));
        let mfa = write("mfa", &"m".repeat(40));
        let smtp = write("smtp", "smtp://mail.internal:2525\n");
        let metrics = write("metrics", "scrape-me\n");
        let database = write("database", "postgres://app:pw@db/app\n");
        let config = config(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET_FILE", &jwt),
            ("MFA_ENCRYPTION_KEY_FILE", &mfa),
            ("SMTP_URL_FILE", &smtp),
            ("METRICS_TOKEN_FILE", &metrics),
            ("DATABASE_URL_FILE", &database),
            ("PUBLIC_URL", "https://id.example.com"),
        ])
        .unwrap();
        assert_eq!(config.jwt_secret.expose_secret(), "j".repeat(40));
        assert_eq!(config.mfa_encryption_key.expose_secret(), "m".repeat(40));
        assert!(
            matches!(&config.mail.transport, MailTransport::Smtp(url) if url.expose_secret() == "smtp://mail.internal:2525")
        );
        assert_eq!(config.metrics_token.unwrap().expose_secret(), "scrape-me");
        assert!(config.metrics_enabled);
        assert_eq!(
            config.database_url.expose_secret(),
            "postgres://app:pw@db/app"
        );
        let both = self::config(&[("JWT_SECRET", &"j".repeat(40)), ("JWT_SECRET_FILE", &jwt)])
            .unwrap_err()
            .to_string();
        assert!(both.contains("both set"), "{both}");
        let missing = self::config(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET_FILE", "/nonexistent/jwt"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            !missing.contains("JWT_SECRET (or JWT_SECRET_FILE) must be set"),
            "one line for one problem: {missing}"
        );
        assert!(
            missing.contains("JWT_SECRET_FILE: cannot read `/nonexistent/jwt`"),
            "{missing}"
        );
        let empty = write("empty", "\n");
        let empty = self::config(&[("MFA_ENCRYPTION_KEY_FILE", &empty)])
            .unwrap_err()
            .to_string();
        assert!(empty.contains("is empty"), "{empty}");
    }

    #[test]
    fn mail_links_follow_the_listening_address_unless_public_url_is_set() {
        let links = |pairs: &[(&str, &str)]| config(pairs).unwrap().mail.password_reset_url;
        assert_eq!(
            links(&[("BIND_ADDR", "127.0.0.1:9000")]),
            "http://127.0.0.1:9000/reset-password?token={token}"
        );
        assert_eq!(
            links(&[("BIND_ADDR", "0.0.0.0:8080")]),
            "http://127.0.0.1:8080/reset-password?token={token}"
        );
        assert_eq!(
            links(&[
                ("BIND_ADDR", "0.0.0.0:8080"),
                ("PUBLIC_URL", "https://id.example.com")
            ]),
            "https://id.example.com/reset-password?token={token}"
        );
        let secret = "x".repeat(32);
        let err = config(&[
            ("APP_ENV", "production"),
            ("JWT_SECRET", &secret),
            ("MFA_ENCRYPTION_KEY", &secret),
            ("SMTP_URL", "smtp://mail:25"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("PUBLIC_URL must be set"), "{err}");
    }

    #[test]
    fn the_first_superuser_needs_all_three_admin_variables() {
        let err = config(&[("ADMIN_USERNAME", "root"), ("ADMIN_PASSWORD", "x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ADMIN_EMAIL missing"), "{err}");
        assert!(config(&[]).unwrap().admin.is_none());
    }

    #[test]
    fn a_short_jwt_secret_is_refused() {
        assert!(config(&[("JWT_SECRET", "short")]).is_err());
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let secret = "s".repeat(40);
        let config = config(&[("JWT_SECRET", &secret)]).unwrap();
        assert!(!format!("{config:?}").contains(&secret));
    }
}
