//! The directory: `user`, `userByUsername` and `users`, with the filters,
//! orders and paging `users` takes (service::directory).

use async_graphql::{Context, Enum, ID, InputObject, Json, MaybeUndefined, Object};
use entity::user;

use super::{
    cost,
    guard::{Authenticated, HasPermission, viewer},
    loaders::UserById,
    request::app,
    request::{loader, user_by_username},
    types::{DateTime, User, UserConnection, UserStatus, user_connection::projection},
};
use crate::{
    auth::Permission,
    error::AppError,
    ids,
    service::{
        directory::{self, Projected},
        users,
    },
};

/// A condition on one top-level key of `appMetadata`.
#[derive(InputObject)]
pub struct MetadataMatch {
    /// The top-level key.
    pub key: String,
    /// The value the key must hold, compared as JSON; required. A user
    /// without the key does not match, and `null` matches a key holding
    /// null. PostgreSQL compares numbers by value (`1` equals `1.0`); SQLite
    /// compares them as written.
    pub equals: MaybeUndefined<Json<serde_json::Value>>,
}

/// Which users `users` returns. Every condition given must hold; `and`,
/// `or` and `not` nest filters (at most 5 levels and 50 filters in all).
/// Soft-deleted users are left out unless some level sets `includeDeleted`
/// or `onlyDeleted`.
#[derive(InputObject, Default)]
pub struct UserFilter {
    /// Matches username, email, first, last and display name, case-insensitively;
    /// `%` and `_` are literal characters.
    pub search: Option<String>,
    /// Holders of the role with this name.
    pub role: Option<String>,
    /// Users with this status.
    pub status: Option<UserStatus>,
    /// Users on this tier.
    pub tier_id: Option<ID>,
    /// Members of this organisation (`org_…`).
    pub organization_id: Option<ID>,
    /// The user imported with this `externalId`.
    pub external_id: Option<String>,
    /// Superusers only (or, when false, everyone else).
    pub is_superuser: Option<bool>,
    /// Superusers and holders of the `admin` role (or, when false, everyone else).
    pub is_staff: Option<bool>,
    /// Include soft-deleted users (they are hidden by default).
    #[graphql(default)]
    pub include_deleted: bool,
    /// Only soft-deleted users.
    #[graphql(default)]
    pub only_deleted: bool,
    /// Created at or after this instant.
    pub created_after: Option<DateTime>,
    /// Created before this instant.
    pub created_before: Option<DateTime>,
    /// Last logged in before this instant (users who never logged in do not match).
    pub last_login_before: Option<DateTime>,
    /// Last logged in at or after this instant.
    pub last_login_after: Option<DateTime>,
    /// Users with these ids (at most 1000).
    pub ids: Option<Vec<ID>>,
    /// The user with this email address, exactly but case-insensitively.
    pub email: Option<String>,
    /// The user with this username, exactly but case-insensitively.
    pub username: Option<String>,
    /// Users who never logged in (or, when false, who did).
    pub never_logged_in: Option<bool>,
    /// Changed at or after this instant.
    pub updated_after: Option<DateTime>,
    /// Changed before this instant.
    pub updated_before: Option<DateTime>,
    /// Users whose address is verified (or, when false, is not).
    pub email_verified: Option<bool>,
    /// Users with a second factor on (or, when false, off).
    pub mfa_enabled: Option<bool>,
    /// Every match must hold on `appMetadata`.
    pub metadata: Option<Vec<MetadataMatch>>,
    /// Every one of these filters holds.
    pub and: Option<Vec<UserFilter>>,
    /// At least one of these filters holds.
    pub or: Option<Vec<UserFilter>>,
    /// This filter does not hold.
    pub not: Option<Box<UserFilter>>,
}

/// A sort key for `users`.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum UserOrderField {
    /// When the account was created.
    CreatedAt,
    /// The username.
    Username,
    /// The email address.
    Email,
    /// The display name, case-insensitively.
    Name,
    /// Users who never logged in sort as the oldest.
    LastLoginAt,
    /// The first name, case-insensitively; users without one sort first.
    FirstName,
    /// The last name, case-insensitively; users without one sort first.
    LastName,
    /// When the account last changed.
    UpdatedAt,
    /// The status, alphabetically (ACTIVE, INACTIVE, SUSPENDED).
    Status,
}

/// A sort direction.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum OrderDirection {
    /// Smallest first.
    Asc,
    /// Largest first.
    Desc,
}

/// One key of the order of `users`; ties are always broken by id.
#[derive(InputObject, Clone, Copy)]
pub struct UserOrder {
    /// What to sort by.
    pub field: UserOrderField,
    /// Ascending by default.
    #[graphql(default_with = "OrderDirection::Asc")]
    pub direction: OrderDirection,
}

fn nested(list: Option<Vec<UserFilter>>) -> Result<Vec<directory::Filter>, AppError> {
    list.unwrap_or_default()
        .into_iter()
        .map(UserFilter::into_service)
        .collect()
}

impl UserFilter {
    pub(crate) fn into_service(self) -> Result<directory::Filter, AppError> {
        let time = |t: Option<DateTime>| t.map(|t| t.0);
        Ok(directory::Filter {
            search: self.search,
            role: self.role,
            status: self.status.map(Into::into),
            tier_id: ids::decode_opt(ids::TIER, self.tier_id, "tierId")?,
            organization_id: ids::decode_opt(
                ids::ORGANIZATION,
                self.organization_id,
                "organizationId",
            )?,
            external_id: self.external_id,
            is_superuser: self.is_superuser,
            is_staff: self.is_staff,
            include_deleted: self.include_deleted,
            only_deleted: self.only_deleted,
            created_after: self.created_after.map(|t| t.0),
            created_before: self.created_before.map(|t| t.0),
            last_login_after: self.last_login_after.map(|t| t.0),
            last_login_before: self.last_login_before.map(|t| t.0),
            ids: self
                .ids
                .map(|ids| ids::decode_all(ids::USER, &ids, "ids"))
                .transpose()?,
            email: self.email,
            username: self.username,
            never_logged_in: self.never_logged_in,
            updated_after: time(self.updated_after),
            updated_before: time(self.updated_before),
            email_verified: self.email_verified,
            mfa_enabled: self.mfa_enabled,
            metadata: (self.metadata.unwrap_or_default().into_iter())
                .map(|m| {
                    let equals = match m.equals {
                        MaybeUndefined::Value(v) => v.0,
                        MaybeUndefined::Null => serde_json::Value::Null,
                        MaybeUndefined::Undefined => {
                            return Err(AppError::bad_input("metadata", "equals is required"));
                        }
                    };
                    Ok(directory::MetadataMatch { key: m.key, equals })
                })
                .collect::<Result<_, _>>()?,
            and: nested(self.and)?,
            or: nested(self.or)?,
            not: self
                .not
                .map(|f| f.into_service().map(Box::new))
                .transpose()?,
        })
    }
}

fn sort_key(order: UserOrder) -> directory::SortKey {
    let field = match order.field {
        UserOrderField::CreatedAt => directory::SortField::CreatedAt,
        UserOrderField::Username => directory::SortField::Username,
        UserOrderField::Email => directory::SortField::Email,
        UserOrderField::Name => directory::SortField::Name,
        UserOrderField::LastLoginAt => directory::SortField::LastLoginAt,
        UserOrderField::FirstName => directory::SortField::FirstName,
        UserOrderField::LastName => directory::SortField::LastName,
        UserOrderField::UpdatedAt => directory::SortField::UpdatedAt,
        UserOrderField::Status => directory::SortField::Status,
    };
    directory::SortKey {
        field,
        descending: order.direction == OrderDirection::Desc,
    }
}

pub(crate) fn page_size(value: Option<i32>, field: &'static str) -> Result<u64, AppError> {
    match value {
        None => Ok(directory::DEFAULT_PAGE),
        Some(n) if (0..=directory::MAX_PAGE as i32).contains(&n) => Ok(n as u64),
        Some(_) => Err(AppError::bad_input(
            field,
            format!("{field} must be between 0 and {}", directory::MAX_PAGE),
        )),
    }
}

/// The paging arguments of `users`, checked: cursor and offset styles do not mix.
pub struct PagingArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
    pub offset: Option<i32>,
    pub page: Option<i32>,
}

impl PagingArgs {
    fn into_paging(self) -> Result<directory::Paging, AppError> {
        let cursor_style = self.after.is_some() || self.before.is_some() || self.last.is_some();
        if cursor_style && (self.offset.is_some() || self.page.is_some()) {
            let field = if self.offset.is_some() {
                "offset"
            } else {
                "page"
            };
            return Err(AppError::bad_input(
                field,
                "cursor arguments (after, before, last) cannot be mixed with offset or page",
            ));
        }
        if self.offset.is_some() && self.page.is_some() {
            return Err(AppError::bad_input(
                "page",
                "give either offset or page, not both",
            ));
        }
        if self.last.is_some() || self.before.is_some() {
            if self.first.is_some() || self.after.is_some() {
                return Err(AppError::bad_input(
                    "last",
                    "page forwards (first/after) or backwards (last/before), not both",
                ));
            }
            return Ok(directory::Paging::Backward {
                last: page_size(self.last, "last")?,
                before: self.before,
            });
        }
        let first = page_size(self.first, "first")?;
        match (self.offset, self.page) {
            (Some(offset), _) if offset < 0 => {
                Err(AppError::bad_input("offset", "offset must not be negative"))
            }
            (Some(offset), _) => Ok(directory::Paging::Offset {
                first,
                offset: offset as u64,
            }),
            (_, Some(page)) if page < 1 => Err(AppError::bad_input("page", "page starts at 1")),
            (_, Some(page)) => Ok(directory::Paging::Offset {
                first,
                offset: (page as u64 - 1) * first,
            }),
            (None, None) => Ok(directory::Paging::Forward {
                first,
                after: self.after,
            }),
        }
    }
}

/// What one connection field costs against `MAX_QUERY_COMPLEXITY`: its rows'
/// selection once per row it may return (`first` or `last`, else the default
/// page; out-of-range sizes are refused by the resolver, so they are clamped
/// here), plus a fixed cost for the statements it runs, so a document cannot
/// multiply pages through aliases.
pub(crate) fn connection_complexity(
    first: Option<i32>,
    last: Option<i32>,
    child_complexity: usize,
) -> usize {
    // A page runs its statement (roles and tier included) and, when
    // `totalCount` or `totalPages` is selected, a count.
    const CONNECTION_COST: usize = 2 * cost::STATEMENT;
    let rows = first.or(last).map_or(directory::DEFAULT_PAGE, |n| {
        n.clamp(0, directory::MAX_PAGE as i32) as u64
    });
    CONNECTION_COST.saturating_add((rows as usize).saturating_mul(child_complexity))
}

#[derive(Default)]
pub struct DirectoryQuery;

#[Object]
impl DirectoryQuery {
    /// A user by id. Holders of `USERS_READ` see anyone (soft-deleted users
    /// included) and get null when there is no such user; anyone else sees
    /// only themself and gets `NOT_FOUND` for every other id.
    #[graphql(guard = "Authenticated", complexity = "cost::lookup(child_complexity)")]
    async fn user(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<User>> {
        let viewer = viewer(ctx)?;
        let key = ids::decode(ids::USER, &id, "id")?;
        // Reads what the selection needs and what `visible` decides on.
        let columns = projection(&[&ctx.look_ahead()]).with(user::Column::DeletedAt);
        let found = loader(ctx)?
            .load_one(UserById(key, columns))
            .await
            .map_err(AppError::from)?;
        let (found, rest) = found.map(|p| (p.user, (p.tier, p.roles))).unzip();
        let found = users::visible(viewer, found)?;
        Ok(found.zip(rest).map(|(user, (tier, roles))| {
            User::projected(Projected { user, tier, roles }, Some(viewer))
        }))
    }

    /// A user by username, with the same rules as `user`.
    #[graphql(guard = "Authenticated", complexity = "cost::lookup(child_complexity)")]
    async fn user_by_username(
        &self,
        ctx: &Context<'_>,
        username: String,
    ) -> async_graphql::Result<Option<User>> {
        let viewer = viewer(ctx)?;
        let found = users::visible(viewer, user_by_username(ctx, &username).await?)?;
        Ok(found.map(|u| User::new(u, Some(viewer))))
    }

    /// Users, a page at a time (`USERS_READ`). Page by cursor with
    /// `first`/`after` or `last`/`before`, or by offset with `offset` or `page`
    /// (1-based, `page` × `first`); the two styles do not mix. `first` defaults
    /// to 20, at most 100. Default order: newest first; ties broken by id.
    /// Soft-deleted users are hidden unless the filter asks for them.
    #[allow(clippy::too_many_arguments)]
    #[graphql(
        guard = "HasPermission(Permission::UsersRead)",
        complexity = "connection_complexity(first, last, child_complexity)"
    )]
    async fn users(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        offset: Option<i32>,
        page: Option<i32>,
        filter: Option<UserFilter>,
        order_by: Option<Vec<UserOrder>>,
    ) -> async_graphql::Result<UserConnection> {
        let viewer = viewer(ctx)?;
        let paging = PagingArgs {
            first,
            after,
            last,
            before,
            offset,
            page,
        }
        .into_paging()?;
        let filter = filter.unwrap_or_default().into_service()?;
        let order = order_by.unwrap_or_default().into_iter().map(sort_key);
        let db = &app(ctx).db;
        let look = ctx.look_ahead();
        let columns = projection(&[&look.field("nodes"), &look.field("edges").field("node")]);
        let page = directory::list(db, viewer, &filter, order, &paging, &columns).await?;
        Ok(UserConnection::build(page, &paging, filter, &look, viewer))
    }
}
