//! Impersonation (#33): a session may be started by a support administrator
//! acting as a user. Every link of such a chain names the administrator
//! (`impersonator_id`), whether it may change anything (`read_only`), why
//! it was started (`impersonation_reason`), and when it ends for good
//! (`impersonation_ends_at`, which no refresh passes); every audit event
//! made inside it names the administrator too.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        for column in [
            uuid_null(Sessions::ImpersonatorId),
            boolean(Sessions::ReadOnly).default(false).to_owned(),
            string_null(Sessions::ImpersonationReason),
            timestamp_with_time_zone_null(Sessions::ImpersonationEndsAt),
        ] {
            let mut column = column;
            manager
                .alter_table(
                    Table::alter()
                        .table(Sessions::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        // Suspending an administrator ends the impersonations they started.
        manager
            .create_index(
                Index::create()
                    .name("ix_sessions_impersonator")
                    .table(Sessions::Table)
                    .col(Sessions::ImpersonatorId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(uuid_null(AuditEvents::ImpersonatorId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .drop_column(AuditEvents::ImpersonatorId)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_sessions_impersonator")
                    .table(Sessions::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            Sessions::ImpersonationEndsAt,
            Sessions::ImpersonationReason,
            Sessions::ReadOnly,
            Sessions::ImpersonatorId,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Sessions::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    ImpersonatorId,
    ReadOnly,
    ImpersonationReason,
    ImpersonationEndsAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    ImpersonatorId,
}
