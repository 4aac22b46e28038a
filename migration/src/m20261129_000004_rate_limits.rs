//! Counters for the per-client-address rate limits on anonymous credential
//! operations: one row per (bucket, fixed window), kept in the database so
//! every replica counts the same hits.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RateLimits::Table)
                    .col(string_len(RateLimits::Bucket, 96))
                    .col(big_integer(RateLimits::WindowStart))
                    .col(integer(RateLimits::Hits).default(0))
                    .col(timestamp_with_time_zone(RateLimits::ExpiresAt))
                    .primary_key(
                        Index::create()
                            .name("pk_rate_limits")
                            .col(RateLimits::Bucket)
                            .col(RateLimits::WindowStart),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_rate_limits_expires_at")
                    .table(RateLimits::Table)
                    .col(RateLimits::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RateLimits::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum RateLimits {
    Table,
    Bucket,
    WindowStart,
    Hits,
    ExpiresAt,
}
