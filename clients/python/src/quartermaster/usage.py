"""Measured use of a grant, reported in windows (``UsageReported``).

The policy gives back what a workload holds but does not use, so a workload should say
how busy its chips are. Two sources of "busy":

- :class:`StepTimer`: the training loop marks when it computes (``with timer.busy():``
  around each step); the busy fraction is compute time over wall time, which is low when
  the loop waits on data, checkpoints or a parameter server.
- :class:`NvmlSource`: NVML's utilization of the workload's GPUs (needs the optional
  ``nvidia-ml-py`` package and an NVIDIA driver).

:class:`UsageReporter` samples one of them and sends a report every window. Clocks are
arguments so tests drive time (and :class:`FakeSource` stands in for a GPU).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any, Callable, Iterator, Optional, Protocol, Sequence

Clock = Callable[[], float]


class BusySource(Protocol):
    """Chips busy right now (a sum of per-chip busy fractions, 0 to chips held)."""

    def chips_busy(self) -> float: ...


class StepTimer:
    """Busy fraction from a loop's compute intervals, over a sliding window.

    ``chips`` is how many chips the loop drives (a number or a callable such as
    ``lambda: grant.chips``); :meth:`chips_busy` is the busy fraction times that.
    """

    def __init__(self, chips: float | Callable[[], float], *, window_s: float = 60.0, clock: Clock = time.monotonic):
        self._chips = chips
        self.window_s = window_s
        self._clock = clock
        self._started = clock()
        self._intervals: deque[tuple[float, float]] = deque()
        self.steps = 0

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        """Marks the enclosed block (one training step) as time the chips compute."""
        start = self._clock()
        try:
            yield
        finally:
            self.record(start, self._clock())

    def record(self, start: float, end: float) -> None:
        """Records one compute interval measured elsewhere (e.g. CUDA events)."""
        if end > start:
            self._intervals.append((start, end))
            self.steps += 1
        self._trim(end - self.window_s)

    def step_times(self) -> list[float]:
        """Durations of the steps still in the window, oldest first."""
        return [e - s for s, e in self._intervals]

    def busy_fraction(self) -> float:
        """Compute time over wall time in the last ``window_s`` (or since start, if shorter)."""
        now = self._clock()
        since = max(now - self.window_s, self._started)
        self._trim(since)
        span = now - since
        if span <= 0:
            return 0.0
        busy = sum(min(e, now) - max(s, since) for s, e in self._intervals if e > since)
        return max(0.0, min(1.0, busy / span))

    def chips_busy(self) -> float:
        chips = self._chips() if callable(self._chips) else self._chips
        return self.busy_fraction() * float(chips)

    def _trim(self, before: float) -> None:
        while self._intervals and self._intervals[0][1] <= before:
            self._intervals.popleft()


class NvmlSource:
    """GPU utilization from NVML: the sum over ``devices`` of each one's busy fraction.

    ``devices`` are NVML indices (default: every GPU this process sees). ``nvml`` is the
    ``pynvml`` module from ``nvidia-ml-py``; pass a stand-in to test without a GPU.
    """

    def __init__(self, devices: Optional[Sequence[int]] = None, *, nvml: Any = None):
        if nvml is None:
            try:
                import pynvml as nvml  # type: ignore[import-not-found, no-redef]
            except ImportError as e:  # pragma: no cover - depends on the machine
                raise RuntimeError("NvmlSource needs the nvidia-ml-py package: pip install nvidia-ml-py") from e
        self._nvml = nvml
        nvml.nvmlInit()
        count = nvml.nvmlDeviceGetCount()
        indices = list(devices) if devices is not None else list(range(count))
        self._handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in indices]

    def chips_busy(self) -> float:
        rates = (self._nvml.nvmlDeviceGetUtilizationRates(h) for h in self._handles)
        return sum(min(max(r.gpu, 0), 100) / 100.0 for r in rates)

    def close(self) -> None:
        self._nvml.nvmlShutdown()


class FakeSource:
    """A scripted source: returns ``values`` in turn, then the last one forever."""

    def __init__(self, values: Sequence[float]):
        if not values:
            raise ValueError("FakeSource needs at least one value")
        self._values = list(values)
        self.calls = 0

    def chips_busy(self) -> float:
        value = self._values[min(self.calls, len(self._values) - 1)]
        self.calls += 1
        return value


class UsageReporter:
    """Samples a source every ``sample_s`` and reports the mean every ``window_s``.

    ``report`` is an async callable taking ``(chips_busy, window_s)``, usually a
    :class:`~quartermaster.client.Workload`'s ``report_usage``.
    """

    def __init__(
        self,
        source: BusySource,
        report: Callable[[float, int], Any],
        *,
        window_s: int = 30,
        sample_s: float = 1.0,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ):
        if window_s < 1 or sample_s <= 0 or sample_s > window_s:
            raise ValueError("need window_s >= 1 and 0 < sample_s <= window_s")
        self.source = source
        self._report = report
        self.window_s = window_s
        self.sample_s = sample_s
        self._sleep = sleep
        self.reports_sent = 0

    async def report_window(self) -> float:
        """Samples one window, sends its mean, and returns it."""
        samples_per_window = max(1, round(self.window_s / self.sample_s))
        total = 0.0
        for _ in range(samples_per_window):
            total += max(0.0, self.source.chips_busy())
            await self._sleep(self.sample_s)
        mean = total / samples_per_window
        await self._report(mean, self.window_s)
        self.reports_sent += 1
        return mean

    async def run(self, windows_max: Optional[int] = None) -> None:
        """Reports window after window (at most ``windows_max``) until cancelled."""
        while windows_max is None or self.reports_sent < windows_max:
            await self.report_window()
