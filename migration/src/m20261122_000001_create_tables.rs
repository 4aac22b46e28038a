//! The whole data model: users, tiers, roles, user_roles and sessions.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tiers::Table)
                    .col(pk_uuid(Tiers::Id))
                    .col(string_len(Tiers::Name, 64))
                    .col(string_len_null(Tiers::Description, 255))
                    .col(timestamp_with_time_zone(Tiers::CreatedAt))
                    .to_owned(),
            )
            .await?;
        unique_index(manager, "ux_tiers_name", Tiers::Table, Tiers::Name).await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_uuid(Users::Id))
                    .col(string_len(Users::Username, 20))
                    .col(string_len(Users::Email, 254))
                    .col(string_len(Users::PasswordHash, 255))
                    .col(string_len_null(Users::DisplayName, 128))
                    .col(string_len_null(Users::FirstName, 64))
                    .col(string_len_null(Users::LastName, 64))
                    .col(string_len_null(Users::AvatarUrl, 255))
                    .col(string_len_null(Users::Website, 255))
                    .col(string_len_null(Users::Facebook, 255))
                    .col(string_len_null(Users::Instagram, 255))
                    .col(string_len_null(Users::Linkedin, 255))
                    .col(string_len_null(Users::X, 255))
                    .col(string_len_null(Users::Youtube, 255))
                    .col(string_len(Users::Status, 16).default("active"))
                    .col(boolean(Users::IsSuperuser).default(false))
                    .col(uuid_null(Users::TierId))
                    .col(integer(Users::FailedLoginCount).default(0))
                    .col(timestamp_with_time_zone_null(Users::LockedUntil))
                    .col(timestamp_with_time_zone(Users::PasswordChangedAt))
                    .col(timestamp_with_time_zone_null(Users::LastLoginAt))
                    .col(timestamp_with_time_zone_null(Users::DeletedAt))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_users_tier")
                            .from(Users::Table, Users::TierId)
                            .to(Tiers::Table, Tiers::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        // Usernames and emails are normalised to lower case before they are
        // stored, so plain unique indexes are case-insensitive in effect.
        unique_index(manager, "ux_users_username", Users::Table, Users::Username).await?;
        unique_index(manager, "ux_users_email", Users::Table, Users::Email).await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_users_created_at_id")
                    .table(Users::Table)
                    .col(Users::CreatedAt)
                    .col(Users::Id)
                    .to_owned(),
            )
            .await?;
        plain_index(manager, "ix_users_tier_id", Users::Table, Users::TierId).await?;

        manager
            .create_table(
                Table::create()
                    .table(Roles::Table)
                    .col(pk_uuid(Roles::Id))
                    .col(string_len(Roles::Name, 64))
                    .col(string_len_null(Roles::Description, 255))
                    .col(text(Roles::Permissions).default("[]"))
                    .col(boolean(Roles::IsBuiltin).default(false))
                    .col(timestamp_with_time_zone(Roles::CreatedAt))
                    .to_owned(),
            )
            .await?;
        unique_index(manager, "ux_roles_name", Roles::Table, Roles::Name).await?;

        manager
            .create_table(
                Table::create()
                    .table(UserRoles::Table)
                    .col(uuid(UserRoles::UserId))
                    .col(uuid(UserRoles::RoleId))
                    .col(timestamp_with_time_zone(UserRoles::CreatedAt))
                    .primary_key(
                        Index::create()
                            .name("pk_user_roles")
                            .col(UserRoles::UserId)
                            .col(UserRoles::RoleId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_user_roles_user")
                            .from(UserRoles::Table, UserRoles::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_user_roles_role")
                            .from(UserRoles::Table, UserRoles::RoleId)
                            .to(Roles::Table, Roles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        plain_index(
            manager,
            "ix_user_roles_role_id",
            UserRoles::Table,
            UserRoles::RoleId,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(pk_uuid(Sessions::Id))
                    .col(uuid(Sessions::ChainId))
                    .col(uuid(Sessions::UserId))
                    .col(string_len(Sessions::RefreshTokenHash, 64))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::LastUsedAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Sessions::RotatedAt))
                    .col(timestamp_with_time_zone_null(Sessions::RevokedAt))
                    .col(string_len_null(Sessions::UserAgent, 512))
                    .col(string_len_null(Sessions::Ip, 64))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_sessions_user")
                            .from(Sessions::Table, Sessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        unique_index(
            manager,
            "ux_sessions_refresh_token_hash",
            Sessions::Table,
            Sessions::RefreshTokenHash,
        )
        .await?;
        plain_index(
            manager,
            "ix_sessions_chain_id",
            Sessions::Table,
            Sessions::ChainId,
        )
        .await?;
        plain_index(
            manager,
            "ix_sessions_user_id",
            Sessions::Table,
            Sessions::UserId,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Sessions::Table.into_iden(),
            UserRoles::Table.into_iden(),
            Roles::Table.into_iden(),
            Users::Table.into_iden(),
            Tiers::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

async fn unique_index<T, C>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    col: C,
) -> Result<(), DbErr>
where
    T: IntoIden,
    C: IntoIndexColumn,
{
    manager
        .create_index(
            Index::create()
                .name(name)
                .table(table)
                .col(col)
                .unique()
                .to_owned(),
        )
        .await
}

async fn plain_index<T, C>(
    manager: &SchemaManager<'_>,
    name: &str,
    table: T,
    col: C,
) -> Result<(), DbErr>
where
    T: IntoIden,
    C: IntoIndexColumn,
{
    manager
        .create_index(Index::create().name(name).table(table).col(col).to_owned())
        .await
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    Email,
    PasswordHash,
    DisplayName,
    FirstName,
    LastName,
    AvatarUrl,
    Website,
    Facebook,
    Instagram,
    Linkedin,
    X,
    Youtube,
    Status,
    IsSuperuser,
    TierId,
    FailedLoginCount,
    LockedUntil,
    PasswordChangedAt,
    LastLoginAt,
    DeletedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tiers {
    Table,
    Id,
    Name,
    Description,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Id,
    Name,
    Description,
    Permissions,
    IsBuiltin,
    CreatedAt,
}

#[derive(DeriveIden)]
enum UserRoles {
    Table,
    UserId,
    RoleId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    ChainId,
    UserId,
    RefreshTokenHash,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    RotatedAt,
    RevokedAt,
    UserAgent,
    Ip,
}
