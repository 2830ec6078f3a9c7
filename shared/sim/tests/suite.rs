//! The scenario suite: Quartermaster never strands a critical workload, and one seed
//! reproduces a run byte for byte.

use qm_sim::alloc::NAMES;
use qm_sim::suite::{load_scenario, run_quartermaster, run_world, scenario_files};
use std::path::Path;

fn scenarios() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

#[test]
fn quartermaster_strands_no_critical_workload_on_the_suite() {
    let files = scenario_files(&scenarios()).expect("scenarios dir");
    assert!(files.len() >= 7, "{files:?}");
    for f in files {
        let w = load_scenario(&f, None).expect("scenario loads");
        let m = run_quartermaster(&w).metrics;
        assert_eq!(m.critical_stranded, 0, "{}: seed {}: {m:?}", w.name, w.seed);
    }
}

#[test]
fn one_seed_gives_byte_identical_results() {
    let path = scenarios().join("launch-spike.toml");
    let run = || {
        let w = load_scenario(&path, Some(99)).expect("loads");
        let r = run_world(&w, &NAMES, &Default::default(), false);
        r.results.iter().map(|x| format!("{} {} {:?}", x.allocator, x.metrics.fingerprint(), x.series)).collect::<Vec<_>>()
    };
    let (a, b) = (run(), run());
    assert_eq!(a, b, "seed 99 is not reproducible");
    let other = load_scenario(&path, Some(100)).expect("loads");
    let w99 = load_scenario(&path, Some(99)).expect("loads");
    assert_ne!(other.jobs, w99.jobs, "the seed must change the workload");
}

#[test]
fn trace_csv_replays_on_a_derived_fleet() {
    let dir = std::env::temp_dir().join(format!("qm-sim-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let csv = dir.join("t.csv");
    std::fs::write(&csv, "job_id,submit_s,duration_s,num_gpus,gpu_type,group\n1,0,3600,2,v100,a\n2,,1800,,any,\n3,60,,1,k80,b\n4,120,600,1,v100|k80,b\n")
        .expect("write");
    let (w, parsed) = qm_sim::suite::load_trace(&csv, None, None).expect("loads");
    assert_eq!((parsed.rows.len(), parsed.skipped.len()), (3, 1));
    assert_eq!(w.jobs.len(), 3);
    let m = run_quartermaster(&w).metrics;
    assert_eq!(m.jobs_done, 3, "{m:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_allocator_beats_the_optimum_bound_on_any_scenario() {
    for f in scenario_files(&scenarios()).expect("scenarios dir") {
        let w = load_scenario(&f, None).expect("scenario loads");
        let r = run_world(&w, &NAMES, &Default::default(), true);
        let b = r.bound.expect("bound asked for");
        assert!(b.method.starts_with("LP"), "{}: {b:?}", w.name);
        for res in &r.results {
            let m = &res.metrics;
            assert!(m.utilization <= b.utilization + 1e-9, "{} {}: util {} > {b:?}", w.name, res.allocator, m.utilization);
            assert!(
                m.utilization_norm <= b.utilization_norm + 1e-9,
                "{} {}: norm util {} > {b:?}",
                w.name,
                res.allocator,
                m.utilization_norm
            );
        }
    }
}

#[test]
fn fleet_file_without_teams_lets_trace_groups_share_the_fleet() {
    let dir = std::env::temp_dir().join(format!("qm-sim-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let fleet = dir.join("fleet.toml");
    std::fs::write(
        &fleet,
        "name = \"f\"\nhorizon_h = 0\n[types]\nv100 = 1.0\nk80 = 0.25\n\
         [[pool]]\nid = \"a/v100\"\nregion = \"a\"\naccelerator = \"v100\"\nchips = 8\n\
         [[pool]]\nid = \"a/k80\"\nregion = \"a\"\naccelerator = \"k80\"\nchips = 8\n",
    )
    .expect("write");
    let csv = dir.join("t.csv");
    std::fs::write(&csv, "job_id,submit_s,duration_s,num_gpus,gpu_type,group\n1,0,3600,2,v100,a\n2,0,1800,16,any,b\n3,60,600,1,k80,b\n")
        .expect("write");
    let (w, _) = qm_sim::suite::load_trace(&csv, Some(&fleet), None).expect("a fleet without teams loads");
    let teams: Vec<(&str, f64)> = w.teams.iter().map(|t| (t.id.as_str(), t.guarantee)).collect();
    assert_eq!(teams, [("a", 5.0), ("b", 5.0)], "two groups split 8 + 8 × 0.25 = 10 normalized");
    // The 16-chip gang fits no 8-chip pool: warned about, and it never runs.
    assert_eq!(qm_sim::fleet::fit_warnings(&w).len(), 1);
    let m = run_quartermaster(&w).metrics;
    assert_eq!(m.jobs_done, 2, "{m:?}");
    // Without --fleet the derived fleet fits every gang.
    let (d, _) = qm_sim::suite::load_trace(&csv, None, None).expect("derived");
    assert!(qm_sim::fleet::fit_warnings(&d).is_empty(), "{:?}", d.pools);
    let chips: Vec<u32> = d.pools.iter().map(|p| p.chips).collect();
    // k80: 1 + 16 × 600/7800 of the flexible gang; v100: 2 + 16 × 7200/7800 (p95 levels).
    assert_eq!(chips, [3, 17]);
    let _ = std::fs::remove_dir_all(&dir);
}
