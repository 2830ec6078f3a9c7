#!/usr/bin/env bash
# Builds the images docker-compose.yml runs, from local files only: qm:local (the four
# binaries plus the glibc libraries they link), qm-nats:local (static nats-server) and
# qm-prometheus:local (Debian's Prometheus, scripts/prometheus.sh, with its config).
# Usage: scripts/build-images.sh [debug|release]   (default: debug, what the tests built)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
profile="${1:-debug}"
flag=$([[ "$profile" == release ]] && echo --release || true)
cargo build $flag --bins

target_dir="${CARGO_TARGET_DIR:-target}"
stage="$target_dir/docker-stage"
rm -rf "$stage" && mkdir -p "$stage/qm/rootfs/bin" "$stage/nats"
# Copies a binary into an image's root, with each library it links (and the loader) at
# the same path inside the image.
stage_binary() {
    local bin="$1" rootfs="$2"
    cp -L "$bin" "$rootfs/bin/"
    ldd "$bin" | grep -oE '/[^ ]+\.so[^ ]*' | while read -r lib; do
        mkdir -p "$rootfs$(dirname "$lib")"
        cp -L "$lib" "$rootfs$lib"
    done
}
for bin in qm qm-ingest qm-policy qm-actuator; do
    stage_binary "$target_dir/$profile/$bin" "$stage/qm/rootfs"
done
mkdir -p "$stage/qm/rootfs/tmp"
cp docker/qm.Dockerfile "$stage/qm/Dockerfile"
cp -L "$NATS_SERVER_BIN" "$stage/nats/nats-server"
cp docker/nats.Dockerfile "$stage/nats/Dockerfile"
prometheus_bin="$(scripts/prometheus.sh)"
mkdir -p "$stage/prometheus/rootfs/bin" "$stage/prometheus/rootfs/etc/prometheus" "$stage/prometheus/rootfs/prometheus" "$stage/prometheus/rootfs/tmp"
stage_binary "$prometheus_bin" "$stage/prometheus/rootfs"
cp deploy/prometheus/prometheus.yml "$stage/prometheus/rootfs/etc/prometheus/"
cp docker/prometheus.Dockerfile "$stage/prometheus/Dockerfile"
docker build -q -t qm:local "$stage/qm" >/dev/null
docker build -q -t qm-nats:local "$stage/nats" >/dev/null
docker build -q -t qm-prometheus:local "$stage/prometheus" >/dev/null
echo "built images qm:local, qm-nats:local and qm-prometheus:local ($profile binaries)"
