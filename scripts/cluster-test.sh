#!/usr/bin/env bash
# The 3-node cluster test (tests/cluster): nats-server x3 in containers built from the
# local binary (testcontainers), R3 streams, the QM_INPUT leader node killed under load.
# Also part of `cargo test --workspace` (scripts/test.sh); this runs it alone, with its
# progress printed. Recovery times over 30 runs: RELIABILITY.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --workspace --bins
exec cargo test -p qm-cluster-tests -- --nocapture
