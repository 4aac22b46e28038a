//! Operating the service: start-up beside a database that is not up yet,
//! replicas migrating one database at once, and the command line.

use std::{process::Stdio, time::Duration};

use tokio::io::AsyncWriteExt;

use crate::{
    helpers::{JWT_SECRET, fresh_database},
    security::faults::Proxy,
};

/// A fresh PostgreSQL database's URL, or `None` on the SQLite run.
async fn fresh_postgres() -> Option<String> {
    let on_postgres = std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"));
    if !on_postgres {
        eprintln!("skipped: runs against PostgreSQL (TEST_DATABASE_URL)");
        return None;
    }
    Some(fresh_database().await.0.replace("localhost", "127.0.0.1"))
}

fn config(database_url: &str) -> usergraph::config::Config {
    let env = [
        ("DATABASE_URL", database_url),
        ("JWT_SECRET", JWT_SECRET),
        ("DATABASE_CONNECT_TIMEOUT_SECS", "30"),
    ];
    usergraph::config::Config::from_lookup(|key| {
        env.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| (*v).to_owned())
    })
    .expect("config")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_replicas_started_at_once_on_a_fresh_database_all_come_up() {
    let Some(url) = fresh_postgres().await else {
        return;
    };

    let replicas =
        futures::future::join_all((0..4).map(|_| usergraph::app::build(config(&url)))).await;

    for (i, replica) in replicas.into_iter().enumerate() {
        let (ctx, _) = replica.unwrap_or_else(|e| panic!("replica {i} failed to start: {e:#}"));
        assert!(ctx.db.ping().await.is_ok());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_read_first_waits_for_another_replicas_write_instead_of_failing() {
    use sea_orm::ConnectionTrait;
    let app = crate::helpers::TestApp::spawn().await;
    app.register_as("ann").await;
    let other = app.replica().await;
    // A flow's transaction reads, then (while another replica writes) writes.
    let txn = app.ctx.begin().await.unwrap();
    txn.execute_unprepared("SELECT count(*) FROM users")
        .await
        .unwrap();
    let racing = tokio::spawn(async move {
        other
            .db
            .execute_unprepared("UPDATE users SET display_name = 'other' WHERE username = 'ann'")
            .await
            .map(|_| ())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    txn.execute_unprepared("UPDATE users SET display_name = 'flow' WHERE username = 'ann'")
        .await
        .expect("the flow's write waits its turn instead of failing with a stale snapshot");
    txn.commit().await.unwrap();
    racing
        .await
        .unwrap()
        .expect("the other replica's write waits too");
    // Both landed, one after the other. On SQLite the flow held the write
    // lock from BEGIN, so the other replica wrote last; on PostgreSQL the
    // other's write took no lock the flow held, so the flow wrote last.
    let left = app
        .db()
        .query_one_raw(sea_orm::Statement::from_string(
            app.db().get_database_backend(),
            "SELECT display_name FROM users WHERE username = 'ann'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<String>("", "display_name")
        .unwrap();
    let last = match app.db().get_database_backend() {
        sea_orm::DbBackend::Sqlite => "other",
        _ => "flow",
    };
    assert_eq!(left, last);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_started_before_its_database_waits_for_it() {
    let Some(url) = fresh_postgres().await else {
        return;
    };
    // A port with nothing behind it yet: the database is "down".
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let through_proxy = url.replace("127.0.0.1:5432", &format!("127.0.0.1:{port}"));

    let starting = tokio::spawn(usergraph::app::build(config(&through_proxy)));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !starting.is_finished(),
        "start-up gave up instead of waiting"
    );
    let proxy = Proxy::start(port).await;
    let started = tokio::time::timeout(Duration::from_secs(30), starting)
        .await
        .expect("up once the database is")
        .unwrap();

    let (ctx, _) = started.unwrap_or_else(|e| panic!("start-up failed: {e:#}"));
    assert!(ctx.db.ping().await.is_ok());
    proxy.cut();
}

/// Runs the binary with `args` on a fresh SQLite file (shared by the calls
/// of one test through `dir`), feeding `stdin`; returns its exit status and output.
async fn usergraph(dir: &std::path::Path, args: &[&str], stdin: &str) -> (bool, String) {
    usergraph_with(dir, args, stdin, &[]).await
}

/// As `usergraph`, with `env` added.
async fn usergraph_with(
    dir: &std::path::Path,
    args: &[&str],
    stdin: &str,
    env: &[(&str, &str)],
) -> (bool, String) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_usergraph"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.join("cli.db").display()),
        )
        .env("JWT_SECRET", JWT_SECRET)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("finished")
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

const CREATE_ROOT: [&str; 5] = [
    "create-superuser",
    "--username",
    "root",
    "--email",
    "root@example.com",
];

#[tokio::test]
async fn create_superuser_reads_a_piped_password() {
    let dir = tempfile::tempdir().unwrap();

    let (ok, out) = usergraph(dir.path(), &CREATE_ROOT, "Quiet-Harbor-Lantern-93\n").await;

    assert!(ok, "{out}");
    assert!(out.contains("superuser root created"), "{out}");
}

#[tokio::test]
async fn migrate_down_says_what_it_rolled_back_and_when_nothing_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = usergraph(dir.path(), &["migrate"], "").await;
    assert!(ok && out.contains("migration(s) applied"), "{out}");
    let (ok, out) = usergraph(dir.path(), &["migrate"], "").await;
    assert!(ok && out.contains("no pending migration"), "{out}");

    let mut rolled_back = 0;
    loop {
        let (ok, out) = usergraph(dir.path(), &["migrate", "--down"], "").await;
        assert!(ok, "{out}");
        if out.contains("no migration to roll back") {
            break;
        }
        assert!(out.contains("rolled back"), "{out}");
        rolled_back += 1;
        assert!(rolled_back < 50, "never ran out: {out}");
    }
    use migration::MigratorTrait;
    assert_eq!(rolled_back, migration::Migrator::migrations().len());
}

#[tokio::test]
async fn migrate_status_lists_what_is_applied_and_pending_and_changes_nothing() {
    use migration::MigratorTrait;
    let all = migration::Migrator::migrations().len();
    let dir = tempfile::tempdir().unwrap();

    let (ok, before) = usergraph(dir.path(), &["migrate", "status"], "").await;
    assert!(ok, "{before}");
    assert!(
        before.contains(&format!("0 applied, {all} pending")),
        "{before}"
    );
    assert!(
        before.contains("pending  m20261122_000001_create_tables"),
        "{before}"
    );
    let (ok, again) = usergraph(dir.path(), &["migrate", "status"], "").await;
    assert!(
        ok && again.contains(&format!("0 applied, {all} pending")),
        "status changed nothing: {again}"
    );

    usergraph(dir.path(), &["migrate"], "").await;
    usergraph(dir.path(), &["migrate", "--down"], "").await;
    let (ok, after) = usergraph(dir.path(), &["migrate", "status"], "").await;
    assert!(ok, "{after}");
    assert!(
        after.contains(&format!("{} applied, 1 pending", all - 1)),
        "{after}"
    );
    assert!(
        after.contains("applied  m20261122_000001_create_tables"),
        "{after}"
    );
}

#[tokio::test]
async fn migrations_need_only_the_database_settings_even_in_production() {
    let dir = tempfile::tempdir().unwrap();
    // No MFA_ENCRYPTION_KEY, no SMTP_URL: serving would refuse to start.
    let (ok, out) = usergraph_with(
        dir.path(),
        &["migrate", "status"],
        "",
        &[("APP_ENV", "production")],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains(" pending"), "{out}");
}

#[tokio::test]
async fn a_database_that_cannot_be_opened_fails_at_once_rather_than_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-directory").join("x.db");
    let url = format!("sqlite://{}?mode=rwc", missing.display());
    let started = std::time::Instant::now();
    let (ok, out) = usergraph_with(
        dir.path(),
        &["migrate", "status"],
        "",
        &[
            ("DATABASE_URL", &url),
            ("DATABASE_CONNECT_TIMEOUT_SECS", "30"),
        ],
    )
    .await;
    assert!(!ok, "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "waited {:?}: {out}",
        started.elapsed()
    );
    assert!(out.contains("refused the connection"), "{out}");
    assert!(!out.contains("Custom Error"), "{out}");
}

#[tokio::test]
async fn in_production_migrate_down_needs_yes() {
    let dir = tempfile::tempdir().unwrap();
    let production = [
        ("APP_ENV", "production"),
        ("MFA_ENCRYPTION_KEY", "m-m-m-m-m-m-m-m-m-m-m-m-m-m-m-m-m-m"),
        ("MAIL_TRANSPORT", "log"),
    ];
    let (ok, out) = usergraph_with(dir.path(), &["migrate"], "", &production).await;
    assert!(ok, "{out}");

    let (ok, refused) = usergraph_with(dir.path(), &["migrate", "--down"], "", &production).await;
    assert!(!ok && refused.contains("--yes"), "{refused}");
    let (_, status) = usergraph_with(dir.path(), &["migrate", "status"], "", &production).await;
    assert!(
        status.contains(" 0 pending"),
        "nothing was rolled back: {status}"
    );

    let (ok, out) =
        usergraph_with(dir.path(), &["migrate", "--down", "--yes"], "", &production).await;
    assert!(ok && out.contains("rolled back"), "{out}");
}

#[tokio::test]
async fn create_superuser_reads_the_password_from_admin_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("admin-password");
    std::fs::write(&secret, "Quiet-Harbor-Lantern-93\n").unwrap();
    let path = secret.display().to_string();

    let (ok, out) = usergraph_with(
        dir.path(),
        &CREATE_ROOT,
        "",
        &[("ADMIN_PASSWORD_FILE", &path)],
    )
    .await;

    assert!(ok, "{out}");
    assert!(out.contains("superuser root created"), "{out}");
}

#[tokio::test]
async fn start_up_gives_up_on_the_database_when_its_connect_timeout_says() {
    // A port with nothing behind it: every attempt is refused at once, so
    // only the timeout decides when start-up stops retrying.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/nothing");
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("JWT_SECRET", JWT_SECRET),
        ("DATABASE_CONNECT_TIMEOUT_SECS", "3"),
    ];
    let config = usergraph::config::Config::from_lookup(|key| {
        env.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();

    let started = std::time::Instant::now();
    let err = usergraph::app::build(config)
        .await
        .err()
        .expect("no database");
    let waited = started.elapsed();

    assert!(
        waited >= Duration::from_secs(3) && waited < Duration::from_millis(3500),
        "gave up after {waited:?}"
    );
    let message = format!("{err:#}");
    assert!(
        message.contains("within 3 s (DATABASE_CONNECT_TIMEOUT_SECS)"),
        "{message}"
    );
    assert!(
        !message.contains("postgres@"),
        "credentials stay out: {message}"
    );
}

#[tokio::test]
async fn help_names_the_configuration_variables() {
    let dir = tempfile::tempdir().unwrap();

    let (ok, out) = usergraph(dir.path(), &["--help"], "").await;

    assert!(ok, "{out}");
    for variable in ["DATABASE_URL", "BIND_ADDR", "JWT_SECRET", "TRUSTED_PROXIES"] {
        assert!(out.contains(variable), "{variable} missing: {out}");
    }
}

#[tokio::test]
async fn in_json_mode_every_line_is_a_json_object_and_requests_are_logged_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_usergraph"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("log.db").display()),
        )
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("JWT_SECRET", JWT_SECRET)
        .env("LOG_FORMAT", "json")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the binary");
    let stdout = server.stdout.take().unwrap();
    let stderr = server.stderr.take().unwrap();
    let (lines_tx, mut lines_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    for stream in [
        Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        Box::new(stderr),
    ] {
        let tx = lines_tx.clone();
        tokio::spawn(async move {
            use tokio::io::AsyncBufReadExt;
            let mut lines = tokio::io::BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = tx.send(line);
            }
        });
    }
    drop(lines_tx);
    let mut seen = Vec::new();
    let addr = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines_rx.recv())
            .await
            .expect("a line in time")
            .expect("the server is running");
        seen.push(line.clone());
        if let Some((_, rest)) = line.split_once("usergraph listening on http://") {
            break rest.split('"').next().unwrap().to_owned();
        }
    };
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/graphql");
    let password = "tangerine-kettle-42";
    let registered: serde_json::Value = client
        .post(&url)
        .json(&serde_json::json!({ "query": crate::helpers::REGISTER, "operationName": null, "variables": { "input": { "username": "logan", "email": "logan@example.com", "password": password } } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account = crate::helpers::account(&registered["data"]["register"]).expect("registered");
    client
        .post(&url)
        .bearer_auth(&account.access)
        .header("x-request-id", "trace-me-1")
        .json(&serde_json::json!({ "query": "query WhoAmI { me { id } }" }))
        .send()
        .await
        .unwrap();
    sigterm_and_wait(&mut server).await;
    while let Some(line) = lines_rx.recv().await {
        seen.push(line);
    }

    let events: Vec<serde_json::Value> = seen
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let access = events
        .iter()
        .find(|e| e["request_id"] == "trace-me-1")
        .expect("an access line for the request");
    assert_eq!(access["method"], "POST");
    assert_eq!(access["path"], "/graphql");
    assert_eq!(access["status"], 200);
    assert!(access["latency_ms"].is_number(), "{access}");
    assert_eq!(access["operation"], "WhoAmI");
    assert_eq!(
        access["user_id"],
        account.id.as_str(),
        "public ids in the logs"
    );
    let registered_line = events
        .iter()
        .find(|e| e["message"] == "registered")
        .expect("the registration's line");
    assert_eq!(registered_line["user_id"], account.id.as_str());
    assert_eq!(
        registered_line["ip"], "127.0.0.1",
        "plain values, not Rust debug text"
    );
    assert!(
        registered_line["spans"][0]["request_id"].is_string(),
        "lines logged while serving a request carry its id: {registered_line}"
    );
    assert_eq!(access["ip"], "127.0.0.1");
    let all = seen.join("\n");
    for secret in [password, account.refresh.as_str(), account.access.as_str()] {
        assert!(!all.contains(secret), "a secret reached the log");
    }
}

async fn sigterm_and_wait(server: &mut tokio::process::Child) {
    let pid = server.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), server.wait())
        .await
        .expect("exited")
        .unwrap();
}

#[tokio::test]
async fn metrics_have_latency_histograms_with_a_bounded_set_of_operation_labels() {
    let app = crate::helpers::TestApp::spawn().await;
    let run = |name: String| {
        app.gql_body(
            None,
            serde_json::json!({ "query": format!("query {name} {{ __typename }}") }),
        )
    };
    run("ProbeMetrics".into()).await;
    for i in 0..1000 {
        run(format!("Flood{i}")).await;
    }

    let text = app.get("/metrics").await.text().await.unwrap();

    assert!(
        text.contains("usergraph_graphql_request_duration_seconds_bucket{operation=\"ProbeMetrics\",outcome=\"ok\""),
        "{text}"
    );
    for family in [
        "usergraph_http_responses_total{status=\"200\"}",
        "usergraph_db_pool_connections{state=\"idle\"}",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "usergraph_sql_statements_total",
    ] {
        assert!(text.contains(family), "{family} missing");
    }
    let operations: std::collections::HashSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("usergraph_graphql_request_duration_seconds_count"))
        .filter_map(|l| l.split("operation=\"").nth(1)?.split('"').next())
        .collect();
    assert!(
        operations.len() <= usergraph::metrics::MAX_OPERATION_LABELS + 2,
        "{} label values",
        operations.len()
    );
    assert!(operations.contains("other"));
}

#[tokio::test]
async fn metrics_are_off_in_production_unless_a_token_or_an_address_is_set() {
    let secret = "p".repeat(40);
    let closed =
        crate::helpers::TestApp::spawn_with(&[("APP_ENV", "production"), ("JWT_SECRET", &secret)])
            .await;
    let guarded = crate::helpers::TestApp::spawn_with(&[
        ("APP_ENV", "production"),
        ("JWT_SECRET", &secret),
        ("METRICS_TOKEN", "scrape-me-please"),
    ])
    .await;
    let status = |app: &crate::helpers::TestApp, token: Option<&'static str>| {
        let mut request = app.client.get(app.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    assert_eq!(status(&closed, None).await.unwrap().status(), 404);
    assert_eq!(status(&guarded, None).await.unwrap().status(), 401);
    assert_eq!(
        status(&guarded, Some("wrong-token-1234"))
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        status(&guarded, Some("scrape-me-please"))
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_otlp_endpoint_each_request_is_a_span_that_continues_the_callers_trace() {
    use std::sync::{Arc, Mutex};
    // An OTLP/HTTP receiver: whatever is posted to /v1/traces, as JSON.
    let received: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let sink = received.clone();
    let receiver = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                if let Ok(json) = serde_json::from_slice(&body) {
                    sink.lock().unwrap().push(json);
                }
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });
    let (mut server, addr, _dir) = crate::security::faults::spawn_binary(&[(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        endpoint.as_str(),
    )])
    .await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .json(&serde_json::json!({ "query": "query TraceMe { __typename }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["data"]["__typename"], "Query");
    // Stopping flushes the batch.
    sigterm_and_wait(&mut server).await;

    let resources: Vec<serde_json::Value> = received
        .lock()
        .unwrap()
        .iter()
        .flat_map(|export| {
            export["resourceSpans"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let resource_attribute = |key: &str| {
        resources
            .iter()
            .flat_map(|rs| {
                rs["resource"]["attributes"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .find(|kv| kv["key"] == key)
            .map(|kv| kv["value"]["stringValue"].clone())
    };
    assert_eq!(resource_attribute("service.name"), Some("usergraph".into()));
    assert_eq!(
        resource_attribute("service.version"),
        Some(env!("CARGO_PKG_VERSION").into())
    );
    let spans: Vec<serde_json::Value> = resources
        .iter()
        .flat_map(|rs| rs["scopeSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|ss| ss["spans"].as_array().cloned().unwrap_or_default())
        .collect();
    let operation_of = |span: &serde_json::Value| {
        span["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|kv| kv["key"] == "graphql.operation")
            .map(|kv| kv["value"]["stringValue"].clone())
    };
    let request = spans
        .iter()
        .find(|s| s["name"] == "POST /graphql" && operation_of(s) == Some("TraceMe".into()))
        .unwrap_or_else(|| panic!("no request span naming TraceMe among {spans:?}"));
    assert_eq!(
        request["traceId"]
            .as_str()
            .map(str::to_lowercase)
            .as_deref(),
        Some(trace_id)
    );
    assert_eq!(
        request["parentSpanId"]
            .as_str()
            .map(str::to_lowercase)
            .as_deref(),
        Some(caller_span)
    );
}

#[tokio::test]
async fn in_json_mode_a_fatal_start_up_error_is_one_json_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_usergraph"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("f.db").display()),
        )
        .env("LOG_FORMAT", "json")
        .env("TRUSTED_PROXIES", "not-a-network")
        .env("RATE_LIMIT_LOGIN", "lots")
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();

    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let event: serde_json::Value = serde_json::from_str(lines[0]).expect("JSON");
    assert_eq!(event["level"], "ERROR");
    // Every problem at once, not one per start.
    for variable in ["TRUSTED_PROXIES", "RATE_LIMIT_LOGIN"] {
        assert!(
            event["error"].as_str().unwrap().contains(variable),
            "{variable}: {event}"
        );
    }
}

#[tokio::test]
async fn the_listening_line_is_printed_whatever_rust_log_filters() {
    // Scripts (the benchmark, orchestrators) wait for it; RUST_LOG=warn must not hide it.
    let (mut server, addr, _dir) =
        crate::security::faults::spawn_binary(&[("LOG_FORMAT", "json"), ("RUST_LOG", "warn")])
            .await;

    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    sigterm_and_wait(&mut server).await;
}

/// An alert on the outbox needs its series before the first delivery: they
/// are registered at zero at start, and the backlog is read at each scrape.
#[tokio::test]
async fn outbox_metrics_exist_from_the_start_and_show_a_stuck_backlog() {
    // An SMTP server that refuses connections: every attempt fails, and the
    // retry is an hour away, so the message stays pending.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let smtp = format!("smtp://127.0.0.1:{closed_port}");
    let (mut server, addr, _dir) = crate::security::faults::spawn_binary(&[
        ("MAIL_TRANSPORT", "smtp"),
        ("SMTP_URL", &smtp),
        ("OUTBOX_RETRY_BASE_MS", "3600000"),
        ("OUTBOX_POLL_MS", "50"),
    ])
    .await;
    let client = reqwest::Client::new();
    let scrape = || async {
        client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let value = |text: &str, series: &str| -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
    };

    let fresh = scrape().await;
    for kind in ["mail", "webhook"] {
        for outcome in ["sent", "error"] {
            let series = format!(
                "usergraph_outbox_deliveries_total{{kind=\"{kind}\",outcome=\"{outcome}\"}}"
            );
            assert_eq!(value(&fresh, &series), Some(0.0), "{series} in {fresh}");
        }
        let pending = format!("usergraph_outbox_pending{{kind=\"{kind}\"}}");
        assert_eq!(value(&fresh, &pending), Some(0.0), "{pending} in {fresh}");
    }

    crate::security::faults::register_on(&addr, "otto").await;
    let mut stuck = String::new();
    for _ in 0..100 {
        stuck = scrape().await;
        let failed = value(
            &stuck,
            "usergraph_outbox_deliveries_total{kind=\"mail\",outcome=\"error\"}",
        );
        if failed.is_some_and(|n| n >= 1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        value(
            &stuck,
            "usergraph_outbox_deliveries_total{kind=\"mail\",outcome=\"error\"}"
        )
        .is_some_and(|n| n >= 1.0),
        "{stuck}"
    );
    assert!(
        value(&stuck, "usergraph_outbox_pending{kind=\"mail\"}").is_some_and(|n| n >= 1.0),
        "{stuck}"
    );
    assert!(
        value(
            &stuck,
            "usergraph_outbox_oldest_pending_seconds{kind=\"mail\"}"
        )
        .is_some_and(|s| s >= 0.0),
        "{stuck}"
    );
    sigterm_and_wait(&mut server).await;
}

/// The image has no shell or curl: its health check is the binary itself.
#[tokio::test]
async fn health_exits_zero_only_while_the_local_server_is_ready() {
    let (mut server, addr, _dir) = crate::security::faults::spawn_binary(&[]).await;
    let health = |bind: String| async move {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_usergraph"))
            .arg("health")
            .env_clear()
            .env("BIND_ADDR", bind)
            .output()
            .await
            .unwrap()
    };
    let port = addr.rsplit(':').next().unwrap().to_owned();

    let ready = health(addr.clone()).await;
    let any_address = health(format!("0.0.0.0:{port}")).await;
    sigterm_and_wait(&mut server).await;
    let stopped = health(addr).await;

    assert!(ready.status.success(), "{ready:?}");
    assert!(any_address.status.success(), "{any_address:?}");
    assert!(!stopped.status.success());
    assert!(
        String::from_utf8_lossy(&stopped.stderr).contains("not ready"),
        "{stopped:?}"
    );
}

/// A rolling deploy runs old replicas against the new schema until they are
/// replaced: a migration may add (tables, columns with defaults, indexes)
/// but not drop, rename or retype what the previous release reads
/// (docs/operations.md, "Upgrades"). A removal waits for the release after
/// the code stopped using it, and is then listed here with its reason.
#[test]
fn migrations_only_add_so_old_replicas_keep_working() {
    const REMOVALS: [&str; 0] = [];
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migration/src");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.file_name().unwrap().to_string_lossy().starts_with('m'))
        .collect();
    files.sort();
    assert!(files.len() >= 11, "{files:?}");
    for file in files {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(&file).unwrap();
        let up = source
            .split("async fn up")
            .nth(1)
            .and_then(|rest| rest.split("async fn down").next())
            .unwrap_or_else(|| panic!("{name}: no up()"));
        let lowered = up.to_lowercase();
        for removal in [
            "drop_table",
            "drop_column",
            "rename_column",
            "rename_table",
            "modify_column",
            "drop table",
            "drop column",
            "rename ",
            "alter column",
        ] {
            assert!(
                !lowered.contains(removal) || REMOVALS.contains(&name.as_str()),
                "{name}'s up() contains `{removal}`: old replicas would break during a rolling deploy"
            );
        }
    }
}
