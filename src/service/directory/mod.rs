//! The `users` listing: filters, orders, and paging by keyset (cursors) or by
//! offset. Cursors are opaque: base64 of the sort values and id of a row, bound
//! to the order they were made for, so paging stays stable while rows are
//! inserted. Every page is one statement; the count is another, run on request.
//! `list` and `count` are the entries, and both check the caller's permission.

mod cursor;
mod filter;
mod page;
mod projection;

use chrono::{DateTime, Utc};
use entity::user;
use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use uuid::Uuid;

pub use cursor::encode_cursor;
pub use projection::{Projected, Projection, by_ids};

use crate::{
    auth::{Permission, Viewer},
    error::Result,
    validation,
};

pub const DEFAULT_PAGE: u64 = 20;
pub const MAX_PAGE: u64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    CreatedAt,
    Username,
    Email,
    Name,
    LastLoginAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    pub field: SortField,
    pub descending: bool,
}

/// Newest first, the contract's default.
pub const DEFAULT_ORDER: [SortKey; 1] = [SortKey {
    field: SortField::CreatedAt,
    descending: true,
}];

#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub search: Option<String>,
    pub role: Option<String>,
    pub status: Option<user::Status>,
    pub tier_id: Option<Uuid>,
    pub is_superuser: Option<bool>,
    pub is_staff: Option<bool>,
    pub include_deleted: bool,
    pub only_deleted: bool,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub last_login_after: Option<DateTime<Utc>>,
    pub last_login_before: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub enum Paging {
    Forward { first: u64, after: Option<String> },
    Backward { last: u64, before: Option<String> },
    Offset { first: u64, offset: u64 },
}

/// One page of users, in the order it was read with.
pub struct Page {
    /// The order the page was read in (each field once), which its cursors encode.
    pub order: Vec<SortKey>,
    pub users: Vec<Projected>,
    pub has_next: bool,
    pub has_previous: bool,
}

/// One page of users for `viewer`, who needs `USERS_READ`, reading the
/// `projection`'s columns and the sort keys. A field repeated in `order`
/// counts once: it adds nothing to an order, and every key adds a term to the
/// keyset condition, which grows with the square of their number.
pub async fn list(
    conn: &impl ConnectionTrait,
    viewer: &Viewer,
    filter: &Filter,
    order: impl IntoIterator<Item = SortKey>,
    paging: Paging,
    projection: &Projection,
) -> Result<Page> {
    viewer.require(Permission::UsersRead)?;
    validation::filter_text(filter.search.as_deref(), "search")?;
    validation::filter_text(filter.role.as_deref(), "role")?;
    let mut distinct: Vec<SortKey> = Vec::new();
    for key in order {
        if !distinct.iter().any(|k| k.field == key.field) {
            distinct.push(key);
        }
    }
    if distinct.is_empty() {
        distinct = DEFAULT_ORDER.to_vec();
    }
    page::read(conn, filter, distinct, paging, projection).await
}

/// How many users match `filter`, in one `COUNT` statement; `viewer` needs `USERS_READ`.
pub async fn count(conn: &impl ConnectionTrait, viewer: &Viewer, filter: &Filter) -> Result<u64> {
    viewer.require(Permission::UsersRead)?;
    Ok(user::Entity::find()
        .filter(filter::condition(filter))
        .count(conn)
        .await?)
}
