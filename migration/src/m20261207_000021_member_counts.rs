//! An organisation's head count, kept by the database (#34): the number of
//! its members who are not soft-deleted, which is what a `users` count
//! filtered by that organisation alone answers. Counting an organisation of
//! 100,000 members took 28x a first page at 1M users however it was planned
//! (BENCHMARKS.md, C1-org); reading one column is a first page's cost.
//!
//! Triggers keep it, not the service, so that no path can miss it: a join,
//! a removal, a soft delete or restore, an erasure, a permanent deletion
//! (whose cascade would otherwise run after its user is gone), an import, or
//! an operator's own SQL, `TRUNCATE` included. A membership cannot move to
//! another user or organisation (the triggers refuse it: delete it and add
//! another). SQLite's `INSERT OR REPLACE` is the one statement that
//! miscounts: it deletes the row it replaces without the delete triggers.
//!
//! On PostgreSQL a membership added or removed locks its user's row
//! (`FOR SHARE`) before it is counted, so it and a concurrent soft delete of
//! that user take turns and agree on whether it counts; the organisation's
//! row lock orders concurrent joins. A change to a user's deletion locks the
//! user's organisations before the user (`memberships::lock_organizations_of`),
//! as a member change does, so the two cannot deadlock. A user's soft delete
//! is counted per row: one statement soft-deleting many members of one
//! organisation updates its row once for each. The functions carry the
//! `search_path` they were made with, as a restore runs with none.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const BACKFILL: &str = "UPDATE organizations SET member_count = (
    SELECT COUNT(*) FROM memberships JOIN users ON users.id = memberships.user_id
    WHERE memberships.organization_id = organizations.id AND users.deleted_at IS NULL)";

// A membership's triggers run once per statement, over its rows: one
// statement adding 100,000 members (an import, an operator's SQL) updates
// its organisation's row once. Per row it would make 100,000 versions of
// that row in one transaction, each found by walking the ones before it.
const POSTGRES_UP: &[&str] = &[
    "CREATE FUNCTION usergraph_count_memberships() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
        -- Wait out any concurrent change to these users' deletion (in id
        -- order, as two statements' locks must be); the next statement then
        -- counts those still live.
        PERFORM 1 FROM users WHERE id IN (SELECT user_id FROM changed) ORDER BY id FOR SHARE;
        UPDATE organizations
        SET member_count = member_count
            + counted.n * CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END
        FROM (
            SELECT changed.organization_id, COUNT(*) AS n
            FROM changed JOIN users ON users.id = changed.user_id
            WHERE users.deleted_at IS NULL
            GROUP BY changed.organization_id
        ) AS counted
        WHERE organizations.id = counted.organization_id;
        RETURN NULL;
    END $$",
    "CREATE TRIGGER memberships_counted_in AFTER INSERT ON memberships
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION usergraph_count_memberships()",
    "CREATE TRIGGER memberships_counted_out AFTER DELETE ON memberships
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION usergraph_count_memberships()",
    "CREATE FUNCTION usergraph_count_member_deletion() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
        IF TG_OP = 'DELETE' THEN
            DELETE FROM memberships WHERE user_id = OLD.id;
            RETURN OLD;
        END IF;
        UPDATE organizations
        SET member_count = member_count + CASE WHEN NEW.deleted_at IS NULL THEN 1 ELSE -1 END
        WHERE id IN (SELECT organization_id FROM memberships WHERE user_id = NEW.id);
        RETURN NEW;
    END $$",
    "CREATE TRIGGER users_member_removed BEFORE DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION usergraph_count_member_deletion()",
    "CREATE TRIGGER users_member_counted AFTER UPDATE OF deleted_at ON users
    FOR EACH ROW WHEN ((OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL))
    EXECUTE FUNCTION usergraph_count_member_deletion()",
    "CREATE FUNCTION usergraph_memberships_emptied() RETURNS trigger LANGUAGE plpgsql
    SET search_path FROM CURRENT AS $$
    BEGIN
        UPDATE organizations SET member_count = 0 WHERE member_count <> 0;
        RETURN NULL;
    END $$",
    "CREATE TRIGGER memberships_emptied AFTER TRUNCATE ON memberships
    FOR EACH STATEMENT EXECUTE FUNCTION usergraph_memberships_emptied()",
    "CREATE FUNCTION usergraph_membership_stays() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'a membership does not move: delete it and add another';
    END $$",
    "CREATE TRIGGER memberships_stay BEFORE UPDATE OF organization_id, user_id ON memberships
    FOR EACH ROW WHEN (OLD.organization_id <> NEW.organization_id OR OLD.user_id <> NEW.user_id)
    EXECUTE FUNCTION usergraph_membership_stays()",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP TRIGGER memberships_stay ON memberships",
    "DROP FUNCTION usergraph_membership_stays()",
    "DROP TRIGGER memberships_emptied ON memberships",
    "DROP FUNCTION usergraph_memberships_emptied()",
    "DROP TRIGGER users_member_counted ON users",
    "DROP TRIGGER users_member_removed ON users",
    "DROP FUNCTION usergraph_count_member_deletion()",
    "DROP TRIGGER memberships_counted_out ON memberships",
    "DROP TRIGGER memberships_counted_in ON memberships",
    "DROP FUNCTION usergraph_count_memberships()",
];

// SQLite runs one writer at a time, so the triggers need no locks, and
// has no TRUNCATE.
const SQLITE_UP: &[&str] = &[
    "CREATE TRIGGER memberships_counted_in AFTER INSERT ON memberships
    WHEN EXISTS (SELECT 1 FROM users WHERE id = NEW.user_id AND deleted_at IS NULL)
    BEGIN
        UPDATE organizations SET member_count = member_count + 1 WHERE id = NEW.organization_id;
    END",
    "CREATE TRIGGER memberships_counted_out AFTER DELETE ON memberships
    WHEN EXISTS (SELECT 1 FROM users WHERE id = OLD.user_id AND deleted_at IS NULL)
    BEGIN
        UPDATE organizations SET member_count = member_count - 1 WHERE id = OLD.organization_id;
    END",
    "CREATE TRIGGER users_member_removed BEFORE DELETE ON users
    BEGIN
        DELETE FROM memberships WHERE user_id = OLD.id;
    END",
    "CREATE TRIGGER users_member_counted AFTER UPDATE OF deleted_at ON users
    WHEN (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)
    BEGIN
        UPDATE organizations
        SET member_count = member_count + CASE WHEN NEW.deleted_at IS NULL THEN 1 ELSE -1 END
        WHERE id IN (SELECT organization_id FROM memberships WHERE user_id = NEW.id);
    END",
    "CREATE TRIGGER memberships_stay BEFORE UPDATE OF organization_id, user_id ON memberships
    WHEN OLD.organization_id <> NEW.organization_id OR OLD.user_id <> NEW.user_id
    BEGIN
        SELECT RAISE(ABORT, 'a membership does not move: delete it and add another');
    END",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER memberships_stay",
    "DROP TRIGGER users_member_counted",
    "DROP TRIGGER users_member_removed",
    "DROP TRIGGER memberships_counted_out",
    "DROP TRIGGER memberships_counted_in",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .add_column(
                        ColumnDef::new(Organizations::MemberCount)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        crate::execute_on_each(manager, POSTGRES_UP, SQLITE_UP).await?;
        manager
            .get_connection()
            .execute_unprepared(BACKFILL)
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::execute_on_each(manager, POSTGRES_DOWN, SQLITE_DOWN).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Organizations::Table)
                    .drop_column(Organizations::MemberCount)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Organizations {
    Table,
    MemberCount,
}
