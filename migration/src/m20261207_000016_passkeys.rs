//! Passkeys (WebAuthn credentials) and the ceremonies in flight: a
//! registration or sign-in's challenge and state live here for five
//! minutes and are used once, so any replica finishes what another began.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Passkeys::Table)
                    .col(uuid(Passkeys::Id).primary_key())
                    .col(uuid(Passkeys::UserId))
                    // base64url of the authenticator's credential id (at most
                    // 1023 bytes by the specification, checked before it is stored).
                    .col(string_len_uniq(Passkeys::CredentialId, 1400))
                    .col(string_len(Passkeys::Name, 64))
                    .col(text(Passkeys::Credential))
                    .col(big_integer(Passkeys::SignCount).default(0))
                    .col(boolean(Passkeys::BackedUp).default(false))
                    .col(timestamp_with_time_zone(Passkeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(Passkeys::LastUsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_passkeys_user")
                            .from(Passkeys::Table, Passkeys::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_passkeys_user")
                    .table(Passkeys::Table)
                    .col(Passkeys::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PasskeyChallenges::Table)
                    .col(uuid(PasskeyChallenges::Id).primary_key())
                    .col(string_len(PasskeyChallenges::Ceremony, 16))
                    .col(uuid_null(PasskeyChallenges::UserId))
                    // A sign-in started with a login: with no user, its
                    // options were a decoy, and no answer finishes it.
                    .col(boolean(PasskeyChallenges::ByLogin).default(false))
                    .col(text(PasskeyChallenges::State))
                    .col(timestamp_with_time_zone(PasskeyChallenges::CreatedAt))
                    .col(timestamp_with_time_zone(PasskeyChallenges::ExpiresAt))
                    .col(timestamp_with_time_zone_null(PasskeyChallenges::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_passkey_challenges_user")
                            .from(PasskeyChallenges::Table, PasskeyChallenges::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_passkey_challenges_expires")
                    .table(PasskeyChallenges::Table)
                    .col(PasskeyChallenges::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PasskeyChallenges::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Passkeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Passkeys {
    Table,
    Id,
    UserId,
    CredentialId,
    Name,
    Credential,
    SignCount,
    BackedUp,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum PasskeyChallenges {
    Table,
    Id,
    Ceremony,
    UserId,
    ByLogin,
    State,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
