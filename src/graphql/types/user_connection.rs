//! `UserConnection`: a page of users (the directory), with the columns and
//! roles its selection needs read in one statement.

use async_graphql::{Context, Lookahead, Object, SimpleObject};
use entity::user;

use super::{PageInfo, User};
use crate::{
    auth::Viewer,
    error::AppError,
    graphql::{guard::viewer, request::app},
    service::directory::{self, Page, Projection, RoleColumns},
};

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

/// A page of users.
pub struct UserConnection {
    pub edges: Vec<UserEdge>,
    pub page_info: PageInfo,
    pub filter: directory::Filter,
    /// The page size asked for (`first` or `last`).
    pub size: u64,
    /// The offset in offset paging; `None` in cursor paging.
    pub offset: Option<u64>,
    /// `totalCount` and `totalPages` share one count.
    total: tokio::sync::OnceCell<u64>,
}

/// A page of users, with cursors for the next and previous pages.
#[Object]
impl UserConnection {
    /// The page's users with their cursors.
    async fn edges(&self) -> &[UserEdge] {
        &self.edges
    }

    /// The page's users, without cursors.
    async fn nodes(&self) -> Vec<&User> {
        self.edges.iter().map(|e| &e.node).collect()
    }

    /// Where this page sits in the whole list.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// How many users match the filter across all pages; counted only when
    /// selected (one `COUNT` statement, shared with `totalPages`). On a large
    /// table a count reads every matching index entry: see the README.
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        Ok(i64::try_from(self.total(ctx).await?).unwrap_or(i64::MAX))
    }

    /// How many pages of this size the matching users fill (`totalCount`
    /// divided by `first` or `last`, rounded up); 0 when the page size is 0.
    async fn total_pages(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        let total = self.total(ctx).await?;
        Ok(
            i64::try_from(total.div_ceil(self.size.max(1)) * u64::from(self.size > 0))
                .unwrap_or(i64::MAX),
        )
    }

    /// The 1-based number of this page in offset paging (`page`, or
    /// `offset` / `first` + 1, rounded down); null in cursor paging, where
    /// pages have no fixed place.
    async fn current_page(&self) -> Option<i64> {
        let offset = self.offset?;
        Some(i64::try_from(offset / self.size.max(1) + 1).unwrap_or(i64::MAX))
    }
}

impl UserConnection {
    async fn total(&self, ctx: &Context<'_>) -> Result<u64, AppError> {
        let count = self
            .total
            .get_or_try_init(|| async {
                directory::count(&app(ctx).db, viewer(ctx)?, &self.filter).await
            })
            .await?;
        Ok(*count)
    }

    /// The connection for `page`, read for the selection `look` (the
    /// `users` field). Each cursor is a JSON and base64 encoding, so only the
    /// selected ones are made; an edge whose cursor is not selected keeps an
    /// empty one that no response can show.
    pub fn build(
        page: Page,
        paging: &directory::Paging,
        filter: directory::Filter,
        look: &Lookahead<'_>,
        viewer: &Viewer,
    ) -> Self {
        let every_cursor = look.field("edges").field("cursor").exists();
        let info = look.field("pageInfo");
        let end_cursors = info.field("startCursor").exists() || info.field("endCursor").exists();
        let last = page.users.len().saturating_sub(1);
        let cursors: Vec<String> = (page.users.iter().enumerate())
            .map(|(i, p)| {
                if every_cursor || (end_cursors && (i == 0 || i == last)) {
                    directory::encode_cursor(&p.user, &page.order)
                } else {
                    String::new()
                }
            })
            .collect();
        let page_info = PageInfo {
            has_next_page: page.has_next,
            has_previous_page: page.has_previous,
            start_cursor: cursors.first().cloned(),
            end_cursor: cursors.last().cloned(),
        };
        let edges = (page.users.into_iter())
            .map(|p| User::projected(p, Some(viewer)))
            .zip(cursors)
            .map(|(node, cursor)| UserEdge { cursor, node })
            .collect();
        Self {
            edges,
            page_info,
            filter,
            size: paging.size(),
            offset: paging.offset(),
            total: tokio::sync::OnceCell::new(),
        }
    }
}

/// How much of the user's roles a selection of `User` fields needs, if
/// any: their names (`isStaff`, or `roles` asking only for ids and names),
/// or whole roles (any other field of a `Role`, including fields added
/// later).
fn wants_roles(user: &Lookahead<'_>) -> Option<RoleColumns> {
    const NAMES: &[&str] = &["id", "name", "__typename"];
    let roles = user.field("roles");
    let whole = (roles.selection_fields().iter())
        .flat_map(|field| field.selection_set())
        .any(|field| !NAMES.contains(&field.name()));
    if whole {
        Some(RoleColumns::Whole)
    } else if roles.exists() || user.field("isStaff").exists() {
        Some(RoleColumns::Names)
    } else {
        None
    }
}

/// The columns each `User` field is built from, beyond the id. A field not
/// listed needs only the id (or a relation fetched apart). A test compares
/// every field of a page with the same user read whole, so a field missing
/// here cannot go unnoticed.
const FIELD_COLUMNS: &[(&str, &[user::Column])] = {
    use user::Column::*;
    &[
        ("username", &[Username]),
        ("email", &[Email]),
        ("name", &[DisplayName, FirstName, LastName, Username]),
        ("firstName", &[FirstName]),
        ("lastName", &[LastName]),
        ("avatarUrl", &[AvatarUrl]),
        (
            "socialLinks",
            &[Website, Facebook, Instagram, Linkedin, X, Youtube],
        ),
        ("status", &[Status]),
        ("isActive", &[Status, DeletedAt]),
        ("isSuperuser", &[IsSuperuser]),
        ("isStaff", &[IsSuperuser]),
        ("isDeleted", &[DeletedAt]),
        ("deletedAt", &[DeletedAt]),
        ("createdAt", &[CreatedAt]),
        ("updatedAt", &[UpdatedAt]),
        ("lastLoginAt", &[LastLoginAt]),
        ("tier", &[TierId]),
        ("emailVerified", &[EmailVerifiedAt]),
        ("emailVerifiedAt", &[EmailVerifiedAt]),
        ("invitationPending", &[InvitationPending]),
        ("mfaEnabled", &[MfaEnabled]),
        ("hasPassword", &[HasPassword]),
        ("locale", &[Locale]),
        ("externalId", &[ExternalId]),
        ("metadata", &[Metadata]),
        ("appMetadata", &[AppMetadata]),
    ]
};

/// The columns that selections of `User` fields need, with the users' tiers
/// and roles when a selection asks for them: a page, or a user by id, is then
/// one statement.
pub fn projection(users: &[&Lookahead<'_>]) -> Projection {
    let mut projection = Projection::of(
        FIELD_COLUMNS
            .iter()
            .filter(|(field, _)| users.iter().any(|u| u.field(field).exists()))
            .flat_map(|(_, columns)| columns.iter().copied()),
    );
    if users.iter().any(|u| u.field("tier").exists()) {
        projection = projection.with_tiers();
    }
    if let Some(columns) = users.iter().filter_map(|u| wants_roles(u)).max() {
        projection = projection.with_roles(columns);
    }
    projection
}
