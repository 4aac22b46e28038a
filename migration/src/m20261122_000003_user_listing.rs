//! What `users` needs to list, sort and search a large table: a sort key for
//! the display name, a lower-cased search text (both maintained by the
//! service on every write), and indexes for the default order and the common
//! filters.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: [(&str, &[Users]); 6] = [
    ("ix_users_name_key_id", &[Users::NameKey, Users::Id]),
    (
        "ix_users_last_login_at_id",
        &[Users::LastLoginAt, Users::Id],
    ),
    (
        "ix_users_status_created_at",
        &[Users::Status, Users::CreatedAt],
    ),
    ("ix_users_deleted_at", &[Users::DeletedAt]),
    ("ix_users_is_superuser", &[Users::IsSuperuser]),
    ("ix_users_username_id", &[Users::Username, Users::Id]),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            string_len(Users::NameKey, 128).default("").to_owned(),
            text(Users::SearchText).default("").to_owned(),
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
        // columns exact from here on (Unicode-aware lower-casing included).
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE users SET \
                 name_key = LOWER(COALESCE(display_name, username)), \
                 search_text = LOWER(username || ' ' || email || ' ' || COALESCE(first_name, '') || ' ' \
                 || COALESCE(last_name, '') || ' ' || COALESCE(display_name, ''))",
            )
            .await?;
        for (name, columns) in INDEXES {
            let mut index = Index::create();
            index.name(name).table(Users::Table);
            for column in columns {
                index.col(*column);
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
        for column in [Users::SearchText, Users::NameKey] {
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
    Username,
    NameKey,
    SearchText,
    LastLoginAt,
    Status,
    CreatedAt,
    DeletedAt,
    IsSuperuser,
}
