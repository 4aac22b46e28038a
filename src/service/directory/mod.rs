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

pub use cursor::{encode_cursor, encode_member_cursor};
pub use projection::{Member, Projected, Projection, RoleColumns, by_ids};

use crate::{
    auth::{Permission, Viewer},
    error::Result,
};

pub const DEFAULT_PAGE: u64 = 20;
pub const MAX_PAGE: u64 = 100;
pub use filter::{MAX_FILTER_CONDITIONS, MAX_FILTER_DEPTH, MAX_FILTER_IDS, MAX_FILTER_NODES};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortField {
    CreatedAt,
    Username,
    Email,
    Name,
    LastLoginAt,
    FirstName,
    LastName,
    UpdatedAt,
    Status,
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

/// A top-level key of `appMetadata` that must hold `equals`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetadataMatch {
    pub key: String,
    pub equals: serde_json::Value,
}

/// Which users a listing or count returns: every condition given holds.
/// `and`, `or` and `not` nest filters as the Django seed's expressions do.
/// Soft-deleted users are left out unless some level of the filter sets
/// `include_deleted` or `only_deleted`; `only_deleted` at any level is the
/// condition "is deleted".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub search: Option<String>,
    pub role: Option<String>,
    pub status: Option<user::Status>,
    pub tier_id: Option<Uuid>,
    /// Members of this organisation.
    pub organization_id: Option<Uuid>,
    /// The user imported with this `externalId`.
    pub external_id: Option<String>,
    pub is_superuser: Option<bool>,
    pub is_staff: Option<bool>,
    pub include_deleted: bool,
    pub only_deleted: bool,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub last_login_after: Option<DateTime<Utc>>,
    pub last_login_before: Option<DateTime<Utc>>,
    /// Users with these keys (at most `MAX_FILTER_IDS`).
    pub ids: Option<Vec<Uuid>>,
    /// Exact, case-insensitive.
    pub email: Option<String>,
    /// Exact, case-insensitive.
    pub username: Option<String>,
    pub never_logged_in: Option<bool>,
    pub updated_after: Option<DateTime<Utc>>,
    pub updated_before: Option<DateTime<Utc>>,
    pub email_verified: Option<bool>,
    pub mfa_enabled: Option<bool>,
    pub metadata: Vec<MetadataMatch>,
    pub and: Vec<Filter>,
    pub or: Vec<Filter>,
    pub not: Option<Box<Filter>>,
}

#[derive(Debug, Clone)]
pub enum Paging {
    Forward { first: u64, after: Option<String> },
    Backward { last: u64, before: Option<String> },
    Offset { first: u64, offset: u64 },
}

impl Paging {
    /// The page size asked for.
    pub fn size(&self) -> u64 {
        match self {
            Paging::Forward { first, .. } | Paging::Offset { first, .. } => *first,
            Paging::Backward { last, .. } => *last,
        }
    }

    /// The offset of offset paging; `None` for cursors.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Paging::Offset { offset, .. } => Some(*offset),
            _ => None,
        }
    }
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
    paging: &Paging,
    projection: &Projection,
) -> Result<Page> {
    viewer.require(Permission::UsersRead)?;
    filter::validate(filter)?;
    let mut distinct: Vec<SortKey> = Vec::new();
    for key in order {
        if !distinct.iter().any(|k| k.field == key.field) {
            distinct.push(key);
        }
    }
    if distinct.is_empty() {
        distinct = DEFAULT_ORDER.to_vec();
    }
    page::read(conn, filter, None, distinct, paging.clone(), projection).await
}

/// A page of the members of `organization_id` (`MEMBERS_READ` there, which
/// `ORGS_READ` and superusers hold everywhere): active users only, ordered
/// by username unless `order` says otherwise. A viewer without
/// `USERS_READ` filters only by what they see of members (search, email,
/// username, ids, creation time).
/// `held` is what the viewer holds there (`memberships::held_from`).
pub async fn members(
    conn: &impl ConnectionTrait,
    viewer: &Viewer,
    held: &crate::service::memberships::Held,
    organization_id: Uuid,
    filter: Filter,
    paging: &Paging,
    projection: &Projection,
) -> Result<(Page, Filter)> {
    held.require(crate::auth::org::OrgPermission::MembersRead)?;
    filter::members_may_use(&filter, viewer.has(Permission::UsersRead))?;
    let scoped = Filter {
        organization_id: Some(organization_id),
        status: Some(user::Status::Active),
        and: vec![filter],
        ..Filter::default()
    };
    filter::validate(&scoped)?;
    let order = vec![SortKey {
        field: SortField::Username,
        descending: false,
    }];
    // The join to the organisation's memberships selects its members; the
    // same condition as a filter would only probe them again.
    let joined = Filter {
        organization_id: None,
        ..scoped.clone()
    };
    let page = page::read(
        conn,
        &joined,
        Some(organization_id),
        order,
        paging.clone(),
        projection,
    )
    .await?;
    Ok((page, scoped))
}

/// How many of an organisation's members match `scoped` (as `members`
/// made it), in one statement; the caller was authorised by `members`.
pub async fn count_members(conn: &impl ConnectionTrait, scoped: &Filter) -> Result<u64> {
    let context = filter::resolve(conn, scoped).await?;
    Ok(user::Entity::find()
        .filter(filter::condition(scoped, &context))
        .count(conn)
        .await?)
}

/// How many users match `filter`, in one `COUNT` statement; `viewer` needs `USERS_READ`.
pub async fn count(conn: &impl ConnectionTrait, viewer: &Viewer, filter: &Filter) -> Result<u64> {
    viewer.require(Permission::UsersRead)?;
    filter::validate(filter)?;
    let context = filter::resolve(conn, filter).await?;
    if let Some(statement) = filter::holders_count(filter, &context) {
        let row = conn.query_one(&statement).await?;
        let total: i64 = row.map(|r| r.try_get_by_index(0)).transpose()?.unwrap_or(0);
        return Ok(u64::try_from(total).unwrap_or(0));
    }
    Ok(user::Entity::find()
        .filter(filter::condition(filter, &context))
        .count(conn)
        .await?)
}
