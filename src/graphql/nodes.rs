//! Global object lookup: the `Node` interface, `node(id)` and `nodes(ids)`.
//! Every lookup goes through the request's DataLoader, so `nodes` over many
//! ids costs one statement per type, and each type's visibility is the
//! service's (`service::nodes`): what the caller may not see is null.

use async_graphql::{Context, ID, Object};
use entity::{
    api_key, audit_event, external_identity, membership, org_role, organization,
    organization_invitation, role, tier, webhook,
};

use super::{
    cost,
    guard::{Authenticated, viewer},
    loaders::{ByKey, SessionChain, UserById},
    request::{app, loader},
    types::{
        ExternalIdentity, Membership, Node, Passkey, Session, User, organization::held_in,
        user_connection::projection,
    },
};
use crate::{
    error::AppError,
    service::nodes::{self, Kind},
};

/// The most ids one `nodes` call takes.
pub const MAX_NODES: usize = 100;

/// The object `raw` names, if the viewer may see it.
async fn resolve(
    ctx: &Context<'_>,
    raw: &str,
    field: &'static str,
) -> Result<Option<Node>, AppError> {
    let viewer = viewer(ctx)?;
    let (kind, key) = nodes::parse(raw, field)?;
    let loader = loader(ctx)?;
    macro_rules! load {
        ($key:expr) => {
            loader.load_one($key).await.map_err(AppError::from)?
        };
    }
    Ok(match kind {
        Kind::User if nodes::may_see_user(viewer, key) => {
            // Reads what the selection needs, fragments on `User` included.
            let columns = projection(&[&ctx.look_ahead()]);
            load!(UserById(key, columns)).map(|p| Node::User(User::projected(p, Some(viewer))))
        }
        Kind::User => None,
        Kind::Role => load!(ByKey::<role::Entity>::new(key)).map(|r| Node::Role(r.into())),
        Kind::Tier => load!(ByKey::<tier::Entity>::new(key)).map(|t| Node::Tier(t.into())),
        Kind::Session => load!(SessionChain(key))
            .filter(|s| nodes::may_see_session(viewer, s))
            .map(|s| Node::Session(Session::new(s, viewer.session_id))),
        Kind::ApiKey => load!(ByKey::<api_key::Entity>::new(key))
            .filter(|k| nodes::may_see_api_key(viewer, k))
            .map(|k| Node::ApiKey(k.into())),
        Kind::AuditEvent => load!(ByKey::<audit_event::Entity>::new(key))
            .and_then(|e| nodes::audit_event_as_seen(viewer, e))
            .map(|e| Node::AuditEvent(e.into())),
        Kind::Webhook if nodes::may_see_webhooks(viewer) => {
            load!(ByKey::<webhook::Entity>::new(key)).map(|w| Node::Webhook(w.into()))
        }
        Kind::Webhook => None,
        Kind::ExternalIdentity => load!(ByKey::<external_identity::Entity>::new(key))
            .filter(|i| nodes::may_see_identity(viewer, i))
            .map(|i| Node::ExternalIdentity(ExternalIdentity::new(app(ctx), i))),
        Kind::Passkey => load!(ByKey::<entity::passkey::Entity>::new(key))
            .filter(|p| nodes::may_see_passkey(viewer, p))
            .map(|p| Node::Passkey(Passkey::from(p))),
        Kind::Organization => match load!(ByKey::<organization::Entity>::new(key)) {
            Some(org) if held_in(ctx, org.id).await?.sees_organization() => {
                Some(Node::Organization(org.into()))
            }
            _ => None,
        },
        Kind::Membership => match load!(ByKey::<membership::Entity>::new(key)) {
            Some(m)
                if nodes::may_see_membership(
                    viewer,
                    &m,
                    &held_in(ctx, m.organization_id).await?,
                ) =>
            {
                Some(Node::Membership(Membership::new(m, None)))
            }
            _ => None,
        },
        Kind::OrgRole => match load!(ByKey::<org_role::Entity>::new(key)) {
            Some(role) if role.is_builtin => Some(Node::OrgRole(role.into())),
            Some(role) => match role.organization_id {
                Some(org) if held_in(ctx, org).await?.sees_organization() => {
                    Some(Node::OrgRole(role.into()))
                }
                _ => None,
            },
            None => None,
        },
        Kind::OrganizationInvitation => {
            match load!(ByKey::<organization_invitation::Entity>::new(key)) {
                Some(i)
                    if nodes::may_see_invitation(&i, &held_in(ctx, i.organization_id).await?) =>
                {
                    Some(Node::OrganizationInvitation(i.into()))
                }
                _ => None,
            }
        }
    })
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// The object with this global id, whatever its type (`... on User { … }`
    /// to select its fields); null when there is none or the caller may not
    /// see it, by the type's own rules: users as `user(id)` (oneself, or
    /// `USERS_READ`); roles and tiers for anyone signed in; sessions, one's
    /// own live ones; API keys, one's own or with `USERS_READ`; audit
    /// events with `AUDIT_READ` or one's own security events; webhooks for
    /// superusers; linked provider accounts and passkeys, one's own or with
    /// `USERS_READ`; organisations and their custom org roles, for members,
    /// `ORGS_READ` and superusers (built-in org roles for anyone);
    /// memberships, one's own or with `MEMBERS_READ` in their organisation;
    /// invitations with `MEMBERS_INVITE` there.
    /// `BAD_USER_INPUT` for a string that is not an id.
    #[graphql(guard = "Authenticated", complexity = "cost::lookup(child_complexity)")]
    async fn node(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Node>> {
        Ok(resolve(ctx, &id, "id").await?)
    }

    /// The objects with these ids (at most 100), in the same order, each as
    /// `node` answers it (null where `node` would be). One statement per
    /// type asked for, whatever the number of ids.
    #[graphql(
        guard = "Authenticated",
        complexity = "cost::STATEMENT * 16 + ids.len().min(MAX_NODES) * child_complexity"
    )]
    async fn nodes(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
    ) -> async_graphql::Result<Vec<Option<Node>>> {
        if ids.len() > MAX_NODES {
            return Err(AppError::bad_input("ids", format!("at most {MAX_NODES} ids")).into());
        }
        let found = async_graphql::futures_util::future::try_join_all(
            ids.iter().map(|id| resolve(ctx, id, "ids")),
        )
        .await?;
        Ok(found)
    }
}
