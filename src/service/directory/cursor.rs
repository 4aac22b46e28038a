//! Keyset cursors: what a cursor holds, and the condition that selects the
//! rows past it in either direction.

use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use entity::{membership, user};
use sea_orm::{
    Condition, Value,
    sea_query::{Alias, Expr, ExprTrait, Func},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{SortField, SortKey};
use crate::error::{AppError, Result};

/// The column of a sort key, which cursors are made from.
pub(super) fn sort_column(field: SortField) -> user::Column {
    match field {
        SortField::CreatedAt => user::Column::CreatedAt,
        SortField::Username => user::Column::Username,
        SortField::Email => user::Column::Email,
        SortField::Name => user::Column::NameKey,
        SortField::LastLoginAt => user::Column::LastLoginAt,
        SortField::FirstName => user::Column::FirstNameKey,
        SortField::LastName => user::Column::LastNameKey,
        SortField::UpdatedAt => user::Column::UpdatedAt,
        SortField::Status => user::Column::Status,
    }
}

/// Users who never logged in sort as if they had at the epoch, so the order is total.
fn never() -> DateTime<Utc> {
    DateTime::<Utc>::UNIX_EPOCH
}

/// Where a page reads its order from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Keys {
    /// The users' own columns.
    Users,
    /// An organisation's memberships, joined: each carries its member's
    /// username (kept by the database, migration
    /// `m20261207_000022_member_usernames`) in an index of the organisation's
    /// members by username and user id, so a members page by username reads
    /// its members in order instead of walking every user by username.
    Members,
}

/// `memberships.username`, which no storage model carries: the database
/// writes it, and a model written back whole would only be put right again.
pub(super) const MEMBER_USERNAME: &str = "username";

pub(super) fn sort_expr(field: SortField, keys: Keys) -> Expr {
    if keys == Keys::Members && field == SortField::Username {
        return Expr::col((membership::Entity, Alias::new(MEMBER_USERNAME)));
    }
    let column = Expr::col((user::Entity, sort_column(field)));
    match field {
        SortField::LastLoginAt => Func::coalesce([column, Expr::val(never())]).into(),
        _ => column,
    }
}

/// The tie-breaker after the sort keys: the user's id, or on a members
/// page the same id as its membership holds it, next to the username in
/// the index.
pub(super) fn tie_expr(keys: Keys) -> Expr {
    match keys {
        Keys::Users => Expr::col((user::Entity, user::Column::Id)),
        Keys::Members => Expr::col((membership::Entity, membership::Column::UserId)),
    }
}

fn is_time(field: SortField) -> bool {
    matches!(
        field,
        SortField::CreatedAt | SortField::LastLoginAt | SortField::UpdatedAt
    )
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
        // Unset names are stored as empty keys, so they sort first ascending
        // (last descending) on both databases.
        SortField::FirstName => model.first_name_key.clone(),
        SortField::LastName => model.last_name_key.clone(),
        SortField::UpdatedAt => time(model.updated_at),
        SortField::Status => sea_orm::ActiveEnum::to_value(&model.status),
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
    encode(
        order,
        order.iter().map(|k| sort_value(model, k.field)),
        model.id,
    )
}

/// The cursor of a row of a members page (`Keys::Members`): its username
/// as the membership's copy holds it, which is what the page orders by, so
/// paging moves forward even past a copy left stale (triggers disabled).
pub fn encode_member_cursor(model: &user::Model, listed_as: &str, order: &[SortKey]) -> String {
    let value = |field: SortField| match field {
        SortField::Username => listed_as.to_owned(),
        _ => sort_value(model, field),
    };
    encode(order, order.iter().map(|k| value(k.field)), model.id)
}

fn encode(order: &[SortKey], values: impl Iterator<Item = String>, id: Uuid) -> String {
    let data = CursorData {
        o: order_signature(order),
        v: values.collect(),
        id,
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&data).expect("cursor serialises"))
}

/// The sort values and id a cursor points at, checked against `order`.
pub(super) fn decode_cursor(
    raw: &str,
    order: &[SortKey],
    field: &'static str,
) -> Result<(Vec<Value>, Uuid)> {
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
pub(super) fn past(
    order: &[SortKey],
    read_from: Keys,
    values: Vec<Value>,
    id: Uuid,
    forward: bool,
) -> Condition {
    let tie_desc = order.last().is_some_and(|k| k.descending);
    let mut keys: Vec<(Expr, bool)> = order
        .iter()
        .map(|k| (sort_expr(k.field, read_from), k.descending))
        .collect();
    keys.push((tie_expr(read_from), tie_desc));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::directory::DEFAULT_ORDER;

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
