"""A real Quartermaster for the live tests: nats-server with JetStream and the three
service binaries (built by ``cargo build --workspace --bins``), killed at the end.

Auth and TLS are on, as deployed (``qm up``): ``qm init --tls`` generates the identities
(teams ``research`` and ``rivals``), a CA and the server's and a client certificate;
nats-server runs with ``nats-server.conf`` (their accounts, TLS required, client
certificates verified), ``qm creds apply`` provisions the streams as the admin, and each
service runs as itself with the ``QM_NATS_TLS_*`` settings. Tests connect with
:meth:`System.connect` as an identity (``operator``, ``team-research``, ...) over TLS
(:meth:`System.tls_context`); a connection without credentials or without TLS is refused.

Binaries are looked up in ``$QM_BIN_DIR``, else ``$CARGO_TARGET_DIR/debug`` or the
repository's ``target/debug``. When they or nats-server are missing the live tests are
skipped, unless ``QM_REQUIRE_LIVE=1`` (set by ``scripts/test.sh``), where they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[3]
SERVICES = ("qm-ingest", "qm-policy", "qm-actuator")
TEAMS = ("research", "rivals")


def _missing(what: str) -> None:
    if os.environ.get("QM_REQUIRE_LIVE") == "1":
        pytest.fail(f"{what} (QM_REQUIRE_LIVE=1)")
    pytest.skip(what)


def bin_dir() -> Path:
    if os.environ.get("QM_BIN_DIR"):
        return Path(os.environ["QM_BIN_DIR"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class System:
    """nats-server plus any of the services, as child processes."""

    def __init__(self) -> None:
        nats_bin = os.environ.get("NATS_SERVER_BIN") or shutil.which("nats-server")
        if not nats_bin:
            _missing("nats-server not found: source scripts/setup.sh")
        for name in (*SERVICES, "qm"):
            if not (bin_dir() / name).exists():
                _missing(f"{bin_dir() / name} not built: cargo build --workspace --bins")
        try:
            import nkeys  # noqa: F401  (nats-py authenticates with a seed through it)
        except ImportError:
            _missing("the nkeys package is not installed (pip install 'quartermaster-client[auth]')")
        self.store = tempfile.TemporaryDirectory(prefix="qm-py-nats-")
        self.trust = Path(self.store.name) / "trust"
        teams = [arg for team in TEAMS for arg in ("--team", team)]
        subprocess.run([str(bin_dir() / "qm"), "init", str(self.trust), *teams, "--tls"], check=True, stdout=subprocess.DEVNULL)
        self.tls = self.trust / "tls"
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        data = Path(self.store.name) / "nats"
        self.children["nats"] = subprocess.Popen(
            [nats_bin, "-c", str(self.trust / "nats-server.conf"), "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(data)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_listening()
        # As the admin: streams, buckets, the actuator's consumer (no service may create them).
        subprocess.run(
            [str(bin_dir() / "qm"), "creds", "apply", str(self.trust)],
            env=self.client_env(),
            check=True,
            stdout=subprocess.DEVNULL,
        )

    def client_env(self) -> dict[str, str]:
        """The environment of a service or the CLI: this server, TLS required with the CA
        and the client certificate (as ``qm up`` sets it)."""
        return {
            **os.environ,
            "QM_NATS_URL": self.url,
            "QM_NATS_TLS_CA": str(self.tls / "ca.pem"),
            "QM_NATS_TLS_CERT": str(self.tls / "client.pem"),
            "QM_NATS_TLS_KEY": str(self.tls / "client-key.pem"),
            "QM_NATS_TLS_REQUIRED": "true",
        }

    def tls_context(self) -> ssl.SSLContext:
        """What a Python client passes as ``tls=``: trusts the generated CA (and checks the
        server's certificate is for 127.0.0.1), presents the client certificate."""
        context = ssl.create_default_context(cafile=str(self.tls / "ca.pem"))
        context.load_cert_chain(str(self.tls / "client.pem"), str(self.tls / "client-key.pem"))
        return context

    def creds(self, name: str) -> str:
        """The nkey seed file of identity ``name`` (``operator``, ``team-research``, ...)."""
        return str(self.trust / "creds" / f"{name}.nk")

    async def connect(self, name: str, **kwargs):  # type: ignore[no-untyped-def]
        """A :class:`quartermaster.client.Client` acting as identity ``name``."""
        from quartermaster.client import Client

        kwargs.setdefault("tls", self.tls_context())
        return await Client.connect(self.url, nkeys_seed=self.creds(name), team_scoped=name.startswith("team-"), **kwargs)

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.02)
        raise RuntimeError(f"nats-server did not listen on {self.port} within 20 s")

    def start(self, name: str) -> None:
        identity = name.removeprefix("qm-")
        env = {
            **self.client_env(),
            "QM_NATS_CREDS": self.creds(identity),
            "QM_TRUST_FILE": str(self.trust / "trust.json"),
            "QM_TICK_MS": "200",
            "RUST_LOG": "warn",
        }
        logs = None if os.environ.get("QM_TEST_LOGS") else subprocess.DEVNULL
        self.children[name] = subprocess.Popen(
            [str(bin_dir() / name)], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=logs
        )

    def stop(self) -> None:
        for child in reversed(list(self.children.values())):
            child.kill()
            child.wait()
        self.children.clear()
        self.store.cleanup()


def _running_system() -> Iterator[System]:
    """nats-server and all three services, stopped when the fixture ends."""
    s = System()
    try:
        for name in SERVICES:
            s.start(name)
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    """nats-server and all three services."""
    yield from _running_system()


@pytest.fixture
def own_system() -> Iterator[System]:
    """nats-server and all three services, for one test (a fleet nobody else fills)."""
    yield from _running_system()


@pytest.fixture
def bare_nats() -> Iterator[System]:
    """nats-server only; a test starts services itself."""
    s = System()
    try:
        yield s
    finally:
        s.stop()
