"""A workload's grant as the actuator reports it, folded from ``QM_ACTUATION``.

The policy never assumes a decision took effect until the actuator says so, and
neither should a workload: this is the view to size a job by. Each report says what
the workload holds in one pool *afterwards*: ``GrantApplied`` and ``GrantRevoked``
set it (``GrantRevoked`` with 0 chips is a release: the workload finished or left the
pool), ``DrainRequested`` asks the workload to shrink to ``chips`` by ``deadline_ms``
(checkpoint now; the chips above are revoked at the deadline), ``ActuationFailed``
changes nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Optional

from . import model


@dataclass
class Drain:
    """A pending request to shrink to ``chips`` in ``pool`` by ``deadline_ms``."""

    pool: str
    chips: int
    deadline_ms: int


@dataclass
class GrantState:
    """What one workload holds, pool by pool, after the reports folded so far."""

    workload: str
    held: dict[str, int] = field(default_factory=dict)
    draining: dict[str, Drain] = field(default_factory=dict)
    last_failure: Optional[str] = None
    reports: int = 0

    @property
    def chips(self) -> int:
        """Chips held in all pools together."""
        return sum(self.held.values())

    @property
    def chips_after_drains(self) -> int:
        """Chips held once every requested drain is done: what to plan the next step for."""
        return sum(self.draining[p].chips if p in self.draining else c for p, c in self.held.items())

    def apply(self, event: model.ActuationEvent) -> None:
        """Folds one actuation report about this workload; others are ignored."""
        if getattr(event, "workload", None) != self.workload:
            return
        self.reports += 1
        if isinstance(event, (model.GrantApplied, model.GrantRevoked)):
            if event.chips:
                self.held[event.pool] = event.chips
            else:
                self.held.pop(event.pool, None)
            self.draining.pop(event.pool, None)
        elif isinstance(event, model.DrainRequested):
            self.draining[event.pool] = Drain(event.pool, event.chips, event.deadline_ms)
        elif isinstance(event, model.ActuationFailed):
            self.last_failure = event.error

    def snapshot(self) -> "GrantState":
        """An independent copy, safe to keep while folding goes on."""
        return copy.deepcopy(self)


@dataclass
class GrantUpdate:
    """One actuation report and the grant after it."""

    envelope: model.Envelope
    state: GrantState

    @property
    def event(self) -> model.ActuationEvent:
        return self.envelope.body  # type: ignore[return-value]
