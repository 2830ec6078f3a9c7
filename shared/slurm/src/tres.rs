//! `GrpTRES` lists: what sacctmgr stores, what slurmctld enforces, and what a grant sets.
//!
//! A workload's QOS carries one `gres/gpu:<type>` limit per pool (0 where it holds
//! nothing, so it cannot borrow by just submitting) and `gres/gpu` = their sum: Slurm
//! counts a request without a type only against `gres/gpu`, so the sum bounds those too.

use std::collections::{BTreeMap, BTreeSet};

/// TRES name -> limit, e.g. `gres/gpu:h100` -> 2.
pub type Limits = BTreeMap<String, u64>;

/// The TRES name of a GPU type.
pub fn gpu_tres(gpu_type: &str) -> String {
    format!("gres/gpu:{gpu_type}")
}

/// The TRES name of all GPUs, typed or not.
pub const GPU_TOTAL: &str = "gres/gpu";

/// Parses sacctmgr's `GrpTRES` column, `gres/gpu:a100=0,gres/gpu=2`; an empty column is
/// no limits. Entries that are not `name=count` are skipped (Slurm writes none).
pub fn parse_limits(column: &str) -> Limits {
    column
        .split(',')
        .filter_map(|item| {
            let (name, value) = item.trim().split_once('=')?;
            Some((name.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// Parses the `GrpTRES=` line of `scontrol show assoc_mgr flags=qos`, where each entry is
/// `name=limit(used)` and a limit of `N` means none: the limits slurmctld enforces now.
pub fn parse_enforced(text: &str) -> Limits {
    let Some(line) = text.lines().map(str::trim).find_map(|l| l.strip_prefix("GrpTRES=")) else {
        return Limits::new();
    };
    line.split(',')
        .filter_map(|item| {
            let (name, rest) = item.split_once('=')?;
            let limit = rest.split('(').next()?;
            Some((name.to_owned(), limit.parse().ok()?))
        })
        .collect()
}

/// The GPU limits the QOS should carry once the workload holds `chips` of `gpu_type`:
/// the other types keep their current limit (0 if unset), and the total is the sum.
pub fn limits_for(current: &Limits, gpu_types: &BTreeSet<&str>, gpu_type: &str, chips: u32) -> Limits {
    let mut wanted = Limits::new();
    for &t in gpu_types {
        let name = gpu_tres(t);
        let value = if t == gpu_type { u64::from(chips) } else { current.get(&name).copied().unwrap_or(0) };
        wanted.insert(name, value);
    }
    let total = wanted.values().sum();
    wanted.insert(GPU_TOTAL.to_owned(), total);
    wanted
}

/// The entries of `wanted` that `current` does not already have, as `sacctmgr set
/// GrpTRES=` takes them (it merges: entries not named keep their value); `None` when
/// there is nothing to change, so re-applying a grant sends nothing to Slurm.
pub fn changes(current: &Limits, wanted: &Limits) -> Option<String> {
    let items: Vec<String> = wanted
        .iter()
        .filter(|(name, value)| current.get(*name) != Some(value))
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    (!items.is_empty()).then(|| items.join(","))
}

/// Whether the limits slurmctld enforces include every entry of `wanted`.
pub fn shows(enforced: &Limits, wanted: &Limits) -> bool {
    wanted.iter().all(|(name, value)| enforced.get(name) == Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn types() -> BTreeSet<&'static str> {
        ["a100", "h100"].into_iter().collect()
    }

    #[test]
    fn parses_both_forms() {
        let stored = parse_limits("gres/gpu:a100=0,gres/gpu:h100=2,gres/gpu=2");
        assert_eq!(stored.get("gres/gpu:h100"), Some(&2));
        assert_eq!(stored.len(), 3);
        assert!(parse_limits("").is_empty());
        let shown = "QOS=qm-w1(3)\n    GrpJobs=N(1)\n    GrpTRES=cpu=N(1),mem=N(0),gres/gpu=2(2),gres/gpu:a100=0(0),gres/gpu:h100=2(2)\n    GrpTRESMins=cpu=N(0)\n";
        let enforced = parse_enforced(shown);
        assert_eq!(enforced, parse_limits("gres/gpu=2,gres/gpu:a100=0,gres/gpu:h100=2"), "N entries are no limit");
        assert!(parse_enforced("no such qos").is_empty());
    }

    /// Given a QOS with h100=2, when the workload is granted 3 a100, then a100 becomes 3,
    /// h100 stays 2 and the total is 5; re-applying changes nothing.
    #[test]
    fn grant_sets_one_type_and_the_total() {
        let current = parse_limits("gres/gpu:h100=2,gres/gpu=2");
        let wanted = limits_for(&current, &types(), "a100", 3);
        assert_eq!(wanted, parse_limits("gres/gpu:a100=3,gres/gpu:h100=2,gres/gpu=5"));
        assert_eq!(changes(&current, &wanted).as_deref(), Some("gres/gpu=5,gres/gpu:a100=3"));
        assert_eq!(changes(&wanted, &wanted), None);
        assert!(shows(&wanted, &wanted));
        assert!(!shows(&current, &wanted));
    }

    #[test]
    fn a_new_qos_gets_zero_for_every_other_type() {
        let wanted = limits_for(&Limits::new(), &types(), "h100", 4);
        assert_eq!(wanted, parse_limits("gres/gpu:a100=0,gres/gpu:h100=4,gres/gpu=4"));
    }

    proptest! {
        /// For any current limits and grant: the total is the sum of the typed limits,
        /// only the granted type moves, and applying the changes reaches a fixed point.
        #[test]
        fn grants_are_consistent_and_idempotent(h in 0u64..64, a in 0u64..64, other in 0u64..9, chips in 0u32..64, on_h100 in any::<bool>()) {
            let mut current = Limits::new();
            current.insert(gpu_tres("h100"), h);
            current.insert(gpu_tres("a100"), a);
            current.insert("cpu".into(), other);
            let gpu_type = if on_h100 { "h100" } else { "a100" };
            let wanted = limits_for(&current, &types(), gpu_type, chips);
            prop_assert_eq!(wanted[GPU_TOTAL], wanted[&gpu_tres("h100")] + wanted[&gpu_tres("a100")]);
            prop_assert_eq!(wanted[&gpu_tres(gpu_type)], u64::from(chips));
            let untouched = if on_h100 { ("a100", a) } else { ("h100", h) };
            prop_assert_eq!(wanted[&gpu_tres(untouched.0)], untouched.1);
            let mut after = current.clone();
            after.extend(wanted.clone());
            prop_assert_eq!(changes(&after, &limits_for(&after, &types(), gpu_type, chips)), None);
            prop_assert!(shows(&after, &wanted));
        }
    }
}
