//! Faults: a database that goes away and comes back, and a SIGTERM with a
//! request in flight.

use std::{
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::json;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

use crate::helpers::{PASSWORD, TestApp, code, fresh_database};

/// A TCP proxy in front of PostgreSQL that the test can cut and restore.
pub struct Proxy {
    port: u16,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    pub async fn start(port: u16) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let registry = tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect("127.0.0.1:5432").await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                registry.lock().unwrap().push(conn);
            }
        });
        tasks.lock().unwrap().push(accept);
        Self { port, tasks }
    }

    /// Closes the port and every open connection: the database is "down".
    pub fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_degrades_cleanly_and_recovers_without_a_restart() {
    let Ok(base) = std::env::var("TEST_DATABASE_URL").map(|u| u.replace("localhost", "127.0.0.1"))
    else {
        eprintln!("skipped: the outage test runs against PostgreSQL (TEST_DATABASE_URL)");
        return;
    };
    if !base.starts_with("postgres") {
        eprintln!("skipped: the outage test runs against PostgreSQL (TEST_DATABASE_URL)");
        return;
    }
    let (direct, _) = fresh_database().await;
    let proxy = Proxy::start(0).await;
    let through_proxy = direct.replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port));
    let app = TestApp::spawn_with(&[("DATABASE_URL", &through_proxy)]).await;
    let app_token = app.register_as("uma").await.access;

    proxy.cut();
    let live = app.get("/health/live").await;
    let started = Instant::now();
    let ready = app.get("/health/ready").await;
    let ready_after = started.elapsed();
    let started = Instant::now();
    let login = app.login("uma", PASSWORD).await;
    let login_after = started.elapsed();

    assert_eq!(live.status(), 200);
    assert_eq!(ready.status(), 503);
    assert!(
        ready_after <= Duration::from_millis(2500),
        "{ready_after:?}"
    );
    assert_eq!(code(&login), "INTERNAL_SERVER_ERROR", "{login}");
    assert!(
        login["errors"][0]["extensions"]["requestId"].is_string(),
        "the report names the request, as the log does: {login}"
    );
    let me = app.gql(Some(&app_token), "{ me { id } }", json!({})).await;
    assert_eq!(code(&me), "INTERNAL_SERVER_ERROR", "{me}");
    assert!(
        me["errors"][0]["extensions"]["requestId"].is_string(),
        "a token that cannot be checked: {me}"
    );
    assert!(
        !login.to_string().to_lowercase().contains("connect"),
        "{login}"
    );
    assert!(login_after <= Duration::from_secs(6), "{login_after:?}");

    let restored = Proxy::start(proxy.port).await;
    let mut recovered = false;
    for _ in 0..40 {
        if app.get("/health/ready").await.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "readiness came back");
    assert!(app.login("uma", PASSWORD).await["data"]["login"].is_object());
    restored.cut();
}

/// The release of the binary under test, on a fresh SQLite file, with `env`
/// added; returns the child, its address and the directory holding its data.
pub async fn spawn_binary(
    env: &[(&str, &str)],
) -> (tokio::process::Child, String, tempfile::TempDir) {
    let (server, addr, dir, _) = spawn_binary_logged(env).await;
    (server, addr, dir)
}

/// Every line a binary has printed on standard output so far.
pub type Printed = Arc<Mutex<Vec<String>>>;

/// As `spawn_binary`, keeping what the binary prints.
pub async fn spawn_binary_logged(
    env: &[(&str, &str)],
) -> (tokio::process::Child, String, tempfile::TempDir, Printed) {
    let dir = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_usergraph"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("sig.db").display()),
        )
        .env("BIND_ADDR", "127.0.0.1:0")
        .env("JWT_SECRET", "s".repeat(40));
    for (key, value) in env {
        command.env(key, value);
    }
    let mut server = command
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the binary");
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let printed = Printed::default();
    let addr = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .expect("a line");
        printed.lock().unwrap().push(line.clone());
        // A plain line, or (LOG_FORMAT=json) a JSON object holding it.
        if let Some((_, rest)) = line.split_once("usergraph listening on http://") {
            break rest.split('"').next().unwrap_or(rest).to_owned();
        }
    };
    // Keep reading: a closed pipe would make the server's next print fail.
    let keep = printed.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            keep.lock().unwrap().push(line);
        }
    });
    (server, addr, dir, printed)
}

/// Registers `username` (with `PASSWORD`) on a binary at `addr`; returns
/// the access token.
pub async fn register_on(addr: &str, username: &str) -> String {
    let registered: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .json(&json!({ "query": crate::helpers::REGISTER, "variables": { "input": { "username": username, "email": format!("{username}@example.com"), "password": PASSWORD } } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    registered["data"]["register"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{registered}"))
        .to_owned()
}

fn sigterm(server: &tokio::process::Child) {
    let pid = server.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_then_exits_cleanly() {
    let (mut server, addr, _dir) = spawn_binary(&[]).await;
    let body = json!({ "query": "{ __typename }" }).to_string();

    // A request whose headers have arrived but whose body has not: in flight.
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    sigterm(&server);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();

    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"__typename\":\"Query\""), "{answer}");
    let status = tokio::time::timeout(Duration::from_secs(10), server.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert!(
        TcpStream::connect(&addr).await.is_err(),
        "no longer accepting connections"
    );
}

#[tokio::test]
async fn slow_clients_are_dropped_and_cannot_hold_up_a_shutdown() {
    let (mut server, addr, _dir) = spawn_binary(&[
        ("HEADER_READ_TIMEOUT_SECS", "1"),
        ("SHUTDOWN_GRACE_SECS", "2"),
        ("REQUEST_TIMEOUT_SECS", "120"),
    ])
    .await;

    // Nothing at all, and HTTP/2's preface alone: closed at the header timeout.
    for opening in [&b""[..], b"PRI * HTTP/2.0\r\n"] {
        let mut silent = TcpStream::connect(&addr).await.unwrap();
        silent.write_all(opening).await.unwrap();
        let mut rest = Vec::new();
        let closed =
            tokio::time::timeout(Duration::from_secs(10), silent.read_to_end(&mut rest)).await;
        assert!(
            closed.is_ok(),
            "a silent connection was still open after 10 s"
        );
    }

    // A request line and one header, then nothing: closed at the header timeout.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"POST /graphql HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest)).await;
    assert!(
        closed.is_ok(),
        "the slow connection was still open after 10 s"
    );

    // Headers sent, body never: in flight until the grace period ends it.
    let mut stuck = TcpStream::connect(&addr).await.unwrap();
    stuck
        .write_all(b"POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    sigterm(&server);
    let status = tokio::time::timeout(Duration::from_secs(15), server.wait())
        .await
        .expect("exited within the grace period (plus margin), not waiting on the client")
        .unwrap();

    assert!(status.success(), "exit status {status:?}");
    assert!(
        asked.elapsed() >= Duration::from_secs(2),
        "the open request was given its grace period"
    );
}

/// A load balancer needs a moment to stop sending a replica requests: for
/// `SHUTDOWN_DRAIN_SECS` after SIGTERM readiness says 503 while requests are
/// still answered; then live sockets close with 1001 (going away) and the
/// process exits. The start's log names the migrations it ran.
#[tokio::test]
async fn sigterm_drains_with_readiness_503_then_closes_live_sockets_with_1001() {
    let (mut server, addr, _dir, printed) =
        spawn_binary_logged(&[("SHUTDOWN_DRAIN_SECS", "2"), ("LOG_FORMAT", "json")]).await;
    let started: Vec<serde_json::Value> = printed
        .lock()
        .unwrap()
        .iter()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let migrated = started
        .iter()
        .find(|event| event["message"] == "migrations applied")
        .unwrap_or_else(|| panic!("no migration line among {started:?}"));
    assert!(
        migrated["migrations"]
            .as_str()
            .is_some_and(|names| names.starts_with("m20261122_000001_create_tables")),
        "{migrated}"
    );
    assert!(migrated["elapsed_ms"].is_number(), "{migrated}");

    let client = reqwest::Client::new();
    let graphql = format!("http://{addr}/graphql");
    let token = register_on(&addr, "drew").await;
    let (mut socket, ack) = crate::live::connect(addr.parse().unwrap(), Some(&token)).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");

    let signalled = Instant::now();
    sigterm(&server);
    let mut draining = None;
    while signalled.elapsed() < Duration::from_millis(1500) {
        let ready = client
            .get(format!("http://{addr}/health/ready"))
            .send()
            .await
            .unwrap();
        if ready.status() == 503 {
            draining = Some(ready.json::<serde_json::Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        draining.expect("readiness answered 503 after SIGTERM")["status"],
        "draining"
    );
    let answered = client
        .post(&graphql)
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), 200, "requests are served while draining");
    assert!(
        signalled.elapsed() < Duration::from_secs(2),
        "the check ran inside the drain"
    );

    let closed = crate::live::next_message(&mut socket).await;
    assert_eq!(closed["closed"], "1001", "{closed}");
    assert!(
        signalled.elapsed() >= Duration::from_secs(2),
        "the socket outlived the drain"
    );
    let status = tokio::time::timeout(Duration::from_secs(30), server.wait())
        .await
        .expect("exited")
        .unwrap();
    assert!(status.success(), "{status}");
}
