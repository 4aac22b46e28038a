//! Live events over a real WebSocket (graphql-transport-ws): an event made
//! on one replica reaches a subscriber on another, a session ended on one
//! replica closes the other's socket, and sign-in happens in
//! `connection_init`.

use std::{net::SocketAddr, time::Duration};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest},
};

use crate::helpers::TestApp;

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// A socket that has not sent `connection_init`.
async fn open(addr: SocketAddr) -> Socket {
    let mut request = format!("ws://{addr}/graphql/ws")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    connect_async(request).await.expect("upgrade").0
}

pub(crate) async fn connect(addr: SocketAddr, token: Option<&str>) -> (Socket, Value) {
    let mut socket = open(addr).await;
    let payload = match token {
        Some(token) => json!({ "Authorization": format!("Bearer {token}") }),
        None => json!({}),
    };
    socket
        .send(Message::text(
            json!({ "type": "connection_init", "payload": payload }).to_string(),
        ))
        .await
        .unwrap();
    let answer = next_message(&mut socket).await;
    (socket, answer)
}

/// The next JSON message, or `{"closed": …}` when the socket closes.
pub(crate) async fn next_message(socket: &mut Socket) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
            Err(_) => panic!("no message within 10 s"),
            Ok(None) => return json!({ "closed": null }),
            Ok(Some(Err(err))) => return json!({ "closed": err.to_string() }),
            Ok(Some(Ok(Message::Text(text)))) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "ping" || value["type"] == "pong" {
                    continue;
                }
                return value;
            }
            Ok(Some(Ok(Message::Close(frame)))) => {
                return json!({ "closed": frame.map(|f| f.code.to_string()) });
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

async fn subscribe(socket: &mut Socket, query: &str) {
    socket
        .send(Message::text(
            json!({ "id": "1", "type": "subscribe", "payload": { "query": query } }).to_string(),
        ))
        .await
        .unwrap();
    // Let the subscription start before events are made.
    tokio::time::sleep(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn an_event_made_on_one_replica_reaches_a_subscriber_on_another() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let other = app.spawn_replica().await;
    let (mut socket, ack) = connect(other.addr, Some(&root.access)).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    subscribe(
        &mut socket,
        "subscription { auditEvents(actions: [\"user.created\"]) { action targetId actor { username } changes } }",
    )
    .await;
    // Another kind of event first: filtered out.
    app.register_as("ann").await;
    let body = app
        .gql(
            Some(&root.access),
            "mutation { createUser(input: { username: \"bob\", email: \"bob@example.com\", password: \"marmalade-otter-77\" }) { id } }",
            json!({}),
        )
        .await;
    let bob = body["data"]["createUser"]["id"].as_str().unwrap();
    let message = next_message(&mut socket).await;
    assert_eq!(message["type"], "next", "{message}");
    let event = &message["payload"]["data"]["auditEvents"];
    assert_eq!(event["action"], "user.created");
    assert_eq!(event["targetId"], bob);
    assert_eq!(event["actor"]["username"], "root");
    assert_eq!(event["changes"]["username"]["new"], "bob");
}

#[tokio::test]
async fn a_session_ended_on_one_replica_closes_the_other_replicas_socket() {
    let app = TestApp::spawn().await;
    let ann = app.register_as("ann").await;
    let other = app.spawn_replica().await;
    let (mut socket, ack) = connect(other.addr, Some(&ann.access)).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    subscribe(
        &mut socket,
        "subscription { mySessionEvents { kind action sessionId endsThisSession } }",
    )
    .await;
    let body = app
        .gql(Some(&ann.access), "mutation { logout }", json!({}))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let message = next_message(&mut socket).await;
    assert_eq!(message["type"], "next", "{message}");
    let event = &message["payload"]["data"]["mySessionEvents"];
    assert_eq!(event["kind"], "ENDED");
    assert_eq!(event["action"], "auth.logout");
    assert_eq!(event["endsThisSession"], true);
    // Then the socket is closed, with the code that tells graphql-ws not to
    // reconnect with the same token.
    let closed = next_message(&mut socket).await;
    assert_eq!(closed["closed"], "4401", "{closed}");
}

#[tokio::test]
async fn a_connection_must_sign_in_and_audit_events_need_audit_read() {
    let app = TestApp::spawn().await;
    let (_, answer) = connect(app.addr, None).await;
    assert_eq!(answer["closed"], "4401", "anonymous: {answer}");
    let (_, answer) = connect(app.addr, Some("not-a-token")).await;
    assert_eq!(answer["closed"], "4401", "bad token: {answer}");
    let ann = app.register_as("ann").await;
    let (mut socket, ack) = connect(app.addr, Some(&ann.access)).await;
    assert_eq!(ack["type"], "connection_ack");
    socket
        .send(Message::text(
            json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { auditEvents { action } }" } }).to_string(),
        ))
        .await
        .unwrap();
    // An execution error: a `next` with the error, then `complete`.
    let message = next_message(&mut socket).await;
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(
        message["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{message}"
    );
}

#[tokio::test]
async fn a_socket_runs_subscriptions_only_and_under_the_http_checks() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let (mut socket, ack) = connect(app.addr, Some(&root.access)).await;
    assert_eq!(ack["type"], "connection_ack");
    let send = |id: &str, query: &str| {
        Message::text(
            json!({ "id": id, "type": "subscribe", "payload": { "query": query } }).to_string(),
        )
    };
    socket
        .send(send("q", "{ users { nodes { email } } }"))
        .await
        .unwrap();
    let answer = next_message(&mut socket).await;
    assert_eq!(
        answer["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{answer}"
    );
    // Fragments that double at each level: refused before validation, as over HTTP.
    let mut bomb = String::from(
        "subscription { auditEvents { ...f11 } } fragment f0 on AuditEvent { action }",
    );
    for i in 1..=11 {
        bomb.push_str(&format!(
            " fragment f{i} on AuditEvent {{ ...f{} ...f{} }}",
            i - 1,
            i - 1
        ));
    }
    socket.send(send("b", &bomb)).await.unwrap();
    loop {
        let answer = next_message(&mut socket).await;
        if answer["id"] == "b" && answer["type"] == "next" {
            assert_eq!(
                answer["payload"]["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
                "{answer}"
            );
            break;
        }
        assert_ne!(answer["type"], "error", "{answer}");
    }
}

#[tokio::test]
async fn a_socket_whose_caller_loses_a_permission_is_closed() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let ada = app.user_with("ada", &["admin"], false).await;
    let (mut socket, ack) = connect(app.addr, Some(&ada.access)).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    subscribe(&mut socket, "subscription { auditEvents { action } }").await;
    let user_role = app.role_id(&root.access, "user").await;
    let body = app.set_roles(&root.access, &ada.id, &[&user_role]).await;
    assert!(body["errors"].is_null(), "{body}");
    loop {
        let message = next_message(&mut socket).await;
        if message.get("closed").is_some() {
            assert_eq!(message["closed"], "4403", "{message}");
            break;
        }
        // The role change itself may still arrive before the socket closes.
        assert_eq!(message["type"], "next", "{message}");
    }
}

#[tokio::test]
async fn live_sockets_are_capped_per_user_and_per_client_address() {
    let app = TestApp::spawn_with(&[("WS_MAX_PER_USER", "2"), ("WS_MAX_PER_ADDRESS", "3")]).await;
    let ann = app.register_as("ann").await;
    let bob = app.register_as("bob").await;
    let (_first, ack) = connect(app.addr, Some(&ann.access)).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let (_second, ack) = connect(app.addr, Some(&ann.access)).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let (_third, refused) = connect(app.addr, Some(&ann.access)).await;
    assert_eq!(
        refused["closed"], "4429",
        "a third socket for one user: {refused}"
    );
    // The refused socket gave its place back: bob takes the address's third.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_bobs, ack) = connect(app.addr, Some(&bob.access)).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    let mut request = format!("ws://{}/graphql/ws", app.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    match connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
        }
        other => panic!("a fourth socket from one address: {:?}", other.map(|_| ())),
    }
}

/// graphql-ws reconnects after any close but the protocol's own codes: each
/// way a socket ends says which it is.
#[tokio::test]
async fn each_way_a_socket_ends_has_its_graphql_transport_ws_close_code() {
    let app = TestApp::spawn_with(&[("WS_INIT_TIMEOUT_SECS", "1")]).await;
    let ann = app.register_as("ann").await;

    let mut silent = open(app.addr).await;
    let closed = next_message(&mut silent).await;
    assert_eq!(
        closed["closed"], "4408",
        "no connection_init in time: {closed}"
    );

    let mut early = open(app.addr).await;
    early
        .send(Message::text(
            json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { mySessionEvents { kind } }" } }).to_string(),
        ))
        .await
        .unwrap();
    let closed = next_message(&mut early).await;
    assert_eq!(
        closed["closed"], "4401",
        "subscribe before the ack: {closed}"
    );

    let (mut garbled, ack) = connect(app.addr, Some(&ann.access)).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    garbled
        .send(Message::text("{\"type\": \"nonsense\"}"))
        .await
        .unwrap();
    let closed = next_message(&mut garbled).await;
    assert_eq!(closed["closed"], "4400", "an unknown message: {closed}");

    // An id the server completed may be used again.
    let (mut reused, _) = connect(app.addr, Some(&ann.access)).await;
    let forbidden = json!({ "id": "again", "type": "subscribe", "payload": { "query": "subscription { auditEvents { action } }" } }).to_string();
    for attempt in 0..2 {
        reused.send(Message::text(forbidden.clone())).await.unwrap();
        let answer = next_message(&mut reused).await;
        assert_eq!(
            answer["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
            "attempt {attempt}: {answer}"
        );
        let complete = next_message(&mut reused).await;
        assert_eq!(
            complete["type"], "complete",
            "attempt {attempt}: {complete}"
        );
    }

    let (mut twice, _) = connect(app.addr, Some(&ann.access)).await;
    let subscription = json!({ "id": "same", "type": "subscribe", "payload": { "query": "subscription { mySessionEvents { kind } }" } }).to_string();
    twice
        .send(Message::text(subscription.clone()))
        .await
        .unwrap();
    twice.send(Message::text(subscription)).await.unwrap();
    let closed = next_message(&mut twice).await;
    assert_eq!(closed["closed"], "4409", "an id in use: {closed}");

    let (mut stopping, ack) = connect(app.addr, Some(&ann.access)).await;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    app.ctx.lifecycle.stopping.send_replace(true);
    let closed = next_message(&mut stopping).await;
    assert_eq!(closed["closed"], "1001", "the server stopping: {closed}");
}

/// Statements the app runs over a quiet half second after `work`.
async fn statements_after(app: &TestApp, work: impl std::future::Future<Output = Value>) -> u64 {
    app.count_statements(async {
        let body = work.await;
        assert!(body["errors"].is_null(), "{body}");
        tokio::time::sleep(Duration::from_millis(600)).await;
    })
    .await
    .0
}

/// Sixty sockets of one user used to cost a re-check each on every event
/// about the user (98 statements for one sign-in): now a sign-in costs no
/// re-check, and an event that may narrow access one per credential,
/// however many sockets share it.
#[tokio::test]
async fn the_cost_of_an_event_does_not_grow_with_the_sockets_of_a_user() {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let ann = app.register_as("ann").await;
    let viewer_role = app.role_id(&root.access, "viewer").await;
    let user_role = app.role_id(&root.access, "user").await;
    let login = || app.login("ann", crate::helpers::PASSWORD);
    let mut sockets = Vec::new();
    let (socket, ack) = connect(app.addr, Some(&ann.access)).await;
    assert_eq!(ack["type"], "connection_ack");
    sockets.push(socket);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let one_sign_in = statements_after(&app, login()).await;
    let one_change = statements_after(
        &app,
        app.set_roles(&root.access, &ann.id, &[&user_role, &viewer_role]),
    )
    .await;
    for _ in 0..11 {
        let (socket, ack) = connect(app.addr, Some(&ann.access)).await;
        assert_eq!(ack["type"], "connection_ack");
        sockets.push(socket);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let twelve_sign_in = statements_after(&app, login()).await;
    let twelve_change =
        statements_after(&app, app.set_roles(&root.access, &ann.id, &[&user_role])).await;
    // A little room for the event feed's own reads (SQLite polls for events).
    assert!(
        twelve_sign_in <= one_sign_in + 3,
        "a sign-in: {one_sign_in} statements with one socket, {twelve_sign_in} with twelve"
    );
    assert!(
        twelve_change <= one_change + 3,
        "a role change: {one_change} statements with one socket, {twelve_change} with twelve"
    );
}
