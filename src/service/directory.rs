//! The `users` listing: filters, orders, and paging by keyset (cursors) or by
//! offset. Cursors are opaque: base64 of the sort values and id of a row, bound
//! to the order they were made for, so paging stays stable while rows are
//! inserted. Every page is one statement; the count is another, run on request.

use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use entity::{FromPosition, Repeated, role, tier, user, user_role};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, Iterable, JoinType, Order,
    PaginatorTrait, QueryFilter, QueryOrder, QueryResult, QuerySelect, QueryTrait, RelationTrait,
    Select, Value,
    sea_query::{Expr, ExprTrait, Func, LikeExpr, Query, SelectStatement},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    auth::{Permission, Viewer},
    error::{AppError, Result},
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

/// The columns a page reads. A page of 50 users that shows four fields
/// need not read 26 columns: the read and decoding of the rest was a fifth of
/// Q1's cost (BENCHMARKS.md). The id and the sort keys are always read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Projection {
    /// Positions among `user::Column::iter()`, ascending.
    positions: Vec<usize>,
    /// Whether the page joins each user's tier, which saves the page a
    /// statement of its own (BENCHMARKS.md).
    tiers: bool,
}

impl Projection {
    /// `columns`, plus the id.
    pub fn of(columns: impl IntoIterator<Item = user::Column>) -> Self {
        let mut projection = Self {
            positions: Vec::new(),
            tiers: false,
        };
        projection.add(user::Column::Id);
        for column in columns {
            projection.add(column);
        }
        projection
    }

    /// The same columns, with each user's tier.
    pub fn with_tiers(mut self) -> Self {
        self.tiers = true;
        self
    }

    /// The same columns and `column`.
    pub fn with(mut self, column: user::Column) -> Self {
        self.add(column);
        self
    }

    /// What this and `other` read together.
    pub fn union(mut self, other: &Projection) -> Self {
        for &position in &other.positions {
            self.insert(position);
        }
        self.tiers |= other.tiers;
        self
    }

    fn add(&mut self, column: user::Column) {
        // Variants are declared, and iterated, in column order.
        self.insert(column as usize);
    }

    fn insert(&mut self, position: usize) {
        if let Err(at) = self.positions.binary_search(&position) {
            self.positions.insert(at, position);
        }
    }

    fn columns(&self) -> impl Iterator<Item = user::Column> + '_ {
        user::Column::iter().filter(|&c| self.positions.binary_search(&(c as usize)).is_ok())
    }

    /// The projected columns of users, joined with their tiers when asked.
    fn select(&self) -> Select<user::Entity> {
        let select = user::Entity::find().select_only().columns(self.columns());
        if self.tiers {
            select
                .join(JoinType::LeftJoin, user::Relation::Tier.def())
                .columns(tier::Column::iter())
        } else {
            select
        }
    }

    /// A row of `select`, read by position (see `entity::FromPosition`).
    /// Tiers repeat over a page's rows; `tiers` decodes each once.
    fn decode(
        &self,
        row: &QueryResult,
        tiers: &mut Repeated<tier::Model>,
    ) -> std::result::Result<Projected, DbErr> {
        let mut user = user::Model::blank();
        for (at, &column) in self.positions.iter().enumerate() {
            user.set_column(column, row, at)?;
        }
        let tier = if self.tiers {
            Some(tiers.read(row, self.positions.len())?)
        } else {
            None
        };
        Ok(Projected { user, tier })
    }
}

/// A user read through a `Projection`.
#[derive(Debug, Clone)]
pub struct Projected {
    /// Only the projected fields are read; the others are blank.
    pub user: user::Model,
    /// The user's tier (`Some(None)` when the user has none), or `None` when
    /// the projection does not join tiers.
    pub tier: Option<Option<tier::Model>>,
}

/// The users with `ids` that exist, through `projection`, in one statement.
pub async fn by_ids(
    conn: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = Uuid>,
    projection: &Projection,
) -> Result<Vec<Projected>> {
    let select = projection.select().filter(user::Column::Id.is_in(ids));
    fetch(conn, projection, select).await
}

/// The column of a sort key, which cursors are made from.
fn sort_column(field: SortField) -> user::Column {
    match field {
        SortField::CreatedAt => user::Column::CreatedAt,
        SortField::Username => user::Column::Username,
        SortField::Email => user::Column::Email,
        SortField::Name => user::Column::NameKey,
        SortField::LastLoginAt => user::Column::LastLoginAt,
    }
}

pub struct Page {
    pub users: Vec<Projected>,
    pub has_next: bool,
    pub has_previous: bool,
}

/// Users who never logged in sort as if they had at the epoch, so the order is total.
fn never() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH
}

fn sort_expr(field: SortField) -> Expr {
    let column = Expr::col((user::Entity, sort_column(field)));
    match field {
        SortField::LastLoginAt => Func::coalesce([column, Expr::val(never())]).into(),
        _ => column,
    }
}

fn is_time(field: SortField) -> bool {
    matches!(field, SortField::CreatedAt | SortField::LastLoginAt)
}

fn sort_value(model: &user::Model, field: SortField) -> String {
    // Full precision, so a cursor compares equal to the row it was made from
    // however that row's timestamp was written.
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Nanos, true);
    match field {
        SortField::CreatedAt => time(model.created_at),
        SortField::LastLoginAt => time(model.last_login_at.unwrap_or_else(never)),
        SortField::Username => model.username.clone(),
        SortField::Email => model.email.clone(),
        SortField::Name => model.name_key.clone(),
    }
}

fn order_signature(order: &[SortKey]) -> String {
    order
        .iter()
        .map(|k| format!("{:?}:{}", k.field, if k.descending { "d" } else { "a" }))
        .collect::<Vec<_>>()
        .join(",")
}

#[derive(Serialize, Deserialize)]
struct CursorData {
    o: String,
    v: Vec<String>,
    id: Uuid,
}

pub fn encode_cursor(model: &user::Model, order: &[SortKey]) -> String {
    let data = CursorData {
        o: order_signature(order),
        v: order.iter().map(|k| sort_value(model, k.field)).collect(),
        id: model.id,
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&data).expect("cursor serialises"))
}

/// The sort values and id a cursor points at, checked against `order`.
fn decode_cursor(raw: &str, order: &[SortKey], field: &'static str) -> Result<(Vec<Value>, Uuid)> {
    let invalid = || {
        AppError::bad_input(
            field,
            format!("{field} is not a cursor of this list and order"),
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .map_err(|_| invalid())?;
    let data: CursorData = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if data.o != order_signature(order) || data.v.len() != order.len() {
        return Err(invalid());
    }
    let values = order
        .iter()
        .zip(data.v)
        .map(|(key, raw)| {
            if is_time(key.field) {
                DateTime::parse_from_rfc3339(&raw)
                    .map(|t| Value::from(t.with_timezone(&Utc)))
                    .map_err(|_| invalid())
            } else {
                Ok(Value::from(raw))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((values, data.id))
}

/// Rows strictly past the cursor in the traversal direction:
/// (k1 > v1) OR (k1 = v1 AND k2 > v2) OR … OR (all equal AND id > id0).
fn past(order: &[SortKey], values: Vec<Value>, id: Uuid, forward: bool) -> Condition {
    let tie_desc = order.last().is_some_and(|k| k.descending);
    let mut keys: Vec<(Expr, bool)> = order
        .iter()
        .map(|k| (sort_expr(k.field), k.descending))
        .collect();
    keys.push((Expr::col((user::Entity, user::Column::Id)), tie_desc));
    let mut values = values;
    values.push(Value::from(id));
    let mut any = Condition::any();
    for i in 0..keys.len() {
        let mut all = Condition::all();
        for j in 0..i {
            all = all.add(keys[j].0.clone().eq(values[j].clone()));
        }
        // Walking a descending key forwards (or an ascending one backwards) goes down.
        let descending_now = keys[i].1 == forward;
        let (expr, value) = (keys[i].0.clone(), values[i].clone());
        all = all.add(if descending_now {
            expr.lt(value)
        } else {
            expr.gt(value)
        });
        any = any.add(all);
    }
    // The leading key's inclusive bound follows from the disjunction; stated on
    // its own it lets the database seek its index to the cursor instead of
    // walking the order from the start and filtering (a mid-table page of 100k
    // users: 12.9 ms -> 0.08 ms on PostgreSQL; BENCHMARKS.md).
    let descending_now = keys[0].1 == forward;
    let (lead, value) = (keys[0].0.clone(), values[0].clone());
    Condition::all()
        .add(if descending_now {
            lead.lte(value)
        } else {
            lead.gte(value)
        })
        .add(any)
}

fn admins() -> SelectStatement {
    holders_of(role::Column::Name.eq(crate::service::roles::ADMIN_ROLE))
}

fn holders_of(role_condition: impl sea_orm::sea_query::IntoCondition) -> SelectStatement {
    Query::select()
        .column((user_role::Entity, user_role::Column::UserId))
        .from(user_role::Entity)
        .inner_join(
            role::Entity,
            Expr::col((role::Entity, role::Column::Id))
                .equals((user_role::Entity, user_role::Column::RoleId)),
        )
        .cond_where(role_condition)
        .to_owned()
}

/// `%`, `_` and `\` in a search are literal characters, never wildcards.
fn like_pattern(term: &str) -> String {
    let mut escaped = String::with_capacity(term.len() + 2);
    escaped.push('%');
    for c in term.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped.push('%');
    escaped
}

pub fn condition(filter: &Filter) -> Condition {
    let id = || Expr::col((user::Entity, user::Column::Id));
    let mut cond = Condition::all();
    cond = if filter.only_deleted {
        cond.add(user::Column::DeletedAt.is_not_null())
    } else if filter.include_deleted {
        cond
    } else {
        cond.add(user::Column::DeletedAt.is_null())
    };
    if let Some(term) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        cond = cond.add(
            Expr::col((user::Entity, user::Column::SearchText))
                .like(LikeExpr::new(like_pattern(term)).escape('\\')),
        );
    }
    if let Some(role) = &filter.role {
        cond = cond.add(id().in_subquery(holders_of(
            role::Column::Name.eq(role.trim().to_lowercase()),
        )));
    }
    if let Some(status) = filter.status {
        cond = cond.add(user::Column::Status.eq(status));
    }
    if let Some(tier) = filter.tier_id {
        cond = cond.add(user::Column::TierId.eq(tier));
    }
    if let Some(is_superuser) = filter.is_superuser {
        cond = cond.add(user::Column::IsSuperuser.eq(is_superuser));
    }
    match filter.is_staff {
        Some(true) => {
            cond = cond.add(
                Condition::any()
                    .add(user::Column::IsSuperuser.eq(true))
                    .add(id().in_subquery(admins())),
            )
        }
        Some(false) => {
            cond = cond
                .add(user::Column::IsSuperuser.eq(false))
                .add(id().not_in_subquery(admins()))
        }
        None => {}
    }
    if let Some(t) = filter.created_after {
        cond = cond.add(user::Column::CreatedAt.gte(t));
    }
    if let Some(t) = filter.created_before {
        cond = cond.add(user::Column::CreatedAt.lt(t));
    }
    if let Some(t) = filter.last_login_after {
        cond = cond.add(user::Column::LastLoginAt.gte(t));
    }
    if let Some(t) = filter.last_login_before {
        cond = cond.add(user::Column::LastLoginAt.lt(t));
    }
    cond
}

/// One page of users for `viewer`, who needs `USERS_READ`.
pub async fn list(
    conn: &impl ConnectionTrait,
    viewer: &Viewer,
    filter: &Filter,
    order: &[SortKey],
    paging: Paging,
    projection: &Projection,
) -> Result<Page> {
    viewer.require(Permission::UsersRead)?;
    validation::filter_text(filter.search.as_deref(), "search")?;
    validation::filter_text(filter.role.as_deref(), "role")?;
    page(conn, filter, order, paging, projection).await
}

/// One page of users, in one statement, reading the `projection`'s columns
/// and the sort keys.
/// The sort keys as given, each field once (its first occurrence): a field
/// repeated adds nothing to an order, and every key adds a term to the
/// keyset condition that grows with the square of their number.
pub fn distinct_keys(keys: impl IntoIterator<Item = SortKey>) -> Vec<SortKey> {
    let mut distinct: Vec<SortKey> = Vec::new();
    for key in keys {
        if !distinct.iter().any(|k| k.field == key.field) {
            distinct.push(key);
        }
    }
    distinct
}

pub async fn page(
    conn: &impl ConnectionTrait,
    filter: &Filter,
    order: &[SortKey],
    paging: Paging,
    projection: &Projection,
) -> Result<Page> {
    let mut projection = projection.clone();
    for key in order {
        projection.add(sort_column(key.field));
    }
    let projection = &projection;
    let tie_desc = order.last().is_some_and(|k| k.descending);
    let ordered = |forward: bool| {
        let mut select = projection.select().filter(condition(filter));
        let direction = |descending: bool| {
            if descending == forward {
                Order::Desc
            } else {
                Order::Asc
            }
        };
        for key in order {
            select = select.order_by(sort_expr(key.field), direction(key.descending));
        }
        select.order_by(user::Column::Id, direction(tie_desc))
    };
    let (users, has_next, has_previous) = match paging {
        Paging::Forward { first, after } => {
            let mut select = ordered(true);
            if let Some(after) = &after {
                let (values, id) = decode_cursor(after, order, "after")?;
                select = select.filter(past(order, values, id, true));
            }
            let mut rows = fetch(conn, projection, select.limit(first + 1)).await?;
            let more = rows.len() as u64 > first;
            rows.truncate(first as usize);
            (rows, more, after.is_some())
        }
        Paging::Backward { last, before } => {
            let mut select = ordered(false);
            if let Some(before) = &before {
                let (values, id) = decode_cursor(before, order, "before")?;
                select = select.filter(past(order, values, id, false));
            }
            let mut rows = fetch(conn, projection, select.limit(last + 1)).await?;
            let more = rows.len() as u64 > last;
            rows.truncate(last as usize);
            rows.reverse();
            (rows, before.is_some(), more)
        }
        Paging::Offset { first, offset } => {
            let mut rows = fetch(
                conn,
                projection,
                ordered(true).offset(offset).limit(first + 1),
            )
            .await?;
            let more = rows.len() as u64 > first;
            rows.truncate(first as usize);
            (rows, more, offset > 0)
        }
    };
    Ok(Page {
        users,
        has_next,
        has_previous,
    })
}

/// The rows of `select`, a `projection.select()`.
async fn fetch(
    conn: &impl ConnectionTrait,
    projection: &Projection,
    select: Select<user::Entity>,
) -> Result<Vec<Projected>> {
    let rows = conn.query_all(&select.into_query()).await?;
    let mut tiers = Repeated::default();
    Ok(rows
        .iter()
        .map(|row| projection.decode(row, &mut tiers))
        .collect::<std::result::Result<_, _>>()?)
}

/// How many users match, in one `COUNT` statement.
pub async fn count(conn: &impl ConnectionTrait, filter: &Filter) -> Result<u64> {
    Ok(user::Entity::find()
        .filter(condition(filter))
        .count(conn)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_wildcards_are_literal() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(like_pattern("ÉLAN"), "%élan%");
    }

    #[test]
    fn a_cursor_is_bound_to_its_order() {
        let model = user::Model {
            id: Uuid::now_v7(),
            username: "a".into(),
            email: "a@x.io".into(),
            created_at: Utc::now(),
            name_key: "a".into(),
            ..user::Model::blank()
        };
        let cursor = encode_cursor(&model, &DEFAULT_ORDER);
        assert!(decode_cursor(&cursor, &DEFAULT_ORDER, "after").is_ok());
        let by_name = [SortKey {
            field: SortField::Name,
            descending: false,
        }];
        assert_eq!(
            decode_cursor(&cursor, &by_name, "after")
                .unwrap_err()
                .field(),
            Some("after")
        );
        assert!(decode_cursor("garbage!", &DEFAULT_ORDER, "after").is_err());
    }
}
