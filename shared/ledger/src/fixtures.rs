//! Small, realistic histories for the ledger's tests: an H100 and an A100 pool (prices
//! and A100/H100 throughput 0.499 from ../shared/data/accelerators), two teams, and
//! workloads that arrive, idle, and finish.

use qm_model::*;

pub fn pool(id: &str, accelerator: &str, chips: u32, price: f64) -> Pool {
    Pool {
        id: id.into(),
        region: "us-east".into(),
        accelerator: accelerator.into(),
        chips,
        healthy_chips: chips,
        allocation_unit: 1,
        price_per_chip_hour: price,
    }
}

pub fn team(id: &str, guarantee: f64) -> Team {
    Team { id: id.into(), guarantee, limit: None, weight: 1.0, tier: PriorityTier::Normal, regions: vec![], headroom_fraction: 0.1 }
}

pub fn spec(team: &str, id: &str, chips_max: u32, critical: bool) -> WorkloadSpec {
    WorkloadSpec {
        id: id.into(),
        team: team.into(),
        kind: WorkloadKind::Training,
        accepts: vec![
            AcceleratorThroughput { accelerator: "h100".into(), relative_throughput: 1.0 },
            AcceleratorThroughput { accelerator: "a100".into(), relative_throughput: 0.499 },
        ],
        chips_min: 1,
        chips_max,
        chips_step: 1,
        gang: false,
        preemptible: !critical,
        critical,
        drain_grace_s: 30,
        urgency: 0.0,
        deadline_ms: None,
        risk_tolerance: 0.5,
    }
}

/// Builds a log with consecutive sequences and explicit times.
pub struct LogBuilder {
    pub records: Vec<LogRecord>,
}

impl LogBuilder {
    pub fn new() -> Self {
        Self { records: Vec::new() }
    }

    pub fn at(&mut self, time_s: i64, event: InputEvent) -> &mut Self {
        let sequence = self.records.len() as u64 + 1;
        self.records.push(LogRecord {
            sequence,
            id: deterministic_id(time_s * 1000, 1, sequence, 0),
            time_ms: 1_700_000_000_000 + time_s * 1000,
            event: LogEvent::Input(event),
        });
        self
    }
}

/// Two teams share 16 H100 and 16 A100 chips; `ml` asks for 12 chips and then idles at
/// 2 busy; `search` arrives later; `ml` finishes. Ticks every 30 s for 20 minutes.
pub fn small_history() -> Vec<LogRecord> {
    let mut log = LogBuilder::new();
    log.at(0, InputEvent::TeamDeclared(team("ml", 8.0)))
        .at(0, InputEvent::TeamDeclared(team("search", 8.0)))
        .at(0, InputEvent::PoolDeclared(pool("use-h100", "h100", 16, 4.916)))
        .at(0, InputEvent::PoolDeclared(pool("use-a100", "a100", 16, 1.844)))
        .at(1, InputEvent::DemandDeclared { spec: spec("ml", "ml-train", 12, false), chips_desired: 12 })
        .at(2, InputEvent::DemandDeclared { spec: spec("search", "search-serve", 8, true), chips_desired: 8 });
    for step in 1..=40 {
        let t = step * 30;
        log.at(t, InputEvent::UsageReported { workload: "ml-train".into(), chips_busy: 2.0, window_s: 30 });
        log.at(t, InputEvent::UsageReported { workload: "search-serve".into(), chips_busy: 7.5, window_s: 30 });
        if step == 20 {
            log.at(t, InputEvent::DemandDeclared { spec: spec("search", "search-batch", 24, false), chips_desired: 24 });
        }
        if step > 20 {
            log.at(t, InputEvent::UsageReported { workload: "search-batch".into(), chips_busy: 20.0, window_s: 30 });
        }
        log.at(t, InputEvent::Tick);
    }
    log.at(1_250, InputEvent::WorkloadFinished { workload: "ml-train".into() });
    log.at(1_260, InputEvent::Tick);
    log.records
}
