//! The `org_roles` table: what members may do inside an organisation.
//! Built-in roles (`owner`, `admin`, `member`) have no organisation.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "org_roles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Null for a built-in role.
    pub organization_id: Option<Uuid>,
    pub name: String,
    pub description: Option<String>,
    /// A JSON array of `OrgPermission` names.
    #[sea_orm(column_type = "Text")]
    pub permissions: String,
    pub is_builtin: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Model {
    /// The permission names stored, in order.
    pub fn permission_names(&self) -> Vec<String> {
        serde_json::from_str(&self.permissions).unwrap_or_default()
    }
}
