//! Sign-in with another provider: the identities linked to users (one per
//! provider and subject), the sign-ins started and not yet finished (their
//! state hashed, PKCE verifier and nonce sealed, used once), and whether a
//! user has a password at all (one made through a provider has none).

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
                    .add_column(boolean(Users::HasPassword).default(true))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ExternalIdentities::Table)
                    .col(uuid(ExternalIdentities::Id).primary_key())
                    .col(uuid(ExternalIdentities::UserId))
                    .col(string_len(ExternalIdentities::Provider, 32))
                    .col(string_len(ExternalIdentities::Subject, 255))
                    .col(string_len_null(ExternalIdentities::Email, 254))
                    .col(boolean(ExternalIdentities::EmailVerified).default(false))
                    .col(timestamp_with_time_zone(ExternalIdentities::LinkedAt))
                    .col(timestamp_with_time_zone_null(
                        ExternalIdentities::LastUsedAt,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_external_identities_user")
                            .from(ExternalIdentities::Table, ExternalIdentities::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_external_identities_provider_subject")
                    .table(ExternalIdentities::Table)
                    .col(ExternalIdentities::Provider)
                    .col(ExternalIdentities::Subject)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_external_identities_user_id")
                    .table(ExternalIdentities::Table)
                    .col(ExternalIdentities::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ExternalSignins::Table)
                    .col(uuid(ExternalSignins::Id).primary_key())
                    .col(string_len_uniq(ExternalSignins::StateHash, 64))
                    .col(string_len(ExternalSignins::Provider, 32))
                    .col(text(ExternalSignins::VerifierSealed))
                    .col(text(ExternalSignins::NonceSealed))
                    .col(text(ExternalSignins::RedirectUri))
                    .col(string_len(ExternalSignins::Intent, 16))
                    .col(uuid_null(ExternalSignins::UserId))
                    .col(uuid_null(ExternalSignins::SessionId))
                    .col(timestamp_with_time_zone(ExternalSignins::CreatedAt))
                    .col(timestamp_with_time_zone(ExternalSignins::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ExternalSignins::UsedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_external_signins_expires_at")
                    .table(ExternalSignins::Table)
                    .col(ExternalSignins::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ExternalSignins::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ExternalIdentities::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::HasPassword)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    HasPassword,
}

#[derive(DeriveIden)]
enum ExternalIdentities {
    Table,
    Id,
    UserId,
    Provider,
    Subject,
    Email,
    EmailVerified,
    LinkedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum ExternalSignins {
    Table,
    Id,
    StateHash,
    Provider,
    VerifierSealed,
    NonceSealed,
    RedirectUri,
    Intent,
    UserId,
    SessionId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}
