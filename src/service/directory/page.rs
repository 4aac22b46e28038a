//! Reading one page: the order, the keyset or offset, one statement.

use entity::{membership, user};
use sea_orm::{
    ConnectionTrait, Order, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use super::{
    Filter, Page, Paging, SortKey,
    cursor::{Keys, decode_cursor, past, sort_column, sort_expr, tie_expr},
    filter::{condition, id_value, resolve},
    projection::{Projection, fetch},
};
use crate::error::Result;

/// One page of users, in one statement, reading the `projection`'s columns
/// and the sort keys; with `members_of`, of that organisation's members
/// only, joined to their memberships and ordered from them (`Keys::Members`).
pub(super) async fn read(
    conn: &impl ConnectionTrait,
    filter: &Filter,
    members_of: Option<Uuid>,
    order: Vec<SortKey>,
    paging: Paging,
    projection: &Projection,
) -> Result<Page> {
    let mut projection = projection.clone();
    if members_of.is_some() {
        projection = projection.with_memberships();
    }
    for key in &order {
        projection.add(sort_column(key.field));
    }
    let projection = &projection;
    let tie_desc = order.last().is_some_and(|k| k.descending);
    let backend = conn.get_database_backend();
    let context = resolve(conn, filter).await?;
    let keys = if members_of.is_some() {
        Keys::Members
    } else {
        Keys::Users
    };
    let ordered = |forward: bool| {
        let mut select = projection
            .select(backend)
            .filter(condition(filter, &context));
        if let Some(organization) = members_of {
            QueryTrait::query(&mut select).inner_join(
                membership::Entity,
                Expr::col((membership::Entity, membership::Column::OrganizationId))
                    .eq(id_value(organization, backend))
                    .and(
                        Expr::col((membership::Entity, membership::Column::UserId))
                            .equals((user::Entity, user::Column::Id)),
                    ),
            );
        }
        let direction = |descending: bool| {
            if descending == forward {
                Order::Desc
            } else {
                Order::Asc
            }
        };
        for key in &order {
            select = select.order_by(sort_expr(key.field, keys), direction(key.descending));
        }
        select.order_by(tie_expr(keys), direction(tie_desc))
    };
    let (users, has_next, has_previous) = match paging {
        Paging::Forward { first, after } => {
            let mut select = ordered(true);
            if let Some(after) = &after {
                let (values, id) = decode_cursor(after, &order, "after")?;
                select = select.filter(past(&order, keys, values, id, true));
            }
            let mut rows = fetch(conn, projection, select, Some(first + 1)).await?;
            let more = rows.len() as u64 > first;
            rows.truncate(first as usize);
            (rows, more, after.is_some())
        }
        Paging::Backward { last, before } => {
            let mut select = ordered(false);
            if let Some(before) = &before {
                let (values, id) = decode_cursor(before, &order, "before")?;
                select = select.filter(past(&order, keys, values, id, false));
            }
            let mut rows = fetch(conn, projection, select, Some(last + 1)).await?;
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
                None,
            )
            .await?;
            let more = rows.len() as u64 > first;
            rows.truncate(first as usize);
            (rows, more, offset > 0)
        }
    };
    Ok(Page {
        order,
        users,
        has_next,
        has_previous,
    })
}
