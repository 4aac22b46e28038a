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
async fn a_page_of_100_users_with_roles_and_tier_costs_what_a_page_of_1_costs() {
    let (app, token) = seeded_app().await;

    let one = page_statements(&app, &token, 1).await;
    let hundred = page_statements(&app, &token, 100).await;

    assert_eq!(one, hundred, "statements for 1 user vs 100 users");
    // viewer (session + roles), the page, its roles, its tiers.
    assert_eq!(hundred, 5);
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
    // viewer (2), then one batch each for the users, their roles and their tiers.
    assert_eq!(two, 2 + 3);
    assert_eq!(ten, two);
    assert_eq!(code(&body10), "");
}
