//! Ingest's per-request work without the bus: decode the request body and validate it
//! against the subject and the known fleet (a demand change and a usage sample), with
//! 50 teams and 10,000 known workloads.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use qm_ingest::known::Known;
use qm_ingest::validate::validate;
use qm_model::*;
use std::hint::black_box;

fn spec(w: usize) -> WorkloadSpec {
    let accepts = vec![
        AcceleratorThroughput { accelerator: "h100".into(), relative_throughput: 1.0 },
        AcceleratorThroughput { accelerator: "a100".into(), relative_throughput: 0.6 },
    ];
    WorkloadSpec::elastic(format!("w{w:06}"), format!("t{:04}", w % 50), accepts, 64)
}

fn bench(c: &mut Criterion) {
    let known = Known::default();
    for t in 0..50 {
        let team = Team { id: format!("t{t:04}").into(), guarantee: 100.0, limit: None, weight: 1.0, tier: PriorityTier::Normal, regions: vec![], headroom_fraction: 0.1 };
        known.observe(&InputEvent::TeamDeclared(team));
    }
    for w in 0..10_000 {
        known.observe(&InputEvent::DemandDeclared { spec: spec(w), chips_desired: 2 });
    }
    let demand = encode_value(&InputEvent::DemandDeclared { spec: spec(123), chips_desired: 4 }).expect("encode");
    let usage = encode_value(&InputEvent::UsageReported { workload: "w000123".into(), chips_busy: 4.0, window_s: 10 }).expect("encode");
    let mut g = c.benchmark_group("ingest_validate");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decode_and_validate_demand", |b| {
        b.iter(|| {
            let event: InputEvent = decode_value(black_box(&demand)).expect("decode");
            validate("qm.in.demand.t0023.w000123", event, &known)
        })
    });
    g.bench_function("decode_and_validate_usage", |b| {
        b.iter(|| {
            let event: InputEvent = decode_value(black_box(&usage)).expect("decode");
            validate("qm.in.usage.t0023.w000123", event, &known)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
