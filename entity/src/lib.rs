//! Storage models for usergraph: one SeaORM entity per table. These types never
//! reach the API; the GraphQL layer builds its own types from them, so columns
//! such as `password_hash` cannot be exposed by accident.

pub mod role;
pub mod session;
pub mod tier;
pub mod user;
pub mod user_role;

pub mod prelude {
    pub use super::role::Entity as Role;
    pub use super::session::Entity as Session;
    pub use super::tier::Entity as Tier;
    pub use super::user::Entity as User;
    pub use super::user_role::Entity as UserRole;
}
