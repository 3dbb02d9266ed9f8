//! The bound on content kept in the durable store (`offlineBytes`): least
//! recently used content goes first. Only content: queued writes carry
//! their own values, and the state is small.
//!
//! Each stored content object has a small metadata record (size, last
//! use) in its own table, so the index is one cheap scan at first use,
//! whatever the size of the content itself.

use crate::prelude::*;

use crate::engine::lean::scan::number;
use crate::engine::lean::vec_map::VecMap;

/// Content keys by last use, with their sizes.
#[derive(Default, Debug)]
pub struct StoredLru {
    entries: VecMap<String, (usize, u64)>,
    total: usize,
}

impl StoredLru {
    /// Metadata as stored: `"<bytes> <last use>"`.
    pub fn meta(bytes: usize, used: u64) -> String {
        cat!(bytes, " ", used)
    }

    pub fn parse_meta(text: &str) -> Option<(usize, u64)> {
        let (b, u) = text.split_once(' ')?;
        Some((number(b, 10)? as usize, number(u, 10)?))
    }

    #[cfg(test)]
    pub fn total(&self) -> usize {
        self.total
    }

    /// Records a use (or a new entry) of `key`.
    pub fn touch(&mut self, key: &str, bytes: usize, used: u64) {
        if let Some((old_bytes, _)) = self.entries.remove(key) {
            self.total -= old_bytes;
        }
        self.entries.insert(key.to_string(), (bytes, used));
        self.total += bytes;
    }

    /// Keys to evict, least recently used first, until `budget` holds;
    /// never `keep` (the content just stored). Removes them from the index.
    pub fn evict(&mut self, budget: usize, keep: &str) -> Vec<String> {
        let mut out = Vec::new();
        while self.total > budget {
            // The least recently used (a scan: eviction is rare, and a
            // second ordered index would cost more code than it saves).
            let Some(key) = self
                .entries
                .iter()
                .filter(|(k, _)| k.as_str() != keep)
                .min_by_key(|(k, (_, used))| (*used, k.as_str()))
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            let (bytes, _) = self.entries.remove(&key).expect("indexed");
            self.total -= bytes;
            out.push(key);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_first_and_never_the_newest() {
        let mut lru = StoredLru::default();
        lru.touch("a", 40, 1);
        lru.touch("b", 40, 2);
        lru.touch("c", 40, 3);
        lru.touch("a", 40, 4); // a used again
        assert_eq!(lru.total(), 120);
        assert_eq!(lru.evict(80, "c"), vec!["b".to_string()]);
        assert_eq!(lru.evict(10, "c"), vec!["a".to_string()]);
        assert_eq!(lru.total(), 40, "the content just stored stays");
        assert_eq!(
            StoredLru::parse_meta(&StoredLru::meta(12, 34)),
            Some((12, 34))
        );
        assert_eq!(StoredLru::parse_meta("12"), None);
    }
}
