//! Security controls, one module per area (see SECURITY.md for the map from
//! each control to the test that proves it).

mod credentials;
pub mod faults;
mod graphql;
