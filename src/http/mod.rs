//! The HTTP edge: the request-driven side of the service (docs/architecture.md
//! places it). The axum router (`/graphql`, GraphiQL, the console at `/admin`, `/health/*`,
//! `/metrics`, `/.well-known/*`) with its middleware, the GraphQL endpoint and its document
//! checks (guardrails, persisted and trusted documents, introspection's
//! bounds), the extractors, live sockets, and the server loop.

mod bundle;
pub mod console;
mod documents;
mod endpoint;
mod extract;
pub mod graphiql;
pub mod guardrails;
mod health;
pub mod introspection;
mod live;
mod middleware;
mod router;
mod server;
mod well_known;

pub use extract::MaybeViewer;
pub use middleware::{BODY_LIMIT_BYTES, with_middleware};
pub use router::{AppState, metrics_router, router};
pub use server::{serve_on, shutdown_signal};
