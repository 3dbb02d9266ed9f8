//! A cache of immutable values bounded by bytes, least recently used out.

use crate::engine::lean::vec_map::VecMap;
use alloc::rc::Rc;

/// Values are `Rc<str>`; their length is their cost. One larger than the
/// whole budget is not kept (the caller still has it). Eviction scans for
/// the oldest use: it is rarer than reads, and an ordered index costs the
/// .wasm more code (a B-tree instantiation) than the scan costs time.
pub struct Lru<K> {
    budget: usize,
    used: usize,
    tick: u64,
    entries: VecMap<K, (Rc<str>, u64)>,
}

impl<K: Ord + Clone> Lru<K> {
    pub fn new(budget: usize) -> Lru<K> {
        Lru {
            budget,
            used: 0,
            tick: 0,
            entries: VecMap::new(),
        }
    }

    pub fn get(&mut self, key: &K) -> Option<Rc<str>> {
        self.tick += 1;
        let tick = self.tick;
        let (value, last) = self.entries.get_mut(key)?;
        *last = tick;
        Some(value.clone())
    }

    pub fn insert(&mut self, key: K, value: Rc<str>) {
        if let Some((old, _)) = self.entries.remove(&key) {
            self.used -= old.len();
        }
        if value.len() > self.budget {
            return;
        }
        while self.used + value.len() > self.budget {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, last))| *last)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((v, _)) = self.entries.remove(&oldest) {
                self.used -= v.len();
            }
        }
        self.tick += 1;
        self.used += value.len();
        self.entries.insert(key, (value, self.tick));
    }

    #[cfg(test)]
    pub fn used_bytes(&self) -> usize {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_least_recently_used_within_the_byte_budget() {
        let mut c = Lru::new(10);
        c.insert("a", "aaaa".into());
        c.insert("b", "bbbb".into());
        assert_eq!(c.get(&"a").as_deref(), Some("aaaa")); // a is now newer than b
        c.insert("c", "cccc".into()); // 12 > 10: b goes
        assert!(c.get(&"b").is_none());
        assert_eq!(c.get(&"a").as_deref(), Some("aaaa"));
        assert_eq!(c.get(&"c").as_deref(), Some("cccc"));
        assert_eq!(c.used_bytes(), 8);
        c.insert("huge", "x".repeat(11).into());
        assert!(c.get(&"huge").is_none(), "larger than the budget: not kept");
        assert_eq!(c.used_bytes(), 8);
        c.insert("a", "a".into()); // replacing frees the old size
        assert_eq!(c.used_bytes(), 5);
    }
}
