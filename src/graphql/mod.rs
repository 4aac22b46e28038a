//! The GraphQL schema: per-domain roots merged with `MergedObject`, the
//! schema builder with its limits, and the SDL. Errors get their contract
//! codes at the HTTP edge (`http::guardrails::finish`).

pub mod accounts;
pub mod admin;
pub mod api_keys;
pub mod audit;
pub mod cost;
pub mod directory;
pub mod external;
pub mod guard;
pub mod impersonation;
pub mod imports;
pub mod inputs;
pub mod invitations;
pub mod live;
pub mod loaders;
pub mod mfa;
pub mod nodes;
pub mod organizations;
pub mod passkeys;
pub mod recovery;
pub mod request;
pub mod roles;
pub mod sessions;
pub mod sign_in_codes;
pub mod signing_keys;
pub mod tiers;
pub mod types;
pub mod webhooks;

use std::sync::Arc;

use async_graphql::{MergedObject, Schema, SchemaBuilder};

use crate::{config::Config, service::AppContext};

pub use request::RequestData;

/// Reads: the caller's account, sessions, API keys and security events,
/// users, roles and tiers, the audit trail, webhooks and signing keys.
#[derive(MergedObject, Default)]
pub struct Query(
    accounts::AccountQuery,
    external::ExternalQuery,
    passkeys::PasskeyQuery,
    directory::DirectoryQuery,
    sessions::SessionQuery,
    api_keys::ApiKeyQuery,
    audit::AuditQuery,
    webhooks::WebhookQuery,
    signing_keys::SigningKeyQuery,
    roles::RoleQuery,
    tiers::TierQuery,
    organizations::OrganizationQuery,
    nodes::NodeQuery,
);

/// Writes: sign-up and sign-in, the caller's account, administration,
/// recovery and invitations, the second factor and API keys, roles and
/// tiers, webhooks and signing keys.
#[derive(MergedObject, Default)]
pub struct Mutation(
    accounts::AccountMutation,
    external::ExternalMutation,
    passkeys::PasskeyMutation,
    sessions::SessionMutation,
    impersonation::ImpersonationMutation,
    admin::AdminMutation,
    imports::ImportMutation,
    recovery::RecoveryMutation,
    sign_in_codes::SignInCodeMutation,
    invitations::InvitationMutation,
    mfa::MfaMutation,
    api_keys::ApiKeyMutation,
    webhooks::WebhookMutation,
    signing_keys::SigningKeyMutation,
    roles::RoleMutation,
    tiers::TierMutation,
    organizations::OrganizationMutation,
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

/// Runs `request` on `schema` with the request's data.
pub async fn execute(
    schema: &AppSchema,
    request: async_graphql::Request,
    data: RequestData,
) -> async_graphql::Response {
    schema.execute(request.data(data)).await
}
