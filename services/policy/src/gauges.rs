//! The fleet gauges on `/metrics`: chips by team and pool, pool sizes, team shares and
//! pending work by reason, read from the engine ([`qm_core::gauges`]) after rounds.
//!
//! Only the writer exports them (a standby's table is empty), so a sum over every
//! policy instance Prometheus scrapes counts the fleet once. Reading the whole state
//! costs time in proportion to the fleet (about 60 ms at 10k workloads: fair shares are
//! computed on a copy of the state), and it runs on the fold's task, so it runs at most
//! once per `every` and at most 1/[`COST_SHARE_INV`] of the time: after a batch of
//! entries, or when the interval is up if a batch came too soon.

use qm_core::gauges::FleetGauges;
use qm_core::Engine;
use qm_runtime::metrics::{Gauge, GaugeTable, Registry, Series};
use std::time::Duration;
use tokio::time::Instant;

/// The families, in the order [`series_of`] fills them. Help texts say what is counted.
const FAMILIES: &[(&str, &str)] = &[
    ("qm_fleet_granted_chips", "Chips counted as taken (decided or still held), by team, pool, accelerator and region"),
    ("qm_fleet_applied_chips", "Chips the actuator reports held, by team, pool, accelerator and region"),
    ("qm_fleet_busy_chips", "Chips measured busy (usage reports), by team, pool, accelerator and region"),
    ("qm_fleet_idle_chips", "Chips held but not busy, by team, pool, accelerator and region"),
    ("qm_pool_capacity_chips", "Chips a pool declares, by pool, accelerator and region"),
    ("qm_pool_healthy_chips", "Healthy chips of a pool (0 once retired), by pool, accelerator and region"),
    ("qm_pool_granted_chips", "Chips of a pool counted as taken, by pool, accelerator and region"),
    ("qm_team_guarantee_normalized_chips", "A team's guarantee, in H100-equivalent chips"),
    ("qm_team_fair_share_normalized_chips", "A team's weighted fair share now, in H100-equivalent chips"),
    ("qm_team_held_normalized_chips", "What a team holds, in H100-equivalent chips"),
    ("qm_team_demand_normalized_chips", "What a team's workloads want, in H100-equivalent chips"),
    ("qm_pending_workloads", "Workloads waiting for chips, by team and reason (rule id)"),
    ("qm_pending_chips", "Chips wanted beyond grants, by team and reason (rule id)"),
];

/// The next read waits at least this many times as long as the last one took: reading
/// the gauges takes at most about 5% of the fold's time, however big the fleet.
pub const COST_SHARE_INV: u32 = 20;

/// The gauges and when they were last read.
pub struct FleetMetrics {
    table: GaugeTable,
    /// The log position the table was read at (0: not read, or not the writer).
    sequence: Gauge,
    every: Option<Duration>,
    last: Option<Instant>,
    /// How long the last read took.
    cost: Duration,
    /// Entries were folded since the last read.
    dirty: bool,
}

impl FleetMetrics {
    /// Registers the families; `every` zero turns the fleet gauges off (they stay empty).
    pub fn register(registry: &mut Registry, every: Duration) -> Self {
        let table = GaugeTable::register(registry, FAMILIES);
        let sequence = Gauge::register(registry, "qm_policy_gauges_sequence", "The QM_INPUT entry the fleet gauges were read at; 0 = not exported here");
        Self { table, sequence, every: (!every.is_zero()).then_some(every), last: None, cost: Duration::ZERO, dirty: false }
    }

    /// After a batch: reads the gauges now if the interval is up, else leaves it to
    /// [`FleetMetrics::due`]. A standby empties them.
    pub fn after_batch(&mut self, engine: &Engine, writer: bool) {
        if self.every.is_none() {
            return;
        }
        if !writer {
            self.clear();
            return;
        }
        self.dirty = true;
        if self.due_at().is_none_or(|at| at <= Instant::now()) {
            self.read(engine);
        }
    }

    /// When a deferred read is due, if one is waiting (for `tokio::select!`).
    pub fn due_at(&self) -> Option<Instant> {
        let every = self.every?;
        if !self.dirty {
            return None;
        }
        Some(self.last.map_or_else(Instant::now, |last| last + every.max(self.cost * COST_SHARE_INV)))
    }

    /// Sleeps until the deferred read is due; pending forever when none waits.
    pub async fn due(&self) {
        match self.due_at() {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    }

    /// The deferred read is due: read now, or clear if the lease was lost meanwhile.
    pub fn when_due(&mut self, engine: &Engine, writer: bool) {
        if writer {
            self.read(engine);
        } else {
            self.clear();
        }
    }

    /// Reads the gauges from the engine now.
    fn read(&mut self, engine: &Engine) {
        let started = Instant::now();
        self.table.replace(series_of(&FleetGauges::of(engine)));
        self.sequence.set(engine.last_seq());
        let now = Instant::now();
        (self.last, self.cost) = (Some(now), now - started);
        self.dirty = false;
    }

    /// No gauges: this instance is not the writer (or no longer).
    pub fn clear(&mut self) {
        self.table.replace(Vec::new());
        self.sequence.set(0);
        self.dirty = false;
    }
}

/// The gauges as series, one list per entry of [`FAMILIES`].
pub fn series_of(g: &FleetGauges) -> Vec<Vec<Series>> {
    let chips = |value: &dyn Fn(&qm_core::gauges::TeamPoolChips) -> f64| -> Vec<Series> {
        g.chips
            .iter()
            .map(|c| Series {
                labels: vec![("team", c.team.clone()), ("pool", c.pool.clone()), ("accelerator", c.accelerator.clone()), ("region", c.region.clone())],
                value: value(c),
            })
            .collect()
    };
    let pools = |value: &dyn Fn(&qm_core::gauges::PoolChips) -> u32| -> Vec<Series> {
        g.pools
            .iter()
            .map(|p| Series {
                labels: vec![("pool", p.pool.clone()), ("accelerator", p.accelerator.clone()), ("region", p.region.clone())],
                value: f64::from(value(p)),
            })
            .collect()
    };
    let teams = |value: &dyn Fn(&qm_core::gauges::TeamShare) -> f64| -> Vec<Series> {
        g.teams.iter().map(|t| Series { labels: vec![("team", t.team.clone())], value: value(t) }).collect()
    };
    let pending = |value: &dyn Fn(&qm_core::gauges::PendingCount) -> u32| -> Vec<Series> {
        g.pending
            .iter()
            .map(|p| Series { labels: vec![("team", p.team.clone()), ("reason", p.reason.clone())], value: f64::from(value(p)) })
            .collect()
    };
    vec![
        chips(&|c| f64::from(c.granted)),
        chips(&|c| f64::from(c.applied)),
        chips(&|c| c.busy),
        chips(&|c| c.idle()),
        pools(&|p| p.capacity),
        pools(&|p| p.healthy),
        pools(&|p| p.granted),
        teams(&|t| t.guarantee),
        teams(&|t| t.fair_share),
        teams(&|t| t.held),
        teams(&|t| t.demand),
        pending(&|p| p.workloads),
        pending(&|p| p.chips),
    ]
}


#[cfg(test)]
mod tests {
    use super::*;
    use qm_core::fixtures::{pool, spec, team, Given};
    use qm_model::{InputEvent, PolicyConfig};

    fn scrape(registry: &Registry) -> String {
        qm_runtime::metrics::render(registry).expect("encodes")
    }

    /// The writer exports what the engine holds; the same instance as a standby exports
    /// nothing (so a sum over instances counts the fleet once).
    #[test]
    fn the_writer_exports_and_a_standby_clears() {
        let mut g = Given::new(PolicyConfig::default());
        g.input(InputEvent::PoolDeclared(pool("use-h100", "us-east", "h100", 8)));
        g.input(InputEvent::TeamDeclared(team("ml", 4.0)));
        let d = g.demand(&spec("train", "ml", &[("h100", 1.0)]), 6);
        g.ack(d);
        let mut registry = Registry::default();
        let mut metrics = FleetMetrics::register(&mut registry, Duration::from_secs(3600));
        metrics.after_batch(&g.engine, true);
        let text = scrape(&registry);
        assert!(text.contains(r#"qm_fleet_applied_chips{team="ml",pool="use-h100",accelerator="h100",region="us-east"} 6.0"#), "{text}");
        assert!(text.contains(&format!("qm_policy_gauges_sequence {}", g.engine.last_seq())), "{text}");
        // Within the interval a batch only marks the gauges due.
        g.input(InputEvent::Tick);
        metrics.after_batch(&g.engine, true);
        assert!(metrics.due_at().is_some_and(|at| at > Instant::now()));
        metrics.after_batch(&g.engine, false);
        let text = scrape(&registry);
        assert!(!text.contains("team=\"ml\""), "{text}");
        assert!(text.contains("qm_policy_gauges_sequence 0"), "{text}");
        assert!(metrics.due_at().is_none());
    }

    #[test]
    fn zero_interval_exports_nothing() {
        let g = Given::new(PolicyConfig::default());
        let mut registry = Registry::default();
        let mut metrics = FleetMetrics::register(&mut registry, Duration::ZERO);
        metrics.after_batch(&g.engine, true);
        assert!(metrics.due_at().is_none());
        assert!(scrape(&registry).contains("qm_policy_gauges_sequence 0"));
    }
}
