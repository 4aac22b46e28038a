//! The dependency rules of docs/architecture.md, read from the code: every
//! `crate::` and `super::` path in `src/` (in `use` lines and inline) is an
//! arrow from its file's module to the module it names. The test fails on
//! an arrow that runs up the layers or sideways between peers, a flow that
//! calls another flow, a building block that calls a flow, the event
//! stream calling either, a GraphQL root naming another root, and on any
//! circle outside `graphql/types/`.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// A module: its path from the crate root (`service::credentials::lockout`).
type Module = Vec<String>;

/// The modules of `src/` and the source of each, by walking the tree:
/// `a/b.rs` and `a/b/mod.rs` are `a::b`, `lib.rs` the crate root.
fn modules() -> BTreeMap<Module, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<Module, String>) {
        for entry in std::fs::read_dir(dir).expect("src/ is readable") {
            let path = entry.expect("an entry").path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let mut module = prefix.to_vec();
            if path.is_dir() {
                module.push(name);
                walk(&path, &module, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                if !(name == "mod" || (prefix.is_empty() && name == "lib")) {
                    module.push(name);
                }
                out.insert(module, std::fs::read_to_string(&path).expect("readable"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(&src_dir(), &[], &mut out);
    out
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The code of `source` without comments and string literals, which may
/// name paths without using them.
fn code_only(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    for line in source.lines() {
        let mut in_string = false;
        let mut escaped = false;
        let mut kept = String::new();
        let chars: Vec<char> = line.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            if in_string {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => in_string = false,
                    _ => {}
                }
                continue;
            }
            if c == '/' && chars.get(i + 1) == Some(&'/') {
                break;
            }
            if c == '"' && !(i > 0 && chars[i - 1] == '\'') {
                in_string = true;
            } else {
                kept.push(c);
            }
        }
        out.push_str(&kept);
        out.push('\n');
    }
    out
}

/// Every path `source` names through `crate::` or `super::`, with `use`
/// trees expanded, as segments after the keyword and the keyword itself.
fn paths(source: &str) -> Vec<(String, Vec<String>)> {
    let code = code_only(source);
    let mut found = Vec::new();
    // `use` statements: expand their trees.
    let mut rest = code.as_str();
    while let Some(at) = rest.find("use ") {
        let boundary = at == 0 || !rest[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
        let after = &rest[at + 4..];
        let end = after.find(';').unwrap_or(after.len());
        if boundary {
            // Renames (`a as b`) keep their first name; then no spaces.
            let tree = after[..end]
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .replace(" as ", "@")
                .replace(' ', "");
            for path in expand(&tree) {
                let mut segments: Vec<String> = path.split("::").map(str::to_owned).collect();
                let head = segments.remove(0);
                if head == "crate" || head == "super" {
                    found.push((head, segments));
                }
            }
        }
        rest = &after[end.min(after.len())..];
    }
    // Inline paths outside `use` lines.
    for keyword in ["crate::", "super::"] {
        let mut rest = code.as_str();
        while let Some(at) = rest.find(keyword) {
            let before_ok = at == 0
                || !rest[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':');
            let after = &rest[at + keyword.len()..];
            let len = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(after.len());
            if before_ok {
                let segments: Vec<String> = after[..len]
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                found.push((keyword.trim_end_matches("::").to_owned(), segments));
            }
            rest = &after[len..];
        }
    }
    found
}

/// A `use` tree (`a::{b, c::{d, e}}`) as its paths (`a::b`, `a::c::d`, …).
fn expand(tree: &str) -> Vec<String> {
    let Some(open) = tree.find('{') else {
        return vec![tree.trim_end_matches("::").to_owned()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|part| {
            let part = part.split('@').next().unwrap_or(part);
            expand(part).into_iter().map(move |p| {
                if p == "self" {
                    prefix.trim_end_matches("::").to_owned()
                } else {
                    format!("{prefix}{p}")
                }
            })
        })
        .collect()
}

/// The module a path names: the longest known module that prefixes it.
fn target(
    known: &BTreeSet<Module>,
    from: &Module,
    keyword: &str,
    segments: &[String],
) -> Option<Module> {
    let mut full: Vec<String> = match keyword {
        "crate" => Vec::new(),
        _ => {
            // `super` is the module's parent: a folder's `mod.rs` is the
            // folder itself, so its `super` is the folder's parent.
            let mut base = from.clone();
            base.pop();
            base
        }
    };
    let mut segments = segments.to_vec();
    while segments.first().is_some_and(|s| s == "super") {
        full.pop();
        segments.remove(0);
    }
    full.extend(segments);
    (0..=full.len())
        .rev()
        .map(|n| full[..n].to_vec())
        .find(|candidate| known.contains(candidate))
}

/// The arrows between modules, each once.
fn arrows() -> BTreeSet<(Module, Module)> {
    let modules = modules();
    let known: BTreeSet<Module> = modules.keys().cloned().collect();
    let mut arrows = BTreeSet::new();
    for (module, source) in &modules {
        let mut aliases: Vec<(String, Module)> = Vec::new();
        for (keyword, segments) in paths(source) {
            let Some(to) = target(&known, module, &keyword, &segments) else {
                continue;
            };
            // A module imported by name (`use crate::service;`) is an alias:
            // paths through it (`service::recovery::…`) are read below.
            if segments.len() + usize::from(keyword == "crate") >= to.len()
                && segments.last() == to.last()
                && let Some(name) = to.last()
            {
                aliases.push((name.clone(), to.clone()));
            }
            if &to != module {
                arrows.insert((module.clone(), to));
            }
        }
        let code = code_only(source);
        for (alias, base) in aliases {
            for rest in paths_through(&code, &alias) {
                let mut full = base.clone();
                full.extend(rest);
                if let Some(to) = (0..=full.len())
                    .rev()
                    .map(|n| full[..n].to_vec())
                    .find(|candidate| known.contains(candidate))
                    && &to != module
                {
                    arrows.insert((module.clone(), to));
                }
            }
        }
    }
    arrows
}

/// The segments after `alias::` wherever `code` names a path through it
/// (not as the tail of a longer path).
fn paths_through(code: &str, alias: &str) -> Vec<Vec<String>> {
    let needle = format!("{alias}::");
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(&needle) {
        let before_ok =
            at == 0 || !rest[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':');
        let after = &rest[at + needle.len()..];
        let len = after
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(after.len());
        if before_ok {
            found.push(
                after[..len]
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            );
        }
        rest = &after[len..];
    }
    found
}

/// What the reader cannot follow is not written: a glob import of a module
/// outside a test module, and a re-export of a service module's item from
/// `service/mod.rs` (a building block would reach a flow through it).
#[test]
fn no_import_hides_an_arrow() {
    for (module, source) in modules() {
        let code = code_only(&source);
        let name = module.join("::");
        for line in code.lines() {
            let glob = line.starts_with("use ") && line.trim_end().ends_with("::*;");
            assert!(!glob, "{name}: `{}` hides what it uses", line.trim());
        }
        if module == vec!["service".to_owned()] {
            for line in code.lines().filter(|l| l.starts_with("pub use ")) {
                assert!(
                    line.contains("crate::auth"),
                    "service/mod.rs re-exports `{}`",
                    line.trim()
                );
            }
        }
    }
}

/// The layer a module belongs to, and its rank: arrows run to higher ranks
/// only, or to the shared basics that anyone may use.
fn rank(module: &Module) -> (String, u8) {
    let top = module.first().cloned().unwrap_or_default();
    let rank = match top.as_str() {
        "main" => 0,
        "cli" => 1,
        "app" => 2,
        "http" | "worker" => 3,
        "graphql" => 4,
        "service" => 5,
        "auth" | "validation" | "ids" | "mail" => 6,
        "error" | "config" | "db" | "metrics" | "telemetry" => 7,
        "" => 8,
        other => {
            panic!("module `{other}` has no layer: give it one in docs/architecture.md and here")
        }
    };
    (top, rank)
}

/// A service module's tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    Flow,
    Block,
    Stream,
    Shared,
}

fn tier(module: &Module) -> Option<Tier> {
    if module.first().map(String::as_str) != Some("service") {
        return None;
    }
    Some(match module.get(1).map(String::as_str) {
        None => Tier::Shared,
        Some(
            "accounts" | "admin" | "api_keys" | "directory" | "external" | "impersonation"
            | "imports" | "invitations" | "mfa" | "nodes" | "organizations" | "passkeys"
            | "recovery" | "roles" | "sessions" | "sign_in_codes" | "signing_keys" | "tiers"
            | "webhooks",
        ) => Tier::Flow,
        Some(
            "access" | "account_mail" | "credentials" | "erasure" | "limits" | "memberships"
            | "links" | "new_account" | "providers" | "role_grants" | "signing" | "tokens"
            | "users",
        ) => Tier::Block,
        Some("audit" | "events" | "outbox" | "webhook_fanout" | "webhook_send") => Tier::Stream,
        Some(other) => panic!(
            "service::{other} has no tier: say in docs/architecture.md whether it is a flow, a building block or part of the stream, and here"
        ),
    })
}

/// Whether a graphql module is a root (a per-domain Query/Mutation file).
fn is_graphql_root(module: &Module) -> bool {
    module.first().map(String::as_str) == Some("graphql")
        && module.len() == 2
        && !["cost", "guard", "inputs", "loaders", "request", "types"].contains(&module[1].as_str())
}

/// Why `from -> to` breaks a rule, if it does.
fn broken(from: &Module, to: &Module) -> Option<String> {
    let (from_layer, from_rank) = rank(from);
    let (to_layer, to_rank) = rank(to);
    let name = |m: &Module| m.join("::");
    if is_graphql_root(to) && from != &vec!["graphql".to_owned()] {
        return Some(format!(
            "{} -> {}: a GraphQL root is named by graphql/mod.rs only",
            name(from),
            name(to)
        ));
    }
    if from_layer != to_layer {
        let sideways_peers = from_rank == to_rank && from_rank != 7;
        if to_rank < from_rank || sideways_peers {
            return Some(format!(
                "{} -> {}: `{from_layer}` may not depend on `{to_layer}`",
                name(from),
                name(to)
            ));
        }
        if from_layer == "worker" && to_layer == "graphql" {
            return Some(format!(
                "{} -> {}: workers use services only",
                name(from),
                name(to)
            ));
        }
        return None;
    }
    if let (Some(a), Some(b)) = (tier(from), tier(to)) {
        let same_module = from.get(1) == to.get(1);
        let refused = match (a, b) {
            (_, Tier::Shared) | (Tier::Shared, _) => false,
            _ if same_module => false,
            (Tier::Flow, Tier::Flow) => true,
            (Tier::Block, Tier::Flow) => true,
            (Tier::Stream, Tier::Flow | Tier::Block) => true,
            _ => false,
        };
        if refused {
            return Some(format!(
                "{} -> {}: a {a:?} may not call a {b:?} (move what both need down a tier)",
                name(from),
                name(to)
            ));
        }
    }
    None
}

/// The circles of the graph (strongly connected components of two or more
/// modules), by Tarjan's algorithm.
fn circles(arrows: &BTreeSet<(Module, Module)>) -> Vec<Vec<Module>> {
    let nodes: BTreeSet<&Module> = arrows.iter().flat_map(|(a, b)| [a, b]).collect();
    let index_of: BTreeMap<&Module, usize> =
        nodes.iter().enumerate().map(|(i, m)| (*m, i)).collect();
    let names: Vec<&Module> = nodes.iter().copied().collect();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); names.len()];
    for (a, b) in arrows {
        next[index_of[a]].push(index_of[b]);
    }
    struct State {
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        counter: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(v: usize, next: &[Vec<usize>], s: &mut State) {
        s.index[v] = Some(s.counter);
        s.low[v] = s.counter;
        s.counter += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in &next[v] {
            match s.index[w] {
                None => {
                    visit(w, next, s);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(i) if s.on_stack[w] => s.low[v] = s.low[v].min(i),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.out.push(component);
            }
        }
    }
    let n = names.len();
    let mut state = State {
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        counter: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if state.index[v].is_none() {
            visit(v, &next, &mut state);
        }
    }
    state
        .out
        .into_iter()
        .map(|c| c.into_iter().map(|i| names[i].clone()).collect())
        .collect()
}

#[test]
fn dependencies_run_one_way_and_the_service_tiers_hold() {
    let arrows = arrows();
    assert!(
        arrows.len() > 100,
        "the walk found only {} arrows",
        arrows.len()
    );
    let broken: Vec<String> = arrows.iter().filter_map(|(a, b)| broken(a, b)).collect();
    assert!(
        broken.is_empty(),
        "arrows against docs/architecture.md:\n{}",
        broken.join("\n")
    );
    let outside_types: Vec<String> = circles(&arrows)
        .into_iter()
        .filter(|circle| {
            !circle
                .iter()
                .all(|m| m.len() >= 2 && m[0] == "graphql" && m[1] == "types")
        })
        .map(|circle| {
            circle
                .iter()
                .map(|m| m.join("::"))
                .collect::<Vec<_>>()
                .join(" -> ")
        })
        .collect();
    assert!(
        outside_types.is_empty(),
        "import circles outside graphql/types/:\n{}",
        outside_types.join("\n")
    );
}

/// The rules catch what they are for: a sideways call between flows, an
/// upward one, and a circle, each made up here, are refused.
#[test]
fn the_rules_refuse_a_sideways_call_an_upward_call_and_a_circle() {
    let m = |path: &str| -> Module { path.split("::").map(str::to_owned).collect() };
    assert!(broken(&m("service::accounts"), &m("service::recovery")).is_some());
    assert!(broken(&m("service::users"), &m("service::accounts")).is_some());
    assert!(broken(&m("service::audit"), &m("service::users")).is_some());
    assert!(broken(&m("service::accounts"), &m("service::credentials::lockout")).is_none());
    assert!(broken(&m("service::users"), &m("graphql::types::user")).is_some());
    assert!(broken(&m("graphql::roles"), &m("graphql::tiers")).is_some());
    assert!(broken(&m("graphql::types::user"), &m("graphql::roles")).is_some());
    assert!(broken(&m("graphql"), &m("graphql::roles")).is_none());
    assert!(broken(&m("http::endpoint"), &m("worker::outbox")).is_some());
    assert!(broken(&m("worker::outbox"), &m("graphql::types")).is_some());
    assert!(broken(&m("http::router"), &m("graphql::accounts")).is_some());
    let circle: BTreeSet<(Module, Module)> = [
        (m("service::links"), m("service::users")),
        (m("service::users"), m("service::links")),
    ]
    .into_iter()
    .collect();
    assert_eq!(circles(&circle).len(), 1);
    // The reader sees `use` trees and inline paths, and resolves `super`.
    let found = paths("use super::{a, b::{c, d as e}};\nfn f() { crate::x::y(); }\n// crate::no\n");
    assert!(found.contains(&("super".into(), vec!["b".into(), "d".into()])));
    assert!(found.contains(&("crate".into(), vec!["x".into(), "y".into()])));
    assert!(!found.iter().any(|(_, p)| p == &vec!["no".to_string()]));
}
