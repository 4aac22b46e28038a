//! Bringing users in and letting them out: `external_id` (the id an
//! imported user had in the system they came from, unique, filterable)
//! and `erased_at` (when a person's data was erased; the row stays so
//! audit events still join).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(string_len_null(Users::ExternalId, 255))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(timestamp_with_time_zone_null(Users::ErasedAt))
                    .to_owned(),
            )
            .await?;
        // NULLs do not collide in a unique index, on either database.
        manager
            .create_index(
                Index::create()
                    .name("ux_users_external_id")
                    .table(Users::Table)
                    .col(Users::ExternalId)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ux_users_external_id")
                    .table(Users::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Users::ErasedAt, Users::ExternalId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    ExternalId,
    ErasedAt,
}
