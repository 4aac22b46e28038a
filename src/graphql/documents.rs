//! A small cache of parsed GraphQL documents keyed by their text. Clients
//! built from `schema.graphql` send the same few operations over and over,
//! and copying a parsed document costs a fraction of parsing it again
//! (BENCHMARKS.md). It is a per-process cache, not state: a miss, on any
//! replica, only parses again. It is bounded in entries and in document size,
//! and a full cache is emptied rather than tracked, so a client sending ever
//! new documents costs no more than parsing them.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use async_graphql::{Request, parser::types::ExecutableDocument};

/// Documents longer than this are parsed every time: generated clients send
/// short ones, and a bound on size bounds the cache's memory.
pub const MAX_CACHED_QUERY_BYTES: usize = 4 * 1024;

/// How many distinct documents are kept.
pub const CAPACITY: usize = 256;

#[derive(Default)]
pub struct DocumentCache {
    parsed: RwLock<HashMap<Arc<str>, ExecutableDocument>>,
}

impl DocumentCache {
    /// Puts the request's parsed document into it, from the cache when this
    /// text was parsed before. A document that does not parse is left to
    /// execution, which reports why.
    pub fn prepare(&self, request: &mut Request) {
        if request.query.len() > MAX_CACHED_QUERY_BYTES {
            return;
        }
        // A poisoned lock only means another request panicked mid-insert;
        // the map itself is still whole.
        let hit = self
            .parsed
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(request.query.as_str())
            .cloned();
        if let Some(doc) = hit {
            request.set_parsed_query(doc);
            return;
        }
        let Ok(doc) = request.parsed_query() else {
            return;
        };
        let doc = doc.clone();
        let mut parsed = self.parsed.write().unwrap_or_else(|e| e.into_inner());
        if parsed.len() >= CAPACITY {
            parsed.clear();
        }
        parsed.insert(Arc::from(request.query.as_str()), doc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUERY: &str = "{ users(first: 2) { edges { node { id } } } }";

    fn cached(cache: &DocumentCache) -> usize {
        cache.parsed.read().unwrap().len()
    }

    #[test]
    fn a_document_sent_again_is_served_from_the_cache_and_equals_a_fresh_parse() {
        let cache = DocumentCache::default();
        let mut first = Request::new(QUERY);
        cache.prepare(&mut first);
        assert_eq!(cached(&cache), 1);
        let mut second = Request::new(QUERY);
        cache.prepare(&mut second);
        assert_eq!(cached(&cache), 1);
        let fresh = async_graphql::parser::parse_query(QUERY).unwrap();
        assert_eq!(
            format!("{:?}", second.parsed_query().unwrap()),
            format!("{fresh:?}")
        );
    }

    #[test]
    fn documents_that_do_not_parse_or_are_too_long_are_not_cached() {
        let cache = DocumentCache::default();
        cache.prepare(&mut Request::new("{ users("));
        let long = format!(
            "{{ {} }}",
            "__typename ".repeat(MAX_CACHED_QUERY_BYTES / 10)
        );
        cache.prepare(&mut Request::new(long));
        assert_eq!(cached(&cache), 0);
    }

    #[test]
    fn a_full_cache_starts_again_rather_than_growing() {
        let cache = DocumentCache::default();
        for i in 0..=CAPACITY {
            cache.prepare(&mut Request::new(format!("{{ a{i}: __typename }}")));
        }
        assert_eq!(cached(&cache), 1);
    }
}
