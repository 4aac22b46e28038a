//! `Node`: every object with a global id.

use async_graphql::{ID, Interface};

use super::{
    ApiKey, AuditEvent, ExternalIdentity, Membership, OrgRole, Organization,
    OrganizationInvitation, Passkey, Role, Session, Tier, User, Webhook,
};

/// An object with a global id, which `node` and `nodes` find again.
// A `Node` lives for one field's resolution, so its size does not matter,
// and an interface's variants are the object types themselves.
#[allow(clippy::large_enum_variant)]
#[derive(Interface)]
#[graphql(field(
    name = "id",
    ty = "&ID",
    desc = "Opaque and global: its prefix names the type (`usr_…`, `rol_…`)."
))]
pub enum Node {
    User(User),
    Role(Role),
    Tier(Tier),
    Session(Session),
    ApiKey(ApiKey),
    AuditEvent(AuditEvent),
    Webhook(Webhook),
    ExternalIdentity(ExternalIdentity),
    Passkey(Passkey),
    Organization(Organization),
    Membership(Membership),
    OrgRole(OrgRole),
    OrganizationInvitation(OrganizationInvitation),
}
