//! The demo demand generator: workloads from the fleet file's templates arrive, report
//! usage, and finish. One team's workloads hoard (use a fraction of what they hold), so
//! the demo shows idle capacity being given back. Seeded, so a run can be repeated.

use crate::fleet::WorkloadTemplate;
use crate::send::{send, subject_for, subject_for_team};
use qm_model::{InputEvent, WorkloadSpec};
use qm_sim::rng::Rng;
use std::collections::BTreeMap;

struct Running {
    spec: WorkloadSpec,
    chips_desired: u32,
    busy_fraction: f64,
    finish_at_s: u64,
}

/// The generator's state between steps.
pub struct DemoLoad {
    templates: Vec<WorkloadTemplate>,
    rng: Rng,
    running: BTreeMap<String, Running>,
    created: u64,
    /// Most workloads running at once.
    pub running_max: usize,
}

/// What one step sent.
#[derive(Default, Debug)]
pub struct StepReport {
    pub accepted: u64,
    pub rejected: u64,
}

impl DemoLoad {
    pub fn new(templates: Vec<WorkloadTemplate>, seed: u64) -> Self {
        Self { templates, rng: Rng::new(seed), running: BTreeMap::new(), created: 0, running_max: 24 }
    }

    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// One second of demo time: maybe start a workload, report usage, finish due ones.
    pub async fn step(&mut self, client: &qm_bus::Bus, now_s: u64) -> StepReport {
        let mut report = StepReport::default();
        if !self.templates.is_empty() && self.running.len() < self.running_max && self.rng.unit() < 0.5 {
            let template = self.templates[self.rng.below(self.templates.len())].clone();
            self.created += 1;
            let id = format!("{}-{}", template.name, self.created);
            let spec = template.spec(&id);
            let [min, max, step] = template.chips;
            let steps = (max.saturating_sub(min)) / step.max(1);
            let chips_desired = min + step * self.rng.below(steps as usize + 1) as u32;
            // The research team hoards: it holds capacity and uses a fifth of it.
            let busy_fraction = if template.team == "research" { 0.2 } else { 0.7 + 0.3 * self.rng.unit() };
            let lifetime_s = 20 + self.rng.below(100) as u64;
            let event = InputEvent::DemandDeclared { spec: spec.clone(), chips_desired };
            count(&mut report, send(client, subject_for(&event), &event, Some(&id)).await);
            self.running.insert(id, Running { spec, chips_desired, busy_fraction, finish_at_s: now_s + lifetime_s });
        }
        let mut finished = Vec::new();
        for (id, running) in &self.running {
            let (team, workload) = (running.spec.team.as_str(), running.spec.id.as_str());
            if now_s >= running.finish_at_s {
                let event = InputEvent::WorkloadFinished { workload: workload.into() };
                count(&mut report, send(client, subject_for_team("finish", team, workload), &event, None).await);
                finished.push(id.clone());
                continue;
            }
            let chips_busy = f64::from(running.chips_desired) * running.busy_fraction;
            let event = InputEvent::UsageReported { workload: workload.into(), chips_busy, window_s: 1 };
            count(&mut report, send(client, subject_for_team("usage", team, workload), &event, None).await);
        }
        for id in finished {
            self.running.remove(&id);
        }
        report
    }
}

fn count(report: &mut StepReport, reply: anyhow::Result<qm_model::IngestReply>) {
    match reply {
        Ok(qm_model::IngestReply::Accepted { .. }) => report.accepted += 1,
        Ok(qm_model::IngestReply::Rejected { message, .. }) => {
            tracing::debug!(%message, "demo input rejected");
            report.rejected += 1;
        }
        Err(e) => {
            tracing::debug!(error = %e, "demo input not answered");
            report.rejected += 1;
        }
    }
}
