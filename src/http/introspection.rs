//! Bounds on introspection. Introspection runs without the depth and
//! complexity limits (tools cannot shorten their standard query), and its
//! lists nest: `interfaces { possibleTypes { interfaces { … } } }` multiplies
//! the answer by the schema's `Node` types at every pair, and its resolvers
//! never yield, so no timeout stops them once they run. Every selection of
//! `__schema` or `__type` is therefore measured before it runs: its depth,
//! the lists nested on each path, and an upper bound of the answer's size
//! from the schema's own counts. graphql-js's full introspection query (every
//! option on) passes all three with room; twice its estimated size is the
//! most any document may ask for.

use std::collections::{HashMap, HashSet};

use async_graphql::{
    Name,
    parser::types::{ExecutableDocument, Selection, SelectionSet},
};

/// graphql-js's `getIntrospectionQuery()` with every option on (as
/// GraphiQL, graphql-codegen, Rover and Postman send it, or a subset).
pub const FULL_QUERY: &str = include_str!("full_introspection.graphql");

/// Nesting allowed under `__schema`/`__type`: the full query reaches 15
/// (`types.fields.args.type` and nine `ofType`s, then `name`).
pub const MAX_DEPTH: usize = 18;

/// Lists allowed on one path: the full query nests three
/// (`types.fields.args`); a fourth is allowed for `__type`'s look-ups
/// (`fields { type { fields { args } } }`), a fifth never.
pub const MAX_NESTED_LISTS: usize = 4;

/// `ofType`s allowed on one path: the full query has nine, and no type of
/// this schema wraps deeper than three.
pub const MAX_OF_TYPE: usize = 10;

/// The bounds on introspection of the served schema, worked out once from its SDL.
pub fn bounds() -> &'static Bounds {
    static BOUNDS: std::sync::LazyLock<Bounds> =
        std::sync::LazyLock::new(|| Bounds::of_sdl(&crate::graphql::sdl()));
    &BOUNDS
}

/// How many items each list of the introspection types can hold in this
/// schema: the most fields of a type, the most arguments of a field, and so on.
#[derive(Debug, Clone, PartialEq)]
pub struct Bounds {
    types: u64,
    fields: u64,
    args: u64,
    interfaces: u64,
    possible_types: u64,
    enum_values: u64,
    input_fields: u64,
    directives: u64,
    locations: u64,
    /// The largest estimate allowed: twice the full query's.
    max_estimate: u64,
}

/// The introspection types and built-in scalars and directives, which the
/// SDL does not print: their own counts are the floor of every maximum.
const BUILTIN_TYPES: u64 = 8 + 5;
const BUILTIN_DIRECTIVES: u64 = 5;
const INTROSPECTION_FIELDS: u64 = 12;
const INTROSPECTION_ENUM_VALUES: u64 = 19;
const DIRECTIVE_LOCATIONS: u64 = 19;

impl Bounds {
    /// The bounds of the schema that `sdl` prints.
    pub fn of_sdl(sdl: &str) -> Self {
        use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};
        let doc = async_graphql::parser::parse_schema(sdl).expect("the schema's own SDL parses");
        let mut bounds = Self {
            types: BUILTIN_TYPES,
            fields: INTROSPECTION_FIELDS,
            args: 4,
            interfaces: 1,
            possible_types: 1,
            enum_values: INTROSPECTION_ENUM_VALUES,
            input_fields: 1,
            directives: BUILTIN_DIRECTIVES,
            locations: DIRECTIVE_LOCATIONS,
            max_estimate: 0,
        };
        let mut implementors: HashMap<String, u64> = HashMap::new();
        for definition in &doc.definitions {
            match definition {
                TypeSystemDefinition::Type(ty) => {
                    let ty = &ty.node;
                    bounds.types += 1;
                    match &ty.kind {
                        TypeKind::Object(object) => {
                            bounds.count_fields(&object.fields, object.implements.len());
                            for interface in &object.implements {
                                *implementors.entry(interface.node.to_string()).or_default() += 1;
                            }
                        }
                        TypeKind::Interface(interface) => {
                            bounds.count_fields(&interface.fields, interface.implements.len());
                        }
                        TypeKind::Union(union) => {
                            bounds.possible_types =
                                bounds.possible_types.max(union.members.len() as u64);
                        }
                        TypeKind::Enum(en) => {
                            bounds.enum_values = bounds.enum_values.max(en.values.len() as u64);
                        }
                        TypeKind::InputObject(input) => {
                            bounds.input_fields =
                                bounds.input_fields.max(input.fields.len() as u64);
                        }
                        TypeKind::Scalar => {}
                    }
                }
                TypeSystemDefinition::Directive(directive) => {
                    bounds.directives += 1;
                    bounds.args = bounds.args.max(directive.node.arguments.len() as u64);
                }
                TypeSystemDefinition::Schema(_) => {}
            }
        }
        bounds.possible_types = bounds
            .possible_types
            .max(implementors.values().copied().max().unwrap_or(0));
        let full = async_graphql::parser::parse_query(FULL_QUERY).expect("the full query parses");
        let estimate = bounds
            .measure(&full, None)
            .expect("the full introspection query is within the bounds");
        bounds.max_estimate = estimate.saturating_mul(2);
        bounds
    }

    /// Counts an object's or interface's fields, their arguments and the
    /// interfaces it implements.
    fn count_fields(
        &mut self,
        fields: &[async_graphql::Positioned<async_graphql::parser::types::FieldDefinition>],
        implements: usize,
    ) {
        self.fields = self.fields.max(fields.len() as u64);
        self.interfaces = self.interfaces.max(implements as u64);
        for field in fields {
            self.args = self.args.max(field.node.arguments.len() as u64);
        }
    }

    /// Whether `name` is a list field of an introspection type.
    fn is_list(name: &str) -> bool {
        matches!(
            name,
            "types"
                | "fields"
                | "args"
                | "interfaces"
                | "possibleTypes"
                | "enumValues"
                | "inputFields"
                | "directives"
                | "locations"
        )
    }

    /// How many items the list field `name` of an introspection type can
    /// hold; 1 for a field that is not a list.
    fn items(&self, name: &str) -> u64 {
        match name {
            "types" => self.types,
            "fields" => self.fields,
            "args" => self.args,
            "interfaces" => self.interfaces,
            "possibleTypes" => self.possible_types,
            "enumValues" => self.enum_values,
            "inputFields" => self.input_fields,
            "directives" => self.directives,
            "locations" => self.locations,
            _ => 1,
        }
    }

    /// Checks every `__schema` and `__type` selection of the operation
    /// `operation` of `doc` (all operations when `None`); returns the
    /// estimated size of their answers, in values, or why it is refused: a path nested deeper than `MAX_DEPTH`, more
    /// than `MAX_NESTED_LISTS` lists or `MAX_OF_TYPE` `ofType`s on one
    /// path, and an estimate over twice the full query's. The walk visits
    /// each field once per expansion, and the document's expanded size is
    /// already bounded (`MAX_QUERY_NODES`).
    pub fn measure(
        &self,
        doc: &ExecutableDocument,
        operation: Option<&SelectionSet>,
    ) -> Result<u64, String> {
        let mut walk = Walk {
            bounds: self,
            doc,
            expanding: Vec::new(),
        };
        let roots: Vec<&SelectionSet> = match operation {
            Some(set) => vec![set],
            None => doc
                .operations
                .iter()
                .map(|(_, op)| &op.node.selection_set.node)
                .collect(),
        };
        let mut total = 0u64;
        for set in roots {
            total = total.saturating_add(walk.roots(set)?);
        }
        if self.max_estimate > 0 && total > self.max_estimate {
            return Err(format!(
                "the introspection asked for could hold {total} values; at most {} (twice the standard introspection query) are allowed",
                self.max_estimate
            ));
        }
        Ok(total)
    }
}

/// Where a walk is on one path.
#[derive(Debug, Clone, Copy, Default)]
struct Path {
    depth: usize,
    lists: usize,
    of_type: usize,
}

struct Walk<'a> {
    bounds: &'a Bounds,
    doc: &'a ExecutableDocument,
    /// The fragments being expanded on the current path (a cycle, which
    /// validation reports, ends the walk).
    expanding: Vec<&'a Name>,
}

impl<'a> Walk<'a> {
    /// The root selection: only `__schema` and `__type` are measured.
    fn roots(&mut self, set: &'a SelectionSet) -> Result<u64, String> {
        let mut total = 0u64;
        for item in &set.items {
            let size = match &item.node {
                Selection::Field(field) => match field.node.name.node.as_str() {
                    "__schema" | "__type" => {
                        let path = Path {
                            depth: 1,
                            ..Path::default()
                        };
                        1u64.saturating_add(self.set(&field.node.selection_set.node, path)?)
                    }
                    _ => 0,
                },
                Selection::InlineFragment(inline) => self.roots(&inline.node.selection_set.node)?,
                Selection::FragmentSpread(spread) => {
                    self.spread(&spread.node.fragment_name.node, |walk, set| walk.roots(set))?
                }
            };
            total = total.saturating_add(size);
        }
        Ok(total)
    }

    fn spread(
        &mut self,
        name: &'a Name,
        mut walk: impl FnMut(&mut Self, &'a SelectionSet) -> Result<u64, String>,
    ) -> Result<u64, String> {
        if self.expanding.contains(&name) {
            return Ok(0);
        }
        let Some(fragment) = self.doc.fragments.get(name) else {
            return Ok(0);
        };
        self.expanding.push(name);
        let size = walk(self, &fragment.node.selection_set.node);
        self.expanding.pop();
        size
    }

    /// The values a selection below the root can produce, with `path` the
    /// position of the field that selects it.
    fn set(&mut self, set: &'a SelectionSet, path: Path) -> Result<u64, String> {
        self.level(set, path, &mut HashSet::new())
    }

    /// One level of a selection, its fragments merged in: `seen` holds the
    /// fields and fragments the level has counted already, as execution
    /// merges a field selected twice into one value.
    fn level(
        &mut self,
        set: &'a SelectionSet,
        path: Path,
        seen: &mut HashSet<&'a str>,
    ) -> Result<u64, String> {
        let mut total = 0u64;
        for item in &set.items {
            let size = match &item.node {
                Selection::Field(field) => {
                    if field.node.alias.is_some() {
                        // An alias is the one way to select a field twice,
                        // and no tool's introspection uses one below the root.
                        return Err(
                            "introspection takes no aliases below __schema and __type".into()
                        );
                    }
                    let name = field.node.name.node.as_str();
                    if !seen.insert(name) {
                        continue;
                    }
                    let items = self.bounds.items(name);
                    let inner = Path {
                        depth: path.depth + 1,
                        lists: path.lists + usize::from(Bounds::is_list(name)),
                        of_type: path.of_type + usize::from(name == "ofType"),
                    };
                    if inner.depth > MAX_DEPTH {
                        return Err(format!(
                            "introspection nests at most {MAX_DEPTH} levels deep"
                        ));
                    }
                    if inner.lists > MAX_NESTED_LISTS {
                        return Err(format!(
                            "introspection nests at most {MAX_NESTED_LISTS} lists (such as fields, interfaces or possibleTypes) on one path"
                        ));
                    }
                    if inner.of_type > MAX_OF_TYPE {
                        return Err(format!(
                            "introspection nests at most {MAX_OF_TYPE} ofType fields"
                        ));
                    }
                    let below = self.set(&field.node.selection_set.node, inner)?;
                    items.saturating_mul(1u64.saturating_add(below))
                }
                Selection::InlineFragment(inline) => {
                    self.level(&inline.node.selection_set.node, path, seen)?
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    if !seen.insert(name.as_str()) {
                        continue;
                    }
                    self.spread(name, |walk, set| walk.level(set, path, seen))?
                }
            };
            total = total.saturating_add(size);
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> Bounds {
        Bounds::of_sdl(&crate::graphql::sdl())
    }

    fn measure(bounds: &Bounds, query: &str) -> Result<u64, String> {
        let doc = async_graphql::parser::parse_query(query).unwrap();
        bounds.measure(&doc, None)
    }

    /// `interfaces { possibleTypes { … } }` nested `pairs` times under `types`.
    fn pairs(pairs: usize) -> String {
        format!(
            "{{ __schema {{ types {{ {} name {} }} }} }}",
            "interfaces { possibleTypes { ".repeat(pairs),
            "} } ".repeat(pairs)
        )
    }

    #[test]
    fn the_full_query_and_two_copies_of_it_pass() {
        let bounds = bounds();
        let one = measure(&bounds, FULL_QUERY).unwrap();
        assert!(one > 0);
        let twice = FULL_QUERY.replacen(
            "__schema {",
            "a: __schema { types { ...FullType } } __schema {",
            1,
        );
        assert!(measure(&bounds, &twice).is_ok());
    }

    #[test]
    fn nested_interfaces_and_possible_types_are_refused() {
        let bounds = bounds();
        assert!(measure(&bounds, &pairs(1)).is_ok());
        let refused = measure(&bounds, &pairs(2)).unwrap_err();
        assert!(refused.contains("lists"), "{refused}");
        let refused = measure(&bounds, &pairs(8)).unwrap_err();
        assert!(refused.contains("lists"), "{refused}");
    }

    #[test]
    fn copies_of_the_full_query_past_two_are_refused() {
        let bounds = bounds();
        let aliases: String = (0..3)
            .map(|i| format!("a{i}: __schema {{ types {{ ...FullType }} }} "))
            .collect();
        let many = FULL_QUERY.replacen("__schema {", &format!("{aliases} __schema {{"), 1);
        let refused = measure(&bounds, &many).unwrap_err();
        assert!(refused.contains("twice the standard"), "{refused}");
    }

    #[test]
    fn depth_and_of_type_are_bounded() {
        let bounds = bounds();
        let of_types = |n: usize| {
            format!(
                "{{ __type(name: \"User\") {{ {} name {} }} }}",
                "ofType { ".repeat(n),
                "} ".repeat(n)
            )
        };
        assert!(measure(&bounds, &of_types(MAX_OF_TYPE)).is_ok());
        assert!(
            measure(&bounds, &of_types(MAX_OF_TYPE + 1))
                .unwrap_err()
                .contains("ofType")
        );
        // Four lists and ten ofTypes, each allowed, nest 20 deep.
        let deep = format!(
            "{{ __type(name: \"User\") {{ {} type {{ {} name {} }} {} }} }}",
            "fields { type { ".repeat(3) + "fields { ",
            "ofType { ".repeat(MAX_OF_TYPE),
            "} ".repeat(MAX_OF_TYPE),
            "} } ".repeat(3) + "}"
        );
        assert!(measure(&bounds, &deep).unwrap_err().contains("levels deep"));
    }

    /// Aliases multiplied a long field (`description`) 650 times per type
    /// past the estimate of values (found by review: 50 KB asked for 39 MB).
    #[test]
    fn aliases_below_the_root_are_refused_and_repeats_merge() {
        let bounds = bounds();
        let aliased = "{ __schema { types { fields { d0: description d1: description } } } }";
        assert!(measure(&bounds, aliased).unwrap_err().contains("aliases"));
        let once = measure(&bounds, "{ __schema { types { name } } }").unwrap();
        let twice = measure(
            &bounds,
            "{ __schema { types { name name ...N ...N } } } fragment N on __Type { name }",
        )
        .unwrap();
        assert_eq!(once, twice);
    }

    #[test]
    fn fragments_are_expanded_and_cycles_end() {
        let bounds = bounds();
        let spread = "{ ...R } fragment R on Query { __schema { types { ...P } } } \
                      fragment P on __Type { interfaces { possibleTypes { interfaces { possibleTypes { name } } } } }";
        assert!(measure(&bounds, spread).unwrap_err().contains("lists"));
        let cycle = "{ __schema { types { ...A } } } fragment A on __Type { name ofType { ...A } }";
        assert!(measure(&bounds, cycle).is_ok());
    }
}
