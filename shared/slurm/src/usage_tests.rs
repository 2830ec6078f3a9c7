use super::*;
use crate::tres::parse_limits;

fn held(items: &[(&str, f64)]) -> BTreeMap<Key, f64> {
    items.iter().map(|(w, c)| (("ml".to_owned(), (*w).to_owned()), *c)).collect()
}

/// Given samples every 2 s in 10 s windows, the window's usage is their mean; a
/// workload missing from some samples counts 0 there; the window closes at the first
/// sample of the next one (or on the timer).
#[test]
fn windows_average_their_samples() {
    let mut r = Rollup::new(10);
    r.add(0, &held(&[("a", 4.0), ("b", 2.0)]));
    r.add(2_000, &held(&[("a", 2.0)]));
    assert!(r.outbox.is_empty());
    r.add(10_000, &held(&[("a", 1.0)]));
    assert_eq!(r.outbox.len(), 2);
    assert_eq!(r.outbox[0], Report { team: "ml".into(), workload: "a".into(), window_start_ms: 0, window_s: 10, chips_busy: 3.0 });
    assert_eq!(r.outbox[1].chips_busy, 1.0, "b: 2 then absent");
    r.close_if_over(19_999);
    assert_eq!(r.outbox.len(), 2);
    r.close_if_over(20_000);
    assert_eq!(r.outbox.len(), 3);
    assert_eq!(r.outbox[2].window_start_ms, 10_000);
    assert_ne!(r.outbox[0].key(), r.outbox[2].key());
}

/// A restart from the checkpoint continues the same window: nothing sampled is lost and
/// nothing is counted twice.
#[test]
fn a_checkpointed_rollup_resumes_where_it_was() {
    let mut r = Rollup::new(10);
    r.add(1_000, &held(&[("a", 4.0)]));
    let saved: Rollup = serde_json_roundtrip(&r);
    let mut resumed = saved;
    resumed.add(3_000, &held(&[("a", 0.0)]));
    resumed.close_if_over(10_000);
    assert_eq!(resumed.outbox[0].chips_busy, 2.0);
    let report = resumed.outbox[0].clone();
    resumed.sent(&report);
    assert!(resumed.outbox.is_empty());
}

fn serde_json_roundtrip(r: &Rollup) -> Rollup {
    let text = toml::to_string(r).expect("serialize");
    toml::from_str(&text).expect("deserialize")
}

#[test]
fn outbox_is_bounded() {
    let mut r = Rollup::new(1);
    for i in 0..(OUTBOX_MAX as i64 + 10) {
        r.add(i * 1_000, &held(&[("a", 1.0)]));
    }
    assert_eq!(r.outbox.len(), OUTBOX_MAX);
    assert_eq!(r.dropped, 9);
}

#[test]
fn stale_samples_are_ignored() {
    let mut r = Rollup::new(10);
    r.add(15_000, &held(&[("a", 1.0)]));
    r.add(5_000, &held(&[("a", 9.0)]));
    assert_eq!(r.samples, 1);
}

/// Sampling squeue: running jobs of qm-* QOS count their GPUs of the mapped types;
/// granted workloads without jobs are reported idle; other jobs are not ours.
#[test]
fn samples_gpus_held_per_workload() {
    let job = |qos: &str, state: &str, alloc: &str| Job {
        id: 1,
        qos: qos.into(),
        account: "ml".into(),
        partition: "h100".into(),
        state: state.into(),
        start: "x".into(),
        alloc: parse_limits(alloc),
    };
    let jobs = vec![
        job("qm-a", "RUNNING", "gres/gpu=2,gres/gpu:h100=2"),
        job("qm-a", "RUNNING", "gres/gpu=1,gres/gpu:a100=1"),
        job("qm-a", "PENDING", "gres/gpu=4,gres/gpu:h100=4"),
        job("normal", "RUNNING", "gres/gpu=1,gres/gpu:h100=1"),
    ];
    let types: BTreeSet<&str> = ["h100", "a100"].into_iter().collect();
    let granted: BTreeMap<String, String> = [("idle".to_owned(), "search".to_owned())].into_iter().collect();
    let s = sample(&jobs, "qm-", &types, &granted);
    assert_eq!(s.get(&("ml".into(), "a".into())), Some(&3.0));
    assert_eq!(s.get(&("search".into(), "idle".into())), Some(&0.0));
    assert_eq!(s.len(), 2);
}

#[test]
fn reads_granted_workloads_from_qos_rows() {
    let rows = "normal||\nqm-a|Quartermaster workload a team ml|gres/gpu:h100=2,gres/gpu=2\nqm-b|Quartermaster workload b team ml|gres/gpu:h100=0,gres/gpu=0\nqm-c||gres/gpu=1\n";
    let g = granted_workloads(rows, "qm-");
    assert_eq!(g.into_iter().collect::<Vec<_>>(), vec![("a".to_owned(), "ml".to_owned())]);
}
