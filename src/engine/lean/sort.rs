//! One stable sort for the whole crate.
//!
//! The standard library's sort is generic: every element type (and every
//! comparator) sorted gets its own copy, 3-4 KB of .wasm each, and even
//! one copy (driftsort, with its small-sort networks) is 3.6 KB. Here a
//! plain merge sort runs on indices, with the comparison behind a `dyn`,
//! and the elements are then moved into place: one small copy for all.
//! What it sorts is short (a listing page, a request's headers), and
//! O(n log n) either way.

use crate::prelude::*;

use core::cmp::Ordering;

/// Sorts `v` by `cmp`, keeping equal elements in their order.
pub fn sort_by<T>(v: &mut Vec<T>, cmp: impl Fn(&T, &T) -> Ordering) {
    let mut order = indices(v.len());
    sort_indices(&mut order, &|a, b| cmp(&v[a], &v[b]));
    // Loops, not iterator adapters: this part is copied for each type.
    let mut slots = Vec::new();
    for x in core::mem::take(v) {
        slots.push(Some(x));
    }
    for i in order {
        if let Some(x) = slots[i].take() {
            v.push(x);
        }
    }
}

#[inline(never)]
fn indices(n: usize) -> Vec<usize> {
    let mut order = Vec::with_capacity(n);
    for i in 0..n {
        order.push(i);
    }
    order
}

/// Bottom-up merge sort: runs of 1, 2, 4, ... merged pairwise from
/// `order` into a buffer and back. Stable: on a tie the left run's
/// element goes first.
#[inline(never)]
fn sort_indices(order: &mut Vec<usize>, cmp: &dyn Fn(usize, usize) -> Ordering) {
    let n = order.len();
    let mut merged = vec![0; n];
    let mut width = 1;
    while width < n {
        let mut lo = 0;
        while lo < n {
            let mid = (lo + width).min(n);
            let hi = (lo + 2 * width).min(n);
            let (mut i, mut j) = (lo, mid);
            for slot in &mut merged[lo..hi] {
                let left = i < mid && (j == hi || cmp(order[j], order[i]) != Ordering::Less);
                if left {
                    *slot = order[i];
                    i += 1;
                } else {
                    *slot = order[j];
                    j += 1;
                }
            }
            lo = hi;
        }
        core::mem::swap(order, &mut merged);
        width *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_stably_as_the_standard_sort_does() {
        let mut seed = 7u64;
        for len in [0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 25, 200, 1000, 1025] {
            let mut v: Vec<(u8, usize)> = (0..len)
                .map(|i| {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    ((seed >> 59) as u8, i)
                })
                .collect();
            let mut want = v.clone();
            want.sort_by_key(|a| a.0);
            sort_by(&mut v, |a, b| a.0.cmp(&b.0));
            assert_eq!(v, want, "length {len}");
        }
    }
}
