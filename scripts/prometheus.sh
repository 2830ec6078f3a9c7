#!/usr/bin/env bash
# Finds a Prometheus server binary and prints its path: $PROMETHEUS_BIN, one on PATH,
# or Debian's `prometheus` package downloaded with apt-get and extracted (not
# installed: no service, no dependencies) under target/prometheus, kept for next time.
# Used by scripts/build-images.sh for the compose stack's Prometheus image.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -n "${PROMETHEUS_BIN:-}" && -x "${PROMETHEUS_BIN}" ]]; then
    echo "$PROMETHEUS_BIN"; exit 0
fi
if command -v prometheus >/dev/null 2>&1; then
    command -v prometheus; exit 0
fi
dir="${CARGO_TARGET_DIR:-target}/prometheus"
bin="$dir/root/usr/bin/prometheus"
if [[ ! -x "$bin" ]]; then
    command -v apt-get >/dev/null 2>&1 || { echo "prometheus.sh: no prometheus and no apt-get to fetch Debian's package" >&2; exit 1; }
    mkdir -p "$dir"
    echo "prometheus.sh: fetching Debian's prometheus package" >&2
    # The package lists may be missing or stale on a fresh machine: update once, retry.
    if ! (cd "$dir" && apt-get download -q prometheus >&2 2>/dev/null); then
        apt-get update -qq >&2
        (cd "$dir" && apt-get download -q prometheus >&2)
    fi
    rm -rf "$dir/root"
    dpkg-deb -x "$dir"/prometheus_*.deb "$dir/root"
    rm -f "$dir"/prometheus_*.deb
fi
echo "$bin"
