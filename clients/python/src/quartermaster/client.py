"""Talking to Quartermaster over NATS: input to ingest, grants and decisions back.

Every request carries a ``Qm-Idempotency-Key`` (one is made per call unless given) and
is retried with the same key when ingest is briefly away (no responders, a timeout, or
``unavailable``), so a retry of a request that was in fact stored is answered with the
original event id (``duplicate=True``) and stored once. Other refusals raise
:class:`RejectedError` at once: retrying cannot fix them.

Subjects are those of ``schemas/README.md`` ("Streams and subjects").
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any, AsyncIterator, Optional

import nats
import nats.errors
import nats.js.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from . import model
from .codec import SCHEMA_VERSION, decode, decode_value, encode_value
from .grants import GrantState, GrantUpdate
from .wire import DecodeError

log = logging.getLogger(__name__)

IDEMPOTENCY_KEY_HEADER = "Qm-Idempotency-Key"
SOURCE_HEADER = "Qm-Source"
SCHEMA_VERSION_HEADER = "Qm-Schema-Version"
IDEMPOTENCY_KEY_BYTES_MAX = 128
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class QuartermasterError(Exception):
    """Base of this client's errors."""


class RejectedError(QuartermasterError):
    """Ingest refused the input; ``code`` says why (a :class:`model.RejectCode`)."""

    def __init__(self, code: model.RejectCode, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"rejected ({code.value}): {message}")


class UnavailableError(QuartermasterError):
    """Ingest did not take the input within the retry budget; safe to retry with ``key``."""

    def __init__(self, subject: str, key: str, cause: str) -> None:
        self.subject = subject
        self.key = key
        super().__init__(f"no answer from ingest on {subject} after retries (key {key}): {cause}")


class GrantTimeout(QuartermasterError):
    """No grant of the wanted size in time; ``state`` is what is held, ``reason`` the latest decision's."""

    def __init__(self, workload: str, chips_min: int, state: GrantState, reason: Optional[model.Reason]) -> None:
        self.state = state
        self.reason = reason
        why = f"; latest decision: {reason.rule}: {reason.message}" if reason else ""
        super().__init__(f"{workload} holds {state.chips} chips, wanted at least {chips_min}{why}")


@dataclass
class RetryPolicy:
    """How hard to try before giving up on ingest."""

    attempts_max: int = 6
    request_timeout_s: float = 5.0
    backoff_initial_s: float = 0.1
    backoff_max_s: float = 2.0


def check_id(what: str, value: str) -> str:
    """Ids become subject tokens: refuse one ingest would refuse, before sending."""
    if not _ID.match(value):
        raise ValueError(f"{what} id {value!r} must be 1 to 64 characters of A-Z a-z 0-9 - _")
    return value


def inbox_prefix_of_seed_file(path: str) -> str:
    """``_INBOX.<public key>`` of the nkey seed in ``path`` (needs the ``nkeys`` package,
    which nats-py itself needs to authenticate with a seed)."""
    import nkeys  # only for seed authentication: the ``auth`` extra

    with open(path, "rb") as f:
        seed = f.read().strip()
    return f"_INBOX.{nkeys.from_seed(bytearray(seed)).public_key.decode()}"


class Client:
    """A connection to Quartermaster. Use :meth:`connect`, and ``async with`` or :meth:`close`."""

    def __init__(self, nc: Any, *, source: str, retry: RetryPolicy, team_scoped: bool = False) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.source = source
        self.retry = retry
        self.team_scoped = team_scoped

    @classmethod
    async def connect(
        cls,
        servers: str | list[str] = "nats://127.0.0.1:4222",
        *,
        source: str = "qm-python",
        credentials: Optional[str] = None,
        nkeys_seed: Optional[str] = None,
        retry: Optional[RetryPolicy] = None,
        team_scoped: bool = False,
        **nats_options: Any,
    ) -> "Client":
        """Connects. ``credentials`` is a NATS user credentials file (JWT + nkey seed),
        ``nkeys_seed`` a file with an nkey seed (``qm init``'s ``creds/<name>.nk``); other
        options go to ``nats.connect`` (``tls``, ``user``, ``password``, ...). ``source``
        is recorded as the input's source.

        With ``nkeys_seed``, replies and consumer deliveries come to the identity's own
        inbox prefix, ``_INBOX.<its public key>``: the only inboxes Quartermaster's
        generated permissions let it read (pass ``inbox_prefix=`` to override).

        ``team_scoped=True`` for a team identity: grants and decisions are then read
        through consumers named and filtered in the request subject, the only kind a team
        may create (the server checks the filter is the team's own). Operators and
        auditors leave it off: they may create only unnamed consumers, which can never be
        durable."""
        if credentials:
            nats_options["user_credentials"] = credentials
        if nkeys_seed:
            nats_options["nkeys_seed"] = nkeys_seed
            nats_options.setdefault("inbox_prefix", inbox_prefix_of_seed_file(nkeys_seed))
        nats_options.setdefault("name", source)
        nc = await nats.connect(servers, **nats_options)
        return cls(nc, source=source, retry=retry or RetryPolicy(), team_scoped=team_scoped)

    async def close(self) -> None:
        await self.nc.drain()

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------ input

    async def send(self, subject: str, event: model.InputEvent, *, key: Optional[str] = None) -> model.Accepted:
        """Sends one input event to ingest, retrying with one idempotency key."""
        key = key or uuid.uuid4().hex
        if not 1 <= len(key.encode()) <= IDEMPOTENCY_KEY_BYTES_MAX:
            raise ValueError(f"idempotency key must be 1 to {IDEMPOTENCY_KEY_BYTES_MAX} bytes")
        payload = encode_value(event)
        headers = {IDEMPOTENCY_KEY_HEADER: key, SOURCE_HEADER: self.source, SCHEMA_VERSION_HEADER: str(SCHEMA_VERSION)}
        delay = self.retry.backoff_initial_s
        cause = "no attempt made"
        for attempt in range(self.retry.attempts_max):
            if attempt:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.retry.backoff_max_s)
            try:
                msg = await self.nc.request(subject, payload, timeout=self.retry.request_timeout_s, headers=headers)
            except (nats.errors.NoRespondersError, nats.errors.TimeoutError, asyncio.TimeoutError) as e:
                cause = type(e).__name__
                continue
            reply = decode_value(msg.data, model.IngestReply)
            if isinstance(reply, model.Accepted):
                return reply
            if not isinstance(reply, model.Rejected):
                raise QuartermasterError(f"unexpected reply from ingest: {reply!r}")
            if reply.code is not model.RejectCode.UNAVAILABLE:
                raise RejectedError(reply.code, reply.message)
            cause = reply.message
        raise UnavailableError(subject, key, cause)

    async def declare_demand(
        self, spec: model.WorkloadSpec, chips_desired: int, *, key: Optional[str] = None
    ) -> model.Accepted:
        """Declares (or re-declares, with a new size or shape) what a workload wants now; 0 withdraws."""
        subject = f"qm.in.demand.{check_id('team', spec.team)}.{check_id('workload', spec.id)}"
        return await self.send(subject, model.DemandDeclared(spec, chips_desired), key=key)

    async def report_usage(
        self, team: str, workload: str, chips_busy: float, window_s: int, *, key: Optional[str] = None
    ) -> model.Accepted:
        """Reports how many chips were busy on average over the last ``window_s`` seconds."""
        subject = f"qm.in.usage.{check_id('team', team)}.{check_id('workload', workload)}"
        return await self.send(subject, model.UsageReported(workload, float(chips_busy), window_s), key=key)

    async def finish(self, team: str, workload: str, *, key: Optional[str] = None) -> model.Accepted:
        """Says the workload is done; its grant is released."""
        subject = f"qm.in.finish.{check_id('team', team)}.{check_id('workload', workload)}"
        return await self.send(subject, model.WorkloadFinished(workload), key=key)

    async def declare_pool(self, pool: model.Pool, *, key: Optional[str] = None) -> model.Accepted:
        """Operator: adds or changes a pool."""
        return await self.send(f"qm.in.pool.{check_id('pool', pool.id)}", model.PoolDeclared(pool), key=key)

    async def retire_pool(self, pool: str, *, key: Optional[str] = None) -> model.Accepted:
        """Operator: takes a pool out of service."""
        return await self.send(f"qm.in.pool.{check_id('pool', pool)}", model.PoolRetired(pool), key=key)

    async def declare_team(self, team: model.Team, *, key: Optional[str] = None) -> model.Accepted:
        """Operator: adds or changes a team."""
        return await self.send(f"qm.in.team.{check_id('team', team.id)}", model.TeamDeclared(team), key=key)

    async def publish_policy(self, policy: model.PolicyConfig, *, key: Optional[str] = None) -> model.Accepted:
        """Operator: publishes a new policy version; it applies to every later decision."""
        return await self.send("qm.in.policy", model.PolicyPublished(policy), key=key)

    def workload(self, spec: model.WorkloadSpec) -> "Workload":
        """A handle that remembers the spec, for declare / resize / usage / finish / grants."""
        return Workload(self, spec)

    # ------------------------------------------------------------ grants and decisions

    async def watch_grants(self, team: str, workload: str) -> AsyncIterator[GrantUpdate]:
        """Every actuation report about ``workload`` of ``team`` from the start of the log,
        then live, each with the grant after it. Runs until the caller stops iterating.

        Reports are under ``qm.act.<team>.<workload>``, so a team identity may read its
        own; reports written before subjects carried the team (``qm.act.<workload>``)
        are not seen here (an operator or auditor reads them with plain NATS tools)."""
        subject = f"qm.act.{check_id('team', team)}.{check_id('workload', workload)}"
        state = GrantState(workload)
        async for env in self._follow("QM_ACTUATION", subject, model.ActuationEvent):
            state.apply(env.body)
            yield GrantUpdate(env, state.snapshot())

    async def watch_decisions(self, team: str, workload: str) -> AsyncIterator[model.Envelope]:
        """Every recorded decision about ``workload`` (envelopes of :class:`model.DecisionRecorded`)."""
        subject = f"qm.decision.{check_id('team', team)}.{check_id('workload', workload)}"
        async for env in self._follow("QM_DECISIONS", subject, model.DecisionRecorded):
            yield env

    async def latest_decision(self, team: str, workload: str) -> Optional[model.DecisionRecorded]:
        """The newest recorded decision about ``workload``, or ``None``."""
        subject = f"qm.decision.{check_id('team', team)}.{check_id('workload', workload)}"
        try:
            # A direct get names the subject in the request subject, where a team's
            # permissions can scope it (STREAM.MSG.GET carries it in the body).
            msg = await self.js.get_last_msg("QM_DECISIONS", subject, direct=True)
        except nats.js.errors.NotFoundError:
            return None
        return decode(msg.data, model.DecisionRecorded).body  # type: ignore[return-value]

    async def wait_for_grant(
        self, team: str, workload: str, chips_min: int = 1, *, timeout_s: float = 30.0
    ) -> GrantState:
        """Waits until ``workload`` holds at least ``chips_min`` applied chips; raises
        :class:`GrantTimeout` (with the latest decision's reason) when it does not in time."""
        state = GrantState(workload)

        async def reach() -> None:
            nonlocal state
            async for update in self.watch_grants(team, workload):
                state = update.state
                if state.chips >= chips_min:
                    return

        try:
            await asyncio.wait_for(reach(), timeout_s)
        except asyncio.TimeoutError:
            latest = await self.latest_decision(team, workload)
            raise GrantTimeout(workload, chips_min, state, latest.decision.reason if latest else None) from None
        return state

    async def _follow(self, stream: str, subject: str, body_type: type) -> AsyncIterator[model.Envelope]:
        """A consumer from the first message on ``subject``; retries until the stream
        exists (``qm creds apply`` or the services create streams).

        With ``team_scoped`` the consumer is named, so its filter travels in the create
        request's subject (``$JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>``), the
        only form a team's permissions allow; otherwise it is unnamed
        (``$JS.API.CONSUMER.CREATE.<stream>``), the only form full readers may use. Either
        way a plain push consumer without acks or flow control (an ordered consumer's
        flow control replies to ``$JS.FC.>``, which no reader may publish to), ephemeral:
        it goes away after the reader stops."""
        delay = 0.1
        while True:
            # A fresh config per try: subscribe fills in the delivery inbox.
            name = f"qm-py-{uuid.uuid4().hex}" if self.team_scoped else None
            config = ConsumerConfig(name=name, ack_policy=AckPolicy.NONE, inactive_threshold=30.0)
            try:
                sub = await self.js.subscribe(subject, stream=stream, config=config, deliver_policy=DeliverPolicy.ALL)
                break
            except nats.js.errors.NotFoundError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        try:
            async for msg in sub.messages:
                try:
                    yield decode(msg.data, body_type)
                except DecodeError as e:
                    # A producer bug, not this reader's: say so and keep following.
                    log.warning("undecodable message on %s: %s", msg.subject, e)
        finally:
            await sub.unsubscribe()


class Workload:
    """One workload's calls, with its spec remembered so a resize is one argument."""

    def __init__(self, client: Client, spec: model.WorkloadSpec) -> None:
        self.client = client
        self.spec = spec

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def team(self) -> str:
        return self.spec.team

    async def declare(self, chips_desired: int, *, key: Optional[str] = None) -> model.Accepted:
        """Declares demand for ``chips_desired`` chips with this spec."""
        return await self.client.declare_demand(self.spec, chips_desired, key=key)

    async def resize(self, chips_desired: int, *, key: Optional[str] = None) -> model.Accepted:
        """Asks for another size (within the spec's ``chips_min..=chips_max``, or 0)."""
        return await self.declare(chips_desired, key=key)

    async def report_usage(self, chips_busy: float, window_s: int, *, key: Optional[str] = None) -> model.Accepted:
        return await self.client.report_usage(self.team, self.id, chips_busy, window_s, key=key)

    async def finish(self, *, key: Optional[str] = None) -> model.Accepted:
        return await self.client.finish(self.team, self.id, key=key)

    async def wait_for_grant(self, chips_min: int = 1, *, timeout_s: float = 30.0) -> GrantState:
        return await self.client.wait_for_grant(self.team, self.id, chips_min, timeout_s=timeout_s)

    def watch_grants(self) -> AsyncIterator[GrantUpdate]:
        return self.client.watch_grants(self.team, self.id)
