//! The faults, the seeded schedule, and how each is injected and undone. Each
//! [`inject`] returns once the fault is over (the killed process started again, the
//! node back, the partition healed, the disk freed): from then on the fleet must
//! converge within the run's bound.

use super::docker::{docker, Deployment, NODES, SERVICES, SMALL_DISK_MB, SMALL_DISK_NODE, SMALL_DISK_TAG};
use super::rng::Rng;
use anyhow::Context;
use async_nats::jetstream::stream;
use qm_bus::Bus;
use std::time::Duration;

/// How long the actuator is cut off from the cluster.
pub const PARTITION: Duration = Duration::from_secs(30);
/// How long the small node's disk stays full before it is freed.
pub const DISK_FULL_HOLD: Duration = Duration::from_secs(20);
/// The streams whose leader node is stopped, one fault each.
pub const STREAMS: [&str; 3] = [qm_bus::subjects::INPUT_STREAM, qm_bus::subjects::DECISIONS_STREAM, qm_bus::subjects::ACTUATION_STREAM];
const FILLER_STREAM: &str = "QM_CHAOS_FILLER";
const FILLER_SUBJECT: &str = "qm-chaos.filler";
const FILLER_CHUNK_BYTES: usize = 256 * 1024;

/// One fault.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// SIGKILL a service's container (`docker kill`), start it again after a moment.
    Kill(&'static str),
    /// Stop the node leading `stream` (`docker stop`), start it again after a while.
    StopLeader(&'static str),
    /// Disconnect the actuator from the network for [`PARTITION`].
    PartitionActuator,
    /// SIGKILL every node and service at once, then start them all.
    RestartAll,
    /// Fill the small node's store (a tmpfs) with a stream placed on it, hold, free it.
    DiskFull,
}

impl Fault {
    /// The fault's kind, for per-kind totals.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Kill(_) => "SIGKILL a service",
            Fault::StopLeader(_) => "stop a stream's leader node",
            Fault::PartitionActuator => "partition the actuator 30 s",
            Fault::RestartAll => "restart everything at once",
            Fault::DiskFull => "fill a node's disk",
        }
    }
}

/// The faults of a run in a seeded order: every service killed `kills_each` times, the
/// leader of each stream stopped (short: only `QM_INPUT`'s), the partition, the restart
/// of everything, the full disk.
pub fn schedule(rng: &mut Rng, kills_each: u32, short: bool) -> Vec<Fault> {
    let mut faults: Vec<Fault> = SERVICES.iter().flat_map(|(s, _, _)| (0..kills_each).map(|_| Fault::Kill(s))).collect();
    let streams = if short { &STREAMS[..1] } else { &STREAMS[..] };
    faults.extend(streams.iter().map(|s| Fault::StopLeader(s)));
    faults.extend([Fault::PartitionActuator, Fault::RestartAll, Fault::DiskFull]);
    rng.shuffle(&mut faults);
    faults
}

/// Injects `fault` and undoes it; says what was done.
pub async fn inject(fault: &Fault, deployment: &Deployment, bus: &Bus, rng: &mut Rng) -> anyhow::Result<String> {
    match fault {
        Fault::Kill(service) => {
            let name = deployment.container(service);
            docker(&["kill", "-s", "KILL", &name])?;
            let down = rng.between_ms(500, 3_000);
            tokio::time::sleep(down).await;
            docker(&["start", &name])?;
            Ok(format!("{service} SIGKILLed, started {:.1} s later", down.as_secs_f64()))
        }
        Fault::StopLeader(stream) => {
            let leader = qm_bus::streams::leader(bus, stream).await?.with_context(|| format!("{stream} has no leader"))?;
            anyhow::ensure!(NODES.contains(&leader.as_str()), "{stream} led by unknown server {leader}");
            let name = deployment.container(&leader);
            docker(&["stop", "-t", "10", &name])?;
            let down = rng.between_ms(5_000, 15_000);
            tokio::time::sleep(down).await;
            docker(&["start", &name])?;
            Ok(format!("{stream} leader {leader} stopped, started {:.1} s later", down.as_secs_f64()))
        }
        Fault::PartitionActuator => {
            deployment.disconnect("actuator")?;
            tokio::time::sleep(PARTITION).await;
            deployment.connect("actuator")?;
            Ok(format!("actuator disconnected for {} s", PARTITION.as_secs()))
        }
        Fault::RestartAll => {
            let all = deployment.all();
            let mut kill = vec!["kill", "-s", "KILL"];
            kill.extend(all.iter().map(String::as_str));
            docker(&kill)?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut start = vec!["start"];
            start.extend(all.iter().map(String::as_str));
            docker(&start)?;
            Ok(format!("{} containers SIGKILLed together and started", all.len()))
        }
        Fault::DiskFull => fill_disk(deployment, bus).await,
    }
}

/// Writes a stream placed on the small node until a write fails; holds; deletes it. If
/// the node disabled JetStream on the full disk (what nats-server does when a write
/// fails), it is restarted, as an operator would after freeing space.
async fn fill_disk(deployment: &Deployment, bus: &Bus) -> anyhow::Result<String> {
    let js = bus.raw_jetstream();
    let config = stream::Config {
        name: FILLER_STREAM.into(),
        subjects: vec![FILLER_SUBJECT.into()],
        num_replicas: 1,
        storage: stream::StorageType::File,
        placement: Some(stream::Placement { cluster: None, tags: vec![SMALL_DISK_TAG.into()] }),
        ..Default::default()
    };
    js.get_or_create_stream(config).await.context("create the filler stream on the small node")?;
    let chunk = vec![0xA5u8; FILLER_CHUNK_BYTES];
    let (mut written, limit) = (0usize, 2 * SMALL_DISK_MB as usize * 1024 * 1024);
    let mut failure = String::from("no write failed");
    while written < limit {
        let stored = match js.publish(FILLER_SUBJECT, chunk.clone().into()).await {
            Ok(ack) => ack.await.map(drop).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = stored {
            failure = e;
            break;
        }
        written += FILLER_CHUNK_BYTES;
    }
    tokio::time::sleep(DISK_FULL_HOLD).await;
    let deleted = js.delete_stream(FILLER_STREAM).await.map(drop).map_err(|e| e.to_string());
    let logs = deployment.logs(SMALL_DISK_NODE, 400);
    let disabled = logs.contains("DISABLED") || logs.contains("out of resources");
    if disabled || deleted.is_err() {
        docker(&["restart", "-t", "10", &deployment.container(SMALL_DISK_NODE)])?;
    }
    Ok(format!(
        "{} MiB written to {SMALL_DISK_NODE} ({SMALL_DISK_MB} MiB tmpfs) before: {failure}; held {} s; filler deleted: {}; JetStream disabled on {SMALL_DISK_NODE}: {disabled}{}",
        written / (1024 * 1024),
        DISK_FULL_HOLD.as_secs(),
        deleted.as_ref().map_or_else(|e| format!("no ({e})"), |()| "yes".into()),
        if disabled || deleted.is_err() { "; node restarted" } else { "" }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_has_every_fault_and_a_seed_fixes_its_order() {
        let full = schedule(&mut Rng::new(1), 2, false);
        assert_eq!(full.len(), 4 * 2 + 3 + 3);
        assert_eq!(full, schedule(&mut Rng::new(1), 2, false));
        assert_ne!(full, schedule(&mut Rng::new(2), 2, false));
        let short = schedule(&mut Rng::new(1), 1, true);
        assert_eq!(short.len(), 4 + 1 + 3);
        assert!(short.contains(&Fault::DiskFull) && short.contains(&Fault::StopLeader(qm_bus::subjects::INPUT_STREAM)));
    }
}
