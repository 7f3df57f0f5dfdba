"""Stage timers, engine timings and the rate meter (realtime/timing.py)."""

from __future__ import annotations

import time

import pytest

from realtime.timing import EngineTimings, RateMeter, StageTimer


def test_stage_timer_totals_mean_and_per_item_samples() -> None:
    t = StageTimer("backbone")
    t.add(4.0)  # one frame, 4 ms
    t.add(6.0, items=3)  # a batch of 3 frames in 6 ms: 2 ms each
    assert (t.count, t.items, t.total_ms, t.last_ms) == (2, 4, 10.0, 6.0)
    assert t.mean_ms == pytest.approx(2.5)
    assert list(t.recent) == [4.0, 2.0]
    assert t.percentile(50) == pytest.approx(3.0)
    d = t.to_dict()
    assert d == {"count": 2, "items": 4, "mean_ms": 2.5, "last_ms": 6.0,
                 "p50_ms": pytest.approx(3.0), "p95_ms": pytest.approx(3.9)}


def test_stage_timer_empty_and_zero_items() -> None:
    t = StageTimer("head")
    assert t.mean_ms == 0.0 and t.percentile(95) == 0.0
    t.add(5.0, items=0)  # a call that processed nothing still counts as a call
    assert (t.count, t.items, t.mean_ms, list(t.recent)) == (1, 0, 0.0, [5.0])


def test_stage_timer_keeps_a_bounded_window_and_reset_keeps_it() -> None:
    t = StageTimer("push", keep=3)
    for ms in (1.0, 2.0, 3.0, 4.0):
        t.add(ms)
    assert list(t.recent) == [2.0, 3.0, 4.0]  # the oldest sample fell out
    assert t.count == 4 and t.total_ms == 10.0  # totals cover every call
    t.reset()
    assert (t.count, t.items, t.total_ms, t.last_ms, list(t.recent)) == (0, 0, 0.0, 0.0, [])
    for ms in (1.0, 2.0, 3.0, 4.0):
        t.add(ms)
    assert len(t.recent) == 3 and t.name == "push"


@pytest.mark.parametrize("keep", [0, -1, 1.5, True, None])
def test_stage_timer_rejects_bad_keep(keep: object) -> None:
    with pytest.raises(ValueError, match="keep must be an int >= 1"):
        StageTimer("x", keep=keep)  # type: ignore[arg-type]


def test_measure_records_the_block_even_when_it_raises() -> None:
    t = StageTimer("head")
    with t.measure(items=2):
        time.sleep(0.01)
    assert t.count == 1 and t.items == 2 and t.last_ms >= 9.0
    with pytest.raises(KeyError), t.measure():
        raise KeyError("boom")
    assert t.count == 2 and t.items == 3


def test_engine_timings_groups_four_stages() -> None:
    et = EngineTimings()
    et.input.add(0.03)
    et.backbone.add(2.0)
    et.head.add(1.0)
    et.push.add(3.5)
    d = et.to_dict()
    assert list(d) == ["input", "backbone", "head", "push"]
    assert d["input"]["count"] == 1
    assert d["push"]["mean_ms"] == 3.5 and d["head"]["count"] == 1
    # A stage swapped for a fresh timer (the benchmark does this) is the one reported.
    et.head = StageTimer("head", keep=8)
    et.head.add(7.0)
    assert et.to_dict()["head"]["last_ms"] == 7.0
    et.reset()
    assert all(v["count"] == 0 for v in et.to_dict().values())


def test_rate_meter_fps_over_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 0.1, 0.2, 0.3, 0.4])
    monkeypatch.setattr(time, "perf_counter", lambda: next(clock))
    m = RateMeter(window=3)
    assert m.fps == 0.0
    m.tick()
    assert m.fps == 0.0  # one tick: no interval yet
    for _ in range(4):
        m.tick()
    assert m.fps == pytest.approx(10.0)  # last 3 ticks: 0.2, 0.3, 0.4 s


def test_rate_meter_same_instant_and_bad_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(time, "perf_counter", lambda: 5.0)
    m = RateMeter()
    m.tick()
    m.tick()
    assert m.fps == 0.0  # no time between ticks: no rate rather than a division by zero
    with pytest.raises(ValueError, match="window must be an int >= 1"):
        RateMeter(window=0)
