//! `TestApp`: the real router on a real HTTP port over a fresh database per
//! test: a SQLite file in a temporary directory by default, or a new
//! PostgreSQL database when `TEST_DATABASE_URL` is set.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, atomic::Ordering},
};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use usergraph::{app, config::Config, http, service::AppContext, worker::Workers};

pub use crate::mailbox::MailSink;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const PASSWORD: &str = "tangerine-kettle-42";
/// Production needs it; every test has it, so production-mode tests start.
pub const MFA_KEY: &str = "test-mfa-key-test-mfa-key-test-mfa-0123";

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub ctx: Arc<AppContext>,
    env: HashMap<String, String>,
    server: JoinHandle<()>,
    /// The outbox worker and pruning, as `serve` runs them.
    background: Option<Workers>,
    /// One argon2 hash of `PASSWORD`, shared by directly inserted users.
    password_hash: tokio::sync::OnceCell<String>,
    _dir: Option<tempfile::TempDir>,
}

/// A signed-in test user.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub access: String,
    pub refresh: String,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Spawns with extra environment settings, e.g. `("REGISTRATION_ENABLED", "false")`.
    pub async fn spawn_with(settings: &[(&str, &str)]) -> Self {
        capture_logs();
        let (database_url, dir) = fresh_database().await;
        let mut env: HashMap<String, String> = [
            ("DATABASE_URL", database_url.as_str()),
            ("JWT_SECRET", JWT_SECRET),
            ("BIND_ADDR", "127.0.0.1:0"),
            // Production's default is SMTP, which needs a server; tests that
            // send mail set their own (`spawn_with_mail`).
            ("MAIL_TRANSPORT", "log"),
            ("MFA_ENCRYPTION_KEY", MFA_KEY),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in settings {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        let (addr, ctx, server, background) = start(&env).await;
        Self {
            addr,
            client: reqwest::Client::new(),
            ctx,
            env,
            server,
            background: Some(background),
            password_hash: tokio::sync::OnceCell::new(),
            _dir: dir,
        }
    }

    /// Stops the server and starts a new one on the same database.
    pub async fn restart(&mut self) {
        self.server.abort();
        self.stop_background().await;
        self.ctx.db.clone().close().await.expect("close the pool");
        let (addr, ctx, server, background) = start(&self.env).await;
        (self.addr, self.ctx, self.server) = (addr, ctx, server);
        self.background = Some(background);
    }

    /// As `restart`, with some settings changed.
    pub async fn restart_with(&mut self, settings: &[(&str, &str)]) {
        for (k, v) in settings {
            self.env.insert((*k).to_owned(), (*v).to_owned());
        }
        self.restart().await;
    }

    /// Spawns with mail sent over SMTP to a new sink, polled and retried quickly.
    pub async fn spawn_with_mail(settings: &[(&str, &str)]) -> (Self, MailSink) {
        let sink = MailSink::start().await;
        let url = sink.url();
        let mut all = vec![
            ("MAIL_TRANSPORT", "smtp"),
            ("SMTP_URL", url.as_str()),
            ("OUTBOX_POLL_MS", "50"),
            ("OUTBOX_RETRY_BASE_MS", "100"),
        ];
        all.extend_from_slice(settings);
        (Self::spawn_with(&all).await, sink)
    }

    /// Stops the outbox worker as a shutdown does: a send in progress finishes.
    pub async fn stop_background(&mut self) {
        if let Some(background) = self.background.take() {
            background.stop(std::time::Duration::from_secs(30)).await;
        }
    }

    /// Another replica: a second server, with its own pool and worker, on
    /// this app's database. Stops when dropped.
    pub async fn spawn_replica(&self) -> Replica {
        let (addr, ctx, server, background) = start(&self.env).await;
        Replica {
            addr,
            _ctx: ctx,
            server,
            background,
        }
    }

    /// Builds another replica on this database with some settings changed,
    /// as its start would (the keys settled, migrations run), without
    /// serving: the start's error, if any.
    pub async fn try_start_with(&self, settings: &[(&str, &str)]) -> anyhow::Result<()> {
        let mut env = self.env.clone();
        for (k, v) in settings {
            env.insert((*k).to_owned(), (*v).to_owned());
        }
        let config = Config::from_lookup(|k| env.get(k).cloned())?;
        let (conn, stats) = usergraph::db::connect(&config).await?;
        let built = app::build_on(conn.clone(), stats, config).await.map(|_| ());
        conn.close().await?;
        built
    }

    /// POSTs a GraphQL operation to `addr` (another replica) with a bearer token.
    pub async fn gql_at(&self, addr: SocketAddr, token: &str, query: &str) -> Value {
        self.client
            .post(format!("http://{addr}/graphql"))
            .bearer_auth(token)
            .json(&json!({ "query": query }))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json body")
    }

    /// A second service context on this app's database, with its own pool,
    /// as another replica has (no HTTP server, no worker of its own).
    pub async fn replica(&self) -> Arc<AppContext> {
        let config = Config::from_lookup(|k| self.env.get(k).cloned()).expect("test config");
        let (conn, stats) = usergraph::db::connect(&config).await.expect("connect");
        AppContext::new(conn, stats, config).expect("context")
    }

    /// The database this app runs on (`DATABASE_URL`).
    pub fn database_url(&self) -> &str {
        &self.env["DATABASE_URL"]
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.ctx.db
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// POSTs a GraphQL operation, optionally with a bearer token; returns the JSON body.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        self.gql_body(token, json!({ "query": query, "variables": variables }))
            .await
    }

    /// GETs `path` (no headers of its own).
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// POSTs any JSON body (a persisted query, an operation name…); returns the JSON answer.
    pub async fn gql_body(&self, token: Option<&str>, body: Value) -> Value {
        let mut request = self.client.post(self.url("/graphql")).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json body")
    }

    pub async fn register_as(&self, username: &str) -> Account {
        let email = format!("{username}@example.com");
        let body = self
            .gql(
                None,
                REGISTER,
                json!({ "input": { "username": username, "email": email, "password": PASSWORD } }),
            )
            .await;
        account(&body["data"]["register"]).unwrap_or_else(|| panic!("register failed: {body}"))
    }

    /// Registers `username` and marks its address verified, as following
    /// the mailed link would (tests of the link itself live in recovery.rs).
    pub async fn register_verified(&self, username: &str) -> Account {
        let account = self.register_as(username).await;
        self.sql(&format!(
            "UPDATE users SET email_verified_at = CURRENT_TIMESTAMP WHERE username = '{username}'"
        ))
        .await;
        account
    }

    pub async fn login(&self, login: &str, password: &str) -> Value {
        self.gql(
            None,
            LOGIN,
            json!({ "input": { "login": login, "password": password } }),
        )
        .await
    }

    pub async fn refresh(&self, refresh: &str) -> Value {
        self.gql(None, REFRESH, json!({ "token": refresh })).await
    }

    pub async fn me(&self, token: &str) -> Value {
        self.gql(
            Some(token),
            "{ me { id username email lastLoginAt } }",
            json!({}),
        )
        .await
    }

    /// Creates a superuser through the service (as `create-superuser` does) and signs in.
    pub async fn superuser(&self, username: &str) -> Account {
        let email = format!("{username}@example.com");
        usergraph::service::accounts::create_superuser(
            &self.ctx,
            username,
            &email,
            &PASSWORD.to_owned().into(),
        )
        .await
        .expect("create superuser");
        let body = self.login(username, PASSWORD).await;
        account(&body["data"]["login"]).unwrap_or_else(|| panic!("superuser login failed: {body}"))
    }

    /// The id of the role called `name`.
    pub async fn role_id(&self, token: &str, name: &str) -> String {
        let body = self
            .gql(Some(token), "{ roles { id name } }", json!({}))
            .await;
        body["data"]["roles"]
            .as_array()
            .and_then(|roles| roles.iter().find(|r| r["name"] == name))
            .and_then(|r| r["id"].as_str())
            .unwrap_or_else(|| panic!("no role {name}: {body}"))
            .to_owned()
    }

    /// Replaces `user_id`'s roles as `token`; returns the response body.
    pub async fn set_roles(&self, token: &str, user_id: &str, role_ids: &[&str]) -> Value {
        let query = "mutation($id: ID!, $roles: [ID!]!) { setUserRoles(id: $id, roleIds: $roles) { id isStaff roles { name } } }";
        self.gql(
            Some(token),
            query,
            json!({ "id": user_id, "roles": role_ids }),
        )
        .await
    }

    /// How many statements `work` made the app run.
    pub async fn count_statements<T>(
        &self,
        work: impl std::future::Future<Output = T>,
    ) -> (u64, T) {
        let before = self.ctx.stats.sql_statements.load(Ordering::SeqCst);
        let out = work.await;
        (
            self.ctx.stats.sql_statements.load(Ordering::SeqCst) - before,
            out,
        )
    }

    async fn shared_hash(&self) -> String {
        self.password_hash
            .get_or_init(|| async {
                self.ctx
                    .hasher
                    .hash(PASSWORD.to_owned())
                    .await
                    .expect("hash")
            })
            .await
            .clone()
    }

    /// Inserts `n` users directly (sharing one precomputed password hash), each
    /// with the `user` role and every third on `tier`; returns their ids.
    pub async fn seed_users(
        &self,
        n: usize,
        prefix: &str,
        tier: Option<uuid::Uuid>,
    ) -> Vec<uuid::Uuid> {
        use entity::{user, user_role};
        use sea_orm::{ActiveValue::Set, EntityTrait};
        let hash = self.shared_hash().await;
        let role_id = self.builtin_role(DEFAULT_ROLE).await;
        let start = chrono::Utc::now() - chrono::Duration::hours(1);
        let rows: Vec<user::ActiveModel> = (0..n)
            .map(|i| {
                let at = start + chrono::Duration::milliseconds(i as i64);
                let mut model = new_user(&format!("{prefix}{i:04}"), &hash, at);
                model.first_name = Set(Some(format!("First{i}")));
                model.last_name = Set(Some(format!("Last{i}")));
                model.tier_id = Set(if i % 3 == 0 { tier } else { None });
                usergraph::service::users::set_derived(&mut model, None);
                model
            })
            .collect();
        let ids: Vec<uuid::Uuid> = rows.iter().map(|m| *m.id.as_ref()).collect();
        for chunk in rows.chunks(50) {
            user::Entity::insert_many(chunk.to_vec())
                .exec(self.db())
                .await
                .expect("seed users");
        }
        let links: Vec<user_role::ActiveModel> = ids
            .iter()
            .map(|id| user_role::ActiveModel {
                user_id: Set(*id),
                role_id: Set(role_id),
                created_at: Set(start),
            })
            .collect();
        for chunk in links.chunks(100) {
            user_role::Entity::insert_many(chunk.to_vec())
                .exec(self.db())
                .await
                .expect("seed roles");
        }
        ids
    }

    async fn builtin_role(&self, name: &str) -> uuid::Uuid {
        use entity::role;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        role::Entity::find()
            .filter(role::Column::Name.eq(name))
            .one(self.db())
            .await
            .unwrap()
            .expect("built-in role")
            .id
    }

    /// A user inserted directly with these built-in roles and a verified
    /// address (an established account), signed in through the session
    /// service (no password check, so no argon2 per user).
    pub async fn user_with(&self, username: &str, roles: &[&str], superuser: bool) -> Account {
        use entity::user_role;
        use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
        let mut model = new_user(username, &self.shared_hash().await, chrono::Utc::now());
        model.is_superuser = Set(superuser);
        model.email_verified_at = Set(Some(usergraph::service::now()));
        usergraph::service::users::set_derived(&mut model, None);
        let user = model.insert(self.db()).await.expect("insert user");
        for name in roles {
            let role_id = self.builtin_role(name).await;
            user_role::Entity::insert(user_role::ActiveModel {
                user_id: Set(user.id),
                role_id: Set(role_id),
                created_at: Set(user.created_at),
            })
            .exec(self.db())
            .await
            .expect("grant role");
        }
        let tokens =
            usergraph::service::access::start(self.db(), &self.ctx, user, &Default::default())
                .await
                .expect("session");
        Account {
            id: usergraph::ids::encode(usergraph::ids::USER, tokens.user.id),
            access: tokens.access_token,
            refresh: tokens.refresh_token,
        }
    }

    /// The rows of a raw SQL query, for checking what the database holds.
    pub async fn rows(&self, sql: &str) -> Vec<sea_orm::QueryResult> {
        self.db()
            .query_all_raw(sea_orm::Statement::from_string(
                self.db().get_database_backend(),
                sql,
            ))
            .await
            .expect("inspection SQL")
    }

    /// Runs raw SQL for arranging a state no API offers yet.
    pub async fn sql(&self, sql: &str) {
        self.db()
            .execute_unprepared(sql)
            .await
            .expect("arrangement SQL");
    }
}

/// A second server on a `TestApp`'s database (`spawn_replica`).
pub struct Replica {
    pub addr: SocketAddr,
    _ctx: Arc<AppContext>,
    server: JoinHandle<()>,
    background: Workers,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.server.abort();
        self.background.abort();
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        if let Some(background) = self.background.take() {
            background.abort();
        }
    }
}

pub const REGISTER: &str = "mutation($input: RegisterInput!) { register(input: $input) { accessToken refreshToken tokenType expiresIn user { id username email name firstName lastName roles { name } isStaff } } }";
pub const LOGIN: &str = "mutation($input: LoginInput!) { login(input: $input) { accessToken refreshToken user { id username email lastLoginAt } } }";
pub const REFRESH: &str = "mutation($token: String!) { refreshToken(refreshToken: $token) { accessToken refreshToken user { id username email } } }";

/// The account in an `AuthPayload`, if the operation succeeded.
pub fn account(payload: &Value) -> Option<Account> {
    Some(Account {
        id: payload["user"]["id"].as_str()?.to_owned(),
        access: payload["accessToken"].as_str()?.to_owned(),
        refresh: payload["refreshToken"].as_str()?.to_owned(),
    })
}

/// The `extensions.code` of the first error, or "" when there is none.
pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

/// The `extensions.field` of the first error, or "".
pub fn field(body: &Value) -> &str {
    body["errors"][0]["extensions"]["field"]
        .as_str()
        .unwrap_or_default()
}

const DEFAULT_ROLE: &str = "user";

fn new_user(
    username: &str,
    hash: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> entity::user::ActiveModel {
    usergraph::service::users::new_row(
        username.to_owned(),
        format!("{username}@example.com"),
        hash.to_owned(),
        at,
    )
}

async fn start(
    env: &HashMap<String, String>,
) -> (SocketAddr, Arc<AppContext>, JoinHandle<()>, Workers) {
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test config");
    let (conn, stats) = usergraph::db::connect(&config).await.expect("connect");
    let (ctx, router) = app::build_on(conn, stats, config)
        .await
        .expect("build the app");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let served = ctx.clone();
    let server = tokio::spawn(async move {
        http::serve_on(listener, router, &served.config, std::future::pending()).await;
    });
    let background = Workers::start(ctx.clone());
    (addr, ctx, server, background)
}

/// Everything the service logs during the test run, as plain text.
static LOGS: std::sync::OnceLock<Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();

#[derive(Clone)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Routes the service's logs (info and up) into a buffer the tests can read.
fn capture_logs() {
    LOGS.get_or_init(|| {
        let buffer = Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = LogBuffer(buffer.clone());
        let _ = tracing_subscriber::fmt()
            .with_env_filter("usergraph=info")
            .with_ansi(false)
            // A timestamp's microseconds are six digits, as a mailed code is:
            // the leak checks must not find one in the other.
            .without_time()
            // Each line names the test that logged it (libtest names a
            // test's thread after it): see `logs_mention`.
            .with_thread_names(true)
            .with_writer(move || writer.clone())
            .try_init();
        buffer
    });
}

/// The captured log so far.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.get().expect("logs captured").lock().unwrap()).into_owned()
}

/// Where the captured log holds `secret` as a word of its own, with the
/// text around it (for the failure message), or `None`: every test's
/// lines share the log, and a short secret (a six-digit code) is bound to
/// occur inside some longer run of digits or hex, or a decimal's fraction.
/// Lines another test's thread logged are left out: a six-digit number of
/// theirs (a latency, their own code) is no leak of this one. Lines of the
/// runtime's other threads (a `multi_thread` test's workers, blocking
/// tasks) are all read. Call it from the test's body: its thread names
/// the test.
pub fn logs_mention(secret: &str) -> Option<String> {
    let me = std::thread::current().name().map(str::to_owned);
    let another_tests = |line: &str| {
        // `LEVEL thread target: message`; a test's thread is `module::test`.
        let mut words = line.split_whitespace().skip(1);
        words.next().is_some_and(|thread| {
            !thread.ends_with(':') && thread.contains("::") && Some(thread) != me.as_deref()
        })
    };
    let logs = logs()
        .lines()
        .filter(|line| !another_tests(line))
        .collect::<Vec<_>>()
        .join("\n");
    let alone = |at: Option<char>| at.is_none_or(|c| !c.is_ascii_alphanumeric());
    // A decimal's fraction is not a word of its own: `latency_ms=156.668463`
    // holds six digits after its point on every request's line.
    let fraction = |at: usize| {
        let mut before = logs[..at].chars().rev();
        before.next() == Some('.') && before.next().is_some_and(|c| c.is_ascii_digit())
    };
    logs.match_indices(secret)
        .find(|&(at, _)| {
            alone(logs[..at].chars().next_back())
                && !fraction(at)
                && alone(logs[at + secret.len()..].chars().next())
        })
        .map(|(at, _)| {
            let from = logs.floor_char_boundary(at.saturating_sub(200));
            let to = logs.ceil_char_boundary((at + 200).min(logs.len()));
            logs[from..to].to_owned()
        })
}

/// A new, empty database URL (and the directory holding it, for SQLite).
pub async fn fresh_database() -> (String, Option<tempfile::TempDir>) {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(base) if base.starts_with("postgres") => {
            let name = format!("ug_test_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(&base)
                .await
                .expect("connect TEST_DATABASE_URL");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let (prefix, _) = base
                .rsplit_once('/')
                .expect("TEST_DATABASE_URL names a database");
            (format!("{prefix}/{name}"), None)
        }
        _ => {
            let dir = tempfile::tempdir().expect("tempdir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
            (url, Some(dir))
        }
    }
}

/// Asserts that `request(0)` (about an address with an account) answers as
/// fast as `request(1)` (about one without): medians of 19 interleaved runs
/// each within 1.5x, in one of three measurements. Enumeration-safe
/// requests do their lookup and mail after answering, so neither case does
/// more work before it; a leak (a token and a mail written on the request
/// path) costs a transaction, several times a bare answer. Load on the
/// shared cores alone has been seen to shift one median by half, hence the
/// margin and three tries.
pub async fn answers_take_the_same_time<F, Fut>(request: F)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use std::time::{Duration, Instant};
    let mut attempts = Vec::new();
    for _ in 0..3 {
        let mut times: Vec<Vec<Duration>> = vec![Vec::new(), Vec::new()];
        for round in 0..20 {
            for offset in 0..2 {
                let i = (round + offset) % 2;
                let started = Instant::now();
                request(i).await;
                let elapsed = started.elapsed();
                if round > 0 {
                    times[i].push(elapsed);
                }
            }
        }
        let medians: Vec<Duration> = times
            .into_iter()
            .map(|mut t| {
                t.sort();
                t[t.len() / 2]
            })
            .collect();
        let (known, unknown) = (medians[0].as_secs_f64(), medians[1].as_secs_f64());
        if known <= unknown * 1.5 && unknown <= known * 1.5 {
            return;
        }
        attempts.push(medians);
    }
    panic!("medians differ by more than 1.5x in every measurement: {attempts:?}");
}
