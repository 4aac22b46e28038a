//! Which columns a page reads, and reading rows back by position.

use entity::{FromPosition, Repeated, tier, user};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, Iterable, JoinType, QueryFilter, QueryResult,
    QuerySelect, QueryTrait, RelationTrait, Select,
};
use uuid::Uuid;

use crate::error::Result;

/// The columns a page reads. A page of 50 users that shows four fields
/// need not read 26 columns: the read and decoding of the rest was a fifth of
/// Q1's cost (BENCHMARKS.md). The id and the sort keys are always read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Projection {
    /// Positions among `user::Column::iter()`, ascending.
    positions: Vec<usize>,
    /// Whether the page joins each user's tier, which saves the page a
    /// statement of its own (BENCHMARKS.md).
    tiers: bool,
}

impl Projection {
    /// `columns`, plus the id.
    pub fn of(columns: impl IntoIterator<Item = user::Column>) -> Self {
        let mut projection = Self {
            positions: Vec::new(),
            tiers: false,
        };
        projection.add(user::Column::Id);
        for column in columns {
            projection.add(column);
        }
        projection
    }

    /// The same columns, with each user's tier.
    pub fn with_tiers(mut self) -> Self {
        self.tiers = true;
        self
    }

    /// The same columns and `column`.
    pub fn with(mut self, column: user::Column) -> Self {
        self.add(column);
        self
    }

    /// What this and `other` read together.
    pub fn union(mut self, other: &Projection) -> Self {
        for &position in &other.positions {
            self.insert(position);
        }
        self.tiers |= other.tiers;
        self
    }

    pub(super) fn add(&mut self, column: user::Column) {
        // Variants are declared, and iterated, in column order.
        self.insert(column as usize);
    }

    fn insert(&mut self, position: usize) {
        if let Err(at) = self.positions.binary_search(&position) {
            self.positions.insert(at, position);
        }
    }

    fn columns(&self) -> impl Iterator<Item = user::Column> + '_ {
        user::Column::iter().filter(|&c| self.positions.binary_search(&(c as usize)).is_ok())
    }

    /// The projected columns of users, joined with their tiers when asked.
    pub(super) fn select(&self) -> Select<user::Entity> {
        let select = user::Entity::find().select_only().columns(self.columns());
        if self.tiers {
            select
                .join(JoinType::LeftJoin, user::Relation::Tier.def())
                .columns(tier::Column::iter())
        } else {
            select
        }
    }

    /// A row of `select`, read by position (see `entity::FromPosition`).
    /// Tiers repeat over a page's rows; `tiers` decodes each once.
    fn decode(
        &self,
        row: &QueryResult,
        tiers: &mut Repeated<tier::Model>,
    ) -> std::result::Result<Projected, DbErr> {
        let mut user = user::Model::blank();
        for (at, &column) in self.positions.iter().enumerate() {
            user.set_column(column, row, at)?;
        }
        let tier = if self.tiers {
            Some(tiers.read(row, self.positions.len())?)
        } else {
            None
        };
        Ok(Projected { user, tier })
    }
}

/// A user read through a `Projection`.
#[derive(Debug, Clone)]
pub struct Projected {
    /// Only the projected fields are read; the others are blank.
    pub user: user::Model,
    /// The user's tier (`Some(None)` when the user has none), or `None` when
    /// the projection does not join tiers.
    pub tier: Option<Option<tier::Model>>,
}

/// The users with `ids` that exist, through `projection`, in one statement.
pub async fn by_ids(
    conn: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = Uuid>,
    projection: &Projection,
) -> Result<Vec<Projected>> {
    let select = projection.select().filter(user::Column::Id.is_in(ids));
    fetch(conn, projection, select).await
}

/// The rows of `select`, a `projection.select()`.
pub(super) async fn fetch(
    conn: &impl ConnectionTrait,
    projection: &Projection,
    select: Select<user::Entity>,
) -> Result<Vec<Projected>> {
    let rows = conn.query_all(&select.into_query()).await?;
    let mut tiers = Repeated::default();
    Ok(rows
        .iter()
        .map(|row| projection.decode(row, &mut tiers))
        .collect::<std::result::Result<_, _>>()?)
}
