//! `Session`: a signed-in session.

use async_graphql::{ID, SimpleObject};
use entity::session;

use super::DateTime;
use crate::ids;

/// A signed-in session (one device or client), kept alive by its refresh token.
#[derive(SimpleObject, Debug, Clone)]
pub struct Session {
    /// Opaque id (`ses_…`); stays the same across refreshes.
    pub id: ID,
    /// When the user signed in.
    pub created_at: DateTime,
    /// When the session was last refreshed.
    pub last_used_at: DateTime,
    /// When the session ends unless refreshed.
    pub expires_at: DateTime,
    /// The client's User-Agent at the last refresh; null when it sent none.
    pub user_agent: Option<String>,
    /// The client's address at the last refresh; null when unknown.
    pub ip: Option<String>,
    /// True for the session of the access token making this request.
    pub current: bool,
}

impl Session {
    pub fn new(model: session::Model, current_chain: uuid::Uuid) -> Self {
        Self {
            id: ids::encode(ids::SESSION, model.chain_id).into(),
            created_at: model.created_at.into(),
            last_used_at: model.last_used_at.into(),
            expires_at: model.expires_at.into(),
            user_agent: model.user_agent,
            ip: model.ip,
            current: model.chain_id == current_chain,
        }
    }
}
