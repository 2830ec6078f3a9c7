#!/usr/bin/env bash
# Builds the images docker-compose.yml runs, from local files only: qm:local (the four
# binaries plus the glibc libraries they link) and qm-nats:local (static nats-server).
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
for bin in qm qm-ingest qm-policy qm-actuator; do
    cp "$target_dir/$profile/$bin" "$stage/qm/rootfs/bin/"
    # Copy each linked library (and the loader) to the same path inside the image.
    ldd "$target_dir/$profile/$bin" | grep -oE '/[^ ]+\.so[^ ]*' | while read -r lib; do
        mkdir -p "$stage/qm/rootfs$(dirname "$lib")"
        cp -L "$lib" "$stage/qm/rootfs$lib"
    done
done
mkdir -p "$stage/qm/rootfs/tmp"
cp docker/qm.Dockerfile "$stage/qm/Dockerfile"
cp -L "$NATS_SERVER_BIN" "$stage/nats/nats-server"
cp docker/nats.Dockerfile "$stage/nats/Dockerfile"
docker build -q -t qm:local "$stage/qm" >/dev/null
docker build -q -t qm-nats:local "$stage/nats" >/dev/null
echo "built images qm:local and qm-nats:local ($profile binaries)"
