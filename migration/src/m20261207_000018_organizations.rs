//! Organisations (#32): companies users belong to, their members, the
//! roles members hold there (the built-in `owner`, `admin` and `member`,
//! and an organisation's own), invitations, and the organisation a session
//! acts in. Built-in org roles have no organisation; their permissions are
//! a frozen copy written here.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

const BUILTIN: [(&str, &str, &str); 3] = [
    (
        "owner",
        "Owners: every organisation permission",
        r#"["MEMBERS_READ","MEMBERS_INVITE","MEMBERS_MANAGE","ORG_UPDATE","ORG_DELETE","ORG_AUDIT_READ"]"#,
    ),
    (
        "admin",
        "Administrators: every permission but deleting the organisation",
        r#"["MEMBERS_READ","MEMBERS_INVITE","MEMBERS_MANAGE","ORG_UPDATE","ORG_AUDIT_READ"]"#,
    ),
    (
        "member",
        "Members: see the other members",
        r#"["MEMBERS_READ"]"#,
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Organizations::Table)
                    .col(uuid(Organizations::Id).primary_key())
                    .col(string_len(Organizations::Name, 100))
                    .col(string_len_uniq(Organizations::Slug, 48))
                    .col(json_binary(Organizations::Metadata).default("{}"))
                    .col(uuid_null(Organizations::TierId))
                    .col(timestamp_with_time_zone(Organizations::CreatedAt))
                    .col(timestamp_with_time_zone(Organizations::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_organizations_tier")
                            .from(Organizations::Table, Organizations::TierId)
                            .to(Tiers::Table, Tiers::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OrgRoles::Table)
                    .col(uuid(OrgRoles::Id).primary_key())
                    .col(uuid_null(OrgRoles::OrganizationId))
                    .col(string_len(OrgRoles::Name, 64))
                    .col(string_len_null(OrgRoles::Description, 255))
                    .col(text(OrgRoles::Permissions))
                    .col(boolean(OrgRoles::IsBuiltin).default(false))
                    .col(timestamp_with_time_zone(OrgRoles::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_org_roles_organization")
                            .from(OrgRoles::Table, OrgRoles::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_org_roles_name")
                    .table(OrgRoles::Table)
                    .col(OrgRoles::OrganizationId)
                    .col(OrgRoles::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Memberships::Table)
                    .col(uuid(Memberships::Id).primary_key())
                    .col(uuid(Memberships::OrganizationId))
                    .col(uuid(Memberships::UserId))
                    .col(timestamp_with_time_zone(Memberships::JoinedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_memberships_organization")
                            .from(Memberships::Table, Memberships::OrganizationId)
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_memberships_user")
                            .from(Memberships::Table, Memberships::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A members page walks (organization_id, user_id); a user's
        // memberships read by user_id.
        manager
            .create_index(
                Index::create()
                    .name("ux_memberships_organization_user")
                    .table(Memberships::Table)
                    .col(Memberships::OrganizationId)
                    .col(Memberships::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_memberships_user")
                    .table(Memberships::Table)
                    .col(Memberships::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MembershipRoles::Table)
                    .col(uuid(MembershipRoles::MembershipId))
                    .col(uuid(MembershipRoles::OrgRoleId))
                    .primary_key(
                        Index::create()
                            .col(MembershipRoles::MembershipId)
                            .col(MembershipRoles::OrgRoleId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_membership_roles_membership")
                            .from(MembershipRoles::Table, MembershipRoles::MembershipId)
                            .to(Memberships::Table, Memberships::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_membership_roles_role")
                            .from(MembershipRoles::Table, MembershipRoles::OrgRoleId)
                            .to(OrgRoles::Table, OrgRoles::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_membership_roles_role")
                    .table(MembershipRoles::Table)
                    .col(MembershipRoles::OrgRoleId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OrganizationInvitations::Table)
                    .col(uuid(OrganizationInvitations::Id).primary_key())
                    .col(uuid(OrganizationInvitations::OrganizationId))
                    .col(string_len(OrganizationInvitations::Email, 254))
                    .col(text(OrganizationInvitations::RoleIds))
                    .col(uuid_null(OrganizationInvitations::InvitedBy))
                    .col(string_len_uniq(OrganizationInvitations::TokenHash, 64))
                    .col(timestamp_with_time_zone(OrganizationInvitations::CreatedAt))
                    .col(timestamp_with_time_zone(OrganizationInvitations::ExpiresAt))
                    .col(timestamp_with_time_zone_null(
                        OrganizationInvitations::AcceptedAt,
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_organization_invitations_organization")
                            .from(
                                OrganizationInvitations::Table,
                                OrganizationInvitations::OrganizationId,
                            )
                            .to(Organizations::Table, Organizations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_organization_invitations_inviter")
                            .from(
                                OrganizationInvitations::Table,
                                OrganizationInvitations::InvitedBy,
                            )
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            (
                "ix_organization_invitations_organization",
                OrganizationInvitations::OrganizationId,
            ),
            (
                "ix_organization_invitations_email",
                OrganizationInvitations::Email,
            ),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(OrganizationInvitations::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(uuid_null(Sessions::ActiveOrganizationId))
                    .to_owned(),
            )
            .await?;
        let now = chrono::Utc::now();
        let mut insert = Query::insert();
        insert.into_table(OrgRoles::Table).columns([
            OrgRoles::Id,
            OrgRoles::Name,
            OrgRoles::Description,
            OrgRoles::Permissions,
            OrgRoles::IsBuiltin,
            OrgRoles::CreatedAt,
        ]);
        for (name, description, permissions) in BUILTIN {
            insert.values_panic([
                uuid::Uuid::now_v7().into(),
                name.into(),
                description.into(),
                permissions.into(),
                true.into(),
                now.into(),
            ]);
        }
        manager.exec_stmt(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .drop_column(Sessions::ActiveOrganizationId)
                    .to_owned(),
            )
            .await?;
        for table in [
            OrganizationInvitations::Table.into_iden(),
            MembershipRoles::Table.into_iden(),
            Memberships::Table.into_iden(),
            OrgRoles::Table.into_iden(),
            Organizations::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    Id,
    Name,
    Slug,
    Metadata,
    TierId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OrgRoles {
    Table,
    Id,
    OrganizationId,
    Name,
    Description,
    Permissions,
    IsBuiltin,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    Id,
    OrganizationId,
    UserId,
    JoinedAt,
}

#[derive(DeriveIden)]
enum MembershipRoles {
    Table,
    MembershipId,
    OrgRoleId,
}

#[derive(DeriveIden)]
enum OrganizationInvitations {
    Table,
    Id,
    OrganizationId,
    Email,
    RoleIds,
    InvitedBy,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    AcceptedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    ActiveOrganizationId,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Tiers {
    Table,
    Id,
}
