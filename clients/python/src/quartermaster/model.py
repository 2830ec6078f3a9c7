"""Quartermaster's message types, as described in ``schemas/`` (the Rust types in
``shared/model`` are the source of truth; the golden vectors keep the two in step).

Field order is wire order: do not reorder. A field with a default is one Rust readers
fill in when it is missing (``#[serde(default)]``, hence ``kw_only`` where a required
field follows one); an ``Optional`` field is ``None`` when missing. Writers always write
every field, except where ``skip_if`` says (Rust's ``skip_serializing_if``).
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from typing import Optional

from .wire import I64, U16, U32, U64, TaggedUnion

# ---------------------------------------------------------------- domain


class PriorityTier(str, enum.Enum):
    """How much a team's work matters when capacity is short."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"


class WorkloadKind(str, enum.Enum):
    """What a workload is; shapes how it is preempted and placed."""

    TRAINING = "training"
    INFERENCE = "inference"
    BATCH = "batch"
    INTERACTIVE = "interactive"


@dataclass
class Pool:
    """One accelerator type in one region (``Pool.schema.json``)."""

    id: str
    region: str
    accelerator: str
    chips: U32
    healthy_chips: U32
    allocation_unit: U32
    price_per_chip_hour: float


@dataclass(kw_only=True)
class Team:
    """A team: owner of workloads and of a guarantee in H100-equivalent chips."""

    id: str
    guarantee: float
    limit: Optional[float]
    weight: float
    tier: PriorityTier
    regions: list[str] = field(default_factory=list)
    headroom_fraction: float = 0.0


@dataclass
class AcceleratorThroughput:
    """Throughput on one chip of a type, relative to one H100 chip (= 1.0)."""

    accelerator: str
    relative_throughput: float


@dataclass(kw_only=True)
class WorkloadSpec:
    """A workload's declared needs, sent with every demand declaration."""

    id: str
    team: str
    kind: WorkloadKind = WorkloadKind.TRAINING
    accepts: list[AcceleratorThroughput]
    chips_min: U32
    chips_max: U32
    chips_step: U32
    gang: bool = False
    preemptible: bool
    critical: bool = False
    drain_grace_s: U32
    urgency: float = 0.0
    deadline_ms: Optional[I64] = None
    risk_tolerance: float = 0.0


def _empty(value: object) -> bool:
    return not value


def _true(value: object) -> bool:
    return value is True


@dataclass
class PolicyConfig:
    """The soft-priority policy; every knob has the default the Rust side has."""

    version: str = "default-1"
    idle_threshold_fraction: float = 0.5
    idle_window_s: U32 = 300
    headroom_fraction: float = 0.1
    grant_lifetime_min_s: U32 = 600
    hysteresis_fraction: float = 0.1
    preemption_cost: float = 600.0
    urgency_weight: float = 1.0
    deadline_weight: float = 1.0
    cost_weight: float = 0.5
    usage_half_life_s: U32 = 3600
    deadline_horizon_s: U32 = 86400
    risk_weight: float = 1.0
    usage_fairness_weight: float = 1.0
    team_guarantees_by_type: dict[str, dict[str, float]] = field(
        default_factory=dict, metadata={"skip_if": _empty}
    )
    round_batch_ms: U32 = field(default=0, metadata={"skip_if": _empty})
    upgrade_moves: bool = field(default=False, metadata={"skip_if": _empty})
    wait_for_faster_type: bool = field(default=True, metadata={"skip_if": _true})


# ---------------------------------------------------------------- input (QM_INPUT)


class InputEvent(TaggedUnion):
    """Outside facts accepted by ingest: the body of ``QM_INPUT`` messages and requests."""


@dataclass
class PoolDeclared(InputEvent):
    _newtype = True
    pool: Pool


@dataclass
class PoolRetired(InputEvent):
    pool: str


@dataclass
class TeamDeclared(InputEvent):
    _newtype = True
    team: Team


@dataclass
class PolicyPublished(InputEvent):
    _newtype = True
    policy: PolicyConfig


@dataclass
class DemandDeclared(InputEvent):
    spec: WorkloadSpec
    chips_desired: U32


@dataclass
class UsageReported(InputEvent):
    workload: str
    chips_busy: float
    window_s: U32


@dataclass
class WorkloadFinished(InputEvent):
    workload: str


@dataclass
class Tick(InputEvent):
    """Time passed; written by ingest only."""


class HaltResolution(str, enum.Enum):
    """What an operator decided about a log entry the policy could not fold."""

    SKIP = "skip"
    RETRY = "retry"


@dataclass
class HaltResolved(InputEvent):
    """An operator resolved the halt at log entry ``sequence`` (``qm halt skip|retry``)."""

    sequence: U64
    resolution: HaltResolution


# ---------------------------------------------------------------- decisions (QM_DECISIONS)


class ReclaimCause(str, enum.Enum):
    IDLE_GIVE_BACK = "idle_give_back"
    OWNER_RECLAIM = "owner_reclaim"
    PREEMPTION = "preemption"
    MOVE = "move"
    POOL_SHRINK = "pool_shrink"


class Action(TaggedUnion):
    """What the policy wants done to one workload's grant in one pool."""


@dataclass
class Grant(Action):
    pool: str
    chips: U32


@dataclass
class Reclaim(Action):
    pool: str
    chips: U32
    grace_s: U32
    deadline_ms: I64
    cause: ReclaimCause


@dataclass
class Revoke(Action):
    pool: str
    chips: U32


@dataclass
class Release(Action):
    pool: str


@dataclass
class Pending(Action):
    chips_wanted: U32


@dataclass
class Figure:
    name: str
    value: float


@dataclass
class Reason:
    """The rule that fired, the numbers it compared, and a sentence."""

    rule: str
    figures: list[Figure]
    message: str


@dataclass
class Decision:
    workload: str
    team: str
    action: Action
    reason: Reason


@dataclass
class DecisionRecorded:
    input_seq: U64
    index: U32
    policy_version: str
    advisory: bool
    decision: Decision


# ---------------------------------------------------------------- actuation (QM_ACTUATION)


class ActuationEvent(TaggedUnion):
    """What the actuator really did. ``chips`` is what the workload holds in ``pool`` afterwards."""


@dataclass
class GrantApplied(ActuationEvent):
    decision_id: uuid.UUID
    workload: str
    pool: str
    chips: U32


@dataclass
class DrainRequested(ActuationEvent):
    decision_id: uuid.UUID
    workload: str
    pool: str
    chips: U32
    deadline_ms: I64


@dataclass
class GrantRevoked(ActuationEvent):
    """Chips taken away; ``chips == 0`` after a release (the workload finished)."""

    decision_id: uuid.UUID
    workload: str
    pool: str
    chips: U32


@dataclass
class ActuationFailed(ActuationEvent):
    decision_id: uuid.UUID
    workload: str
    pool: Optional[str]
    error: str


# ---------------------------------------------------------------- dead letters and replies


@dataclass
class InputRejected:
    subject: str
    error: str
    payload: bytes


class RejectCode(str, enum.Enum):
    """Why ingest refused input: a stable code to branch on."""

    MALFORMED = "malformed"
    TOO_LARGE = "too_large"
    BAD_SUBJECT = "bad_subject"
    OUT_OF_RANGE = "out_of_range"
    UNKNOWN = "unknown"
    FORBIDDEN = "forbidden"
    UNAVAILABLE = "unavailable"
    CONFLICT = "conflict"
    UNSUPPORTED_VERSION = "unsupported_version"
    RATE_LIMITED = "rate_limited"


class IngestReply(TaggedUnion):
    """Ingest's answer to a request, sent bare (no envelope)."""


@dataclass
class Accepted(IngestReply):
    event_id: uuid.UUID
    sequence: U64
    duplicate: bool


@dataclass
class Rejected(IngestReply):
    code: RejectCode
    message: str


@dataclass
class Envelope:
    """What every stored message travels in. ``body``'s type depends on the stream."""

    id: uuid.UUID
    type: str
    v: U16
    time_ms: I64
    source: str
    causation_id: Optional[uuid.UUID]
    body: object
