//! The committed `schema.graphql` must match the code.

#[test]
fn schema_graphql_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql");
    let current = usergraph::graphql::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &current).expect("write schema.graphql");
        return;
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == current,
        "schema.graphql is out of date; regenerate it with `UPDATE_SCHEMA=1 cargo test schema` \
         (or `cargo run -- export-schema > schema.graphql`)"
    );
}
