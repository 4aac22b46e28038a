//! What an org role lets its holders do inside one organisation (#32).
//! Org permissions never reach outside it.

use async_graphql::Enum;

/// A permission inside an organisation.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OrgPermission {
    /// See the organisation's members: their profiles and emails.
    MembersRead,
    /// Invite people to the organisation.
    MembersInvite,
    /// Change members' org roles and remove members.
    MembersManage,
    /// Change the organisation's name, slug and metadata.
    OrgUpdate,
    /// Delete the organisation.
    OrgDelete,
    /// Read the organisation's audit trail.
    OrgAuditRead,
}

impl OrgPermission {
    pub const ALL: [OrgPermission; 6] = [
        Self::MembersRead,
        Self::MembersInvite,
        Self::MembersManage,
        Self::OrgUpdate,
        Self::OrgDelete,
        Self::OrgAuditRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MembersRead => "MEMBERS_READ",
            Self::MembersInvite => "MEMBERS_INVITE",
            Self::MembersManage => "MEMBERS_MANAGE",
            Self::OrgUpdate => "ORG_UPDATE",
            Self::OrgDelete => "ORG_DELETE",
            Self::OrgAuditRead => "ORG_AUDIT_READ",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}
