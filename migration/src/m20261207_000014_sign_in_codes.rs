//! Sign-in codes by mail: each mail's link token (hashed) and 6-digit code
//! (a keyed digest), for an account or, with `PASSWORDLESS_SIGNUP`, for an
//! address with none yet; ten minutes, used once, ended by five wrong codes.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SignInCodes::Table)
                    .col(uuid(SignInCodes::Id).primary_key())
                    .col(string_len(SignInCodes::Email, 254))
                    .col(uuid_null(SignInCodes::UserId))
                    .col(string_len_uniq(SignInCodes::TokenHash, 64))
                    .col(string_len(SignInCodes::CodeDigest, 64))
                    .col(integer(SignInCodes::Attempts).default(0))
                    .col(timestamp_with_time_zone(SignInCodes::CreatedAt))
                    .col(timestamp_with_time_zone(SignInCodes::ExpiresAt))
                    .col(timestamp_with_time_zone_null(SignInCodes::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sign_in_codes_user")
                            .from(SignInCodes::Table, SignInCodes::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_sign_in_codes_email")
                    .table(SignInCodes::Table)
                    .col(SignInCodes::Email)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SignInCodes::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum SignInCodes {
    Table,
    Id,
    Email,
    UserId,
    TokenHash,
    CodeDigest,
    Attempts,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
