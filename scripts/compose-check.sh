#!/usr/bin/env bash
# Proves `docker-compose up` works, with auth and TLS on: generates identities and
# certificates (`qm init --tls`),
# builds the images from local files, starts nats and the three services in containers
# (provisioned by the admin, each service as itself), checks that a connection without
# credentials is refused, and one with credentials but no TLS too, declares a fleet and a
# demand from the host as the operator, waits until `qm status` shows the demand granted
# and applied, and then until the stack's Prometheus reports every service's scrape
# target up and the policy's fleet gauge `qm_fleet_granted_chips` shows the demand's
# chips for its team.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-images.sh debug

project="qmcheck$$"
export QM_NATS_PORT="${QM_NATS_PORT:-14222}"
export QM_PROMETHEUS_PORT="${QM_PROMETHEUS_PORT:-19090}"
export QM_NATS_URL="nats://127.0.0.1:${QM_NATS_PORT}"
qm="${CARGO_TARGET_DIR:-target}/debug/qm"
scratch="$(mktemp -d)"
export QM_TRUST_DIR="$scratch/trust"
$qm init "$QM_TRUST_DIR" --team research --tls --tls-host nats >/dev/null
compose() { docker-compose -p "$project" -f docker-compose.yml "$@"; }
cleanup() {
    status=$?
    if [[ $status -ne 0 ]]; then compose logs --no-color --tail 40 || true; fi
    compose down -v --remove-orphans >/dev/null 2>&1 || true
    rm -rf "$scratch"
    exit $status
}
trap cleanup EXIT
compose up -d

export QM_NATS_CREDS="$QM_TRUST_DIR/creds/operator.nk"
# (qm keeps retrying for 30 s, so a time-out is a refusal.)
# Credentials but plain text (no CA, no client certificate): refused too.
if timeout 15 $qm status >/dev/null 2>&1; then
    echo "compose check FAILED: a connection without TLS was accepted" >&2
    exit 1
fi
export QM_NATS_TLS_CA="$QM_TRUST_DIR/tls/ca.pem" QM_NATS_TLS_CERT="$QM_TRUST_DIR/tls/client.pem"
export QM_NATS_TLS_KEY="$QM_TRUST_DIR/tls/client-key.pem" QM_NATS_TLS_REQUIRED=true
# Anonymous (over TLS, with the client certificate): the server refuses it (qm keeps retrying for 30 s, so a time-out is a refusal).
if env -u QM_NATS_CREDS timeout 15 $qm status >/dev/null 2>&1; then
    echo "compose check FAILED: a connection without credentials was accepted" >&2
    exit 1
fi
for _ in $(seq 1 60); do
    if $qm fleet examples/demo-fleet.toml >/dev/null 2>&1; then break; fi
    sleep 1
done
$qm fleet examples/demo-fleet.toml
$qm demand compose-check-1 --team research --chips 8 --accepts h100=1.0,a100=0.499
for _ in $(seq 1 60); do
    if $qm status --json | python3 -c '
import json, sys
status = json.load(sys.stdin)
w = [w for w in status["workloads"] if w["id"] == "compose-check-1"]
sys.exit(0 if w and sum(w[0]["applied"].values()) == 8 else 1)'; then
        $qm status
        echo "compose check: demand granted and applied through containers"
        applied=1
        break
    fi
    sleep 1
done
if [[ -z "${applied:-}" ]]; then
    echo "compose check FAILED: demand not applied within 60 s" >&2
    $qm status >&2 || true
    exit 1
fi

# Prometheus (scrape interval 5 s): every qm-* target up, and the granted chips of the
# research team (the 8 just applied) in the fleet gauge, as the dashboard reads them.
prometheus_ok() {
    python3 - "http://127.0.0.1:${QM_PROMETHEUS_PORT}" <<'PY'
import json, sys, urllib.parse, urllib.request
base = sys.argv[1]
def get(path):
    with urllib.request.urlopen(base + path, timeout=5) as r:
        return json.load(r)["data"]
targets = get("/api/v1/targets")["activeTargets"]
health = {t["labels"]["job"]: t["health"] for t in targets}
want = ["qm-ingest", "qm-policy", "qm-actuator"]
query = 'sum(qm_fleet_granted_chips{team="research"})'
result = get("/api/v1/query?query=" + urllib.parse.quote(query))["result"]
granted = float(result[0]["value"][1]) if result else None
print(f"prometheus: targets {health}; {query} = {granted}")
sys.exit(0 if all(health.get(j) == "up" for j in want) and all(h == "up" for h in health.values()) and granted == 8.0 else 1)
PY
}
for _ in $(seq 1 60); do
    if prometheus_ok >/dev/null 2>&1; then
        prometheus_ok
        echo "compose check passed: demand granted and applied through containers; Prometheus scrapes every service and shows the granted chips"
        exit 0
    fi
    sleep 2
done
echo "compose check FAILED: Prometheus did not report every target up and 8 granted chips for research within 120 s" >&2
prometheus_ok >&2 || true
exit 1
