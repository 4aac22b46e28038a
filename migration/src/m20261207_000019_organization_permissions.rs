//! The organisation permissions of the service (#32): `ORGS_READ` (every
//! organisation and its members) and `ORGS_CREATE`. The built-in `admin`
//! role gains both; `viewer` stays as it was, so whoever could grant it
//! still can. Frozen copies, as the seed migration's.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const ADMIN_BEFORE: &str =
    r#"["USERS_READ","USERS_CREATE","USERS_UPDATE","USERS_DELETE","ROLES_ASSIGN","AUDIT_READ"]"#;
const ADMIN_AFTER: &str = r#"["USERS_READ","USERS_CREATE","USERS_UPDATE","USERS_DELETE","ROLES_ASSIGN","AUDIT_READ","ORGS_READ","ORGS_CREATE"]"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set(manager, "admin", ADMIN_BEFORE, ADMIN_AFTER).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set(manager, "admin", ADMIN_AFTER, ADMIN_BEFORE).await
    }
}

/// Changes a built-in role's permissions only where an operator left them
/// as they were: a role someone edited keeps their edit.
async fn set(manager: &SchemaManager<'_>, role: &str, from: &str, to: &str) -> Result<(), DbErr> {
    let update = Query::update()
        .table(Roles::Table)
        .value(Roles::Permissions, to)
        .and_where(Expr::col(Roles::Name).eq(role))
        .and_where(Expr::col(Roles::IsBuiltin).eq(true))
        .and_where(Expr::col(Roles::Permissions).eq(from))
        .to_owned();
    manager.exec_stmt(update).await
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Name,
    Permissions,
    IsBuiltin,
}
