//! The GraphQL schema: per-domain roots merged with `MergedObject`, the query
//! limits, and the extension that gives every error a contract code.

pub mod admin;
pub mod auth;
pub mod connection;
pub mod loaders;
pub mod role;
pub mod tier;
pub mod types;
pub mod user;

use std::sync::Arc;

use async_graphql::{
    Context, EmptySubscription, MergedObject, Response, Schema, SchemaBuilder, ServerError,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextRequest, Tracing},
};

use crate::{
    config::Config,
    error::code,
    service::{AppContext, RequestMeta},
};

#[derive(MergedObject, Default)]
pub struct Query(
    user::UserQuery,
    user::DirectoryQuery,
    auth::AuthQuery,
    role::RoleQuery,
    tier::TierQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    auth::AuthMutation,
    user::UserMutation,
    admin::AdminMutation,
    role::RoleMutation,
    tier::TierMutation,
);

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// The schema's shape with no runtime data: used for the SDL and by `build_schema`.
pub fn schema_builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
}

/// The SDL committed as `schema.graphql`.
pub fn sdl() -> String {
    schema_builder().finish().sdl_with_options(
        async_graphql::SDLExportOptions::new()
            .sorted_fields()
            .sorted_enum_items(),
    )
}

/// The served schema, with the configured limits and the shared context.
pub fn build_schema(ctx: Arc<AppContext>, config: &Config) -> AppSchema {
    let mut builder = schema_builder()
        .data(ctx)
        .limit_depth(config.max_query_depth)
        .limit_complexity(config.max_query_complexity)
        .extension(Tracing)
        .extension(ErrorCodes);
    if !config.introspection {
        // Suggestions ("Did you mean …") would reveal the schema anyway.
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder.finish()
}

/// The shared context of the request.
pub(crate) fn app<'a>(ctx: &'a Context<'_>) -> &'a AppContext {
    ctx.data_unchecked::<Arc<AppContext>>()
}

/// Where the request came from.
pub(crate) fn meta<'a>(ctx: &'a Context<'_>) -> &'a RequestMeta {
    ctx.data_unchecked::<RequestMeta>()
}

/// Gives every error of a response a contract code. Errors from resolvers are
/// coded by `AppError`; what is left is async-graphql's own: limit violations,
/// malformed documents (before execution, so no `path`), arguments that fail to
/// coerce, and anything unexpected during execution, which is masked.
struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes)
    }
}

#[async_trait::async_trait]
impl Extension for ErrorCodes {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        for error in &mut response.errors {
            fill_code(error);
        }
        response
    }
}

fn fill_code(error: &mut ServerError) {
    if error
        .extensions
        .as_ref()
        .is_some_and(|ext| ext.get("code").is_some())
    {
        return;
    }
    let code = if is_limit_error(&error.message) {
        code::QUERY_TOO_COMPLEX
    } else if error.path.is_empty() || is_input_error(&error.message) {
        code::BAD_USER_INPUT
    } else {
        tracing::error!(message = %error.message, path = ?error.path, "uncoded error in a resolver");
        error.message = "internal server error".into();
        code::INTERNAL_SERVER_ERROR
    };
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
}

/// Argument and variable coercion failures, which async-graphql reports while
/// executing a field (so they carry a path) rather than while validating.
fn is_input_error(message: &str) -> bool {
    ["Failed to parse", "Invalid value", "Variable "]
        .iter()
        .any(|prefix| message.starts_with(prefix))
}

fn is_limit_error(message: &str) -> bool {
    [
        "Query is too complex",
        "Query is nested too deep",
        "recursion depth",
        "directives",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}
