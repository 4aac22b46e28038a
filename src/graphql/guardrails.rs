//! Request-level protections, applied by the HTTP handler around execution
//! rather than as async-graphql extensions: any registered extension puts a
//! boxed step into every field's resolution, which cost measurable CPU on
//! list pages (BENCHMARKS.md). Two checks live here: at most one
//! credential-checking field per document (aliases would otherwise multiply
//! password guesses), and a contract code on every error, with anything
//! unexpected masked and tagged with the request id.

use std::collections::HashSet;

use async_graphql::{
    Request, Response, ServerError,
    parser::types::{ExecutableDocument, Selection, SelectionSet},
};

use crate::error::code;

/// Fields that check a password or a refresh token.
pub const CREDENTIAL_FIELDS: [&str; 5] = [
    "login",
    "register",
    "refreshToken",
    "changePassword",
    "deleteMe",
];

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

/// The refusal of a document that selects more than one credential field at
/// its root, if it does. The parsed document stays in the request, so
/// execution does not parse it again; a document that does not parse is left
/// to execution, which reports why.
pub fn check_document(request: &mut Request) -> Option<ServerError> {
    let doc = request.parsed_query().ok()?;
    let count: usize = doc
        .operations
        .iter()
        .map(|(_, op)| {
            count_credential_fields(doc, &op.node.selection_set.node, &mut HashSet::new())
        })
        .sum();
    if count <= 1 {
        return None;
    }
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
    Some(error)
}

/// Gives every error of a response a contract code. Errors from resolvers are
/// coded by `AppError`; what is left is async-graphql's own: limit violations,
/// malformed documents (before execution, so no `path`), arguments that fail
/// to coerce, and anything unexpected during execution, which is masked.
/// Internal errors carry the request id, so a report can be matched with the log.
pub fn finish(response: &mut Response, request_id: Option<&str>) {
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
