//! A cache of immutable values bounded by bytes, least recently used out.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::rc::Rc;

/// Values are `Rc<str>`; their length is their cost. One larger than the
/// whole budget is not kept (the caller still has it).
pub struct Lru<K> {
    budget: usize,
    used: usize,
    tick: u64,
    entries: HashMap<K, (Rc<str>, u64)>,
    /// Last use → key, oldest first.
    order: BTreeMap<u64, K>,
}

impl<K: Hash + Eq + Clone> Lru<K> {
    pub fn new(budget: usize) -> Lru<K> {
        Lru {
            budget,
            used: 0,
            tick: 0,
            entries: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    pub fn get(&mut self, key: &K) -> Option<Rc<str>> {
        self.tick += 1;
        let tick = self.tick;
        let (value, last) = self.entries.get_mut(key)?;
        self.order.remove(last);
        *last = tick;
        self.order.insert(tick, key.clone());
        Some(value.clone())
    }

    pub fn insert(&mut self, key: K, value: Rc<str>) {
        if let Some((old, last)) = self.entries.remove(&key) {
            self.used -= old.len();
            self.order.remove(&last);
        }
        if value.len() > self.budget {
            return;
        }
        while self.used + value.len() > self.budget {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            if let Some((v, _)) = self.entries.remove(&oldest) {
                self.used -= v.len();
            }
        }
        self.tick += 1;
        self.used += value.len();
        self.order.insert(self.tick, key.clone());
        self.entries.insert(key, (value, self.tick));
    }

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
