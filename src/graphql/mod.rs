//! The GraphQL schema: per-domain roots merged with `MergedObject`, the query
//! limits, and the extension that gives every error a contract code.

pub mod accounts;
pub mod admin;
pub mod api_keys;
pub mod audit;
pub mod directory;
pub mod guard;
pub mod inputs;
pub mod invitations;
pub mod live;
pub mod loaders;
pub mod mfa;
pub mod nodes;
pub mod recovery;
mod request;
pub mod roles;
pub mod sessions;
pub mod tiers;
pub mod types;
pub mod webhooks;

use std::sync::Arc;

use async_graphql::{Context, MergedObject, Schema, SchemaBuilder};

use crate::{config::Config, service::AppContext};

pub(crate) use request::meta;
pub use request::{RequestData, execute};

/// What fields cost against `MAX_QUERY_COMPLEXITY` beyond async-graphql's
/// one per field: a root field that runs its own statements is charged for
/// them, so aliases cannot multiply statements, and a list without a page
/// size is charged as if it held `LIST_ROWS` rows, so aliases cannot
/// multiply the answer's size.
pub(crate) mod cost {
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
}

/// Reads: the caller's account, sessions, API keys and security events,
/// users, roles and tiers, and the audit trail.
#[derive(MergedObject, Default)]
pub struct Query(
    accounts::AccountQuery,
    directory::DirectoryQuery,
    sessions::SessionQuery,
    api_keys::ApiKeyQuery,
    audit::AuditQuery,
    webhooks::WebhookQuery,
    roles::RoleQuery,
    tiers::TierQuery,
    nodes::NodeQuery,
);

/// Writes: sign-up and sign-in, the caller's account, administration,
/// recovery and invitations, the second factor and API keys, roles and tiers.
#[derive(MergedObject, Default)]
pub struct Mutation(
    accounts::AccountMutation,
    sessions::SessionMutation,
    admin::AdminMutation,
    recovery::RecoveryMutation,
    invitations::InvitationMutation,
    mfa::MfaMutation,
    api_keys::ApiKeyMutation,
    webhooks::WebhookMutation,
    roles::RoleMutation,
    tiers::TierMutation,
);

pub type AppSchema = Schema<Query, Mutation, live::Subscription>;

/// The schema's shape with no runtime data: used for the SDL and by `build_schema`.
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, live::Subscription> {
    Schema::build(Query::default(), Mutation::default(), live::Subscription)
}

/// The SDL committed as `schema.graphql`.
pub fn sdl() -> String {
    schema_builder().finish().sdl_with_options(
        async_graphql::SDLExportOptions::new()
            .include_specified_by()
            .sorted_fields()
            .sorted_enum_items(),
    )
}

/// The served schema, with the configured limits and the shared context.
pub fn build_schema(ctx: Arc<AppContext>, config: &Config) -> AppSchema {
    let builder = schema_builder()
        .limit_depth(config.max_query_depth)
        .limit_complexity(config.max_query_complexity);
    finish_schema(builder, ctx, config)
}

/// The same schema without the depth and complexity limits, for queries that
/// select only introspection fields: the standard introspection query nests
/// 15 levels deep, and tools cannot shorten it. Its size is still bounded by
/// `MAX_QUERY_NODES` and by introspection's own bounds before it runs
/// (http/guardrails.rs, http/introspection.rs).
pub fn build_introspection_schema(ctx: Arc<AppContext>, config: &Config) -> AppSchema {
    finish_schema(schema_builder(), ctx, config)
}

fn finish_schema(
    builder: SchemaBuilder<Query, Mutation, live::Subscription>,
    ctx: Arc<AppContext>,
    config: &Config,
) -> AppSchema {
    // No extensions: each one adds a boxed step to every field's resolution.
    // Requests are traced by the HTTP layer's span, and the guardrails run in
    // the handler (http/guardrails.rs).
    let mut builder = builder
        .data(ctx)
        .limit_directives(config.max_query_directives)
        .limit_recursive_depth(config.max_recursive_depth);
    if !config.introspection {
        // Suggestions ("Did you mean …") would reveal the schema anyway.
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder.finish()
}

/// The shared context of the request.
pub(crate) fn app<'a>(ctx: &'a Context<'_>) -> &'a AppContext {
    shared(ctx)
}

/// The shared context as its `Arc`, for work that outlives the request.
pub(crate) fn shared<'a>(ctx: &'a Context<'_>) -> &'a Arc<AppContext> {
    ctx.data_unchecked::<Arc<AppContext>>()
}
