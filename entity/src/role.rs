//! The `roles` table. `permissions` holds a JSON array of permission names, so
//! the same column type works on SQLite and PostgreSQL.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "roles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub name: String,
    pub description: Option<String>,
    pub permissions: String,
    pub is_builtin: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::user_role::Entity")]
    UserRole,
}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        super::user_role::Relation::User.def()
    }
    fn via() -> Option<RelationDef> {
        Some(super::user_role::Relation::Role.def().rev())
    }
}

impl ActiveModelBehavior for ActiveModel {}

crate::from_position!(id, name, description, permissions, is_builtin, created_at);

impl Model {
    /// The stored permission names; unknown names are kept as strings for the
    /// caller to interpret, so an old binary never fails on a newer row.
    pub fn permission_names(&self) -> Vec<String> {
        serde_json::from_str(&self.permissions).unwrap_or_default()
    }
}
