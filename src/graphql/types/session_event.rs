//! `SessionEvent`: a change to the caller's sessions, live.

use async_graphql::{Enum, ID, SimpleObject};

use super::DateTime;

/// What happened to a session.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEventKind {
    /// One or more of the user's sessions ended.
    Ended,
}

/// A change to the caller's sessions, so a frontend can sign out at once.
#[derive(SimpleObject, Clone)]
pub struct SessionEvent {
    pub kind: SessionEventKind,
    /// Why: the audit action (`auth.logout`, `session.revoked`,
    /// `auth.password_changed`, `user.status_changed`, …).
    pub action: String,
    /// The session that ended (`ses_…`); null when several did.
    pub session_id: Option<ID>,
    /// True when the session of this socket is among those that ended.
    pub ends_this_session: bool,
    pub at: DateTime,
}
