//! Schema history for usergraph. Migrations are append-only: never edit or
//! reorder one that has shipped; add a new one. None of them imports the live
//! `entity` crate, so later entity changes cannot rewrite history.

pub use sea_orm_migration::MigrationStatus;
pub use sea_orm_migration::prelude::*;

/// Runs the statements written for the manager's database, in order: SQL
/// each database speaks its own way (triggers), which the builder has none of.
async fn execute_on_each(
    manager: &SchemaManager<'_>,
    postgres: &[&str],
    sqlite: &[&str],
) -> Result<(), DbErr> {
    let statements = match manager.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => postgres,
        _ => sqlite,
    };
    for statement in statements {
        manager
            .get_connection()
            .execute_unprepared(statement)
            .await?;
    }
    Ok(())
}

mod m20261122_000001_create_tables;
mod m20261122_000002_seed_builtin_roles;
mod m20261122_000003_user_listing;
mod m20261129_000004_rate_limits;
mod m20261130_000005_recovery;
mod m20261130_000006_mfa_api_keys;
mod m20261130_000007_audit;
mod m20261130_000008_webhooks;
mod m20261130_000009_directory;
mod m20261130_000010_search_trigrams;
mod m20261130_000011_count_indexes;
mod m20261207_000012_signing_keys;
mod m20261207_000013_external_identities;
mod m20261207_000014_sign_in_codes;
mod m20261207_000015_user_locale;
mod m20261207_000016_passkeys;
mod m20261207_000017_import_erasure;
mod m20261207_000018_organizations;
mod m20261207_000019_organization_permissions;
mod m20261207_000020_impersonation;
mod m20261207_000021_member_counts;
mod m20261207_000022_member_usernames;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_tables::Migration),
            Box::new(m20261122_000002_seed_builtin_roles::Migration),
            Box::new(m20261122_000003_user_listing::Migration),
            Box::new(m20261129_000004_rate_limits::Migration),
            Box::new(m20261130_000005_recovery::Migration),
            Box::new(m20261130_000006_mfa_api_keys::Migration),
            Box::new(m20261130_000007_audit::Migration),
            Box::new(m20261130_000008_webhooks::Migration),
            Box::new(m20261130_000009_directory::Migration),
            Box::new(m20261130_000010_search_trigrams::Migration),
            Box::new(m20261130_000011_count_indexes::Migration),
            Box::new(m20261207_000012_signing_keys::Migration),
            Box::new(m20261207_000013_external_identities::Migration),
            Box::new(m20261207_000014_sign_in_codes::Migration),
            Box::new(m20261207_000015_user_locale::Migration),
            Box::new(m20261207_000016_passkeys::Migration),
            Box::new(m20261207_000017_import_erasure::Migration),
            Box::new(m20261207_000018_organizations::Migration),
            Box::new(m20261207_000019_organization_permissions::Migration),
            Box::new(m20261207_000020_impersonation::Migration),
            Box::new(m20261207_000021_member_counts::Migration),
            Box::new(m20261207_000022_member_usernames::Migration),
        ]
    }
}
