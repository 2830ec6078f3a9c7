//! What one log signature costs, alone: `qm_trust::sign` and `qm_trust::verify` of a
//! 205-byte payload (the load test's mean stored input event), on this machine.
//! `cargo run --release -p qm-trust --example sign_cost`. The figure behind
//! BENCHMARKS.md's "Auth and signatures on vs off": ingest signs every append.

use qm_trust::{Names, TrustDir};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("qm-sign-cost-{}", std::process::id()));
    let trust = TrustDir::init(&dir, &[], &Names::default())?;
    let ingest = qm_trust::Credentials::load(&trust.creds_path("ingest"))?;
    let registry = trust.load()?;
    let payload = vec![0x5Au8; 205];
    let subject = "qm.input.usage.t0001.w000001";
    let n = 20_000;
    let (start, cpu) = (Instant::now(), cpu_s());
    let mut last = None;
    for _ in 0..n {
        last = Some(qm_trust::sign(subject, &payload, &ingest)?);
    }
    let per = |total_s: f64| total_s * 1e6 / f64::from(n);
    let (sign_us, sign_cpu_us) = (per(start.elapsed().as_secs_f64()), per(cpu_s() - cpu));
    let signature = last.ok_or("no signature")?;
    let (start, cpu) = (Instant::now(), cpu_s());
    for _ in 0..n {
        qm_trust::verify(subject, &payload, Some(&signature.signer), Some(&signature.signature), &registry)?;
    }
    let (verify_us, verify_cpu_us) = (per(start.elapsed().as_secs_f64()), per(cpu_s() - cpu));
    println!("per 205-byte entry ({n} each, one thread): sign {sign_us:.1} µs wall / {sign_cpu_us:.1} µs CPU, verify {verify_us:.1} µs wall / {verify_cpu_us:.1} µs CPU");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// CPU time of this process in seconds (`/proc`, 10 ms resolution): on a shared machine
/// wall time counts the neighbours too.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}
