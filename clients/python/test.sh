#!/usr/bin/env bash
# Installs the Python client (pip, from this folder) and its pinned test dependencies
# (PyPI), then runs its tests against the installed package: codec and golden vectors
# always; the live tests against nats-server and the three services, which must be
# built (cargo build --workspace --bins) and are required here (QM_REQUIRE_LIVE=1).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export PIP_ROOT_USER_ACTION=ignore
pip=(python3 -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" -r "$here/requirements-test.txt"
# Without build isolation when setuptools and wheel are already there: no download per run.
if python3 -c 'import setuptools, wheel' 2>/dev/null; then
    "${pip[@]}" --no-deps --no-build-isolation --force-reinstall "$here"
else
    "${pip[@]}" --no-deps --force-reinstall "$here"
fi
# Run from outside the source tree so the installed package is what gets imported.
cd "$here/tests"
QM_REQUIRE_LIVE="${QM_REQUIRE_LIVE:-1}" python3 -m pytest -q -p no:cacheprovider --rootdir "$here" "$here/tests"
