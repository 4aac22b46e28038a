//! Request-level protections, applied by the HTTP handler around execution
//! rather than as async-graphql extensions: any registered extension puts a
//! boxed step into every field's resolution, which cost measurable CPU on
//! list pages (BENCHMARKS.md). Three checks live here: a bound on the
//! document's size once fragments are expanded (async-graphql's validation
//! expands every spread without memoising, so fragments that double at each
//! level would cost minutes of CPU), at most one credential-checking field per
//! document (aliases would otherwise multiply password guesses), and a
//! contract code on every error, with anything unexpected masked and tagged
//! with the request id.

use std::collections::{HashMap, HashSet};

use async_graphql::{
    Name, Request, Response, ServerError,
    parser::types::{
        DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection,
        SelectionSet,
    },
};

use crate::error::code;

/// Fields that check a password, a refresh token, a second factor or a
/// mailed link, or that mail an address on an anonymous caller's word: each
/// one costs a hash, a guess or a mail, so aliases must not multiply them.
pub const CREDENTIAL_FIELDS: [&str; 34] = [
    "login",
    "impersonateUser",
    "acceptOrganizationInvitation",
    "startPasskeySignIn",
    "finishPasskeySignIn",
    "startPasskeyRegistration",
    "finishPasskeyRegistration",
    "deletePasskey",
    "requestSignInCode",
    "signInWithCode",
    "signInWithLink",
    "startExternalSignIn",
    "finishExternalSignIn",
    "unlinkIdentity",
    "setPassword",
    "createApiKey",
    "enrollTotp",
    "confirmTotp",
    "confirmEmailChange",
    "updateMe",
    "logout",
    "register",
    "refreshToken",
    "changePassword",
    "deleteMe",
    "verifyMfa",
    "disableTotp",
    "regenerateRecoveryCodes",
    "requestEmailChange",
    "resetPassword",
    "acceptInvitation",
    "requestPasswordReset",
    "sendVerificationEmail",
    "verifyEmail",
];

/// How many credential fields `set` runs, counting a fragment at every
/// spread of it (each spread runs its fields again) while walking each
/// fragment once (`counts` remembers it), so the count costs linear time.
fn count_credential_fields<'a>(
    doc: &'a ExecutableDocument,
    set: &'a SelectionSet,
    counts: &mut HashMap<&'a Name, usize>,
) -> usize {
    set.items.iter().fold(0usize, |total, item| {
        let n = match &item.node {
            Selection::Field(field) => {
                usize::from(CREDENTIAL_FIELDS.contains(&field.node.name.node.as_str()))
            }
            Selection::InlineFragment(inline) => {
                count_credential_fields(doc, &inline.node.selection_set.node, counts)
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                match counts.get(name) {
                    Some(n) => *n,
                    None => {
                        // A cycle is reported by validation; it counts nothing here.
                        counts.insert(name, 0);
                        let n = doc.fragments.get(name).map_or(0, |fragment| {
                            count_credential_fields(doc, &fragment.node.selection_set.node, counts)
                        });
                        counts.insert(name, n);
                        n
                    }
                }
            }
        };
        total.saturating_add(n)
    })
}

/// Every field name `set` selects at its own level, through fragments,
/// whatever response key each runs under (two fields may share one), each
/// fragment walked once.
fn field_names<'a>(
    doc: &'a ExecutableDocument,
    set: &'a SelectionSet,
    seen: &mut HashSet<&'a Name>,
    out: &mut HashSet<&'a str>,
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                out.insert(field.node.name.node.as_str());
            }
            Selection::InlineFragment(inline) => {
                field_names(doc, &inline.node.selection_set.node, seen, out);
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                if seen.insert(name)
                    && let Some(fragment) = doc.fragments.get(name)
                {
                    field_names(doc, &fragment.node.selection_set.node, seen, out);
                }
            }
        }
    }
}

/// How many fields `set` selects once every fragment is expanded, at every
/// level. Each fragment is counted once and remembered, so the count costs
/// time linear in the document's text whatever it expands to; sums saturate.
fn expanded_size<'a>(
    doc: &'a ExecutableDocument,
    set: &'a SelectionSet,
    sizes: &mut HashMap<&'a Name, u64>,
) -> u64 {
    set.items.iter().fold(0u64, |total, item| {
        let size = match &item.node {
            Selection::Field(field) => {
                1u64.saturating_add(expanded_size(doc, &field.node.selection_set.node, sizes))
            }
            Selection::InlineFragment(inline) => {
                expanded_size(doc, &inline.node.selection_set.node, sizes)
            }
            Selection::FragmentSpread(spread) => {
                fragment_size(doc, &spread.node.fragment_name.node, sizes)
            }
        };
        total.saturating_add(size)
    })
}

fn fragment_size<'a>(
    doc: &'a ExecutableDocument,
    name: &'a Name,
    sizes: &mut HashMap<&'a Name, u64>,
) -> u64 {
    if let Some(size) = sizes.get(name) {
        return *size;
    }
    // A fragment that spreads itself (validation refuses the cycle) counts
    // nothing while it is being counted, so the walk always ends.
    sizes.insert(name, 0);
    let size = doc
        .fragments
        .get(name)
        .map_or(0, |f| expanded_size(doc, &f.node.selection_set.node, sizes));
    sizes.insert(name, size);
    size
}

/// The expanded sizes of every operation and every fragment of `doc`, added
/// up: validation walks each operation with its fragments expanded, whichever
/// operation then runs, so a thousand operations spreading one large fragment
/// cost a thousand times that fragment.
pub fn document_size(doc: &ExecutableDocument) -> u64 {
    let mut sizes = HashMap::new();
    let fragments = doc.fragments.keys().fold(0u64, |total, name| {
        total.saturating_add(fragment_size(doc, name, &mut sizes))
    });
    doc.operations.iter().fold(fragments, |total, (_, op)| {
        total.saturating_add(expanded_size(doc, &op.node.selection_set.node, &mut sizes))
    })
}

fn too_complex(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code::QUERY_TOO_COMPLEX);
    error
}

/// The answer to an operation that selects `__schema` or `__type` on a
/// server with introspection off: an error that says so, where
/// async-graphql alone would answer `null` and leave a tool guessing.
pub fn introspection_disabled() -> ServerError {
    let mut error = ServerError::new(
        "introspection is turned off on this server (INTROSPECTION=false, the production default): generate clients from the published schema.graphql",
        None,
    );
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code::FORBIDDEN);
    error
}

/// What the handler needs to know about the operation that will run.
#[derive(Debug, Default)]
pub struct Plan {
    /// The response keys of the operation's root selection, in the order the
    /// document gives them (fragments expanded), so the answer can keep it.
    pub root_keys: Vec<Name>,
    /// A query that selects only `__schema`, `__type` and `__typename`: it
    /// runs without the depth and complexity limits, so every tool's standard
    /// introspection query works (the node bound and introspection's own
    /// bounds still apply).
    pub introspection_only: bool,
    /// The operation selects `__schema` or `__type` (with other fields or
    /// not): its resolvers never yield, so it runs on the introspection pool.
    pub introspects: bool,
    /// The kind of the operation that runs, when the document names one.
    pub operation: Option<OperationType>,
    /// Its name, when it has one (for logs and metrics).
    pub operation_name: Option<String>,
    /// Every root field signs in or recovers on the strength of its own
    /// arguments (`SIGNS_IN`): a bearer token that no longer works is
    /// ignored rather than refused, so a client that kept a stale header can
    /// still sign in again.
    pub signs_in: bool,
    /// A mutation's root field names (empty for any other operation), for
    /// what an impersonation may run (`impersonation_refuses`).
    pub mutation_fields: Vec<String>,
}

/// The root fields that sign a caller in, or start or finish a recovery,
/// from their own arguments: a stale `Authorization` header does not stop
/// them (the caller acts anonymously). `register` with a working token
/// still counts its holder's `USERS_CREATE`.
pub const SIGNS_IN: [&str; 20] = [
    "login",
    "acceptOrganizationInvitation",
    "organizationInvitation",
    "startPasskeySignIn",
    "finishPasskeySignIn",
    "requestSignInCode",
    "signInWithCode",
    "signInWithLink",
    "startExternalSignIn",
    "finishExternalSignIn",
    "register",
    "refreshToken",
    "verifyMfa",
    "requestPasswordReset",
    "resetPassword",
    "sendVerificationEmail",
    "verifyEmail",
    "confirmEmailChange",
    "acceptInvitation",
    "__typename",
];

/// The mutations every impersonation may run, a read-only one included:
/// ending itself, and refreshing its own tokens (which acts on the refresh
/// token's session, and never past the impersonation's end).
pub const IMPERSONATION_MAY_RUN: [&str; 3] = ["logout", "endImpersonation", "refreshToken"];

/// What a writing impersonation (`readOnly: false`) may run besides: the
/// user's own profile (`updateMe`; an address change needs the user's
/// password, which no impersonation confirms) and which organisations they
/// act in or belong to (inside them an impersonation holds no more than
/// `MEMBERS_READ`). An allow-list: a new mutation is refused until it is
/// judged safe here, and no credential, session, key, administrator's or
/// organisation's power is.
pub const IMPERSONATION_MAY_WRITE: [&str; 4] = [
    "updateMe",
    "setActiveOrganization",
    "leaveOrganization",
    "createOrganization",
];

/// The one guard on what an impersonation runs, before execution: a
/// read-only one is refused every mutation but `IMPERSONATION_MAY_RUN`, a
/// writing one every mutation outside it and `IMPERSONATION_MAY_WRITE`
/// (`FORBIDDEN`). Every root field counts, whatever response key it runs
/// under. `None` when the operation may run.
pub fn impersonation_refuses(
    impersonation: Option<&crate::auth::Impersonation>,
    plan: &Plan,
) -> Option<ServerError> {
    let impersonation = impersonation?;
    let mut fields: Vec<&String> = plan.mutation_fields.iter().collect();
    fields.sort();
    let refused = fields.into_iter().find(|field| {
        let field = field.as_str();
        !IMPERSONATION_MAY_RUN.contains(&field)
            && (impersonation.read_only || !IMPERSONATION_MAY_WRITE.contains(&field))
    })?;
    let message = if impersonation.read_only {
        format!(
            "`{refused}` is refused: this impersonation is read-only (it may only end, with endImpersonation)"
        )
    } else {
        format!(
            "`{refused}` is refused: an impersonation changes only the user's profile and which organisations they act in, never credentials, sessions, keys or what an administrator does"
        )
    };
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code::FORBIDDEN);
    Some(error)
}

/// The operation `operation_name` picks, as execution will: the named one,
/// or the only one. `None` when there is no such operation (execution reports it).
pub fn selected_operation<'a>(
    doc: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'a OperationDefinition> {
    match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), None) => Some(&op.node),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            ops.values().next().map(|op| &op.node)
        }
        _ => None,
    }
}

/// The root fields of `set` in document order, through fragments, as
/// (response key, field name), each response key once.
/// `seen` holds the fragments already walked and the response keys already
/// listed, so a document of thousands of root aliases costs linear time.
fn root_fields<'a>(
    doc: &'a ExecutableDocument,
    set: &'a SelectionSet,
    seen: &mut HashSet<&'a Name>,
    keys: &mut HashSet<&'a Name>,
    out: &mut Vec<(&'a Name, &'a Name)>,
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                let key = &field.node.response_key().node;
                if keys.insert(key) {
                    out.push((key, &field.node.name.node));
                }
            }
            Selection::InlineFragment(inline) => {
                root_fields(doc, &inline.node.selection_set.node, seen, keys, out);
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                if seen.insert(name)
                    && let Some(fragment) = doc.fragments.get(name)
                {
                    root_fields(doc, &fragment.node.selection_set.node, seen, keys, out);
                }
            }
        }
    }
}

/// Checks the request's document before validation, and plans its run. Refused
/// (`QUERY_TOO_COMPLEX`): a document that expands to more than `max_nodes`
/// fields, introspection past its bounds (`http::introspection`), and an
/// operation that selects more than one credential field. The
/// rules that are per operation look only at the operation that runs. The
/// parsed document stays in the request, so execution does not parse it
/// again; a document that does not parse is left to execution, which reports why.
pub fn check_document(request: &mut Request, max_nodes: usize) -> Result<Plan, ServerError> {
    let operation_name = request.operation_name.clone();
    let Ok(doc) = request.parsed_query() else {
        return Ok(Plan::default());
    };
    let size = document_size(doc);
    if size > max_nodes as u64 {
        return Err(too_complex(format!(
            "the document selects {size} fields once its fragments are expanded; at most {max_nodes} are allowed"
        )));
    }
    let Some(operation) = selected_operation(doc, operation_name.as_deref()) else {
        return Ok(Plan::default());
    };
    // A lone named operation may be run without naming it.
    let named = match (&doc.operations, operation_name) {
        (_, Some(name)) => Some(name),
        (DocumentOperations::Multiple(ops), None) => ops.keys().next().map(|n| n.to_string()),
        (DocumentOperations::Single(_), None) => None,
    };
    let set = &operation.selection_set.node;
    super::introspection::bounds()
        .measure(doc, Some(set))
        .map_err(too_complex)?;
    if count_credential_fields(doc, set, &mut HashMap::new()) > 1 {
        return Err(too_complex(format!(
            "a request may contain only one of {}",
            CREDENTIAL_FIELDS.join(", ")
        )));
    }
    let mut fields = Vec::new();
    root_fields(
        doc,
        set,
        &mut HashSet::new(),
        &mut HashSet::new(),
        &mut fields,
    );
    let introspection_only = operation.ty == OperationType::Query
        && !fields.is_empty()
        && fields
            .iter()
            .all(|(_, name)| ["__schema", "__type", "__typename"].contains(&name.as_str()));
    let introspects = fields
        .iter()
        .any(|(_, name)| ["__schema", "__type"].contains(&name.as_str()));
    let all_sign_in = fields
        .iter()
        .all(|(_, name)| SIGNS_IN.contains(&name.as_str()));
    // `organizationInvitation`, what an invitation's link opens, is the one
    // query among them.
    let signs_in = match operation.ty {
        OperationType::Mutation => all_sign_in,
        OperationType::Query => {
            all_sign_in
                && fields
                    .iter()
                    .any(|(_, name)| name.as_str() == "organizationInvitation")
        }
        OperationType::Subscription => false,
    };
    let mutation_fields = match operation.ty {
        OperationType::Mutation => {
            let mut names = HashSet::new();
            field_names(doc, set, &mut HashSet::new(), &mut names);
            names.into_iter().map(str::to_owned).collect()
        }
        _ => Vec::new(),
    };
    Ok(Plan {
        mutation_fields,
        root_keys: fields.into_iter().map(|(key, _)| key.clone()).collect(),
        introspection_only,
        introspects,
        signs_in,
        operation: Some(operation.ty),
        operation_name: named,
    })
}

/// Puts the answer's root keys in the order of the selection: the roots are
/// merged from one object per domain, and async-graphql answers them grouped
/// by object. Deeper levels already keep the selection's order.
pub fn keep_selection_order(response: &mut Response, root_keys: &[Name]) {
    let async_graphql::Value::Object(data) = &mut response.data else {
        return;
    };
    if data.len() < 2 || data.keys().eq(root_keys.iter()) {
        return;
    }
    let mut ordered = async_graphql::indexmap::IndexMap::with_capacity(data.len());
    for key in root_keys {
        if let Some((key, value)) = data.shift_remove_entry(key) {
            ordered.insert(key, value);
        }
    }
    ordered.extend(std::mem::take(data));
    *data = ordered;
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
    [
        "Failed to parse",
        "Invalid value",
        "Variable ",
        "Expected input type",
    ]
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn size(query: &str) -> u64 {
        document_size(&async_graphql::parser::parse_query(query).unwrap())
    }

    /// Fragments that double at each level: `levels` fragments, 2^levels fields.
    fn doubling(levels: usize) -> String {
        let mut doc = String::from("query { ...F0 } fragment F0 on Query { __typename }");
        for i in 1..=levels {
            doc.push_str(&format!(
                " fragment F{i} on Query {{ ...F{j} ...F{j} }}",
                j = i - 1
            ));
        }
        doc.replacen("...F0", &format!("...F{levels}"), 1)
    }

    #[test]
    fn fields_are_counted_at_every_level_and_through_fragments() {
        assert_eq!(size("{ a b { c d { e } } }"), 5);
        // The operation's 3, and the fragment's own 2.
        assert_eq!(
            size("{ ...F ... on Query { x } } fragment F on Query { a b }"),
            5
        );
    }

    #[test]
    fn doubling_fragments_are_counted_without_expanding_them() {
        // The operation and each fragment: 2^10 + (2^10 + ... + 1).
        assert_eq!(size(&doubling(10)), (1 << 10) + (1 << 11) - 1);
        // 2^63 and beyond saturate instead of overflowing, in microseconds.
        assert_eq!(size(&doubling(80)), u64::MAX);
    }

    fn planned(doc: &str) -> Result<Plan, ServerError> {
        check_document(&mut Request::new(doc), 10_000)
    }

    #[test]
    fn a_fragment_spread_twice_runs_its_credential_field_twice() {
        let doc = "mutation { ...F ...F } fragment F on Mutation { login(input: { login: \"a\", password: \"b\" }) { accessToken } }";
        assert!(planned(doc).is_err());
        let once = "mutation { ...F } fragment F on Mutation { login(input: { login: \"a\", password: \"b\" }) { accessToken } }";
        assert!(planned(once).is_ok());
    }

    /// Fields sharing a response key both run: the guard reads every field
    /// name, not every key.
    #[test]
    fn an_impersonation_is_refused_a_mutation_hidden_under_an_allowed_ones_key() {
        let read_only = crate::auth::Impersonation {
            actor_id: uuid::Uuid::nil(),
            read_only: true,
            ends_at: chrono::Utc::now(),
        };
        let writing = crate::auth::Impersonation {
            read_only: false,
            ..read_only
        };
        for doc in [
            "mutation { x: logout ... on Mutation { x: logoutAll } }",
            "mutation { x: logout ...F } fragment F on Mutation { x: logoutAll }",
            "mutation { logout ... on Mutation { ... on Mutation { logoutAll } } }",
        ] {
            let plan = planned(doc).unwrap();
            for who in [&read_only, &writing] {
                let refused = impersonation_refuses(Some(who), &plan).expect(doc);
                assert!(refused.message.contains("logoutAll"), "{}", refused.message);
            }
            assert!(impersonation_refuses(None, &plan).is_none());
        }
        let plan = planned("mutation { logout endImpersonation }").unwrap();
        assert!(impersonation_refuses(Some(&read_only), &plan).is_none());
        let plan = planned("mutation { updateMe(input: {}) { id } }").unwrap();
        assert!(impersonation_refuses(Some(&read_only), &plan).is_some());
        assert!(impersonation_refuses(Some(&writing), &plan).is_none());
    }

    #[test]
    fn a_fragment_cycle_ends_the_count() {
        let cycle = "{ ...A } fragment A on Query { x ...B } fragment B on Query { y ...A }";
        assert!(size(cycle) <= 6, "{}", size(cycle));
    }

    /// The code `finish` gives the first error of `doc` run on the real schema
    /// under tiny limits, and that error's message.
    async fn coded(doc: &str, variables: serde_json::Value) -> (String, String) {
        let schema = crate::graphql::schema_builder()
            .limit_depth(3)
            .limit_complexity(300)
            .limit_directives(1)
            .limit_recursive_depth(8)
            .finish();
        let request = Request::new(doc).variables(async_graphql::Variables::from_json(variables));
        let mut response = schema.execute(request).await;
        finish(&mut response, None);
        let error = response.errors.first().expect("an error");
        let code = error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .cloned();
        (format!("{}", code.expect("a code")), error.message.clone())
    }

    /// A nullable variable left out, for a non-null argument with a default:
    /// async-graphql passes null rather than the default, and says so in a
    /// message of its own (no field of the schema has such an argument now;
    /// one added later must not answer 500).
    #[tokio::test]
    async fn an_omitted_variable_for_a_defaulted_argument_is_bad_input() {
        struct Q;
        #[async_graphql::Object]
        impl Q {
            async fn f(&self, #[graphql(default = 1)] n: i32) -> i32 {
                n
            }
        }
        let schema = async_graphql::Schema::new(
            Q,
            async_graphql::EmptyMutation,
            async_graphql::EmptySubscription,
        );
        let request = Request::new("query($n: Int) { f(n: $n) }");
        let mut response = schema.execute(request).await;
        finish(&mut response, None);
        let error = response.errors.first().expect("an error");
        assert!(
            error.message.starts_with("Expected input type"),
            "{}",
            error.message
        );
        assert_eq!(
            error
                .extensions
                .as_ref()
                .and_then(|e| e.get("code"))
                .cloned(),
            Some(async_graphql::Value::from(code::BAD_USER_INPUT))
        );
    }

    /// async-graphql's messages are matched as text to give its errors their
    /// codes; each match is pinned here, so an upgrade that rewords one fails
    /// this test instead of silently changing what clients see.
    #[tokio::test]
    async fn every_async_graphql_message_matched_is_pinned() {
        let nested = format!(
            "{{ {} __typename {} }}",
            "... on Query { ".repeat(10),
            "}".repeat(10)
        );
        let wide = format!(
            "{{ {} }}",
            (0..5)
                .map(|i| format!("a{i}: roles {{ id }}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let deep = format!("{{ {}a{} }}", "a { ".repeat(300), " }".repeat(300));
        let cases: [(&str, String, serde_json::Value, &str, &str); 8] = [
            (
                "depth",
                "{ users { edges { node { id } } } }".into(),
                json!({}),
                code::QUERY_TOO_COMPLEX,
                "Query is nested too deep",
            ),
            (
                "complexity",
                wide,
                json!({}),
                code::QUERY_TOO_COMPLEX,
                "Query is too complex",
            ),
            (
                "directives",
                "{ __typename @skip(if: false) @include(if: true) }".into(),
                json!({}),
                code::QUERY_TOO_COMPLEX,
                "The number of directives on the field",
            ),
            (
                "recursion",
                nested,
                json!({}),
                code::QUERY_TOO_COMPLEX,
                "recursion",
            ),
            (
                "parser recursion",
                deep,
                json!({}),
                code::QUERY_TOO_COMPLEX,
                "recursion limit exceeded",
            ),
            (
                "argument",
                "{ role(id: true) { id } }".into(),
                json!({}),
                code::BAD_USER_INPUT,
                "Invalid value",
            ),
            (
                "scalar",
                "query($d: DateTime) { users(filter: { createdAfter: $d }) { totalCount } }".into(),
                json!({ "d": "nope" }),
                code::BAD_USER_INPUT,
                "Failed to parse",
            ),
            (
                "variable",
                "query($i: ID!) { role(id: $i) { id } }".into(),
                json!({}),
                code::BAD_USER_INPUT,
                "Variable ",
            ),
        ];
        for (what, doc, variables, expected, message) in cases {
            let (got, text) = coded(&doc, variables).await;
            assert_eq!(got, format!("\"{expected}\""), "{what}: {text}");
            assert!(text.contains(message), "{what}: {text}");
        }
    }

    /// Every mutation that takes a password, a token or a code as an
    /// argument is a credential field, and every credential field is a
    /// mutation: a new one cannot be forgotten. (`login` and `register` take
    /// theirs inside an input, and are listed by hand; `createUser` and
    /// `updateUser`, an administrator's, are not, so tools may batch them.)
    #[test]
    fn every_mutation_with_a_credential_argument_is_a_credential_field() {
        use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
        const CREDENTIAL_ARGUMENTS: [&str; 7] = [
            "password",
            "currentPassword",
            "newPassword",
            "token",
            "code",
            "refreshToken",
            "mfaToken",
        ];
        let doc = async_graphql::parser::parse_schema(crate::graphql::sdl()).unwrap();
        let mutation = doc
            .definitions
            .iter()
            .find_map(|definition| match definition {
                TypeSystemDefinition::Type(ty) if ty.node.name.node == "Mutation" => {
                    match &ty.node.kind {
                        TypeKind::Object(object) => Some(object.fields.clone()),
                        _ => None,
                    }
                }
                _ => None,
            })
            .expect("a Mutation type");
        for field in &mutation {
            let name = field.node.name.node.as_str();
            let takes_credential = field
                .node
                .arguments
                .iter()
                .any(|arg| CREDENTIAL_ARGUMENTS.contains(&arg.node.name.node.as_str()));
            if takes_credential {
                assert!(
                    CREDENTIAL_FIELDS.contains(&name),
                    "{name} takes a credential"
                );
            }
        }
        for credential in CREDENTIAL_FIELDS {
            assert!(
                mutation.iter().any(|f| f.node.name.node == credential),
                "{credential} is no mutation"
            );
        }
    }

    #[test]
    fn every_operation_counts_whichever_runs() {
        let one = "query q0 { ...F } fragment F on Query { a b c }";
        let many = format!("{one} query q1 {{ ...F }} query q2 {{ ...F }}");
        assert_eq!(size(one), 6);
        assert_eq!(size(&many), 12);
    }
}
