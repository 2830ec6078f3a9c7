"""Usage sources and the reporter, driven by fake clocks, a fake NVML and fake sleep."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from quartermaster.usage import FakeSource, NvmlSource, StepTimer, UsageReporter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_step_timer_is_compute_time_over_wall_time() -> None:
    clock = Clock()
    timer = StepTimer(8, window_s=10, clock=clock)
    for _ in range(5):  # 1 s of compute, then 1 s waiting on data
        with timer.busy():
            clock.now += 1.0
        clock.now += 1.0
    assert timer.busy_fraction() == pytest.approx(0.5)
    assert timer.chips_busy() == pytest.approx(4.0)
    assert timer.step_times() == pytest.approx([1.0] * 5)


def test_step_timer_forgets_steps_older_than_its_window() -> None:
    clock = Clock()
    timer = StepTimer(lambda: 4, window_s=10, clock=clock)
    with timer.busy():
        clock.now += 10.0  # fully busy for a window
    clock.now += 10.0  # then idle for a window
    assert timer.busy_fraction() == pytest.approx(0.0)
    clock.now += 0.0
    timer.record(clock.now - 5.0, clock.now - 2.5)  # measured elsewhere: 2.5 s in the last 10
    assert timer.busy_fraction() == pytest.approx(0.25)
    assert timer.chips_busy() == pytest.approx(1.0)


def test_step_timer_before_any_time_passed_is_idle() -> None:
    assert StepTimer(8, clock=Clock()).busy_fraction() == 0.0


class FakeNvml:
    """The part of pynvml that NvmlSource uses, with scripted utilization."""

    def __init__(self, utilization: list[int]) -> None:
        self.utilization = utilization
        self.initialized = False

    def nvmlInit(self) -> None:
        self.initialized = True

    def nvmlShutdown(self) -> None:
        self.initialized = False

    def nvmlDeviceGetCount(self) -> int:
        return len(self.utilization)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=self.utilization[handle], memory=0)


def test_nvml_source_sums_busy_fractions_of_its_devices() -> None:
    nvml = FakeNvml([100, 50, 0, 25])
    source = NvmlSource(nvml=nvml)
    assert source.chips_busy() == pytest.approx(1.75)
    assert NvmlSource([0, 1], nvml=nvml).chips_busy() == pytest.approx(1.5)
    source.close()
    assert not nvml.initialized


def test_reporter_sends_the_mean_of_each_window() -> None:
    sent: list[tuple[float, int]] = []
    slept: list[float] = []

    async def report(chips_busy: float, window_s: int) -> None:
        sent.append((chips_busy, window_s))

    async def sleep(s: float) -> None:
        slept.append(s)

    source = FakeSource([8, 8, 4, 4, 0, 0])
    reporter = UsageReporter(source, report, window_s=2, sample_s=1.0, sleep=sleep)
    asyncio.run(reporter.run(windows_max=3))
    assert sent == [(8.0, 2), (4.0, 2), (0.0, 2)]
    assert slept == [1.0] * 6


def test_reporter_refuses_a_sample_longer_than_its_window() -> None:
    with pytest.raises(ValueError):
        UsageReporter(FakeSource([1]), lambda c, w: None, window_s=1, sample_s=2)
