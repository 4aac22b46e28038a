//! usergraph: a GraphQL user-management service. The binary is a thin shim over
//! this library; tests build the same router through `http::build`.

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
