//! One small stable sort for the few short lists the server sorts (device-tree nodes, phandles,
//! a request's byte ranges, the site's files, which the packer already writes in order).
//!
//! `core`'s `sort_by_key` is much faster on long random input, but each use of it compiles to
//! 2-4 KB of code (driftsort, its quicksort and small-sort paths); five uses were 15 KB of a
//! kernel that aims at 300 KB. Binary insertion is a few hundred bytes, O(n log n) comparisons,
//! and does no move at all on input that is already in order, the common case here; its
//! worst case is O(n²) moves, fine for the lists above (at most a few hundred entries, or
//! sorted).

/// Sorts `items` by `key`, stably (equal keys keep their order).
pub fn sort_by_key<T, K: Ord>(items: &mut [T], key: impl Fn(&T) -> K) {
    for index in 1..items.len() {
        let Some((item, before)) = items.get(..=index).and_then(|part| part.split_last()) else {
            break;
        };
        let item_key = key(item);
        // After every earlier item whose key is not greater: stable.
        let position = before.partition_point(|earlier| key(earlier) <= item_key);
        if let Some(moved) = items.get_mut(position..=index) {
            moved.rotate_right(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    proptest! {
        /// The same order as `core`'s stable sort, equal keys included.
        #[test]
        fn sorts_as_the_stable_sort_of_core(keys in proptest::collection::vec(0u8..8, 0..64)) {
            let mut items: Vec<(u8, usize)> = keys.iter().copied().zip(0..).collect();
            let mut expected = items.clone();
            expected.sort_by_key(|&(key, _)| key);
            sort_by_key(&mut items, |&(key, _)| key);
            prop_assert_eq!(items, expected);
        }
    }
}
