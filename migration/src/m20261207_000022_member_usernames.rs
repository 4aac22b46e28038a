//! Each membership carries its member's username, kept by the database
//! (#34), in an index of the organisation's members by username. A members
//! page is ordered by username: without it PostgreSQL walks every user by
//! username and probes each for a membership, 516 users for 51 members in an
//! organisation holding one user in ten (BENCHMARKS.md, O1); with it the
//! page reads the organisation's first 51 members in order.
//!
//! Triggers keep the copy, not the service, so that no path can miss it: a
//! join, an import, a change of username, and an operator's own SQL on
//! either table (a membership's copy written by hand is put back). On
//! PostgreSQL a membership added locks its user's row (`FOR SHARE`) to read
//! the username, so a concurrent rename either waits for the join and then
//! renames its copy, or commits first and the join reads the new name. A
//! rename updates its user's memberships after its user, where removing a
//! member takes the membership before the user (m21's count): so the
//! service locks a renamed user's organisations first
//! (`memberships::lock_organizations_of`), as it does for a deletion, and
//! the two take turns at the organisation's row. The functions carry the
//! `search_path` they were made with, as a restore runs with none.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const BACKFILL: &str = "UPDATE memberships SET username = (
    SELECT username FROM users WHERE users.id = memberships.user_id)";

const POSTGRES_UP: &[&str] = &[
    "CREATE FUNCTION usergraph_membership_username() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
        SELECT username INTO NEW.username FROM users WHERE id = NEW.user_id FOR SHARE;
        -- No such user: the foreign key refuses the row after this.
        NEW.username := COALESCE(NEW.username, '');
        RETURN NEW;
    END $$",
    "CREATE TRIGGER memberships_named BEFORE INSERT OR UPDATE ON memberships
    FOR EACH ROW EXECUTE FUNCTION usergraph_membership_username()",
    "CREATE FUNCTION usergraph_member_renamed() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
        UPDATE memberships SET username = NEW.username WHERE user_id = NEW.id;
        RETURN NULL;
    END $$",
    "CREATE TRIGGER users_member_renamed AFTER UPDATE OF username ON users
    FOR EACH ROW WHEN (OLD.username IS DISTINCT FROM NEW.username)
    EXECUTE FUNCTION usergraph_member_renamed()",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER users_member_renamed ON users",
    "DROP FUNCTION usergraph_member_renamed()",
    "DROP TRIGGER memberships_named ON memberships",
    "DROP FUNCTION usergraph_membership_username()",
];

// SQLite's triggers cannot change the row being written, so they write it
// again after; it runs one writer at a time, so they need no locks. The
// write that puts a hand-written copy back fires its trigger once more,
// which then finds the copy right.
const SQLITE_UP: &[&str] = &[
    "CREATE TRIGGER memberships_named AFTER INSERT ON memberships
    BEGIN
        UPDATE memberships
        SET username = COALESCE((SELECT username FROM users WHERE id = NEW.user_id), '')
        WHERE id = NEW.id;
    END",
    "CREATE TRIGGER memberships_renamed AFTER UPDATE ON memberships
    WHEN NEW.username IS NOT COALESCE((SELECT username FROM users WHERE id = NEW.user_id), '')
    BEGIN
        UPDATE memberships
        SET username = COALESCE((SELECT username FROM users WHERE id = NEW.user_id), '')
        WHERE id = NEW.id;
    END",
    "CREATE TRIGGER users_member_renamed AFTER UPDATE OF username ON users
    WHEN OLD.username IS NOT NEW.username
    BEGIN
        UPDATE memberships SET username = NEW.username WHERE user_id = NEW.id;
    END",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER users_member_renamed",
    "DROP TRIGGER memberships_renamed",
    "DROP TRIGGER memberships_named",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Memberships::Table)
                    .add_column(
                        ColumnDef::new(Memberships::Username)
                            .string()
                            .not_null()
                            .default(""),
                    )
                    .to_owned(),
            )
            .await?;
        // The triggers first: a username changed by a replica still on the
        // previous release while the backfill runs is then copied by its
        // trigger or waits for the backfill, and never missed.
        crate::execute_on_each(manager, POSTGRES_UP, SQLITE_UP).await?;
        manager
            .get_connection()
            .execute_unprepared(BACKFILL)
            .await?;
        // A members page: the organisation's members by username, then id.
        manager
            .create_index(
                Index::create()
                    .name("ix_memberships_organization_username")
                    .table(Memberships::Table)
                    .col(Memberships::OrganizationId)
                    .col(Memberships::Username)
                    .col(Memberships::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_memberships_organization_username")
                    .table(Memberships::Table)
                    .to_owned(),
            )
            .await?;
        crate::execute_on_each(manager, POSTGRES_DOWN, SQLITE_DOWN).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Memberships::Table)
                    .drop_column(Memberships::Username)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Memberships {
    Table,
    Username,
    OrganizationId,
    UserId,
}
