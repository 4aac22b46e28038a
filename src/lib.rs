//! usergraph: a GraphQL user-management service. The binary is a thin shim over
//! this library; tests build the same app through `app::build_on`. The
//! layers and the rules between them: docs/architecture.md.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod graphql;
pub mod http;
pub mod ids;
pub mod mail;
pub mod metrics;
pub mod service;
pub mod telemetry;
pub mod validation;
pub mod worker;
