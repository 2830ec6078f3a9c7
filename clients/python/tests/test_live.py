"""The client against a real Quartermaster: nats-server (auth and TLS on) and the three services.

The operator declares the fleet; a team identity speaks for its own workloads and reads
its own grants and decisions, and nothing of another team's.

Numbers are from the repo's data: an H100 pool at $4.916 per chip-hour (AWS Capacity
Block, shared/data/accelerators) and an A100 relative throughput of 0.499.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
import uuid
from pathlib import Path
from typing import Awaitable, Callable

import nats
import nats.errors
import nkeys
import pytest

from quartermaster import codec, model
from quartermaster.client import Client, GrantTimeout, RejectedError, RetryPolicy
from quartermaster.wire import pack, unpack

POOL = model.Pool(
    id="use-h100", region="us-east", accelerator="h100", chips=16, healthy_chips=16, allocation_unit=1,
    price_per_chip_hour=4.916,
)
TEAM = model.Team(id="research", guarantee=16.0, limit=None, weight=1.0, tier=model.PriorityTier.NORMAL)


def spec(workload: str, chips_max: int = 8) -> model.WorkloadSpec:
    return model.WorkloadSpec(
        id=workload,
        team="research",
        accepts=[model.AcceleratorThroughput("h100", 1.0), model.AcceleratorThroughput("a100", 0.499)],
        chips_min=1,
        chips_max=chips_max,
        chips_step=1,
        preemptible=True,
        drain_grace_s=0,
        risk_tolerance=0.5,
    )


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, 90))


async def fleet(client: Client) -> None:
    await client.declare_pool(POOL, key="pool-use-h100")
    await client.declare_team(TEAM, key="team-research")


def run_on_fleet(system, scenario: Callable[[Client], Awaitable[None]]) -> None:  # type: ignore[no-untyped-def]
    """Runs ``scenario`` as the operator, once the fleet is declared: where most tests begin."""

    async def on_fleet() -> None:
        async with await system.connect("operator") as client:
            await fleet(client)
            await scenario(client)

    run(on_fleet())


def test_demand_is_granted_and_applied(system) -> None:  # type: ignore[no-untyped-def]
    async def scenario(client: Client) -> None:
        job = client.workload(spec("py-train-1"))
        accepted = await job.declare(8)
        assert accepted.sequence >= 1 and not accepted.duplicate
        state = await job.wait_for_grant(8, timeout_s=30)
        assert state.chips == 8 and state.held == {"use-h100": 8}
        latest = await client.latest_decision("research", "py-train-1")
        assert latest is not None and isinstance(latest.decision.action, model.Grant)
        assert latest.decision.reason.rule

    run_on_fleet(system, scenario)


def test_a_repeat_with_the_same_key_is_stored_once(system) -> None:  # type: ignore[no-untyped-def]
    async def scenario(client: Client) -> None:
        job = client.workload(spec("py-repeat-1"))
        key = f"demand-{uuid.uuid4().hex}"
        first = await job.declare(2, key=key)
        again = await job.declare(2, key=key)
        assert again.duplicate and not first.duplicate
        assert (again.event_id, again.sequence) == (first.event_id, first.sequence)

    run_on_fleet(system, scenario)


def test_refusals_are_typed_and_not_retried(system) -> None:  # type: ignore[no-untyped-def]
    async def scenario(client: Client) -> None:
        stranger = spec("py-stranger-1")
        stranger.team = "nobody"
        with pytest.raises(RejectedError) as unknown:
            await client.declare_demand(stranger, 1)
        assert unknown.value.code is model.RejectCode.UNKNOWN
        started = time.monotonic()
        with pytest.raises(RejectedError) as too_many:
            await client.declare_demand(spec("py-big-1", chips_max=8), 9)
        assert too_many.value.code is model.RejectCode.OUT_OF_RANGE
        assert "chips_desired" in too_many.value.message
        assert time.monotonic() - started < 2.0  # answered once, no backoff
        with pytest.raises(RejectedError) as never:
            await client.report_usage("research", "py-never-declared", 1.0, 10)
        assert never.value.code is model.RejectCode.UNKNOWN

    run_on_fleet(system, scenario)


def test_resize_usage_and_finish_are_seen_as_grant_changes(system) -> None:  # type: ignore[no-untyped-def]
    async def scenario(client: Client) -> None:
        job = client.workload(spec("py-elastic-1"))
        await job.declare(4)
        assert (await job.wait_for_grant(4, timeout_s=30)).chips == 4
        await job.report_usage(4.0, 10)
        await job.finish()
        released = None
        async for update in job.watch_grants():
            if isinstance(update.event, model.GrantRevoked) and update.state.chips == 0:
                released = update
                break
        assert released is not None and released.event.chips == 0
        assert released.state.held == {}

    run_on_fleet(system, scenario)


def test_waiting_for_more_than_fits_times_out_with_the_reason(system) -> None:  # type: ignore[no-untyped-def]
    async def scenario(client: Client) -> None:
        job = client.workload(spec("py-too-big-1", chips_max=64))
        await job.declare(64)
        with pytest.raises(GrantTimeout) as e:
            await job.wait_for_grant(64, timeout_s=3)
        assert e.value.state.chips < 64

    run_on_fleet(system, scenario)


def test_requests_are_retried_until_ingest_is_up(bare_nats) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> None:
        retry = RetryPolicy(attempts_max=30, request_timeout_s=1.0, backoff_initial_s=0.1, backoff_max_s=0.5)
        async with await bare_nats.connect("operator", retry=retry) as client:
            sending = asyncio.create_task(client.declare_pool(POOL, key="pool-before-ingest"))
            await asyncio.sleep(1.0)
            assert not sending.done()  # no responders yet: still retrying
            bare_nats.start("qm-ingest")
            accepted = await sending
            assert accepted.sequence >= 1 and not accepted.duplicate

    run(scenario())


def test_a_used_key_with_a_different_request_is_a_conflict(system) -> None:  # type: ignore[no-untyped-def]
    async def scenario(client: Client) -> None:
        job = client.workload(spec("py-conflict-1"))
        key = f"resize-{uuid.uuid4().hex}"
        first = await job.declare(2, key=key)
        with pytest.raises(RejectedError) as e:
            await job.resize(3, key=key)
        assert e.value.code is model.RejectCode.CONFLICT
        assert str(first.sequence) in e.value.message
        assert (await job.declare(2, key=key)).duplicate  # the original again is fine

    run_on_fleet(system, scenario)


async def raw_request(client: Client, subject: str, payload: bytes, headers: dict[str, str]) -> model.IngestReply:
    msg = await client.nc.request(subject, payload, timeout=5, headers=headers)
    return codec.decode_value(msg.data, model.IngestReply)


def test_request_version_source_and_malformed_fields_are_checked(system) -> None:  # type: ignore[no-untyped-def]
    async def scenario(client: Client) -> None:
        subject = "qm.in.demand.research.py-raw-1"
        body = codec.encode_value(model.DemandDeclared(spec("py-raw-1"), 1))
        newer = await raw_request(client, subject, body, {"Qm-Schema-Version": "2"})
        assert isinstance(newer, model.Rejected) and newer.code is model.RejectCode.UNSUPPORTED_VERSION
        current = await raw_request(client, subject, body, {"Qm-Schema-Version": "1"})
        assert isinstance(current, model.Accepted)
        for source in ("", "x" * 65, "has space", "new\nline"):
            bad = await raw_request(client, subject, body, {"Qm-Source": source})
            assert isinstance(bad, model.Rejected) and bad.code is model.RejectCode.OUT_OF_RANGE, source
        form = unpack(body, trailing_ok=False)
        form["DemandDeclared"]["spec"]["chips_min"] = "8"
        malformed = await raw_request(client, subject, pack(form), {})
        assert isinstance(malformed, model.Rejected) and malformed.code is model.RejectCode.MALFORMED
        assert "DemandDeclared.spec.chips_min" in malformed.message, malformed.message

    run_on_fleet(system, scenario)


def test_a_team_identity_declares_and_reads_its_own_grants_and_decisions(own_system) -> None:  # type: ignore[no-untyped-def]
    system = own_system

    async def scenario() -> None:
        async with await system.connect("operator") as operator:
            await fleet(operator)
            rival_team = model.Team(id="rivals", guarantee=0.0, limit=None, weight=1.0, tier=model.PriorityTier.NORMAL)
            await operator.declare_team(rival_team, key="team-rivals")
        async with await system.connect("team-rivals") as rivals:
            rival = spec("py-rival-1", chips_max=2)
            rival.team = "rivals"
            await rivals.workload(rival).declare(1)
            assert (await rivals.wait_for_grant("rivals", "py-rival-1", 1, timeout_s=30)).chips == 1
        async with await system.connect("team-research") as team:
            job = team.workload(spec("py-team-1", chips_max=4))
            await job.declare(4)
            state = await job.wait_for_grant(4, timeout_s=30)  # its grants, from QM_ACTUATION
            assert state.chips == 4
            latest = await team.latest_decision("research", "py-team-1")
            assert latest is not None and isinstance(latest.decision.action, model.Grant)
            decisions = team.watch_decisions("research", "py-team-1")
            first = await asyncio.wait_for(decisions.__anext__(), 10)
            assert first.body.decision.workload == "py-team-1"
            await decisions.aclose()
            # Another team's workload: its input is refused by the server (no responder
            # sees it), and its grants and decisions cannot be read.
            with pytest.raises(Exception):
                await asyncio.wait_for(team.latest_decision("rivals", "py-rival-1"), 5)
            with pytest.raises(Exception):
                await asyncio.wait_for(team.watch_grants("rivals", "py-rival-1").__anext__(), 5)
            with pytest.raises(Exception):
                await asyncio.wait_for(team.js.stream_info("QM_DECISIONS"), 5)

    run(scenario())


def test_a_connection_without_credentials_is_refused(system) -> None:  # type: ignore[no-untyped-def]
    """Over TLS, so that what refuses it is the missing credentials (without the CA the
    handshake would fail first)."""

    async def scenario() -> None:
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(system.url, tls=system.tls_context(), allow_reconnect=False, connect_timeout=3)

    run(scenario())


def test_a_plain_connection_is_refused(system) -> None:  # type: ignore[no-untyped-def]
    """The operator's own credentials, but no TLS: the server, which requires TLS, closes the
    connection without an answer (nats-py always upgrades, so this speaks the protocol itself)."""
    seed = nkeys.from_seed(bytearray(Path(system.creds("operator")).read_bytes().strip()))
    with socket.create_connection(("127.0.0.1", system.port), timeout=5) as plain:
        wire = plain.makefile("rwb")
        info = json.loads(wire.readline().removeprefix(b"INFO "))
        assert info["tls_required"] is True
        signature = base64.urlsafe_b64encode(seed.sign(info["nonce"].encode())).rstrip(b"=").decode()
        connect = {"nkey": seed.public_key.decode(), "sig": signature, "verbose": False, "pedantic": False}
        wire.write(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        wire.flush()
        try:
            answer = wire.readline()  # b"" once the server closes; b"PONG\r\n" on a plain server
        except ConnectionResetError:
            answer = b""
    assert b"PONG" not in answer, answer
