//! Request-level protections in one extension: at most one credential-checking
//! field per document (aliases would otherwise multiply password guesses), and
//! a contract code on every error, with anything unexpected masked.

use std::{collections::HashSet, sync::Arc};

use async_graphql::{
    Response, ServerError, ServerResult, Variables,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextRequest,
    },
    parser::types::{ExecutableDocument, Selection, SelectionSet},
};

use crate::{error::code, service::RequestMeta};

/// Fields that check a password or a refresh token.
pub const CREDENTIAL_FIELDS: [&str; 5] = [
    "login",
    "register",
    "refreshToken",
    "changePassword",
    "deleteMe",
];

/// The request-level checks, as one extension: every registered extension
/// adds a level to each field's resolution, so they are kept together.
pub struct Guardrails;

impl ExtensionFactory for Guardrails {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Guardrails)
    }
}

fn count_credential_fields(
    doc: &ExecutableDocument,
    set: &SelectionSet,
    seen: &mut HashSet<String>,
) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(CREDENTIAL_FIELDS.contains(&field.node.name.node.as_str()))
            }
            Selection::InlineFragment(inline) => {
                count_credential_fields(doc, &inline.node.selection_set.node, seen)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.to_string();
                // A cycle is reported by validation; count each fragment once here.
                match doc.fragments.get(&spread.node.fragment_name.node) {
                    Some(fragment) if seen.insert(name) => {
                        count_credential_fields(doc, &fragment.node.selection_set.node, seen)
                    }
                    _ => 0,
                }
            }
        })
        .sum()
}

#[async_trait::async_trait]
impl Extension for Guardrails {
    /// Refuses a document that selects more than one credential field at its root.
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let count: usize = doc
            .operations
            .iter()
            .map(|(_, op)| {
                count_credential_fields(&doc, &op.node.selection_set.node, &mut HashSet::new())
            })
            .sum();
        if count > 1 {
            let mut error = ServerError::new(
                format!(
                    "a request may contain only one of {}",
                    CREDENTIAL_FIELDS.join(", ")
                ),
                None,
            );
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", code::QUERY_TOO_COMPLEX);
            return Err(error);
        }
        Ok(doc)
    }

    /// Gives execution errors a contract code (errors from resolvers are coded
    /// by `AppError`; anything else is masked) and the request id to internal
    /// ones, so a report can be matched with the log. The request's data is
    /// visible here, unlike in `request`.
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        let request_id = ctx
            .data_opt::<RequestMeta>()
            .and_then(|meta| meta.request_id.as_deref());
        for error in &mut response.errors {
            fill_code(error);
            let internal = error
                .extensions
                .as_ref()
                .and_then(|ext| ext.get("code"))
                .is_some_and(|c| *c == async_graphql::Value::from(code::INTERNAL_SERVER_ERROR));
            if internal && let Some(id) = request_id {
                error
                    .extensions
                    .get_or_insert_with(Default::default)
                    .set("requestId", id);
            }
        }
        response
    }

    /// Codes for errors from before execution: malformed documents (no
    /// `path`), arguments that fail to coerce, and limit violations.
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        response.errors.iter_mut().for_each(fill_code);
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

/// async-graphql's messages for the limits set in `build_schema` and for the
/// parser's own recursion guard.
fn is_limit_error(message: &str) -> bool {
    [
        "Query is too complex",
        "Query is nested too deep",
        "The number of directives on the field",
        "The recursion depth of the query",
        "recursion limit exceeded",
    ]
    .iter()
    .any(|needle| message.contains(needle))
}
