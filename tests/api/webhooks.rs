//! Webhooks to a real HTTP receiver started by the test: signed per
//! Standard Webhooks (verified here by the specification's algorithm),
//! retried after a failure with the same id, disabled after the last one,
//! redelivered on request, and refused for private targets by default.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, extract::State, http::HeaderMap, routing::post};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

use crate::helpers::{TestApp, code, field};

#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: String,
}

#[derive(Default)]
struct Receiver {
    got: Mutex<Vec<Received>>,
    /// Statuses to answer, in order; 200 once they run out.
    answers: Mutex<VecDeque<u16>>,
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: String,
) -> axum::http::StatusCode {
    receiver
        .got
        .lock()
        .unwrap()
        .push(Received { headers, body });
    let status = receiver.answers.lock().unwrap().pop_front().unwrap_or(200);
    axum::http::StatusCode::from_u16(status).unwrap()
}

async fn start_receiver(answers: &[u16]) -> (SocketAddr, Arc<Receiver>) {
    let receiver = Arc::new(Receiver::default());
    receiver.answers.lock().unwrap().extend(answers);
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, receiver)
}

impl Receiver {
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.got.lock().unwrap().clone();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} deliveries arrived",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The Standard Webhooks verification, as a receiver does it: HMAC-SHA256
/// of `id.timestamp.body` under the base64 key after `whsec_`.
fn verify(secret: &str, received: &Received) {
    let header = |name: &str| received.headers[name].to_str().unwrap().to_owned();
    let (id, timestamp, signature) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    );
    let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().unwrap();
    assert!(age.abs() < 300, "timestamp {timestamp} is {age} s off");
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    assert!(key.len() >= 24);
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{}", received.body).as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert!(
        signature.split(' ').any(|s| s == format!("v1,{expected}")),
        "bad signature {signature}"
    );
}

const CREATE: &str = "mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { secret webhook { id url events enabled } } }";
const DELIVERIES: &str = "query($id: ID!) { webhookDeliveries(webhookId: $id) { nodes { id messageId eventType attempt statusCode succeeded error } } }";

async fn create_webhook(
    app: &TestApp,
    token: &str,
    addr: SocketAddr,
    events: &[&str],
) -> (String, String) {
    let body = app
        .gql(
            Some(token),
            CREATE,
            json!({ "i": { "url": format!("http://{addr}/hook"), "events": events, "description": "CRM sync" } }),
        )
        .await;
    let created = &body["data"]["createWebhook"];
    (
        created["secret"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_owned(),
        created["webhook"]["id"].as_str().unwrap().to_owned(),
    )
}

fn settings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"),
        ("OUTBOX_POLL_MS", "30"),
        ("WEBHOOK_RETRY_SCHEDULE", "50ms,50ms"),
    ]
}

#[tokio::test]
async fn a_downstream_system_receives_signed_user_created_webhooks() {
    let app = TestApp::spawn_with(&settings()).await;
    let root = app.superuser("root").await;
    let (addr, receiver) = start_receiver(&[]).await;
    let (secret, hook) = create_webhook(&app, &root.access, addr, &["user.created"]).await;
    assert!(secret.starts_with("whsec_"));
    let body = app
        .gql(
            Some(&root.access),
            "mutation { createUser(input: { username: \"bob\", email: \"bob@example.com\", password: \"marmalade-otter-77\" }) { id } }",
            json!({}),
        )
        .await;
    let bob = body["data"]["createUser"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Other events are not subscribed to.
    app.register_as("ann").await;
    let got = receiver.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.got.lock().unwrap().len(), 1, "only user.created");
    verify(&secret, &got[0]);
    assert!(
        got[0].headers["webhook-id"]
            .to_str()
            .unwrap()
            .starts_with("msg_")
    );
    let payload: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(payload["type"], "user.created");
    assert_eq!(payload["data"]["action"], "user.created");
    assert_eq!(payload["data"]["targetId"], bob.as_str());
    assert_eq!(payload["data"]["actorId"], root.id.as_str());
    assert_eq!(payload["data"]["changes"]["username"]["new"], "bob");
    assert!(!got[0].body.contains("marmalade-otter-77") && !got[0].body.contains("$argon2"));
    let deliveries = app
        .gql(Some(&root.access), DELIVERIES, json!({ "id": hook }))
        .await;
    let log = &deliveries["data"]["webhookDeliveries"]["nodes"];
    assert_eq!(log[0]["statusCode"], 200, "{deliveries}");
    assert_eq!(log[0]["succeeded"], true);
    assert_eq!(log[0]["eventType"], "user.created");
}

#[tokio::test]
async fn a_failed_delivery_is_retried_with_the_same_id_and_the_webhook_disabled_after_the_last() {
    let app = TestApp::spawn_with(&settings()).await;
    let root = app.superuser("root").await;
    let (addr, receiver) = start_receiver(&[500]).await;
    let (secret, hook) = create_webhook(&app, &root.access, addr, &["user.*"]).await;
    app.register_as("ann").await;
    let got = receiver.wait_for(2).await;
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
    verify(&secret, &got[1]);
    let deliveries = app
        .gql(Some(&root.access), DELIVERIES, json!({ "id": hook }))
        .await;
    let log = deliveries["data"]["webhookDeliveries"]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(
        (log[1]["statusCode"].as_i64(), log[1]["attempt"].as_i64()),
        (Some(500), Some(1))
    );
    assert_eq!(
        (log[0]["statusCode"].as_i64(), log[0]["attempt"].as_i64()),
        (Some(200), Some(2))
    );

    // A redelivery sends the same message again.
    let body = app
        .gql(
            Some(&root.access),
            "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) }",
            json!({ "id": log[0]["id"] }),
        )
        .await;
    assert_eq!(body, json!({ "data": { "redeliverWebhook": true } }));
    let got = receiver.wait_for(3).await;
    assert_eq!(got[2].headers["webhook-id"], got[0].headers["webhook-id"]);

    // Three failures in a row (the first try and the schedule's two retries): disabled.
    receiver.answers.lock().unwrap().extend([500, 503, 500]);
    app.register_as("bob").await;
    receiver.wait_for(6).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let listed = loop {
        let listed = app
            .gql(
                Some(&root.access),
                "{ webhooks { id enabled disabledReason } }",
                json!({}),
            )
            .await;
        if listed["data"]["webhooks"][0]["enabled"] == false || Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(listed["data"]["webhooks"][0]["enabled"], false, "{listed}");
    assert!(
        listed["data"]["webhooks"][0]["disabledReason"]
            .as_str()
            .unwrap()
            .contains("503")
            || listed["data"]["webhooks"][0]["disabledReason"]
                .as_str()
                .unwrap()
                .contains("500")
    );
    // Disabled: nothing more is sent.
    app.register_as("carl").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.got.lock().unwrap().len(), 6);
    // Enabled again by a superuser, it receives new events.
    let body = app
        .gql(Some(&root.access), "mutation($id: ID!) { updateWebhook(id: $id, input: { enabled: true }) { enabled disabledReason } }", json!({ "id": hook }))
        .await;
    assert_eq!(
        body["data"]["updateWebhook"],
        json!({ "enabled": true, "disabledReason": null })
    );
    app.register_as("dora").await;
    receiver.wait_for(7).await;
}

#[tokio::test]
async fn private_loopback_and_link_local_targets_are_refused_by_default() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/hook",
        "http://[::1]/hook",
        "http://localhost/hook",
        "ftp://example.com/hook",
    ] {
        let body = app
            .gql(
                Some(&root.access),
                CREATE,
                json!({ "i": { "url": url, "events": ["*"] } }),
            )
            .await;
        assert_eq!(
            (code(&body), field(&body)),
            ("BAD_USER_INPUT", "url"),
            "{url}: {body}"
        );
    }
    let body = app
        .gql(
            Some(&root.access),
            CREATE,
            json!({ "i": { "url": "http://127.0.0.1/x", "events": [] } }),
        )
        .await;
    assert_eq!(code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn webhooks_are_for_superusers_and_their_changes_are_audited() {
    let app = TestApp::spawn_with(&settings()).await;
    let root = app.superuser("root").await;
    let ada = app.user_with("ada", &["admin"], false).await;
    let (addr, _receiver) = start_receiver(&[]).await;
    let body = app
        .gql(
            Some(&ada.access),
            CREATE,
            json!({ "i": { "url": format!("http://{addr}/hook"), "events": ["*"] } }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN");
    let (secret, hook) = create_webhook(&app, &root.access, addr, &["user.created"]).await;
    app.gql(
        Some(&root.access),
        "mutation($id: ID!) { deleteWebhook(id: $id) }",
        json!({ "id": hook }),
    )
    .await;
    let events = app
        .gql(
            Some(&root.access),
            "query($t: ID) { auditEvents(filter: { targetId: $t }) { nodes { action changes } } }",
            json!({ "t": hook }),
        )
        .await;
    let text = events.to_string();
    assert!(
        text.contains("webhook.created") && text.contains("webhook.deleted"),
        "{text}"
    );
    assert!(!text.contains(&secret), "the secret is never in an event");
}

/// Every way a webhook changes, then every audit event of any action read
/// straight from the table: none carries a path, query or user info, which
/// may hold a receiver's own secret (`https://hooks.example/T0/B1/s3cret`).
#[tokio::test]
async fn no_audit_event_of_any_action_carries_a_webhook_path() {
    let app = TestApp::spawn_with(&settings()).await;
    let root = app.superuser("root").await;
    let (addr, _receiver) = start_receiver(&[]).await;
    let secret_path = "/hook/T0SECRETPATH?token=Q1SECRETQUERY";
    let body = app
        .gql(
            Some(&root.access),
            CREATE,
            json!({ "i": { "url": format!("http://ann:U1SECRETPASS@{addr}{secret_path}"), "events": ["user.*"] } }),
        )
        .await;
    let hook = body["data"]["createWebhook"]["webhook"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    // A delivery (which fails: the receiver knows no such path), and a
    // redelivery below.
    app.register_as("ann").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while app
        .gql(Some(&root.access), DELIVERIES, json!({ "id": hook }))
        .await["data"]["webhookDeliveries"]["nodes"][0]
        .is_null()
    {
        assert!(Instant::now() < deadline, "no delivery was attempted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let update =
        "mutation($id: ID!, $i: UpdateWebhookInput!) { updateWebhook(id: $id, input: $i) { id } }";
    for input in [
        json!({ "url": format!("http://{addr}/hook/T0OTHERPATH#F1SECRETFRAGMENT") }),
        json!({ "url": format!("http://localhost:{}/hook/T0THIRDPATH", addr.port()) }),
        json!({ "events": ["*"], "description": "changed" }),
        json!({ "enabled": false }),
        json!({ "enabled": true }),
    ] {
        let body = app
            .gql(
                Some(&root.access),
                update,
                json!({ "id": hook, "i": input }),
            )
            .await;
        assert!(body["errors"].is_null(), "{body}");
    }
    let deliveries = app
        .gql(Some(&root.access), DELIVERIES, json!({ "id": hook }))
        .await;
    if let Some(delivery) = deliveries["data"]["webhookDeliveries"]["nodes"][0]["id"].as_str() {
        app.gql(
            Some(&root.access),
            "mutation($id: ID!) { redeliverWebhook(deliveryId: $id) }",
            json!({ "id": delivery }),
        )
        .await;
    }
    app.gql(
        Some(&root.access),
        "mutation($id: ID!) { deleteWebhook(id: $id) }",
        json!({ "id": hook }),
    )
    .await;
    let rows = app.rows("SELECT action, changes FROM audit_events").await;
    let mut actions = std::collections::BTreeSet::new();
    for row in rows {
        let action: String = row.try_get_by_index(0).unwrap();
        let changes: Option<String> = row.try_get_by_index(1).unwrap();
        let changes = changes.unwrap_or_default();
        for secret in [
            "SECRETPATH",
            "SECRETQUERY",
            "SECRETPASS",
            "SECRETFRAGMENT",
            "T0OTHERPATH",
            "T0THIRDPATH",
        ] {
            assert!(!changes.contains(secret), "{action}: {changes}");
        }
        actions.insert(action);
    }
    for expected in ["webhook.created", "webhook.updated", "webhook.deleted"] {
        assert!(actions.contains(expected), "{actions:?}");
    }
}
