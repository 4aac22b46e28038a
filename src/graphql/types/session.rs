//! `Session`: a signed-in session.

use async_graphql::{ID, SimpleObject};
use entity::session;

use super::DateTime;
use crate::ids;

/// A signed-in session (one device or client), kept alive by its refresh token.
#[derive(SimpleObject, Debug, Clone)]
#[graphql(complex)]
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
    /// For an impersonation (an administrator acting as the user,
    /// `impersonateUser`), why it was started, as the administrator wrote
    /// it; null for the user's own sign-in.
    pub impersonation_reason: Option<String>,
    /// True for a read-only impersonation, which may change nothing; false
    /// otherwise.
    pub read_only: bool,
    #[graphql(skip)]
    pub active_organization_id: Option<uuid::Uuid>,
    #[graphql(skip)]
    pub impersonator_id: Option<uuid::Uuid>,
}

#[async_graphql::ComplexObject]
impl Session {
    /// The administrator acting as the user in this session, when it is an
    /// impersonation (`impersonateUser`): their id, username and name for
    /// anyone who sees the session, the rest as the viewer may read them.
    /// Null for the user's own sign-in, and once the administrator's
    /// account is deleted for good.
    async fn impersonator(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> async_graphql::Result<Option<super::User>> {
        let Some(id) = self.impersonator_id else {
            return Ok(None);
        };
        let viewer = crate::graphql::guard::viewer(ctx)?;
        let columns = super::user_connection::projection(&[&ctx.look_ahead()]);
        Ok(crate::graphql::request::loader(ctx)?
            .load_one(crate::graphql::loaders::UserById(id, columns))
            .await
            .map_err(crate::error::AppError::from)?
            .map(|admin| super::User::as_impersonator(admin.user, viewer)))
    }

    /// The organisation the session acts in (`setActiveOrganization`);
    /// its access tokens carry it as `org` and `org_roles`. Null when none,
    /// and when the viewer may not see that organisation (an administrator
    /// reading another user's sessions).
    async fn active_organization(
        &self,
        ctx: &async_graphql::Context<'_>,
    ) -> async_graphql::Result<Option<super::Organization>> {
        let Some(org) = self.active_organization_id else {
            return Ok(None);
        };
        // Shown only while the viewer may see it (a removal racing
        // `setActiveOrganization` may leave the id behind).
        if !super::organization::held_in(ctx, org)
            .await?
            .sees_organization()
        {
            return Ok(None);
        }
        Ok(crate::graphql::request::loader(ctx)?
            .load_one(crate::graphql::loaders::ByKey::<entity::organization::Entity>::new(org))
            .await
            .map_err(crate::error::AppError::from)?
            .map(super::Organization::from))
    }
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
            impersonation_reason: model.impersonation_reason,
            read_only: model.read_only,
            active_organization_id: model.active_organization_id,
            impersonator_id: model.impersonator_id,
        }
    }
}
