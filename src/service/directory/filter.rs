//! The `WHERE` condition of a filter.

use std::collections::HashMap;

use entity::{membership, organization, role, user, user_role};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect,
    Value,
    sea_query::{
        Expr, ExprTrait, PostgresQueryBuilder, Query, QueryBuilder, SelectStatement, SimpleExpr,
        SqliteQueryBuilder,
    },
};
use uuid::Uuid;

use super::{Filter, MetadataMatch};
use crate::{
    error::{AppError, Result},
    validation,
};

fn admins() -> SelectStatement {
    holders_of(role::Column::Name.eq(crate::service::role_grants::ADMIN_ROLE))
}

/// The holders of the role with this id (`id_value`).
fn holders(role_id: Uuid, backend: DbBackend) -> SelectStatement {
    Query::select()
        .column((user_role::Entity, user_role::Column::UserId))
        .from(user_role::Entity)
        .and_where(
            Expr::col((user_role::Entity, user_role::Column::RoleId))
                .eq(id_value(role_id, backend)),
        )
        .to_owned()
}

/// The ids of an organisation's members; the organisation written in, as
/// role ids are (`id_value`).
fn members_of(organization_id: Uuid, backend: DbBackend) -> SelectStatement {
    Query::select()
        .column((membership::Entity, membership::Column::UserId))
        .from(membership::Entity)
        .and_where(
            Expr::col((membership::Entity, membership::Column::OrganizationId))
                .eq(id_value(organization_id, backend)),
        )
        .to_owned()
}

/// What an organisation's member list may be filtered by: a viewer
/// without `USERS_READ` only by what they see of members (no condition on
/// a hidden field can become an oracle on it), and no one asks it for
/// deleted users, which drop out of it.
pub(super) fn members_may_use(filter: &Filter, reads_users: bool) -> Result<()> {
    if filter.include_deleted || filter.only_deleted {
        return Err(AppError::bad_input(
            "filter",
            "an organisation's members never include deleted users: use users(filter: { organizationId })",
        ));
    }
    let visible_only = Filter {
        search: filter.search.clone(),
        email: filter.email.clone(),
        username: filter.username.clone(),
        ids: filter.ids.clone(),
        created_after: filter.created_after,
        created_before: filter.created_before,
        and: filter.and.clone(),
        or: filter.or.clone(),
        not: filter.not.clone(),
        ..Filter::default()
    };
    if !reads_users && *filter != visible_only {
        return Err(AppError::bad_input(
            "filter",
            "without USERS_READ, members are filtered only by search, email, username, ids, createdAfter and createdBefore",
        ));
    }
    for nested in filter
        .and
        .iter()
        .chain(&filter.or)
        .chain(filter.not.as_deref())
    {
        members_may_use(nested, reads_users)?;
    }
    Ok(())
}

/// A role's or an organisation's id as a statement compares it: written in
/// on PostgreSQL (`literal`), bound on SQLite, which keeps ids as blobs.
pub(super) fn id_value(role_id: Uuid, backend: DbBackend) -> Expr {
    match backend {
        DbBackend::Postgres => Expr::cust(literal(Value::from(role_id), backend)),
        _ => Expr::val(role_id),
    }
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

/// How deep `and`, `or` and `not` may nest: deeper expressions are no
/// clearer, and each level adds a parenthesised group to one statement.
pub const MAX_FILTER_DEPTH: usize = 5;
/// How many filters (the top one and every nested one) one expression may
/// hold.
pub const MAX_FILTER_NODES: usize = 50;
/// How many conditions (each field given, each metadata match) one
/// expression may hold in all, so its SQL, and the stack that builds and
/// renders it, stay small whatever its shape (found by review: 900 metadata
/// matches overflowed a worker's stack).
pub const MAX_FILTER_CONDITIONS: usize = 100;
/// How many ids `ids` may list, over the whole expression (a variable
/// reused in many branches counts each time).
pub const MAX_FILTER_IDS: usize = 1000;

/// What one expression has used of the bounds above.
#[derive(Default)]
struct Budget {
    nodes: usize,
    conditions: usize,
    ids: usize,
}

/// Refuses what the condition cannot take: control characters or overlong
/// text (nothing stored matches them), metadata values beyond the metadata
/// rules, and expressions deeper or bigger than the bounds above.
/// `BAD_USER_INPUT` on the filter field at fault, so a client sees which.
pub(super) fn validate(filter: &Filter) -> Result<()> {
    walk(filter, 1, &mut Budget::default())
}

fn too_big(what: String) -> AppError {
    AppError::bad_input("filter", what)
}

/// The conditions `filter` adds at its own level.
fn conditions(filter: &Filter) -> usize {
    let set = [
        filter.search.is_some(),
        filter.role.is_some(),
        filter.status.is_some(),
        filter.tier_id.is_some(),
        filter.organization_id.is_some(),
        filter.is_superuser.is_some(),
        filter.is_staff.is_some(),
        filter.only_deleted,
        filter.created_after.is_some(),
        filter.created_before.is_some(),
        filter.last_login_after.is_some(),
        filter.last_login_before.is_some(),
        filter.ids.is_some(),
        filter.email.is_some(),
        filter.username.is_some(),
        filter.never_logged_in.is_some(),
        filter.updated_after.is_some(),
        filter.updated_before.is_some(),
        filter.email_verified.is_some(),
        filter.mfa_enabled.is_some(),
        filter.external_id.is_some(),
    ];
    set.iter().filter(|&&s| s).count() + filter.metadata.len()
}

fn walk(filter: &Filter, depth: usize, budget: &mut Budget) -> Result<()> {
    budget.nodes += 1;
    budget.conditions += conditions(filter);
    budget.ids += filter.ids.as_ref().map_or(0, Vec::len);
    if depth > MAX_FILTER_DEPTH {
        return Err(too_big(format!(
            "filters nest at most {MAX_FILTER_DEPTH} levels deep"
        )));
    }
    if budget.nodes > MAX_FILTER_NODES {
        return Err(too_big(format!(
            "a filter holds at most {MAX_FILTER_NODES} nested filters"
        )));
    }
    if budget.conditions > MAX_FILTER_CONDITIONS {
        return Err(too_big(format!(
            "a filter holds at most {MAX_FILTER_CONDITIONS} conditions in all"
        )));
    }
    if budget.ids > MAX_FILTER_IDS {
        return Err(AppError::bad_input(
            "ids",
            format!("a filter lists at most {MAX_FILTER_IDS} ids in all"),
        ));
    }
    validation::filter_text(filter.search.as_deref(), "search")?;
    validation::filter_text(filter.role.as_deref(), "role")?;
    validation::filter_text(filter.email.as_deref(), "email")?;
    validation::filter_text(filter.username.as_deref(), "username")?;
    for m in &filter.metadata {
        validation::filter_text(Some(&m.key), "metadata")?;
        if m.key.is_empty() {
            return Err(AppError::bad_input(
                "metadata",
                "a metadata key has 1-255 characters",
            ));
        }
        validation::json_value(&m.equals, "metadata")?;
        let size = serde_json::to_vec(&m.equals).map_or(usize::MAX, |v| v.len());
        if size > validation::METADATA_MAX_BYTES {
            return Err(AppError::bad_input(
                "metadata",
                "a metadata value is at most 8 KiB as JSON",
            ));
        }
    }
    for nested in filter
        .and
        .iter()
        .chain(&filter.or)
        .chain(filter.not.as_deref())
    {
        walk(nested, depth + 1, budget)?;
    }
    Ok(())
}

/// What the condition is built for: the database, and the ids of the roles
/// the filter names (`resolve`).
pub(super) struct Context {
    backend: DbBackend,
    roles: HashMap<String, Uuid>,
}

/// Looks up the roles `filter` names, at any level, in one statement (none
/// when it names none). The condition then names role ids, which
/// PostgreSQL's statistics know, instead of joining on the name, which hides
/// from the planner how many hold the role (a count of a role's holders at
/// 1M users: 230 ms through the name, 60 ms through the id; BENCHMARKS.md).
pub(super) async fn resolve(conn: &impl ConnectionTrait, filter: &Filter) -> Result<Context> {
    let mut names = Vec::new();
    collect_roles(filter, &mut names);
    let roles = if names.is_empty() {
        HashMap::new()
    } else {
        role::Entity::find()
            .select_only()
            .columns([role::Column::Name, role::Column::Id])
            .filter(role::Column::Name.is_in(names))
            .into_tuple::<(String, Uuid)>()
            .all(conn)
            .await?
            .into_iter()
            .collect()
    };
    Ok(Context {
        backend: conn.get_database_backend(),
        roles,
    })
}

fn role_key(name: &str) -> String {
    name.trim().to_lowercase()
}

fn collect_roles(filter: &Filter, names: &mut Vec<String>) {
    names.extend(filter.role.as_deref().map(role_key));
    for nested in filter
        .and
        .iter()
        .chain(&filter.or)
        .chain(filter.not.as_deref())
    {
        collect_roles(nested, names);
    }
}

/// The users `filter` matches, as one SQL condition however it nests.
pub(super) fn condition(filter: &Filter, context: &Context) -> Condition {
    let visible = if mentions_deleted(filter) {
        Condition::all()
    } else {
        Condition::all().add(user::Column::DeletedAt.is_null())
    };
    visible.add(expression(filter, context))
}

/// A value written into the SQL text rather than bound, for the few values
/// whose plan depends on them: PostgreSQL plans a prepared statement
/// generically after five runs, and a generic plan knows neither a search
/// pattern (so it cannot choose the trigram index: S1 measured 25x a first
/// page) nor a role id (so it cannot tell a rare role from a common one).
/// The builder quotes and escapes it for the database.
fn literal(value: Value, backend: DbBackend) -> String {
    match backend {
        DbBackend::Postgres => PostgresQueryBuilder.value_to_string(&value),
        _ => SqliteQueryBuilder.value_to_string(&value),
    }
}

/// The count of a filter that names one role, or one organisation, and
/// nothing else (an administrator's "how many admins?", an organisation's
/// head count), without the general condition. PostgreSQL plans that as a
/// merge of every live user with the holders' or members' rows, which at 1M
/// users took 37x a first page for a role and 123x for an organisation of
/// 100,000 (BENCHMARKS.md, C1). A role's holders are counted from their
/// rows, minus those soft-deleted: one index range and the deleted users.
/// An organisation's count is the one the database keeps for it. `None`
/// for any other filter.
pub(super) fn holders_count(filter: &Filter, context: &Context) -> Option<SelectStatement> {
    let only = |only: Filter| *filter == only;
    if let Some(role) = filter.role.as_deref()
        && only(Filter {
            role: filter.role.clone(),
            ..Filter::default()
        })
    {
        // No such role: nobody holds it.
        let role_id = context.roles.get(&role_key(role)).copied();
        return Some(live_holders(id_value(
            role_id.unwrap_or(Uuid::nil()),
            context.backend,
        )));
    }
    if let Some(organization) = filter.organization_id
        && only(Filter {
            organization_id: filter.organization_id,
            ..Filter::default()
        })
    {
        // No such organisation: no row, and the caller reads no row as 0.
        return Some(
            Query::select()
                .column((organization::Entity, MEMBER_COUNT))
                .from(organization::Entity)
                .and_where(
                    Expr::col((organization::Entity, organization::Column::Id)).eq(organization),
                )
                .to_owned(),
        );
    }
    None
}

/// `organizations.member_count`: its members who are not soft-deleted, kept
/// by the database's triggers (migration `m20261207_000021_member_counts`)
/// in the transaction of every change to them. No storage model carries it:
/// one written back whole would overwrite a concurrent join's count.
const MEMBER_COUNT: &str = "member_count";

/// `SELECT COUNT(user_id) FROM user_roles WHERE role_id = role` over the
/// holders who are not soft-deleted.
fn live_holders(role: Expr) -> SelectStatement {
    let deleted_user = Query::select()
        .expr(Expr::val(1))
        .from(user::Entity)
        .and_where(
            Expr::col((user::Entity, user::Column::Id))
                .equals((user_role::Entity, user_role::Column::UserId)),
        )
        .and_where(Expr::col((user::Entity, user::Column::DeletedAt)).is_not_null())
        .to_owned();
    Query::select()
        .expr(Expr::col((user_role::Entity, user_role::Column::UserId)).count())
        .from(user_role::Entity)
        .and_where(Expr::col((user_role::Entity, user_role::Column::RoleId)).eq(role))
        .and_where(Expr::exists(deleted_user).not())
        .to_owned()
}

fn mentions_deleted(filter: &Filter) -> bool {
    filter.include_deleted
        || filter.only_deleted
        || (filter
            .and
            .iter()
            .chain(&filter.or)
            .chain(filter.not.as_deref()))
        .any(mentions_deleted)
}

/// `app_metadata ->> key` equal to `value` as JSON: PostgreSQL compares
/// `jsonb` values (so `1` equals `1.0`); SQLite compares the minified JSON
/// text (so it does not, and object keys compare in the order written).
fn metadata_equals(m: &MetadataMatch, backend: DbBackend) -> SimpleExpr {
    let column = r#""users"."app_metadata""#;
    match backend {
        DbBackend::Postgres => Expr::cust_with_values(
            format!("{column} -> $1 = $2"),
            [Value::from(m.key.clone()), Value::from(m.equals.clone())],
        ),
        _ => Expr::cust_with_values(
            format!("{column} -> ? = json(?)"),
            [
                // SQLite reads a label starting with `$` as a path; a quoted
                // path names the key whatever its characters.
                Value::from(format!("$.{}", serde_json::Value::from(m.key.clone()))),
                Value::from(m.equals.to_string()),
            ],
        ),
    }
}

/// `column IS NOT NULL` when `set`, else `column IS NULL`.
fn is_set(column: user::Column, set: bool) -> SimpleExpr {
    if set {
        column.is_not_null()
    } else {
        column.is_null()
    }
}

fn expression(filter: &Filter, context: &Context) -> Condition {
    let backend = context.backend;
    let id = || Expr::col((user::Entity, user::Column::Id));
    let mut cond = Condition::all();
    if filter.only_deleted {
        cond = cond.add(user::Column::DeletedAt.is_not_null());
    }
    if let Some(term) = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let pattern = literal(Value::from(like_pattern(term)), backend);
        let escape = literal(Value::from("\\"), backend);
        cond = cond.add(Expr::cust(format!(
            r#""users"."search_text" LIKE {pattern} ESCAPE {escape}"#
        )));
    }
    if let Some(role) = &filter.role {
        cond = cond.add(match context.roles.get(&role_key(role)) {
            Some(&role_id) => id().in_subquery(holders(role_id, backend)),
            // No such role: nobody holds it.
            None => Condition::all().add(Expr::cust("1 = 0")).into(),
        });
    }
    if let Some(status) = filter.status {
        cond = cond.add(user::Column::Status.eq(status));
    }
    if let Some(tier) = filter.tier_id {
        cond = cond.add(user::Column::TierId.eq(tier));
    }
    if let Some(organization) = filter.organization_id {
        cond = cond.add(id().in_subquery(members_of(organization, backend)));
    }
    if let Some(external_id) = &filter.external_id {
        cond = cond.add(user::Column::ExternalId.eq(external_id.trim()));
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
    if let Some(ids) = &filter.ids {
        cond = cond.add(user::Column::Id.is_in(ids.iter().copied()));
    }
    // Stored lower-case and trimmed; a value with a control character
    // matches nothing (and was refused by `validate`).
    if let Some(email) = &filter.email {
        let key = validation::lookup_key(email).unwrap_or_default();
        cond = cond.add(user::Column::Email.eq(key));
    }
    if let Some(username) = &filter.username {
        let key = validation::lookup_key(username).unwrap_or_default();
        cond = cond.add(user::Column::Username.eq(key));
    }
    if let Some(never) = filter.never_logged_in {
        cond = cond.add(is_set(user::Column::LastLoginAt, !never));
    }
    if let Some(t) = filter.updated_after {
        cond = cond.add(user::Column::UpdatedAt.gte(t));
    }
    if let Some(t) = filter.updated_before {
        cond = cond.add(user::Column::UpdatedAt.lt(t));
    }
    if let Some(verified) = filter.email_verified {
        cond = cond.add(is_set(user::Column::EmailVerifiedAt, verified));
    }
    if let Some(mfa) = filter.mfa_enabled {
        cond = cond.add(user::Column::MfaEnabled.eq(mfa));
    }
    for m in &filter.metadata {
        cond = cond.add(metadata_equals(m, backend));
    }
    for nested in &filter.and {
        cond = cond.add(expression(nested, context));
    }
    if !filter.or.is_empty() {
        let any =
            (filter.or.iter()).fold(Condition::any(), |any, f| any.add(expression(f, context)));
        cond = cond.add(any);
    }
    if let Some(not) = &filter.not {
        cond = cond.add(expression(not, context).not());
    }
    cond
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_wildcards_are_literal() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(like_pattern("ÉLAN"), "%élan%");
    }
}
