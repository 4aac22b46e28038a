//! The Relay connection returned by `users`.

use async_graphql::{Context, Object, SimpleObject};

use super::{app, types::User};
use crate::service::directory;

/// One user of a page, with the cursor that points at it.
// `serial`: see `User`.
#[derive(SimpleObject, Clone)]
#[graphql(serial)]
pub struct UserEdge {
    /// Opaque; pass it as `after` or `before` to page from here.
    pub cursor: String,
    /// The user.
    pub node: User,
}

/// Where a page sits in the whole list.
#[derive(SimpleObject, Clone)]
pub struct PageInfo {
    /// True when more users follow this page (in the direction of paging).
    pub has_next_page: bool,
    /// For cursor paging, true when `after` was given (there is a page before it).
    pub has_previous_page: bool,
    /// The first edge's cursor; null on an empty page.
    pub start_cursor: Option<String>,
    /// The last edge's cursor; null on an empty page.
    pub end_cursor: Option<String>,
}

/// A page of users.
pub struct UserConnection {
    pub edges: Vec<UserEdge>,
    pub page_info: PageInfo,
    pub filter: directory::Filter,
}

/// A page of users, with cursors for the next and previous pages.
#[Object]
impl UserConnection {
    /// The page's users with their cursors.
    async fn edges(&self) -> &[UserEdge] {
        &self.edges
    }

    /// The page's users, without cursors.
    async fn nodes(&self) -> Vec<User> {
        self.edges.iter().map(|e| e.node.clone()).collect()
    }

    /// Where this page sits in the whole list.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// How many users match the filter across all pages; counted only when selected.
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        let total = directory::count(&app(ctx).db, &self.filter).await?;
        Ok(i64::try_from(total).unwrap_or(i64::MAX))
    }
}
