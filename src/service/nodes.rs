//! `node` and `nodes`: which kind of object a global id names, and whether
//! the viewer may see it, by each type's own rules. An object the viewer may
//! not see is answered as if it did not exist (null), so an id never tells
//! a caller whether someone else's object exists.

use entity::{api_key, audit_event, session};
use uuid::Uuid;

use crate::{
    auth::{Permission, Viewer},
    error::{AppError, Result},
    ids,
};

use super::{
    Keyed,
    audit::{self, Action},
    now,
};

/// The kinds of object `node` answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    User,
    Role,
    Tier,
    Session,
    ApiKey,
    AuditEvent,
    Webhook,
    ExternalIdentity,
    Passkey,
    Organization,
    Membership,
    OrgRole,
    OrganizationInvitation,
}

const KINDS: [(&str, Kind); 13] = [
    (ids::USER, Kind::User),
    (ids::ROLE, Kind::Role),
    (ids::TIER, Kind::Tier),
    (ids::SESSION, Kind::Session),
    (ids::API_KEY, Kind::ApiKey),
    (ids::AUDIT_EVENT, Kind::AuditEvent),
    (ids::WEBHOOK, Kind::Webhook),
    (ids::EXTERNAL_IDENTITY, Kind::ExternalIdentity),
    (ids::PASSKEY, Kind::Passkey),
    (ids::ORGANIZATION, Kind::Organization),
    (ids::MEMBERSHIP, Kind::Membership),
    (ids::ORG_ROLE, Kind::OrgRole),
    (ids::ORG_INVITATION, Kind::OrganizationInvitation),
];

/// The kind and key of a global id; `BAD_USER_INPUT` on `field` for
/// anything that is not one (a well-formed id of nothing is not an error:
/// `node` answers null).
pub fn parse(raw: &str, field: &'static str) -> Result<(Kind, Uuid)> {
    let (prefix, _) = raw.split_once('_').unwrap_or_default();
    let kind = KINDS
        .iter()
        .find(|(p, _)| *p == prefix)
        .map(|(_, kind)| *kind)
        .ok_or_else(|| AppError::bad_input(field, format!("{field} is not an id of this API")))?;
    Ok((kind, ids::decode(prefix, raw, field)?))
}

/// Users: oneself, or anyone with `USERS_READ` (soft-deleted users
/// included, as `user(id)`). Decided before any read.
pub fn may_see_user(viewer: &Viewer, id: Uuid) -> bool {
    viewer.reads_user(id)
}

/// Sessions: one's own live sessions, as `mySessions` lists them.
pub fn may_see_session(viewer: &Viewer, row: &session::Model) -> bool {
    row.user_id == viewer.id()
        && row.rotated_at.is_none()
        && row.revoked_at.is_none()
        && row.expires_at > now()
}

/// API keys: one's own or, with `USERS_READ`, anyone's, not revoked, as
/// `myApiKeys` and `apiKeys(userId)` list them.
pub fn may_see_api_key(viewer: &Viewer, key: &api_key::Model) -> bool {
    key.revoked_at.is_none() && (key.user_id == viewer.id() || viewer.has(Permission::UsersRead))
}

/// Audit events: any with `AUDIT_READ`; otherwise one's own security
/// events as `mySecurityEvents` shows them (another actor's address,
/// browser and request hidden). `None` when the viewer may not see it.
pub fn audit_event_as_seen(
    viewer: &Viewer,
    mut event: audit_event::Model,
) -> Option<audit_event::Model> {
    if viewer.has(Permission::AuditRead) {
        return Some(event);
    }
    let own_security_event = event.target_kind.as_deref() == Some("user")
        && event.target_id == Some(viewer.id())
        && Action::parse(&event.action).is_some_and(Action::is_security);
    own_security_event.then(|| {
        audit::as_own_history(viewer, &mut event);
        event
    })
}

/// Linked provider accounts: as `User.identities` shows them (the user
/// themself, or `USERS_READ`).
pub fn may_see_identity(viewer: &Viewer, identity: &entity::external_identity::Model) -> bool {
    viewer.reads_user(identity.user_id)
}

/// Passkeys: as `User.passkeys` shows them (the user themself, or
/// `USERS_READ`).
pub fn may_see_passkey(viewer: &Viewer, passkey: &entity::passkey::Model) -> bool {
    viewer.reads_user(passkey.user_id)
}

/// Memberships: one's own, or with `MEMBERS_READ` in its organisation.
pub fn may_see_membership(
    viewer: &Viewer,
    membership: &entity::membership::Model,
    held: &super::memberships::Held,
) -> bool {
    membership.user_id == viewer.id()
        || held
            .permissions
            .contains(&crate::auth::org::OrgPermission::MembersRead)
}

/// Organisation invitations: with `MEMBERS_INVITE` in their organisation,
/// as `Organization.invitations` lists them.
pub fn may_see_invitation(
    invitation: &entity::organization_invitation::Model,
    held: &super::memberships::Held,
) -> bool {
    invitation.accepted_at.is_none()
        && held
            .permissions
            .contains(&crate::auth::org::OrgPermission::MembersInvite)
}

/// Webhooks: superusers, as `webhooks`. Decided before any read.
pub fn may_see_webhooks(viewer: &Viewer) -> bool {
    viewer.is_superuser()
}

impl Keyed for entity::role::Entity {
    const KEY: Self::Column = entity::role::Column::Id;
    fn key(model: &Self::Model) -> Uuid {
        model.id
    }
}

impl Keyed for api_key::Entity {
    const KEY: Self::Column = api_key::Column::Id;
    fn key(model: &Self::Model) -> Uuid {
        model.id
    }
}

impl Keyed for audit_event::Entity {
    const KEY: Self::Column = audit_event::Column::Id;
    fn key(model: &Self::Model) -> Uuid {
        model.id
    }
}

impl Keyed for entity::webhook::Entity {
    const KEY: Self::Column = entity::webhook::Column::Id;
    fn key(model: &Self::Model) -> Uuid {
        model.id
    }
}

impl Keyed for entity::external_identity::Entity {
    const KEY: Self::Column = entity::external_identity::Column::Id;
    fn key(model: &Self::Model) -> Uuid {
        model.id
    }
}

impl Keyed for entity::passkey::Entity {
    const KEY: Self::Column = entity::passkey::Column::Id;
    fn key(model: &Self::Model) -> Uuid {
        model.id
    }
}

impl Keyed for entity::tier::Entity {
    const KEY: Self::Column = entity::tier::Column::Id;
    fn key(model: &Self::Model) -> Uuid {
        model.id
    }
}

macro_rules! keyed_by_id {
    ($($entity:ident),+) => {$(
        impl Keyed for entity::$entity::Entity {
            const KEY: Self::Column = entity::$entity::Column::Id;
            fn key(model: &Self::Model) -> Uuid {
                model.id
            }
        }
    )+};
}

keyed_by_id!(organization, org_role, membership, organization_invitation);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_names_its_kind() {
        let key = Uuid::now_v7();
        for (prefix, kind) in KINDS {
            assert_eq!(parse(&ids::encode(prefix, key), "id").unwrap(), (kind, key));
        }
        for bad in ["", "usr", "usr_", "nope_0190", "whd_0190", "usr_zz"] {
            assert_eq!(parse(bad, "id").unwrap_err().field(), Some("id"), "{bad}");
        }
    }
}
