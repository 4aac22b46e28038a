//! The `WHERE` condition of a filter.

use entity::{role, user, user_role};
use sea_orm::{
    ColumnTrait, Condition,
    sea_query::{Expr, ExprTrait, LikeExpr, Query, SelectStatement},
};

use super::Filter;

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

/// The users `filter` matches.
pub(super) fn condition(filter: &Filter) -> Condition {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_wildcards_are_literal() {
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(like_pattern("ÉLAN"), "%élan%");
    }
}
