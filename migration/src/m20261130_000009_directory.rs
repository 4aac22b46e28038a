//! The seeds' directory shapes: free-form `metadata` (the user's) and
//! `app_metadata` (administrators'), JSON objects; sort keys for first and
//! last names (lower-cased, null as empty, maintained by the service like
//! `name_key`); and indexes for the new orders. `app_metadata` is filtered
//! on top-level keys without an index: an expression index per key in use
//! is a later step (docs/api.md).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, [Users; 2]); 4] = [
    (
        "ix_users_first_name_key_id",
        [Users::FirstNameKey, Users::Id],
    ),
    ("ix_users_last_name_key_id", [Users::LastNameKey, Users::Id]),
    ("ix_users_updated_at_id", [Users::UpdatedAt, Users::Id]),
    ("ix_users_status_id", [Users::Status, Users::Id]),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            json_binary(Users::Metadata).default("{}").to_owned(),
            json_binary(Users::AppMetadata).default("{}").to_owned(),
            text(Users::FirstNameKey).default("").to_owned(),
            text(Users::LastNameKey).default("").to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        // Backfill rows written before this migration; the service keeps the
        // keys exact from here on (Unicode-aware lower-casing included).
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE users SET \
                 first_name_key = LOWER(COALESCE(first_name, '')), \
                 last_name_key = LOWER(COALESCE(last_name, ''))",
            )
            .await?;
        for (name, columns) in INDEXES {
            let mut index = Index::create();
            index.name(name).table(Users::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES {
            manager
                .drop_index(Index::drop().name(name).table(Users::Table).to_owned())
                .await?;
        }
        for column in [
            Users::LastNameKey,
            Users::FirstNameKey,
            Users::AppMetadata,
            Users::Metadata,
        ] {
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

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
    Metadata,
    AppMetadata,
    FirstNameKey,
    LastNameKey,
    UpdatedAt,
    Status,
}
