//! N+1 is a bug: list queries cost a fixed number of SQL statements whatever
//! the page size and however many requests run at once. Counted with SeaORM's
//! metric hook on the app's own connection.

use futures::future::join_all;
use serde_json::json;

use crate::helpers::{TestApp, code};

// Ordered by username so the first page starts with users that have a tier.
const PAGE: &str = "query($n: Int!) { users(first: $n, orderBy: [{ field: USERNAME }]) { edges { node { id username email isStaff roles { name permissions } tier { name } } } } }";

async fn page_statements(app: &TestApp, token: &str, n: usize) -> u64 {
    let (count, body) = app
        .count_statements(app.gql(Some(token), PAGE, json!({ "n": n })))
        .await;
    assert_eq!(
        body["data"]["users"]["edges"].as_array().map(Vec::len),
        Some(n),
        "{body}"
    );
    count
}

async fn seeded_app() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    let root = app.superuser("root").await;
    let tier = app
        .gql(
            Some(&root.access),
            "mutation { createTier(input: { name: \"Pro\" }) { id } }",
            json!({}),
        )
        .await;
    let tier_id = usergraph::ids::decode(
        "tir",
        tier["data"]["createTier"]["id"].as_str().unwrap(),
        "id",
    )
    .unwrap();
    app.seed_users(120, "member", Some(tier_id)).await;
    (app, root.access)
}

#[tokio::test]
async fn a_page_of_100_users_with_roles_and_tier_is_the_viewer_and_one_statement() {
    let (app, token) = seeded_app().await;

    let one = page_statements(&app, &token, 1).await;
    let hundred = page_statements(&app, &token, 100).await;

    assert_eq!(one, hundred, "statements for 1 user vs 100 users");
    // The viewer (session, user and roles), then the page with its tiers
    // and roles in one statement.
    assert_eq!(hundred, 2);
}

/// Linked provider accounts (#29) cost one more statement per page, batched.
#[tokio::test]
async fn a_page_of_users_with_their_identities_and_password_state_costs_one_more_statement() {
    let (app, token) = seeded_app().await;
    let query = "query($n: Int!) { users(first: $n) { nodes { id hasPassword identities { id provider { name } } } } }";
    let mut counts = Vec::new();
    for n in [1, 100] {
        let (count, body) = app
            .count_statements(app.gql(Some(&token), query, json!({ "n": n })))
            .await;
        assert_eq!(
            body["data"]["users"]["nodes"].as_array().map(Vec::len),
            Some(n),
            "{body}"
        );
        counts.push(count);
    }

    assert_eq!(counts, [3, 3], "the viewer, the page, the identities");
}

/// Passkeys (#30) cost one more statement per page, batched.
#[tokio::test]
async fn a_page_of_users_with_their_passkeys_costs_one_more_statement() {
    let (app, token) = seeded_app().await;
    let query =
        "query($n: Int!) { users(first: $n) { nodes { id passkeys { id name lastUsedAt } } } }";
    let mut counts = Vec::new();
    for n in [1, 100] {
        let (count, body) = app
            .count_statements(app.gql(Some(&token), query, json!({ "n": n })))
            .await;
        assert_eq!(
            body["data"]["users"]["nodes"].as_array().map(Vec::len),
            Some(n),
            "{body}"
        );
        counts.push(count);
    }
    assert_eq!(counts, [3, 3], "the viewer, the page, the passkeys");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_concurrent_pages_cost_thirty_two_times_one_page() {
    let (app, token) = seeded_app().await;
    let single = page_statements(&app, &token, 100).await;

    let (total, bodies) = app
        .count_statements(join_all(
            (0..32).map(|_| app.gql(Some(&token), PAGE, json!({ "n": 100 }))),
        ))
        .await;

    assert!(
        bodies.iter().all(|b| b["errors"].is_null()
            && b["data"]["users"]["edges"].as_array().unwrap().len() == 100)
    );
    assert_eq!(total, 32 * single);
}

#[tokio::test]
async fn aliased_single_user_lookups_are_batched_by_the_loader() {
    let (app, token) = seeded_app().await;
    let ids = app
        .gql(
            Some(&token),
            "{ users(first: 10, orderBy: [{ field: USERNAME }]) { nodes { id } } }",
            json!({}),
        )
        .await;
    let ids: Vec<String> = ids["data"]["users"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect();
    let aliased = |n: usize| {
        let fields: String = ids[..n]
            .iter()
            .enumerate()
            .map(|(i, id)| {
                format!("u{i}: user(id: \"{id}\") {{ roles {{ name }} tier {{ name }} isStaff }} ")
            })
            .collect();
        format!("{{ {fields} }}")
    };

    let (two, body2) = app
        .count_statements(app.gql(Some(&token), &aliased(2), json!({})))
        .await;
    let (ten, body10) = app
        .count_statements(app.gql(Some(&token), &aliased(10), json!({})))
        .await;

    assert!(
        body2["errors"].is_null() && body10["errors"].is_null(),
        "{body10}"
    );
    // The viewer, then one batch for the users with their tiers and roles.
    assert_eq!(two, 1 + 1);
    assert_eq!(ten, two);
    assert_eq!(code(&body10), "");
}

#[tokio::test]
async fn lookups_that_select_different_fields_share_one_batch_that_reads_them_all() {
    let (app, token) = seeded_app().await;
    let listed = app
        .gql(
            Some(&token),
            "{ users(first: 2, orderBy: [{ field: USERNAME }]) { nodes { id username email tier { name } } } }",
            json!({}),
        )
        .await;
    let nodes = listed["data"]["users"]["nodes"].as_array().unwrap().clone();
    // The first user has a tier (see `seeded_app`).
    let query = format!(
        "{{ a: user(id: \"{}\") {{ email }} b: user(id: \"{}\") {{ username tier {{ name }} }} }}",
        nodes[1]["id"].as_str().unwrap(),
        nodes[0]["id"].as_str().unwrap(),
    );

    let (count, body) = app
        .count_statements(app.gql(Some(&token), &query, json!({})))
        .await;

    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["a"]["email"], nodes[1]["email"]);
    assert_eq!(body["data"]["b"]["username"], nodes[0]["username"]);
    assert_eq!(body["data"]["b"]["tier"], nodes[0]["tier"]);
    assert!(nodes[0]["tier"]["name"].is_string(), "{listed}");
    // The viewer and one batch of users.
    assert_eq!(count, 2);
}
