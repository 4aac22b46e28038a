//! What fields cost against `MAX_QUERY_COMPLEXITY` beyond async-graphql's
//! one per field: a root field that runs its own statements is charged for
//! them, so aliases cannot multiply statements, and a list without a page
//! size is charged as if it held `LIST_ROWS` rows, so aliases cannot
//! multiply the answer's size.

/// A field that runs its own SQL statement, in fields' worth.
pub const STATEMENT: usize = 50;
/// The rows a list with no page size is assumed to hold.
pub const LIST_ROWS: usize = 20;

/// A lookup of one row by key (batched or not).
pub fn lookup(child_complexity: usize) -> usize {
    STATEMENT.saturating_add(child_complexity)
}

/// A list read in one statement, with no page size.
pub fn list(child_complexity: usize) -> usize {
    STATEMENT.saturating_add(LIST_ROWS.saturating_mul(child_complexity))
}

/// What one connection field costs against `MAX_QUERY_COMPLEXITY`: its rows'
/// selection once per row it may return (`first` or `last`, else the default
/// page; out-of-range sizes are refused by the resolver, so they are clamped
/// here), plus a fixed cost for the statements it runs, so a document cannot
/// multiply pages through aliases.
pub fn connection(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    // A page runs its statement (roles and tier included) and, when
    // `totalCount` or `totalPages` is selected, a count.
    const CONNECTION_COST: usize = 2 * STATEMENT;
    let rows = first
        .or(last)
        .map_or(crate::service::directory::DEFAULT_PAGE, |n| {
            n.clamp(0, crate::service::directory::MAX_PAGE as i32) as u64
        });
    CONNECTION_COST.saturating_add((rows as usize).saturating_mul(child_complexity))
}
