#!/usr/bin/env bash
# The demo: installs nats-server if needed, builds in release mode, and runs `qm up`:
# nats-server with JetStream and auth (identities generated into .qm-data/trust on the
# first run), ingest, policy and actuator, a demo fleet from the
# shared data sets, and a demand generator. Ctrl-C stops everything. Extra flags go to
# `qm up` (see `qm up --help`), e.g. `scripts/demo.sh --duration-s 60`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --release --bins
exec ./target/release/qm up --data-dir .qm-data "$@"
