//! Gavel's max-min LP (microlp) at the sizes a round sees: the first N jobs of Gavel's VC
//! 2869ce trace (its measured throughputs, sizes 1-8) on 36 V100 + 36 P100 + 36 K80.
//! The simulator solves it only when the allocation is recomputed (at most every 32 min).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use qm_sim::alloc::gavel::lp::{max_min_perf, LpJob};
use std::hint::black_box;
use std::path::Path;

fn jobs() -> Vec<LpJob> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios/gavel/vc-2869ce.toml");
    let w = qm_sim::suite::load_scenario(&path, None).expect("the committed VC scenario loads");
    w.jobs.iter().map(|j| LpJob { tp: j.tp.clone(), chips: j.chips, weight: 1.0 }).collect()
}

fn bench(c: &mut Criterion) {
    let all = jobs();
    let cap = [36.0, 36.0, 36.0];
    let mut g = c.benchmark_group("gavel_max_min_lp");
    g.sample_size(10);
    for n in [50, 150, 300, 533] {
        let js = &all[..n.min(all.len())];
        g.bench_with_input(BenchmarkId::from_parameter(n), js, |b, js| b.iter(|| black_box(max_min_perf(js, &cap))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
