//! The `organizations` table: a company users belong to (#32).
//!
//! The table also has `member_count`, its members who are not soft-deleted,
//! which the database's triggers keep (migration `m20261207_000021`) and
//! only the directory's count reads. The model leaves it out on purpose: a
//! model written back whole would overwrite a concurrent join's count.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organizations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    /// Unique, lower case: `acme-corp`.
    #[sea_orm(unique)]
    pub slug: String,
    pub metadata: Json,
    pub tier_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
