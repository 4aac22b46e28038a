//! The benchmark's physical-limit baseline: a hand-written axum handler that
//! answers the Q1 (a page of users), Q2 (a user by id) and A2 (`me`) scenarios with the
//! same SQL statements usergraph runs (viewer, users with tiers, roles) and the
//! same JSON, with no GraphQL, no ORM and no DataLoader. Every usergraph
//! number in BENCHMARKS.md is divided by this one, measured in the same run.
//! PostgreSQL only. A workspace member of its own (`cargo build -p bench-raw`),
//! so the service has no benchmark feature.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use sea_orm::sqlx::{self, PgPool, Row, postgres::PgPoolOptions};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

// The same allocator as usergraph, so the ratio compares the code, not the allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone)]
struct Raw {
    pool: PgPool,
    key: DecodingKey,
    validation: Validation,
    statements: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    sid: String,
}

#[derive(Deserialize)]
struct GqlRequest {
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Value,
}

#[derive(Deserialize)]
struct CursorData {
    v: Vec<String>,
    id: Uuid,
}

#[derive(Serialize)]
struct Me {
    id: String,
    username: String,
    email: String,
}

struct Viewer {
    me: Me,
    reads_users: bool,
}

#[derive(Serialize)]
struct RoleOut {
    name: String,
}

#[derive(Serialize)]
struct TierOut {
    name: String,
}

#[derive(Serialize)]
struct UserOut {
    id: String,
    username: String,
    email: Option<String>,
    roles: Vec<RoleOut>,
    tier: Option<TierOut>,
}

fn fail(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(json!({ "data": null, "errors": [{ "message": message }] })),
    )
        .into_response()
}

fn key_of(prefixed: &str, prefix: &str) -> Option<Uuid> {
    prefixed
        .strip_prefix(prefix)
        .and_then(|h| Uuid::try_parse(h).ok())
}

impl Raw {
    async fn count<T>(
        &self,
        fut: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        self.statements.fetch_add(1, Ordering::Relaxed);
        fut.await
    }

    /// The viewer: session, user and roles in one statement. `None` when unauthenticated.
    async fn viewer(&self, headers: &HeaderMap) -> Result<Option<Viewer>, sqlx::Error> {
        let Some(token) = headers
            .get("authorization")
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
        else {
            return Ok(None);
        };
        let Ok(data) = jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation) else {
            return Ok(None);
        };
        let (Some(user_id), Some(chain_id)) = (
            key_of(&data.claims.sub, "usr_"),
            key_of(&data.claims.sid, "ses_"),
        ) else {
            return Ok(None);
        };
        // One statement, a row per role, as usergraph's `load_viewer`.
        let rows = self
            .count(
                sqlx::query(
                    "SELECT u.is_superuser, u.username, u.email, r.permissions FROM sessions s \
                     JOIN users u ON u.id = s.user_id \
                     LEFT JOIN user_roles ur ON ur.user_id = u.id LEFT JOIN roles r ON r.id = ur.role_id \
                     WHERE s.chain_id = $1 AND s.rotated_at IS NULL AND s.revoked_at IS NULL AND s.expires_at > now() \
                     AND s.user_id = $2 AND u.deleted_at IS NULL AND u.status = 'active'",
                )
                .bind(chain_id)
                .bind(user_id)
                .fetch_all(&self.pool),
            )
            .await?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let superuser: bool = row.get(0);
        Ok(Some(Viewer {
            me: Me {
                id: format!("usr_{}", user_id.simple()),
                username: row.get(1),
                email: row.get(2),
            },
            reads_users: superuser
                || rows.iter().any(|r| {
                    r.get::<Option<String>, _>(3)
                        .is_some_and(|p| p.contains("USERS_READ"))
                }),
        }))
    }

    /// Users read with their `tier_name` and `role_names` (aggregated in the
    /// same statement, as usergraph's pages do).
    fn shape(rows: Vec<sqlx::postgres::PgRow>) -> Vec<UserOut> {
        rows.into_iter()
            .map(|r| {
                let id: Uuid = r.get("id");
                let tier: Option<String> = r.get("tier_name");
                let roles: Vec<String> = r.get("role_names");
                UserOut {
                    id: format!("usr_{}", id.simple()),
                    username: r.get("username"),
                    email: Some(r.get("email")),
                    roles: roles.into_iter().map(|name| RoleOut { name }).collect(),
                    tier: tier.map(|name| TierOut { name }),
                }
            })
            .collect()
    }

    /// Q1: `users(first: 50, after: $after)`, newest first, keyset on (created_at, id).
    async fn q1(&self, variables: &Value) -> Result<Value, sqlx::Error> {
        let after = variables["after"].as_str().and_then(|c| {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(c)
                .ok()?;
            let data: CursorData = serde_json::from_slice(&bytes).ok()?;
            let at = DateTime::parse_from_rfc3339(data.v.first()?)
                .ok()?
                .with_timezone(&Utc);
            Some((at, data.id))
        });
        let rows = match after {
            Some((at, id)) => {
                self.count(
                    sqlx::query(
                        "SELECT u.id, u.username, u.email, t.name AS tier_name, \
                         ARRAY(SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id \
                         WHERE ur.user_id = u.id ORDER BY r.name) AS role_names FROM users u \
                         LEFT JOIN tiers t ON t.id = u.tier_id \
                         WHERE u.deleted_at IS NULL AND u.created_at <= $1 \
                         AND (u.created_at < $1 OR (u.created_at = $1 AND u.id < $2)) \
                         ORDER BY u.created_at DESC, u.id DESC LIMIT 51",
                    )
                    .bind(at)
                    .bind(id)
                    .fetch_all(&self.pool),
                )
                .await?
            }
            None => {
                self.count(
                    sqlx::query(
                        "SELECT u.id, u.username, u.email, t.name AS tier_name, \
                         ARRAY(SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id \
                         WHERE ur.user_id = u.id ORDER BY r.name) AS role_names FROM users u \
                         LEFT JOIN tiers t ON t.id = u.tier_id WHERE u.deleted_at IS NULL \
                         ORDER BY u.created_at DESC, u.id DESC LIMIT 51",
                    )
                    .fetch_all(&self.pool),
                )
                .await?
            }
        };
        let rows: Vec<_> = rows.into_iter().take(50).collect();
        let nodes = Self::shape(rows);
        let edges: Vec<Value> = nodes
            .into_iter()
            .map(|node| json!({ "node": node }))
            .collect();
        Ok(json!({ "data": { "users": { "edges": edges } } }))
    }

    /// Q2: `user(id: $id)`.
    async fn q2(&self, variables: &Value) -> Result<Value, sqlx::Error> {
        let Some(id) = variables["id"].as_str().and_then(|id| key_of(id, "usr_")) else {
            return Ok(json!({ "data": { "user": null } }));
        };
        let rows = self
            .count(
                sqlx::query(
                    "SELECT u.id, u.username, u.email, t.name AS tier_name, \
                         ARRAY(SELECT r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id \
                         WHERE ur.user_id = u.id ORDER BY r.name) AS role_names FROM users u \
                     LEFT JOIN tiers t ON t.id = u.tier_id WHERE u.id = $1",
                )
                .bind(id)
                .fetch_all(&self.pool),
            )
            .await?;
        let user = Self::shape(rows).into_iter().next();
        Ok(json!({ "data": { "user": user } }))
    }
}

async fn graphql(
    State(raw): State<Raw>,
    headers: HeaderMap,
    Json(request): Json<GqlRequest>,
) -> Response {
    raw.requests.fetch_add(1, Ordering::Relaxed);
    let viewer = match raw.viewer(&headers).await {
        Ok(Some(viewer)) => viewer,
        Ok(None) => return fail(StatusCode::UNAUTHORIZED, "unauthenticated"),
        Err(_) => return fail(StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    let operation = request.operation_name.as_deref();
    if matches!(operation, Some("Q1" | "Q2")) && !viewer.reads_users {
        return fail(StatusCode::FORBIDDEN, "forbidden");
    }
    let answer = match operation {
        Some("Q1") => raw.q1(&request.variables).await,
        Some("Q2") => raw.q2(&request.variables).await,
        // A2: `me { id username email }`, from the viewer already loaded.
        Some("A2") => Ok(json!({ "data": { "me": viewer.me } })),
        _ => {
            return fail(
                StatusCode::BAD_REQUEST,
                "bench-raw answers operations Q1, Q2 and A2 only",
            );
        }
    };
    match answer {
        Ok(body) => Json(body).into_response(),
        Err(_) => fail(StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

async fn metrics(State(raw): State<Raw>) -> String {
    format!(
        "usergraph_sql_statements_total {}\nusergraph_graphql_requests_total {}\n",
        raw.statements.load(Ordering::Relaxed),
        raw.requests.load(Ordering::Relaxed)
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL")?;
    let secret = std::env::var("JWT_SECRET")?;
    let bind: SocketAddr = std::env::var("BIND_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:8001".into())
        .parse()?;
    let max: u32 = std::env::var("DATABASE_MAX_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    // The same pool policy as usergraph (`db::connect`): ping a connection
    // on taking it only when it has been idle for a while.
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= usergraph::db::IDLE_BEFORE_PING {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect(&url)
        .await?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&["usergraph"]);
    validation.set_audience(&["usergraph"]);
    validation.leeway = 5;
    let raw = Raw {
        pool,
        key: DecodingKey::from_secret(secret.as_bytes()),
        validation,
        statements: Arc::new(AtomicU64::new(0)),
        requests: Arc::new(AtomicU64::new(0)),
    };
    let app = Router::new()
        .route("/graphql", post(graphql))
        .route("/metrics", get(metrics))
        .with_state(raw);
    let listener = tokio::net::TcpListener::bind(bind).await?;
    println!("bench-raw listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
