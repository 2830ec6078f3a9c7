//! The codec's hot paths: encoding and decoding the envelopes every service handles per
//! message (a demand declaration in `QM_INPUT`, a decision in `QM_DECISIONS`, a grant
//! report in `QM_ACTUATION`), and the bare request body a sender puts on `qm.in.>`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use qm_model::*;
use std::hint::black_box;

fn demand() -> InputEvent {
    let accepts = vec![
        AcceleratorThroughput { accelerator: "h100".into(), relative_throughput: 1.0 },
        AcceleratorThroughput { accelerator: "a100".into(), relative_throughput: 0.6 },
    ];
    let spec = WorkloadSpec::elastic("w000123", "t0042", accepts, 64);
    InputEvent::DemandDeclared { spec, chips_desired: 4 }
}

fn decision() -> DecisionRecorded {
    let reason = Reason::new(RuleId::FairShare, "w000123 gets 4 chips in p001 (wants 4)")
        .with(FigureName::ChipsWanted, 4.0)
        .with(FigureName::ChipsGranted, 4.0)
        .with(FigureName::RelativeThroughput, 1.0)
        .with(FigureName::PricePerChipHour, 2.0)
        .with(FigureName::PlacementScore, 1.7)
        .with(FigureName::PoolFreeChips, 3_000.0)
        .with(FigureName::TeamHeld, 80.0)
        .with(FigureName::TeamGuarantee, 100.0)
        .with(FigureName::TeamFairShare, 120.0);
    DecisionRecorded {
        input_seq: 123_456,
        index: 0,
        policy_version: "default-1".into(),
        advisory: false,
        decision: Decision { workload: "w000123".into(), team: "t0042".into(), action: Action::Grant { pool: "p001".into(), chips: 4 }, reason },
    }
}

fn bench(c: &mut Criterion) {
    let id = Uuid::now_v7();
    let input = Envelope::new(id, 1_700_000_000_000, "ingest", None, demand());
    let decided = Envelope::new(id, 1_700_000_000_000, "policy", Some(id), decision());
    let applied = Envelope::new(
        id,
        1_700_000_000_000,
        "actuator",
        Some(id),
        ActuationEvent::GrantApplied { decision_id: id, workload: "w000123".into(), pool: "p001".into(), chips: 4 },
    );
    let input_bytes = encode(&input).expect("encode");
    let decided_bytes = encode(&decided).expect("encode");
    let applied_bytes = encode(&applied).expect("encode");
    let request_bytes = encode_value(&demand()).expect("encode");

    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));
    g.bench_function(format!("encode_demand_envelope_{}B", input_bytes.len()), |b| b.iter(|| encode(black_box(&input))));
    g.bench_function(format!("decode_demand_envelope_{}B", input_bytes.len()), |b| b.iter(|| decode::<InputEvent>(black_box(&input_bytes))));
    g.bench_function(format!("decode_demand_request_{}B", request_bytes.len()), |b| b.iter(|| decode_value::<InputEvent>(black_box(&request_bytes))));
    g.bench_function(format!("encode_decision_envelope_{}B", decided_bytes.len()), |b| b.iter(|| encode(black_box(&decided))));
    g.bench_function(format!("decode_decision_envelope_{}B", decided_bytes.len()), |b| b.iter(|| decode::<DecisionRecorded>(black_box(&decided_bytes))));
    g.bench_function(format!("encode_grant_applied_envelope_{}B", applied_bytes.len()), |b| b.iter(|| encode(black_box(&applied))));
    g.bench_function(format!("decode_grant_applied_envelope_{}B", applied_bytes.len()), |b| b.iter(|| decode::<ActuationEvent>(black_box(&applied_bytes))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
