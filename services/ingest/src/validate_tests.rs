use super::*;
use qm_model::{AcceleratorThroughput, PriorityTier};

fn known() -> Known {
    let known = Known::default();
    known.observe(&InputEvent::TeamDeclared(team("ml")));
    known.observe(&InputEvent::TeamDeclared(team("search")));
    known.observe(&InputEvent::PoolDeclared(pool("use1-h100")));
    known.observe(&InputEvent::DemandDeclared { spec: spec("ml", "w1"), chips_desired: 8 });
    known
}

fn team(id: &str) -> Team {
    Team {
        id: id.into(),
        guarantee: 8.0,
        limit: None,
        weight: 1.0,
        tier: PriorityTier::Normal,
        regions: vec![],
        headroom_fraction: 0.1,
    }
}

fn pool(id: &str) -> Pool {
    Pool {
        id: id.into(),
        region: "us-east".into(),
        accelerator: "h100".into(),
        chips: 64,
        healthy_chips: 64,
        allocation_unit: 8,
        price_per_chip_hour: 4.916,
    }
}

fn spec(team: &str, id: &str) -> WorkloadSpec {
    let h100 = vec![AcceleratorThroughput { accelerator: "h100".into(), relative_throughput: 1.0 }];
    WorkloadSpec { chips_min: 8, chips_step: 8, drain_grace_s: 60, ..WorkloadSpec::elastic(id, team, h100, 16) }
}

fn demand(spec: WorkloadSpec, chips_desired: u32) -> InputEvent {
    InputEvent::DemandDeclared { spec, chips_desired }
}

fn code_of(subject: &str, event: InputEvent) -> Option<RejectCode> {
    validate(subject, event, &known()).err().map(|r| r.code)
}

#[test]
fn accepts_well_formed_input_and_maps_it_to_an_input_subject() {
    let accepted = validate("qm.in.demand.ml.w2", demand(spec("ml", "w2"), 8), &known()).expect("valid");
    assert_eq!(accepted.subject, "qm.input.demand.ml.w2");
    assert_eq!(accepted.key_scope, "demand.ml.w2");
    let usage = InputEvent::UsageReported { workload: "w1".into(), chips_busy: 3.5, window_s: 10 };
    assert!(validate("qm.in.usage.ml.w1", usage, &known()).is_ok());
    assert!(validate("qm.in.pool.use1-l4", InputEvent::PoolDeclared(pool("use1-l4")), &known()).is_ok());
    assert!(validate("qm.in.policy", InputEvent::PolicyPublished(PolicyConfig::default()), &known()).is_ok());
    let skip = InputEvent::HaltResolved { sequence: 7, resolution: qm_model::HaltResolution::Skip };
    assert_eq!(validate("qm.in.halt", skip, &known()).expect("valid").subject, "qm.input.halt");
}

#[test]
fn refuses_each_bad_input_with_the_right_code() {
    let mut too_big = spec("ml", "w2");
    too_big.chips_max = WORKLOAD_CHIPS_MAX + 1;
    let mut inverted = spec("ml", "w2");
    inverted.chips_min = 32;
    let mut nan_throughput = spec("ml", "w2");
    nan_throughput.accepts[0].relative_throughput = f64::NAN;
    let mut critical_preemptible = spec("ml", "w2");
    critical_preemptible.critical = true;
    let mut dotted = spec("ml", "w.2");
    dotted.id = "w.2".into();
    let mut sick_pool = pool("use1-a100");
    sick_pool.healthy_chips = sick_pool.chips + 1;
    let mut zero_weight = team("infra");
    zero_weight.weight = 0.0;
    let cases: Vec<(&str, InputEvent, RejectCode)> = vec![
        ("qm.in.demand.ml.w2", demand(too_big, 8), RejectCode::OutOfRange),
        ("qm.in.demand.ml.w2", demand(inverted, 8), RejectCode::OutOfRange),
        ("qm.in.demand.ml.w2", demand(nan_throughput, 8), RejectCode::OutOfRange),
        ("qm.in.demand.ml.w2", demand(critical_preemptible, 8), RejectCode::OutOfRange),
        ("qm.in.demand.ml.w2", demand(spec("ml", "w2"), 4), RejectCode::OutOfRange),
        ("qm.in.demand.ml.w2", demand(dotted, 8), RejectCode::OutOfRange),
        ("qm.in.demand.nobody.w2", demand(spec("nobody", "w2"), 8), RejectCode::Unknown),
        ("qm.in.demand.search.w2", demand(spec("ml", "w2"), 8), RejectCode::Forbidden),
        ("qm.in.demand.search.w1", demand(spec("search", "w1"), 8), RejectCode::Forbidden),
        ("qm.in.usage.search.w1", InputEvent::UsageReported { workload: "w1".into(), chips_busy: 1.0, window_s: 10 }, RejectCode::Forbidden),
        ("qm.in.usage.ml.w9", InputEvent::UsageReported { workload: "w9".into(), chips_busy: 1.0, window_s: 10 }, RejectCode::Unknown),
        ("qm.in.usage.ml.w1", InputEvent::UsageReported { workload: "w1".into(), chips_busy: -1.0, window_s: 10 }, RejectCode::OutOfRange),
        ("qm.in.usage.ml.w1", InputEvent::UsageReported { workload: "w1".into(), chips_busy: 1.0, window_s: 0 }, RejectCode::OutOfRange),
        ("qm.in.finish.ml.w9", InputEvent::WorkloadFinished { workload: "w9".into() }, RejectCode::Unknown),
        ("qm.in.pool.use1-a100", InputEvent::PoolDeclared(sick_pool), RejectCode::OutOfRange),
        ("qm.in.pool.use1-a100", InputEvent::PoolRetired { pool: "use1-a100".into() }, RejectCode::Unknown),
        ("qm.in.team.infra", InputEvent::TeamDeclared(zero_weight), RejectCode::OutOfRange),
        ("qm.in.team.infra", InputEvent::TeamDeclared(team("ml")), RejectCode::Forbidden),
        ("qm.in.usage.ml.w1", InputEvent::Tick, RejectCode::Forbidden),
        ("qm.in.halt", InputEvent::HaltResolved { sequence: 0, resolution: qm_model::HaltResolution::Retry }, RejectCode::OutOfRange),
        ("qm.in.demand.ml.w1", InputEvent::HaltResolved { sequence: 3, resolution: qm_model::HaltResolution::Skip }, RejectCode::BadSubject),
        ("qm.in.pool.use1-h100", InputEvent::TeamDeclared(team("ml")), RejectCode::BadSubject),
        ("qm.in.demand.ml", demand(spec("ml", "w2"), 8), RejectCode::BadSubject),
        ("qm.other.demand.ml.w2", demand(spec("ml", "w2"), 8), RejectCode::BadSubject),
    ];
    for (subject, event, expected) in cases {
        let described = format!("{subject} {event:?}");
        assert_eq!(code_of(subject, event), Some(expected), "{described}");
    }
}

#[test]
fn names_the_request_kind_for_dead_letters() {
    assert_eq!(request_kind("qm.in.demand.ml.w1"), "demand");
    assert_eq!(request_kind("qm.in.policy"), "policy");
    assert_eq!(request_kind("qm.in.halt"), "halt");
    assert_eq!(request_kind("qm.in.bogus"), "unknown");
    assert_eq!(request_kind("elsewhere"), "unknown");
}
