//! The directory: `user`, `userByUsername` and `users`, with the filters,
//! orders and paging `users` takes (service::directory).

use async_graphql::{Context, Enum, ID, InputObject, Object};
use entity::user;

use super::{
    cost,
    guard::{Authenticated, HasPermission, viewer},
    inputs::{UserFilter, page_size},
    loaders::UserById,
    request::app,
    request::{loader, user_by_username},
    types::{User, UserConnection, user_connection::projection},
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
            User::projected(
                Projected {
                    user,
                    tier,
                    roles,
                    membership: None,
                },
                Some(viewer),
            )
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
        complexity = "cost::connection(first, last, child_complexity)"
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
