//! Mark-and-sweep over one facet: desired artifacts that exist unchanged are
//! marked (no operation), missing ones are created, changed ones updated; owned
//! artifacts left unmarked are swept (deleted).

use std::collections::BTreeMap;

use crate::host::FacetPlan;

/// Marks `desired` against `current`, adding creates and updates to `plan`.
pub fn mark<K: Ord + Clone, V: PartialEq + Clone>(
    desired: &BTreeMap<K, V>,
    current: &BTreeMap<K, V>,
    plan: &mut FacetPlan<K, V>,
) {
    for (key, want) in desired {
        mark_one(key, want.clone(), current, plan);
    }
}

/// Marks one desired artifact: nothing when it exists unchanged, else a
/// create or an update.
pub fn mark_one<K: Ord + Clone, V: PartialEq>(
    key: &K,
    want: V,
    current: &BTreeMap<K, V>,
    plan: &mut FacetPlan<K, V>,
) {
    match current.get(key) {
        Some(have) if *have == want => {}
        Some(_) => {
            plan.updates.insert(key.clone(), want);
        }
        None => {
            plan.creates.insert(key.clone(), want);
        }
    }
}

/// Sweeps: every key of `candidates` that exists in `current` and is not
/// marked is deleted.
pub fn sweep_unmarked<'k, K: Ord + Clone + 'k, V>(
    candidates: impl IntoIterator<Item = &'k K>,
    current: &BTreeMap<K, V>,
    is_marked: impl Fn(&K) -> bool,
    plan: &mut FacetPlan<K, V>,
) {
    for key in candidates {
        if !is_marked(key) && current.contains_key(key) {
            plan.deletes.insert(key.clone());
        }
    }
}

/// Full diff: mark everything desired, sweep everything else in `current`.
pub fn diff_full<K: Ord + Clone, V: PartialEq + Clone>(
    desired: &BTreeMap<K, V>,
    current: &BTreeMap<K, V>,
) -> FacetPlan<K, V> {
    let mut plan = FacetPlan::default();
    mark(desired, current, &mut plan);
    sweep_unmarked(
        current.keys(),
        current,
        |k| desired.contains_key(k),
        &mut plan,
    );
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(items: &[(&str, i32)]) -> BTreeMap<String, i32> {
        items.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn full_diff_creates_updates_and_sweeps() {
        let desired = map(&[("a", 1), ("b", 2), ("c", 3)]);
        let current = map(&[("a", 1), ("b", 9), ("stale", 0)]);
        let plan = diff_full(&desired, &current);
        assert_eq!(plan.creates, map(&[("c", 3)]));
        assert_eq!(plan.updates, map(&[("b", 2)]));
        assert_eq!(plan.deletes.into_iter().collect::<Vec<_>>(), ["stale"]);
    }

    #[test]
    fn converged_state_gives_an_empty_plan() {
        let desired = map(&[("a", 1), ("b", 2)]);
        assert!(diff_full(&desired, &desired.clone()).is_empty());
    }

    #[test]
    fn sweep_only_touches_candidates_that_exist() {
        let current = map(&[("a", 1), ("b", 2)]);
        let mut plan = FacetPlan::default();
        let candidates = ["a".to_string(), "gone".to_string(), "b".to_string()];
        sweep_unmarked(&candidates, &current, |k| k == "b", &mut plan);
        assert_eq!(plan.deletes.into_iter().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn applying_a_full_diff_converges() {
        let desired = map(&[("a", 1), ("b", 2), ("c", 3)]);
        let mut current = map(&[("a", 0), ("x", 5)]);
        diff_full(&desired, &current).apply_to(&mut current);
        assert_eq!(current, desired);
    }
}
