//! Indexes for counting users at scale (BENCHMARKS.md, C1): the live users'
//! ids and the deleted users' ids (partial indexes, so "deleted or not" is
//! read from an index alone: a count of a role's holders subtracts the
//! deleted ones), and role holders by role with their user ids (so a role's
//! holders are read from the index alone). The last supersedes
//! `ix_user_roles_role_id`, its prefix.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        // Partial indexes are SQL both databases speak; the builder has none.
        db.execute_unprepared(
            "CREATE INDEX ix_users_live_id ON users (id) WHERE deleted_at IS NULL",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX ix_users_deleted_id ON users (id) WHERE deleted_at IS NOT NULL",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX ix_user_roles_role_user ON user_roles (role_id, user_id)",
        )
        .await?;
        db.execute_unprepared("DROP INDEX ix_user_roles_role_id")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("CREATE INDEX ix_user_roles_role_id ON user_roles (role_id)")
            .await?;
        db.execute_unprepared("DROP INDEX ix_user_roles_role_user")
            .await?;
        db.execute_unprepared("DROP INDEX ix_users_deleted_id")
            .await?;
        db.execute_unprepared("DROP INDEX ix_users_live_id").await?;
        Ok(())
    }
}
