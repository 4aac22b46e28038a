//! The documents a client may send by reference, and a small cache of parsed
//! documents keyed by their text.
//!
//! Clients built from `schema.graphql` send the same few operations over and
//! over, and copying a parsed document costs a fraction of parsing it again
//! (BENCHMARKS.md). Automatic persisted queries (Apollo's protocol) let a
//! client send a document's SHA-256 instead of its text once the server has
//! seen it; trusted documents (`TRUSTED_DOCUMENTS`, a manifest from hash to
//! document) are known from the start, and `TRUSTED_DOCUMENTS_ONLY` refuses
//! everything else. Both caches are per process, not state: a miss on any
//! replica only parses again, or answers `PERSISTED_QUERY_NOT_FOUND` so the
//! client resends the text. They are bounded in entries and in document size,
//! and a full cache is emptied rather than tracked, so a client sending ever
//! new documents costs no more than parsing them.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use async_graphql::{Request, ServerError, parser::types::ExecutableDocument};
use sha2::{Digest, Sha256};

use crate::error::code;

/// Documents longer than this are parsed every time: generated clients send
/// short ones, and a bound on size bounds the cache's memory.
pub const MAX_CACHED_QUERY_BYTES: usize = 4 * 1024;

/// How many distinct documents are kept.
pub const CAPACITY: usize = 256;

/// Documents remembered by hash for automatic persisted queries.
pub const PERSISTED_CAPACITY: usize = 1024;

/// Persisted documents longer than this are not remembered (the client then
/// keeps sending their text, which always works).
pub const MAX_PERSISTED_QUERY_BYTES: usize = 16 * 1024;

#[derive(Default)]
pub struct DocumentCache {
    parsed: RwLock<HashMap<Arc<str>, ExecutableDocument>>,
    /// SHA-256 (lower-case hex) to text, learnt from clients.
    persisted: RwLock<HashMap<String, Arc<str>>>,
    /// SHA-256 to text, from the `TRUSTED_DOCUMENTS` manifest.
    trusted: HashMap<String, Arc<str>>,
    trusted_only: bool,
}

/// Where a request's document came from, once `resolve` has run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A trusted document (by hash or by identical text).
    Trusted,
    /// Any other document.
    Untrusted,
}

pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn persisted_query_not_found() -> ServerError {
    // Apollo's clients look for this message, others for the code.
    let mut error = ServerError::new("PersistedQueryNotFound", None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code::PERSISTED_QUERY_NOT_FOUND);
    error
}

fn bad_persisted_query(message: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", code::BAD_USER_INPUT);
    extensions.set("field", "persistedQuery");
    error
}

impl DocumentCache {
    /// A cache that also knows the trusted documents of `manifest` (a JSON
    /// object from SHA-256, hex, optionally prefixed `sha256:` as newer
    /// graphql-codegen client presets write it, to document text) and, when
    /// `trusted_only`, refuses any other document. A key that is not its
    /// document's SHA-256 (a manifest made with another hash) is refused, so
    /// a wrong manifest stops the start instead of trusting nothing.
    pub fn with_trusted(
        manifest: HashMap<String, String>,
        trusted_only: bool,
    ) -> Result<Self, String> {
        let mut trusted = HashMap::with_capacity(manifest.len());
        for (key, text) in manifest {
            let hash = key
                .strip_prefix("sha256:")
                .unwrap_or(&key)
                .to_ascii_lowercase();
            if hash != sha256_hex(&text) {
                return Err(format!(
                    "`{key}` is not the SHA-256 of its document (generate the manifest with hashAlgorithm: 'sha256')"
                ));
            }
            trusted.insert(hash, Arc::from(text));
        }
        Ok(Self {
            trusted,
            trusted_only,
            ..Self::default()
        })
    }

    pub fn trusted_only(&self) -> bool {
        self.trusted_only
    }

    /// Gives the request its document's text when it sent only a hash
    /// (`extensions.persistedQuery.sha256Hash`), checks a hash sent with the
    /// text, and remembers that text for later requests. Returns whether the
    /// document is a trusted one.
    pub fn resolve(&self, request: &mut Request) -> Result<Source, ServerError> {
        let hash = match request.extensions.get("persistedQuery") {
            None => None,
            Some(async_graphql::Value::Object(apq)) => {
                if apq
                    .get("version")
                    .is_some_and(|v| *v != async_graphql::Value::from(1))
                {
                    return Err(bad_persisted_query(
                        "only version 1 of persisted queries is supported",
                    ));
                }
                match apq.get("sha256Hash") {
                    Some(async_graphql::Value::String(hash)) => Some(hash.to_ascii_lowercase()),
                    _ => return Err(bad_persisted_query("persistedQuery needs a sha256Hash")),
                }
            }
            Some(_) => return Err(bad_persisted_query("persistedQuery must be an object")),
        };
        let Some(hash) = hash else {
            return Ok(self.source_of_text(&request.query));
        };
        if request.query.is_empty() {
            if let Some(text) = self.trusted.get(&hash) {
                request.query = text.to_string();
                return Ok(Source::Trusted);
            }
            let learnt = (!self.trusted_only)
                .then(|| {
                    self.persisted
                        .read()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(&hash)
                        .cloned()
                })
                .flatten();
            return match learnt {
                Some(text) => {
                    request.query = text.to_string();
                    Ok(Source::Untrusted)
                }
                None => Err(persisted_query_not_found()),
            };
        }
        if sha256_hex(&request.query) != hash {
            return Err(bad_persisted_query(
                "persistedQuery.sha256Hash does not match the query",
            ));
        }
        if self.trusted.contains_key(&hash) {
            return Ok(Source::Trusted);
        }
        if !self.trusted_only && request.query.len() <= MAX_PERSISTED_QUERY_BYTES {
            let mut persisted = self.persisted.write().unwrap_or_else(|e| e.into_inner());
            if persisted.len() >= PERSISTED_CAPACITY {
                persisted.clear();
            }
            persisted.insert(hash, Arc::from(request.query.as_str()));
        }
        Ok(Source::Untrusted)
    }

    /// A document sent as text is trusted when the manifest holds the same
    /// text; hashing it is only needed when untrusted documents are refused.
    fn source_of_text(&self, text: &str) -> Source {
        if self.trusted_only && self.trusted.contains_key(&sha256_hex(text)) {
            Source::Trusted
        } else {
            Source::Untrusted
        }
    }

    /// The refusal of an untrusted document under `TRUSTED_DOCUMENTS_ONLY`.
    pub fn refuse_untrusted(&self) -> ServerError {
        persisted_query_not_found()
    }

    /// Puts the request's parsed document into it, from the cache when this
    /// text was parsed before. A document that does not parse is left to
    /// execution, which reports why.
    pub fn parse_cached(&self, request: &mut Request) {
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
        cache.parse_cached(&mut first);
        assert_eq!(cached(&cache), 1);
        let mut second = Request::new(QUERY);
        cache.parse_cached(&mut second);
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
        cache.parse_cached(&mut Request::new("{ users("));
        let long = format!(
            "{{ {} }}",
            "__typename ".repeat(MAX_CACHED_QUERY_BYTES / 10)
        );
        cache.parse_cached(&mut Request::new(long));
        assert_eq!(cached(&cache), 0);
    }

    fn with_hash(query: &str, hash: &str) -> Request {
        let mut request = Request::new(query);
        request.extensions.insert(
            "persistedQuery".into(),
            async_graphql::Value::from_json(
                serde_json::json!({ "version": 1, "sha256Hash": hash }),
            )
            .unwrap(),
        );
        request
    }

    #[test]
    fn a_hash_is_learnt_from_its_text_and_then_enough() {
        let cache = DocumentCache::default();
        let hash = sha256_hex(QUERY);
        let err = cache.resolve(&mut with_hash("", &hash)).unwrap_err();
        assert_eq!(err.message, "PersistedQueryNotFound");

        cache.resolve(&mut with_hash(QUERY, &hash)).unwrap();
        let mut by_hash = with_hash("", &hash.to_uppercase());
        cache.resolve(&mut by_hash).unwrap();
        assert_eq!(by_hash.query, QUERY);
    }

    #[test]
    fn a_hash_that_does_not_match_its_text_is_refused_and_not_learnt() {
        let cache = DocumentCache::default();
        let wrong = sha256_hex("{ me { id } }");
        let err = cache.resolve(&mut with_hash(QUERY, &wrong)).unwrap_err();
        assert!(err.message.contains("does not match"), "{}", err.message);
        assert!(cache.resolve(&mut with_hash("", &wrong)).is_err());
    }

    #[test]
    fn trusted_documents_are_known_by_hash_and_by_text_and_nothing_else_is_learnt() {
        let hash = sha256_hex(QUERY);
        let cache = DocumentCache::with_trusted(
            [(format!("sha256:{hash}"), QUERY.to_owned())].into(),
            true,
        )
        .unwrap();
        let mut by_hash = with_hash("", &hash);
        assert_eq!(cache.resolve(&mut by_hash).unwrap(), Source::Trusted);
        assert_eq!(by_hash.query, QUERY);
        assert_eq!(
            cache.resolve(&mut Request::new(QUERY)).unwrap(),
            Source::Trusted
        );
        let other = "{ me { id } }";
        assert_eq!(
            cache.resolve(&mut Request::new(other)).unwrap(),
            Source::Untrusted
        );
        cache
            .resolve(&mut with_hash(other, &sha256_hex(other)))
            .unwrap();
        assert!(
            cache
                .resolve(&mut with_hash("", &sha256_hex(other)))
                .is_err()
        );
    }

    #[test]
    fn a_manifest_made_with_another_hash_is_refused() {
        let sha1_like = "0123456789abcdef0123456789abcdef01234567".to_owned();
        let err = DocumentCache::with_trusted([(sha1_like, QUERY.to_owned())].into(), true)
            .err()
            .unwrap();
        assert!(err.contains("SHA-256"), "{err}");
    }

    #[test]
    fn a_full_cache_starts_again_rather_than_growing() {
        let cache = DocumentCache::default();
        for i in 0..=CAPACITY {
            cache.parse_cached(&mut Request::new(format!("{{ a{i}: __typename }}")));
        }
        assert_eq!(cached(&cache), 1);
    }
}
