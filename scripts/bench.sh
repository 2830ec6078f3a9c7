#!/usr/bin/env bash
# Reproduces every number in BENCHMARKS.md: criterion benches (codec, ingest validation,
# policy rounds at 1k/10k/100k workloads, replay fold, state memory), then the load test
# (baselines + open loop + closed loop) and the ramp. Results, tables and SVG plots go to
# docs/bench/. Takes about 12 minutes on a 2-core machine. Nothing else should run meanwhile:
# the load test shares the cores with nats-server and the three services.
#   scripts/bench.sh            everything
#   scripts/bench.sh --quick    shorter phases (about 5 minutes), for checking the script
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

quick=false
[[ "${1:-}" == "--quick" ]] && quick=true
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
out=docs/bench
mkdir -p "$out"
crit=(-- --warm-up-time 1 --measurement-time 3)
$quick && crit=(-- --warm-up-time 1 --measurement-time 1)

cargo build --release -p qm-loadtest -p qm-ingest -p qm-policy -p qm-actuator
cargo bench -p qm-model --bench codec "${crit[@]}"
cargo bench -p qm-ingest --bench validate "${crit[@]}"
cargo bench -p qm-core --bench round "${crit[@]}"
cargo bench -p qm-loadtest --bench policy_scale "${crit[@]}"
cargo bench -p qm-loadtest --bench state_memory | tee "$out/state_memory.md"

bin="$CARGO_TARGET_DIR/release/qm-loadtest"
"$bin" benches --criterion-dir "$CARGO_TARGET_DIR/criterion" --out "$out"
if $quick; then
    "$bin" run --rate 5000 --duration-s 10 --phase-s 3 --out "$out"
    "$bin" ramp --start 500 --factor 1.6 --step-s 4 --out "$out"
else
    "$bin" run --rate 5000 --duration-s 30 --phase-s 10 --out "$out"
    "$bin" ramp --start 500 --factor 1.4 --step-s 8 --out "$out"
fi
echo "bench: results in $out/ (run.md, ramp.md, criterion.md, state_memory.md, *.svg)"
