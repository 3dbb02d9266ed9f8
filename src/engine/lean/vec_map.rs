//! An ordered map in two sorted vectors, for the engine's maps of keys to
//! file references, known entries, cached content, stored content's
//! metadata and a local bucket's objects.
//!
//! Why not `BTreeMap` or `HashMap`: each B-tree instantiation put 4-6 KB
//! of node code into the .wasm (18 KB for three), hash maps brought
//! hashbrown and SipHash, and the maps here hold at most
//! some thousands of entries, read far more often than written. A binary
//! search over a key vector is as fast for that, and an insert's shift of
//! a few thousand pointers costs microseconds. Keys and values live apart
//! so that the search is the same code whatever the value type.

use crate::prelude::*;

use alloc::borrow::Borrow;
use core::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct VecMap<K, V> {
    keys: Vec<K>,
    values: Vec<V>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap {
            keys: Vec::new(),
            values: Vec::new(),
        }
    }
}

impl<K: Ord, V> VecMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Where `key` is (`Ok`) or would go (`Err`).
    fn find<Q: Ord + ?Sized>(&self, key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        self.keys.binary_search_by(|k| k.borrow().cmp(key))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &self.values[i])
    }

    pub fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.find(key).ok().map(|i| &mut self.values[i])
    }

    pub fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.find(key).is_ok()
    }

    /// Inserts or replaces; the value replaced, if any.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(core::mem::replace(&mut self.values[i], value)),
            Err(i) => {
                self.keys.insert(i, key);
                self.values.insert(i, value);
                None
            }
        }
    }

    pub fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let i = self.find(key).ok()?;
        self.keys.remove(i);
        Some(self.values.remove(i))
    }

    /// The value under `key`, inserted as `V::default()` if there was none.
    pub fn entry_or_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let i = match self.find(&key) {
            Ok(i) => i,
            Err(i) => {
                self.keys.insert(i, key);
                self.values.insert(i, V::default());
                i
            }
        };
        &mut self.values[i]
    }

    /// In key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + Clone {
        self.keys.iter().zip(self.values.iter())
    }

    /// The entries whose key is `from` or after it, in key order.
    pub fn iter_from<Q: Ord + ?Sized>(&self, from: &Q) -> impl Iterator<Item = (&K, &V)>
    where
        K: Borrow<Q>,
    {
        let start = self.find(from).unwrap_or_else(|i| i);
        self.iter().skip(start)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + Clone {
        self.values.iter()
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for VecMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = VecMap::new();
        for (k, v) in iter {
            map.insert(k, v);
        }
        map
    }
}

impl<'a, K: Ord, V> IntoIterator for &'a VecMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = core::iter::Zip<core::slice::Iter<'a, K>, core::slice::Iter<'a, V>>;
    fn into_iter(self) -> Self::IntoIter {
        self.keys.iter().zip(self.values.iter())
    }
}

impl<K: fmt::Debug + Ord, V: fmt::Debug> fmt::Debug for VecMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Random operations on both maps, compared after each (a small
    /// deterministic generator: the core has no `rand`).
    #[test]
    fn behaves_as_a_btree_map() {
        let mut seed = 0x9e37_79b9_u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut ours: VecMap<String, u64> = VecMap::new();
        let mut theirs: BTreeMap<String, u64> = BTreeMap::new();
        for step in 0..5000 {
            let key = format!("k{}", next(300));
            match next(20) {
                0..=7 => assert_eq!(
                    ours.insert(key.clone(), step),
                    theirs.insert(key.clone(), step)
                ),
                8..=10 => assert_eq!(ours.remove(&key), theirs.remove(&key)),
                11..=13 => {
                    *ours.entry_or_default(key.clone()) += 1;
                    *theirs.entry(key.clone()).or_default() += 1;
                }
                14..=18 => {
                    let from: Vec<_> = ours.iter_from(key.as_str()).collect();
                    let want: Vec<_> = theirs.range(key.clone()..).collect();
                    assert_eq!(from, want);
                }
                // Rarely: each drops a third of the map.
                _ if next(10) == 0 => {
                    let n = next(3);
                    let gone: Vec<String> = theirs
                        .iter()
                        .filter(|(_, v)| *v % 3 == n)
                        .map(|(k, _)| k.clone())
                        .collect();
                    for k in gone {
                        assert_eq!(ours.remove(&k), theirs.remove(&k));
                    }
                }
                _ => {}
            }
            assert_eq!(ours.len(), theirs.len());
            assert_eq!(ours.get(&key), theirs.get(&key));
            assert_eq!(ours.contains_key(&key), theirs.contains_key(&key));
        }
        assert!(ours.iter().eq(theirs.iter()));
        assert!(ours.len() > 50, "the run kept a map of some size");
    }
}
