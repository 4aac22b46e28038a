//! Paging shared by every connection.

use async_graphql::SimpleObject;

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
