//! Which columns a page reads, and reading rows back by position.

use entity::{FromPosition, Repeated, membership, org_role, role, tier, user};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, Iterable, JoinType, QueryFilter,
    QueryResult, QuerySelect, QueryTrait, RelationTrait, Select,
    sea_query::{Alias, Expr},
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
    /// Whether each row carries its user's roles, aggregated in the page's
    /// statement, which saves the page the roles' statement (BENCHMARKS.md),
    /// and how much of each role.
    roles: Option<RoleColumns>,
    /// Whether each row carries its membership's id and joining time, on a
    /// members page, which joins the memberships anyway (`page::read`): the
    /// page then needs no statement of its own for them.
    memberships: bool,
    /// Whether a members page's rows carry their memberships' org roles,
    /// aggregated in the page's statement as a users page carries its
    /// users' roles: the page then needs no statement for them either.
    member_roles: bool,
}

/// How much of each role a page carries. Most pages show only the roles'
/// names, and carrying every role whole as JSON on every row was most of
/// what a page cost the database beyond the hand-written baseline
/// (BENCHMARKS.md). Ordered: the union of two projections reads the more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoleColumns {
    /// The id and the name; the rest of each `role::Model` is blank.
    Names,
    /// Every column.
    Whole,
}

impl Projection {
    /// `columns`, plus the id.
    pub fn of(columns: impl IntoIterator<Item = user::Column>) -> Self {
        let mut projection = Self {
            positions: Vec::new(),
            tiers: false,
            roles: None,
            memberships: false,
            member_roles: false,
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

    /// The same columns, with each user's roles read as far as `columns`.
    pub fn with_roles(mut self, columns: RoleColumns) -> Self {
        self.roles = self.roles.max(Some(columns));
        self
    }

    /// The same columns, and on a members page each membership's org roles
    /// (`Projected::member_roles`); any other page ignores it.
    pub fn with_member_roles(mut self) -> Self {
        self.member_roles = true;
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
        self.roles = self.roles.max(other.roles);
        // Not `memberships`: only `page::read` joins them, on its own copy.
        self.member_roles |= other.member_roles;
        self
    }

    /// The same columns, with each row's membership (`Projected::membership`),
    /// for a page joined to an organisation's memberships.
    pub(super) fn with_memberships(mut self) -> Self {
        self.memberships = true;
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

    /// The projected columns of users, joined with their tiers and carrying
    /// their roles when asked.
    pub(super) fn select(&self, backend: DbBackend) -> Select<user::Entity> {
        let mut select = user::Entity::find().select_only().columns(self.columns());
        if self.tiers {
            select = select
                .join(JoinType::LeftJoin, user::Relation::Tier.def())
                .columns(tier::Column::iter());
        }
        if let Some(columns) = self.roles {
            select = select.expr(Expr::cust(roles_of_row(backend, columns)));
        }
        if self.memberships {
            select = select.columns(MEMBERSHIP_COLUMNS).expr(Expr::col((
                membership::Entity,
                Alias::new(super::cursor::MEMBER_USERNAME),
            )));
            if self.member_roles {
                select = select.expr(Expr::cust(member_roles_of_row(backend)));
            }
        }
        select
    }

    /// A row of `select`, read by position (see `entity::FromPosition`).
    /// Tiers repeat over a page's rows; `tiers` decodes each once.
    fn decode(&self, row: &QueryResult, seen: &mut Seen) -> std::result::Result<Projected, DbErr> {
        let mut user = user::Model::blank();
        for (at, &column) in self.positions.iter().enumerate() {
            user.set_column(column, row, at)?;
        }
        let mut at = self.positions.len();
        let tier = if self.tiers {
            at += tier::Model::WIDTH;
            Some(seen.tiers.read(row, self.positions.len())?)
        } else {
            None
        };
        let roles = if let Some(columns) = self.roles {
            let raw = row.try_get_by_index::<String>(at)?;
            at += 1;
            Some(match seen.role_sets.get(&raw) {
                Some(roles) => roles.clone(),
                None => {
                    let roles = decode_roles(&raw, columns)?;
                    seen.role_sets.insert(raw, roles.clone());
                    roles
                }
            })
        } else {
            None
        };
        let membership = if self.memberships {
            let model = membership::Model {
                id: row.try_get_by_index(at)?,
                organization_id: row.try_get_by_index(at + 1)?,
                user_id: user.id,
                joined_at: row.try_get_by_index(at + 2)?,
            };
            let listed_as = row.try_get_by_index(at + MEMBERSHIP_COLUMNS.len())?;
            let roles = if self.member_roles {
                let raw = row.try_get_by_index::<String>(at + MEMBERSHIP_COLUMNS.len() + 1)?;
                Some(match seen.org_role_sets.get(&raw) {
                    Some(roles) => roles.clone(),
                    None => {
                        let roles = decode_org_roles(&raw)?;
                        seen.org_role_sets.insert(raw, roles.clone());
                        roles
                    }
                })
            } else {
                None
            };
            Some(Member {
                model,
                listed_as,
                roles,
            })
        } else {
            None
        };
        Ok(Projected {
            user,
            tier,
            roles,
            membership,
        })
    }
}

/// The row's user's roles as one JSON array of `[id, name]` arrays, or
/// of `[id, name, description, permissions, is_builtin, created_at]` ones:
/// a correlated subquery on `user_roles`' primary key, so a page reads its
/// roles in its own statement.
fn roles_of_row(backend: DbBackend, columns: RoleColumns) -> &'static str {
    match (backend, columns) {
        (DbBackend::Postgres, RoleColumns::Names) => {
            "(SELECT COALESCE(json_agg(json_build_array(r.id, r.name)), '[]')::text \
             FROM user_roles ur JOIN roles r ON r.id = ur.role_id \
             WHERE ur.user_id = \"users\".\"id\")"
        }
        (DbBackend::Postgres, RoleColumns::Whole) => {
            "(SELECT COALESCE(json_agg(json_build_array(r.id, r.name, r.description, \
             r.permissions, r.is_builtin, r.created_at)), '[]')::text FROM user_roles ur \
             JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = \"users\".\"id\")"
        }
        // SQLite keeps UUIDs as blobs, which JSON cannot hold.
        (_, RoleColumns::Names) => {
            "(SELECT json_group_array(json_array(lower(hex(r.id)), r.name)) \
             FROM user_roles ur JOIN roles r ON r.id = ur.role_id \
             WHERE ur.user_id = \"users\".\"id\")"
        }
        (_, RoleColumns::Whole) => {
            "(SELECT json_group_array(json_array(lower(hex(r.id)), r.name, r.description, \
             r.permissions, r.is_builtin, r.created_at)) FROM user_roles ur \
             JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = \"users\".\"id\")"
        }
    }
}

/// The roles `roles_of_row` aggregated, ordered by name as everywhere else.
fn decode_roles(raw: &str, columns: RoleColumns) -> std::result::Result<Vec<role::Model>, DbErr> {
    type Whole = (
        String,
        String,
        Option<String>,
        String,
        serde_json::Value,
        String,
    );
    let bad = |what: &str| DbErr::Type(format!("aggregated roles: {what}"));
    let id = |id: &str| Uuid::try_parse(id).map_err(|_| bad("id"));
    let mut roles = match columns {
        RoleColumns::Names => {
            let rows: Vec<(String, String)> =
                serde_json::from_str(raw).map_err(|e| bad(&e.to_string()))?;
            rows.into_iter()
                .map(|(role_id, name)| {
                    Ok(role::Model {
                        id: id(&role_id)?,
                        name,
                        description: None,
                        permissions: "[]".to_owned(),
                        is_builtin: false,
                        created_at: chrono::DateTime::UNIX_EPOCH,
                    })
                })
                .collect::<std::result::Result<Vec<_>, DbErr>>()?
        }
        RoleColumns::Whole => {
            let rows: Vec<Whole> = serde_json::from_str(raw).map_err(|e| bad(&e.to_string()))?;
            rows.into_iter()
                .map(
                    |(role_id, name, description, permissions, builtin, created_at)| {
                        Ok(role::Model {
                            id: id(&role_id)?,
                            name,
                            description,
                            permissions,
                            is_builtin: is_true(&builtin),
                            created_at: timestamp(&created_at).ok_or_else(|| bad("created_at"))?,
                        })
                    },
                )
                .collect::<std::result::Result<Vec<_>, DbErr>>()?
        }
    };
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(roles)
}

/// The row's membership's org roles as one JSON array of `[id,
/// organization_id, name, description, permissions, is_builtin,
/// created_at]` arrays: a correlated subquery on `membership_roles`'
/// primary key, as `roles_of_row` reads a user's roles.
fn member_roles_of_row(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => {
            "(SELECT COALESCE(json_agg(json_build_array(r.id, r.organization_id, r.name, \
             r.description, r.permissions, r.is_builtin, r.created_at)), '[]')::text \
             FROM membership_roles mr JOIN org_roles r ON r.id = mr.org_role_id \
             WHERE mr.membership_id = \"memberships\".\"id\")"
        }
        // SQLite keeps UUIDs as blobs, which JSON cannot hold (a null
        // one's hex is empty).
        _ => {
            "(SELECT json_group_array(json_array(lower(hex(r.id)), lower(hex(r.organization_id)), \
             r.name, r.description, r.permissions, r.is_builtin, r.created_at)) \
             FROM membership_roles mr JOIN org_roles r ON r.id = mr.org_role_id \
             WHERE mr.membership_id = \"memberships\".\"id\")"
        }
    }
}

/// The org roles `member_roles_of_row` aggregated, ordered by name as
/// everywhere else.
fn decode_org_roles(raw: &str) -> std::result::Result<Vec<org_role::Model>, DbErr> {
    type Row = (
        String,
        Option<String>,
        String,
        Option<String>,
        String,
        serde_json::Value,
        String,
    );
    let bad = |what: &str| DbErr::Type(format!("aggregated org roles: {what}"));
    let id = |id: &str| Uuid::try_parse(id).map_err(|_| bad("id"));
    let rows: Vec<Row> = serde_json::from_str(raw).map_err(|e| bad(&e.to_string()))?;
    let mut roles = rows
        .into_iter()
        .map(
            |(role_id, organization, name, description, permissions, builtin, created_at)| {
                Ok(org_role::Model {
                    id: id(&role_id)?,
                    organization_id: organization
                        .filter(|o| !o.is_empty())
                        .map(|o| id(&o))
                        .transpose()?,
                    name,
                    description,
                    permissions,
                    is_builtin: is_true(&builtin),
                    created_at: timestamp(&created_at).ok_or_else(|| bad("created_at"))?,
                })
            },
        )
        .collect::<std::result::Result<Vec<_>, DbErr>>()?;
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(roles)
}

/// A boolean in aggregated JSON: `true` on PostgreSQL, 1 on SQLite.
fn is_true(value: &serde_json::Value) -> bool {
    value.as_bool().unwrap_or(value.as_i64() == Some(1))
}

/// A timestamp in aggregated JSON, as either database writes it.
fn timestamp(raw: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// What a page's rows repeat, decoded once per page: tiers, and sets of
/// roles (most users of a page hold the same few sets, which arrive as the
/// same text; decoding each row's was a tenth of Q1's CPU).
#[derive(Default)]
struct Seen {
    tiers: Repeated<tier::Model>,
    role_sets: std::collections::HashMap<String, Vec<role::Model>>,
    org_role_sets: std::collections::HashMap<String, Vec<org_role::Model>>,
}

/// A user read through a `Projection`.
#[derive(Debug, Clone)]
pub struct Projected {
    /// Only the projected fields are read; the others are blank.
    pub user: user::Model,
    /// The user's tier (`Some(None)` when the user has none), or `None` when
    /// the projection does not join tiers.
    pub tier: Option<Option<tier::Model>>,
    /// The user's roles by name, or `None` when the projection does not
    /// carry them.
    pub roles: Option<Vec<role::Model>>,
    /// The user's membership of the organisation whose members the page
    /// lists, or `None` on any other page.
    pub membership: Option<Member>,
}

/// A row's membership on a members page.
#[derive(Debug, Clone)]
pub struct Member {
    pub model: membership::Model,
    /// The membership's copy of the username, which the page is ordered
    /// by: its cursors are made from it (`encode_member_cursor`).
    pub listed_as: String,
    /// The membership's org roles by name, when the projection asked for
    /// them (`Projection::with_member_roles`).
    pub roles: Option<Vec<org_role::Model>>,
}

/// What a members page reads of each membership, in this order.
const MEMBERSHIP_COLUMNS: [membership::Column; 3] = [
    membership::Column::Id,
    membership::Column::OrganizationId,
    membership::Column::JoinedAt,
];

/// The users with `ids` that exist, through `projection`, in one statement.
pub async fn by_ids(
    conn: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = Uuid>,
    projection: &Projection,
) -> Result<Vec<Projected>> {
    let select = projection
        .select(conn.get_database_backend())
        .filter(user::Column::Id.is_in(ids));
    fetch(conn, projection, select, None).await
}

/// The rows of `select`, a `projection.select()`, at most `limit` of them.
pub(super) async fn fetch(
    conn: &impl ConnectionTrait,
    projection: &Projection,
    select: Select<user::Entity>,
    limit: Option<u64>,
) -> Result<Vec<Projected>> {
    let backend = conn.get_database_backend();
    let statement = match limit {
        Some(limit) => crate::service::limited(select, backend, limit),
        None => backend.build(&select.into_query()),
    };
    let rows = conn.query_all_raw(statement).await?;
    let mut seen = Seen::default();
    Ok(rows
        .iter()
        .map(|row| projection.decode(row, &mut seen))
        .collect::<std::result::Result<_, _>>()?)
}
