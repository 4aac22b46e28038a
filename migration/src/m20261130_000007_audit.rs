//! The audit trail: one row per state change or sign-in event, written in
//! the transaction of the change. Actor and target ids are plain columns,
//! not foreign keys, so a hard-deleted user's events keep them. The built-in
//! `admin` role gains `AUDIT_READ`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &[AuditEvents]); 4] = [
    (
        "ix_audit_events_created_at_id",
        &[AuditEvents::CreatedAt, AuditEvents::Id],
    ),
    (
        "ix_audit_events_target_created_at",
        &[AuditEvents::TargetId, AuditEvents::CreatedAt],
    ),
    (
        "ix_audit_events_actor_created_at",
        &[AuditEvents::ActorId, AuditEvents::CreatedAt],
    ),
    (
        "ix_audit_events_action_created_at",
        &[AuditEvents::Action, AuditEvents::CreatedAt],
    ),
];

/// The admin role's permissions before and after (a frozen copy, as the
/// seed migration's).
const ADMIN_BEFORE: &str =
    r#"["USERS_READ","USERS_CREATE","USERS_UPDATE","USERS_DELETE","ROLES_ASSIGN"]"#;
const ADMIN_AFTER: &str =
    r#"["USERS_READ","USERS_CREATE","USERS_UPDATE","USERS_DELETE","ROLES_ASSIGN","AUDIT_READ"]"#;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(uuid(AuditEvents::Id).primary_key())
                    .col(string_len(AuditEvents::Action, 48))
                    .col(uuid_null(AuditEvents::ActorId))
                    .col(uuid_null(AuditEvents::ApiKeyId))
                    .col(string_len_null(AuditEvents::TargetKind, 16))
                    .col(uuid_null(AuditEvents::TargetId))
                    .col(text_null(AuditEvents::Changes))
                    .col(string_len_null(AuditEvents::Ip, 64))
                    .col(string_len_null(AuditEvents::UserAgent, 512))
                    .col(string_len_null(AuditEvents::RequestId, 64))
                    .col(timestamp_with_time_zone(AuditEvents::CreatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in INDEXES {
            let mut index = Index::create();
            index.name(name).table(AuditEvents::Table);
            for column in columns {
                index.col(*column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        set_admin_permissions(manager, ADMIN_AFTER).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_admin_permissions(manager, ADMIN_BEFORE).await?;
        manager
            .drop_table(Table::drop().table(AuditEvents::Table).to_owned())
            .await
    }
}

async fn set_admin_permissions(
    manager: &SchemaManager<'_>,
    permissions: &str,
) -> Result<(), DbErr> {
    let update = Query::update()
        .table(Roles::Table)
        .value(Roles::Permissions, permissions)
        .and_where(Expr::col(Roles::Name).eq("admin"))
        .and_where(Expr::col(Roles::IsBuiltin).eq(true))
        .to_owned();
    manager.exec_stmt(update).await
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditEvents {
    Table,
    Id,
    Action,
    ActorId,
    ApiKeyId,
    TargetKind,
    TargetId,
    Changes,
    Ip,
    UserAgent,
    RequestId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Name,
    Permissions,
    IsBuiltin,
}
