#!/usr/bin/env bash
# The 3-node cluster test (tests/cluster): nats-server x3 in containers built from the
# local binary (testcontainers), R3 streams, the QM_INPUT leader node killed under load.
# Not part of scripts/test.sh yet: after a node loss the system recovers in 4-20 s in
# most runs, but a rare run still stalls past the test's 90 s limit (see README, Status).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --workspace --bins
exec cargo test -p qm-cluster-tests -- --ignored --nocapture
