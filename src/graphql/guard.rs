//! Declarative guards for resolvers. They read the request's `Option<Viewer>`;
//! services check again, because guards do not run when a field is reached
//! through an interface.

use async_graphql::{Context, Guard};

use crate::{
    auth::{Permission, Viewer},
    error::AppError,
};

/// The request's viewer, or `UNAUTHENTICATED`.
pub fn viewer<'a>(ctx: &'a Context<'_>) -> Result<&'a Viewer, AppError> {
    super::request::request(ctx)?
        .viewer
        .as_ref()
        .ok_or(AppError::Unauthenticated)
}

/// Any signed-in user.
pub struct Authenticated;

impl Guard for Authenticated {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        viewer(ctx)?;
        Ok(())
    }
}

/// A signed-in user holding `permission` (superusers hold all).
pub struct HasPermission(pub Permission);

impl Guard for HasPermission {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        Ok(viewer(ctx)?.require(self.0)?)
    }
}

/// A signed-in superuser.
pub struct Superuser;

impl Guard for Superuser {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        Ok(viewer(ctx)?.require_superuser()?)
    }
}
