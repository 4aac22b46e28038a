//! Storage models for usergraph: one SeaORM entity per table. These types never
//! reach the API; the GraphQL layer builds its own types from them, so columns
//! such as `password_hash` cannot be exposed by accident.

use sea_orm::{DbErr, FromQueryResult, QueryResult};

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

/// A model whose columns can be read by their position in a `SELECT`, the
/// order `Entity::find()` lists them in. Reading by name looks every column up
/// in a map, and SeaORM formats a string for every NULL it reads; on a page of
/// users that was the largest single cost after the database (BENCHMARKS.md).
pub trait FromPosition: Sized {
    /// How many columns the model spans.
    const WIDTH: usize;
    /// The model from the columns `start..start + WIDTH` of `row`.
    fn from_position(row: &QueryResult, start: usize) -> Result<Self, DbErr>;
    /// Sets the field of the entity's `column`-th column from `row`'s value
    /// at position `at`, for reads that select only some columns.
    fn set_column(&mut self, column: usize, row: &QueryResult, at: usize) -> Result<(), DbErr>;
    /// The field names in column order, for the test that keeps them in step
    /// with the entity's columns (in the root crate, so `cargo test` runs it).
    fn field_names() -> &'static [&'static str];
}

/// Wraps a model to decode it by position through `Select::into_model`.
pub struct ByPosition<M>(pub M);

impl<M: FromPosition + Send + Sync> FromQueryResult for ByPosition<M> {
    fn from_query_result(row: &QueryResult, _prefix: &str) -> Result<Self, DbErr> {
        M::from_position(row, 0).map(Self)
    }
}

/// Implements `FromPosition` for an entity's `Model`; the fields must be
/// listed in the order they are declared, which a test checks.
macro_rules! from_position {
    ($($field:ident),+ $(,)?) => {
        impl $crate::FromPosition for Model {
            const WIDTH: usize = [$(stringify!($field)),+].len();

            fn from_position(
                row: &sea_orm::QueryResult,
                start: usize,
            ) -> Result<Self, sea_orm::DbErr> {
                let mut at = start;
                let mut next = || {
                    at += 1;
                    at - 1
                };
                Ok(Self {
                    $($field: row.try_get_by_index(next())?,)+
                })
            }

            fn set_column(
                &mut self,
                column: usize,
                row: &sea_orm::QueryResult,
                at: usize,
            ) -> Result<(), sea_orm::DbErr> {
                type Setter = fn(&mut Model, &sea_orm::QueryResult, usize) -> Result<(), sea_orm::DbErr>;
                const SETTERS: &[Setter] = &[$(|model, row, at| {
                    model.$field = row.try_get_by_index(at)?;
                    Ok(())
                }),+];
                SETTERS[column](self, row, at)
            }

            fn field_names() -> &'static [&'static str] {
                &[$(stringify!($field)),+]
            }
        }
    };
}
pub(crate) use from_position;
