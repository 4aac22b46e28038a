//! Seeds the built-in roles `admin`, `user` and `viewer`. Permission names are
//! written here as plain strings (a frozen copy), not taken from the live code.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const BUILTIN: [(&str, &str, &str); 3] = [
    (
        "admin",
        "Administrators: every permission",
        r#"["USERS_READ","USERS_CREATE","USERS_UPDATE","USERS_DELETE","ROLES_ASSIGN"]"#,
    ),
    ("user", "Every account: no administrative permission", "[]"),
    (
        "viewer",
        "Read-only access to every user",
        r#"["USERS_READ"]"#,
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let now = chrono::Utc::now();
        let mut insert = Query::insert();
        insert.into_table(Roles::Table).columns([
            Roles::Id,
            Roles::Name,
            Roles::Description,
            Roles::Permissions,
            Roles::IsBuiltin,
            Roles::CreatedAt,
        ]);
        for (name, description, permissions) in BUILTIN {
            insert.values_panic([
                uuid::Uuid::now_v7().into(),
                name.into(),
                description.into(),
                permissions.into(),
                true.into(),
                now.into(),
            ]);
        }
        manager.exec_stmt(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let delete = Query::delete()
            .from_table(Roles::Table)
            .and_where(Expr::col(Roles::IsBuiltin).eq(true))
            .to_owned();
        manager.exec_stmt(delete).await
    }
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Id,
    Name,
    Description,
    Permissions,
    IsBuiltin,
    CreatedAt,
}
