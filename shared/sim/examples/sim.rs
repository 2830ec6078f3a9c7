//! Runs `qm sim` without the qm binary: `cargo run --release -p qm-sim --example sim -- scenarios --compare`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut req = qm_sim::cli::SimRequest { out: "docs/eval".into(), progress: false, ..Default::default() };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--compare" => req.compare = true,
            "--no-bound" => req.no_bound = true,
            "--progress" => req.progress = true,
            "--allocator" => req.allocator = it.next().cloned(),
            "--fleet" => req.fleet = it.next().map(Into::into),
            "--out" => req.out = it.next().map(Into::into).unwrap_or_default(),
            "--seed" => req.seed = it.next().and_then(|s| s.parse().ok()),
            "--seeds" => req.seeds = it.next().and_then(|s| s.parse().ok()),
            "--policy" => match it.next().map(|p| std::fs::read_to_string(p).map(|t| toml::from_str(&t))) {
                Some(Ok(Ok(policy))) => req.policy = Some(policy),
                other => {
                    eprintln!("error: --policy needs a readable policy file: {other:?}");
                    std::process::exit(2);
                }
            },
            p => req.input = p.into(),
        }
    }
    if let Err(e) = qm_sim::cli::execute(&req, &mut std::io::stdout()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
