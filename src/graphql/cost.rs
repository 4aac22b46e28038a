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
