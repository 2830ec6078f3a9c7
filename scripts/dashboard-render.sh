#!/usr/bin/env bash
# Renders the Grafana dashboard's panels from real data without Grafana (no package for
# it here): runs the demo (`qm up`, demo fleet and demand) with each service's /metrics
# on 127.0.0.1:19100-19102, a local Prometheus scraping them (scripts/prometheus.sh),
# and after DURATION seconds (default 300) draws every panel of
# deploy/grafana/quartermaster.json from Prometheus into docs/dashboard/.
# Usage: scripts/dashboard-render.sh [DURATION_S]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
duration="${1:-300}"
# Debug builds (what the tests built): the demo's load is light.
cargo build --bins
cargo build -p qm-loadtest --example render_dashboard
prometheus="$(scripts/prometheus.sh)"
scratch="$(mktemp -d)"
export QM_NATS_URL="nats://127.0.0.1:${QM_RENDER_NATS_PORT:-14322}"
prometheus_addr="127.0.0.1:${QM_RENDER_PROMETHEUS_PORT:-19090}"
cat > "$scratch/prometheus.yml" <<YML
global:
  scrape_interval: 5s
scrape_configs:
  - job_name: qm-ingest
    static_configs: [{targets: ["127.0.0.1:19100"]}]
  - job_name: qm-policy
    static_configs: [{targets: ["127.0.0.1:19101"]}]
  - job_name: qm-actuator
    static_configs: [{targets: ["127.0.0.1:19102"]}]
YML
"$prometheus" --config.file="$scratch/prometheus.yml" --storage.tsdb.path="$scratch/tsdb" \
    --web.listen-address="$prometheus_addr" >"$scratch/prometheus.log" 2>&1 &
prometheus_pid=$!
./target/debug/qm up --data-dir "$scratch/qm" --metrics-port-base 19100 --duration-s $((duration + 120)) >"$scratch/up.log" 2>&1 &
up_pid=$!
cleanup() {
    kill -INT "$up_pid" 2>/dev/null && wait "$up_pid" 2>/dev/null || true
    kill "$prometheus_pid" 2>/dev/null && wait "$prometheus_pid" 2>/dev/null || true
    rm -rf "$scratch"
}
trap cleanup EXIT
echo "demo and Prometheus running; rendering in ${duration} s (logs in $scratch)"
sleep "$duration"
./target/debug/examples/render_dashboard --prometheus "$prometheus_addr" --range-s "$duration" --out docs/dashboard
