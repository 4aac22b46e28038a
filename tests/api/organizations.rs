//! Organisations (#32), the foundation so far: the built-in org roles and
//! their permissions, and the rule that an organisation keeps an owner,
//! held by a lock on its row, raced.

use entity::{membership, organization};
use sea_orm::{ActiveModelTrait, Set, TransactionTrait};
use usergraph::{
    auth::org::OrgPermission,
    service::memberships::{self, ADMIN, MEMBER, OWNER},
};

use crate::helpers::TestApp;

/// An organisation whose `owners` users own it.
async fn owned_by(app: &TestApp, owners: &[&str]) -> (uuid::Uuid, Vec<membership::Model>) {
    let ts = chrono::Utc::now();
    let org = organization::ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        name: Set("Acme".into()),
        slug: Set(format!("acme-{}", uuid::Uuid::now_v7().simple())),
        metadata: Set(serde_json::json!({})),
        tier_id: Set(None),
        created_at: Set(ts),
        updated_at: Set(ts),
    }
    .insert(app.db())
    .await
    .unwrap();
    let owner = memberships::builtin_role(app.db(), OWNER).await.unwrap();
    let mut members = Vec::new();
    for name in owners {
        let account = app.register_as(name).await;
        let member = membership::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            organization_id: Set(org.id),
            user_id: Set(usergraph::ids::decode(usergraph::ids::USER, &account.id, "id").unwrap()),
            joined_at: Set(ts),
        }
        .insert(app.db())
        .await
        .unwrap();
        memberships::set_roles(app.db(), &member, &[owner.id])
            .await
            .unwrap();
        members.push(member);
    }
    (org.id, members)
}

async fn owner_count(app: &TestApp, members: &[membership::Model]) -> usize {
    let mut owners = 0;
    for member in members {
        let roles = memberships::roles_of(app.db(), member.id).await.unwrap();
        owners += usize::from(roles.iter().any(|r| r.name == OWNER));
    }
    owners
}

#[tokio::test]
async fn the_built_in_org_roles_hold_their_permissions() {
    let app = TestApp::spawn().await;
    for (name, expected) in [
        (OWNER, OrgPermission::ALL.to_vec()),
        (
            ADMIN,
            OrgPermission::ALL
                .into_iter()
                .filter(|p| *p != OrgPermission::OrgDelete)
                .collect(),
        ),
        (MEMBER, vec![OrgPermission::MembersRead]),
    ] {
        let role = memberships::builtin_role(app.db(), name).await.unwrap();
        let held: Vec<OrgPermission> = memberships::permissions(&[role]).into_iter().collect();
        assert_eq!(held, expected, "{name}");
    }
}

#[tokio::test]
async fn the_last_owner_cannot_leave_be_removed_or_lose_the_role() {
    let app = TestApp::spawn().await;
    let (org, members) = owned_by(&app, &["ann"]).await;
    let member = memberships::builtin_role(app.db(), MEMBER).await.unwrap();
    let err = memberships::set_roles(app.db(), &members[0], &[member.id])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "CONFLICT");
    let err = memberships::remove(app.db(), &members[0])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "CONFLICT");
    let (held, permissions) = memberships::standing(app.db(), org, members[0].user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held.id, members[0].id);
    assert!(permissions.contains(&OrgPermission::OrgDelete));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_owners_demoting_each_other_at_once_leave_an_owner() {
    let app = TestApp::spawn().await;
    let member = memberships::builtin_role(app.db(), MEMBER).await.unwrap();
    for round in 0..8 {
        let (_, members) = owned_by(&app, &[&format!("a{round}"), &format!("b{round}")]).await;
        let demote = |target: membership::Model| {
            let db = app.db().clone();
            let role = member.id;
            tokio::spawn(async move {
                let txn = db.begin().await?;
                memberships::set_roles(&txn, &target, &[role]).await?;
                txn.commit().await?;
                Ok::<_, usergraph::error::AppError>(())
            })
        };
        let (first, second) = tokio::join!(demote(members[1].clone()), demote(members[0].clone()));
        let outcomes = [first.unwrap(), second.unwrap()];
        assert!(
            outcomes.iter().any(Result::is_err),
            "round {round}: both demotions went through"
        );
        assert_eq!(
            owner_count(&app, &members).await,
            1,
            "round {round}: {outcomes:?}"
        );
    }
}
