//! Storage models for usergraph: one SeaORM entity per table. These types never
//! reach the API; the GraphQL layer builds its own types from them, so columns
//! such as `password_hash` cannot be exposed by accident.

use std::collections::HashMap;

use sea_orm::{DbErr, FromQueryResult, QueryResult, prelude::Uuid};

pub mod account_token;
pub mod api_key;
pub mod audit_event;
pub mod external_identity;
pub mod external_signin;
pub mod membership;
pub mod membership_role;
pub mod org_role;
pub mod organization;
pub mod organization_invitation;
pub mod outbox;
pub mod passkey;
pub mod passkey_challenge;
pub mod rate_limit;
pub mod recovery_code;
pub mod role;
pub mod session;
pub mod sign_in_code;
pub mod signing_key;
pub mod tier;
pub mod totp_factor;
pub mod user;
pub mod user_role;
pub mod webhook;
pub mod webhook_delivery;

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

/// Reads a model that a join repeats (one role on the row of every holder,
/// one tier on the row of every user in it) once per id, and clones it after:
/// decoding a column costs several times copying it, and decoding the
/// repeats was 7% of a page's work (BENCHMARKS.md, step 13). The model's first
/// column must be its `Uuid` key, as it is for roles and tiers.
pub struct Repeated<M> {
    seen: HashMap<Uuid, M>,
}

impl<M> Default for Repeated<M> {
    fn default() -> Self {
        Self {
            seen: HashMap::new(),
        }
    }
}

impl<M: FromPosition + Clone> Repeated<M> {
    /// The model in the columns from `start`, or `None` when its key is NULL
    /// (an outer join that found nothing).
    pub fn read(&mut self, row: &QueryResult, start: usize) -> Result<Option<M>, DbErr> {
        let Some(id) = row.try_get_by_index::<Option<Uuid>>(start)? else {
            return Ok(None);
        };
        if let Some(model) = self.seen.get(&id) {
            return Ok(Some(model.clone()));
        }
        let model = M::from_position(row, start)?;
        self.seen.insert(id, model.clone());
        Ok(Some(model))
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
