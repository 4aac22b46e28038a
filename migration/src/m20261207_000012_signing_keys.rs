//! Signing keys for asymmetric access tokens (`JWT_ALGORITHM` other than
//! HS256): the public key as a JWK, the private key sealed under
//! `MFA_ENCRYPTION_KEY`, and where each is in its life. At most one key is
//! active and at most one waits as the next (published before it signs),
//! which the database enforces: replicas starting at once on a fresh
//! database each try to make one, and one wins.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(uuid(SigningKeys::Id).primary_key())
                    .col(string_len_uniq(SigningKeys::Kid, 64))
                    .col(string_len(SigningKeys::Algorithm, 16))
                    .col(string_len(SigningKeys::State, 16))
                    .col(text(SigningKeys::PublicJwk))
                    .col(text(SigningKeys::PrivateKeySealed))
                    .col(timestamp_with_time_zone(SigningKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(SigningKeys::RetiresAt))
                    .to_owned(),
            )
            .await?;
        // Partial unique indexes, written as SQL both engines read the same.
        for state in ["active", "next"] {
            manager
                .get_connection()
                .execute_unprepared(&format!(
                    "CREATE UNIQUE INDEX ux_signing_keys_one_{state} ON signing_keys (state) \
                     WHERE state = '{state}'"
                ))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SigningKeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Id,
    Kid,
    Algorithm,
    State,
    PublicJwk,
    PrivateKeySealed,
    CreatedAt,
    RetiresAt,
}
