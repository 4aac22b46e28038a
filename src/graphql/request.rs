//! What each request brings to execution, and how resolvers read it.

use std::sync::Arc;

use async_graphql::{Context, dataloader::DataLoader};
use entity::user;

use super::loaders::{DbLoader, UserByUsername, new_loader};
use crate::{
    auth::Viewer,
    error::AppError,
    service::{AppContext, RequestMeta},
};

/// What a request brings to execution: who is calling, from where, and the
/// request's loader. `execute` is how the service runs the schema, and it
/// takes one, so the accessors below find it.
pub struct RequestData {
    pub viewer: Option<Viewer>,
    pub meta: RequestMeta,
    pub loader: DataLoader<DbLoader>,
}

impl RequestData {
    pub fn new(ctx: &AppContext, viewer: Option<Viewer>, meta: RequestMeta) -> Self {
        Self {
            viewer: viewer.map(|viewer| Viewer {
                origin: meta.clone(),
                ..viewer
            }),
            meta,
            loader: new_loader(ctx.db.clone()),
        }
    }
}

/// The request's data; an internal error (never a panic) if the schema was
/// run some other way than `execute`.
pub(crate) fn request<'a>(ctx: &'a Context<'_>) -> Result<&'a RequestData, AppError> {
    ctx.data::<RequestData>().map_err(|_| {
        AppError::Internal(anyhow::anyhow!(
            "request data missing: run the schema through graphql::execute"
        ))
    })
}

/// Where the request came from.
pub fn meta<'a>(ctx: &'a Context<'_>) -> Result<&'a RequestMeta, AppError> {
    Ok(&request(ctx)?.meta)
}

/// The request's loader.
pub fn loader<'a>(ctx: &'a Context<'_>) -> Result<&'a DataLoader<DbLoader>, AppError> {
    Ok(&request(ctx)?.loader)
}

/// The user with this username (trimmed, any case), through the loader, so
/// any number of lookups in one request cost one statement. A username with
/// a control character is no user, and no query.
pub async fn user_by_username(
    ctx: &Context<'_>,
    username: &str,
) -> Result<Option<user::Model>, AppError> {
    match crate::validation::lookup_key(username) {
        Some(key) => Ok(loader(ctx)?
            .load_one(UserByUsername(key))
            .await
            .map_err(AppError::from)?),
        None => Ok(None),
    }
}

/// The shared context of the request.
pub fn app<'a>(ctx: &'a Context<'_>) -> &'a AppContext {
    shared(ctx)
}

/// The shared context as its `Arc`, for work that outlives the request.
pub fn shared<'a>(ctx: &'a Context<'_>) -> &'a Arc<AppContext> {
    ctx.data_unchecked::<Arc<AppContext>>()
}
