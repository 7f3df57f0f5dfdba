"""The input transforms: raw crops, reference difference, lag difference (realtime/reference.py)."""

from __future__ import annotations

import numpy as np
import pytest

from realtime.reference import (
    KIND_LAG,
    KIND_RAW,
    KIND_REFERENCE,
    InputTransform,
    ReferenceDifference,
    transform_video,
)


def _crops(n: int = 12, s: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, s, s), dtype=np.uint8)


def test_raw_transform_passes_crops_through_unchanged():
    crops = _crops()
    t = InputTransform()
    assert t.kind == KIND_RAW and t.to_dict() == {"kind": KIND_RAW}
    ref = ReferenceDifference(t)
    first = crops[0]
    assert ref.update(first) is first
    assert transform_video(crops, np.ones(len(crops), bool), t) is crops


def test_static_face_gives_neutral_grey_and_a_change_shows_with_its_sign():
    still = np.full((16, 16), 100, np.uint8)
    ref = ReferenceDifference(InputTransform(tau_frames=10, gain=4.0))
    for _ in range(5):
        out = ref.update(still)
        assert np.all(out == 128)  # nothing changes: flat grey
    brighter = still.copy()
    brighter[4:8, 4:8] = 110  # +10 grey levels in one patch
    out = ref.update(brighter)
    assert np.all(out[4:8, 4:8] == 128 + 40)  # gain 4
    assert np.all(out[:4] == 128)
    darker = still.copy()
    darker[0, 0] = 0
    assert ref.update(darker)[0, 0] == 0  # clipped at 0, never wraps


def test_reference_follows_an_ema_with_the_given_time_constant():
    tau = 8
    ref = ReferenceDifference(InputTransform(tau_frames=tau, gain=1.0))
    ref.update(np.zeros((4, 4), np.uint8))
    level = np.full((4, 4), 200, np.uint8)
    expected = 0.0
    for _ in range(30):
        out = ref.update(level)
        assert abs(int(out[0, 0]) - round(128 + min(200 - expected, 127))) <= 1
        expected += (200 - expected) / tau
    np.testing.assert_allclose(ref.state(), expected, rtol=1e-4)


def test_reset_starts_a_new_track_from_the_next_crop():
    ref = ReferenceDifference(InputTransform(tau_frames=30))
    ref.update(np.zeros((8, 8), np.uint8))
    ref.reset()
    assert ref.state() is None
    assert np.all(ref.update(np.full((8, 8), 250, np.uint8)) == 128)


def test_offline_video_transform_equals_the_streaming_one_and_restarts_at_face_gaps():
    crops = _crops(20)
    valid = np.ones(20, bool)
    valid[7] = False
    t = InputTransform(tau_frames=5, gain=3.0)
    offline = transform_video(crops, valid, t)
    live = ReferenceDifference(t)
    for i in range(20):
        if not valid[i]:
            live.reset()
            np.testing.assert_array_equal(offline[i], crops[i])  # untouched, unused
            continue
        np.testing.assert_array_equal(offline[i], live.update(crops[i]))
    assert np.all(offline[8] == 128)  # first crop after the gap is the new reference
    assert offline.dtype == np.uint8 and offline.shape == crops.shape


def test_update_into_a_given_array_equals_a_new_array():
    crops = _crops(6)
    t = InputTransform(tau_frames=4, gain=2.5)
    a, b = ReferenceDifference(t), ReferenceDifference(t)
    out = np.empty_like(crops[0])
    for c in crops:
        expected = a.update(c)
        assert b.update(c, out=out) is out
        np.testing.assert_array_equal(out, expected)


def test_apply_continues_the_track():
    crops = _crops(10)
    t = InputTransform(tau_frames=4)
    a = ReferenceDifference(t)
    whole = a.apply(crops)
    b = ReferenceDifference(t)
    parts = np.concatenate([b.apply(crops[:3]), b.apply(crops[3:])])
    np.testing.assert_array_equal(whole, parts)


def test_dict_round_trip_and_old_graphs_read_as_raw():
    t = InputTransform(tau_frames=120, gain=4)
    d = t.to_dict()
    assert d == {"kind": KIND_REFERENCE, "tau_frames": 120, "gain": 4.0}
    assert InputTransform.from_dict(d) == t
    assert InputTransform.from_dict(None) == InputTransform()
    assert InputTransform.from_dict({}) == InputTransform()
    assert "120 frames" in t.describe()


@pytest.mark.parametrize("kwargs, match", [
    ({"tau_frames": -1}, "tau_frames"),
    ({"tau_frames": 2.5}, "tau_frames"),
    ({"tau_frames": True}, "tau_frames"),
    ({"tau_frames": 10, "gain": 0}, "gain"),
    ({"tau_frames": 10, "gain": 100}, "gain"),
])
def test_bad_settings_are_refused_with_the_valid_range(kwargs, match):
    with pytest.raises(ValueError, match=match):
        InputTransform(**kwargs)


@pytest.mark.parametrize("d, match", [
    ({"kind": "optical_flow"}, "unknown"),
    ({"kind": KIND_REFERENCE, "tau_frames": 0}, "tau_frames > 0"),
    ({"kind": KIND_REFERENCE}, "tau_frames"),
    ("raw", "object"),
])
def test_bad_metadata_is_refused(d, match):
    with pytest.raises(ValueError, match=match):
        InputTransform.from_dict(d)


def test_bad_crop_is_refused():
    ref = ReferenceDifference(InputTransform(tau_frames=3))
    with pytest.raises(ValueError, match="uint8"):
        ref.update(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="InputTransform"):
        ReferenceDifference({"kind": "raw"})  # type: ignore[arg-type]


# ------------------------------------------------------------------------ lag difference


def _expected_lag(crops: np.ndarray, lag: int, gain: float) -> np.ndarray:
    out = np.empty_like(crops)
    for t in range(len(crops)):
        prev = crops[max(t - lag, 0)].astype(np.float32)
        out[t] = np.clip(np.rint(128 + gain * (crops[t].astype(np.float32) - prev)), 0, 255)
    return out


@pytest.mark.parametrize("lag,gain", [(1, 1.0), (3, 4.0), (4, 8.0)])
def test_lag_difference_is_the_crop_minus_the_one_lag_frames_earlier(lag, gain):
    crops = _crops(n=15, s=16, seed=lag)
    t = InputTransform(lag_frames=lag, gain=gain)
    assert t.kind == KIND_LAG
    ref = ReferenceDifference(t)
    got = np.stack([ref.update(c) for c in crops])
    np.testing.assert_array_equal(got, _expected_lag(crops, lag, gain))
    assert not np.any(got[0] != 128)  # a track starts on flat grey


def test_lag_difference_sees_a_short_change_and_forgets_it_after_the_lag():
    still = np.full((8, 8), 90, np.uint8)
    moved = still.copy()
    moved[2:4, 2:4] = 92  # a 2-grey-level change, the size of a micro-expression's
    ref = ReferenceDifference(InputTransform(lag_frames=3, gain=8.0))
    seq = [still] * 5 + [moved] * 6
    outs = [ref.update(c) for c in seq]
    assert all(np.all(o == 128) for o in outs[:5])
    for o in outs[5:8]:  # the change is visible for exactly `lag` frames ...
        assert np.all(o[2:4, 2:4] == 128 + 16) and o[0, 0] == 128
    assert all(np.all(o == 128) for o in outs[8:])  # ... then the face holds still again


def test_lag_difference_restarts_at_reset_and_face_gaps_offline_equals_streaming():
    crops = _crops(n=14, s=8, seed=3)
    valid = np.ones(14, bool)
    valid[6] = False
    t = InputTransform(lag_frames=2, gain=2.0)
    offline = transform_video(crops, valid, t)
    np.testing.assert_array_equal(offline[:6], _expected_lag(crops[:6], 2, 2.0))
    np.testing.assert_array_equal(offline[7:], _expected_lag(crops[7:], 2, 2.0))
    ref = ReferenceDifference(t)
    ref.update(crops[0])
    ref.update(crops[1])
    ref.reset()
    np.testing.assert_array_equal(ref.update(crops[5]), np.full((8, 8), 128, np.uint8))
    np.testing.assert_array_equal(ref.state(), crops[5].astype(np.float32))


def test_lag_difference_dict_round_trip_and_refusals():
    t = InputTransform(lag_frames=4, gain=6.0)
    assert t.to_dict() == {"kind": KIND_LAG, "lag_frames": 4, "gain": 6.0}
    assert InputTransform.from_dict(t.to_dict()) == t
    assert InputTransform.from_dict({"kind": KIND_LAG, "lag_frames": 4.0, "gain": 6}) == t
    assert "lag 4 frames" in t.describe()
    with pytest.raises(ValueError, match="not both"):
        InputTransform(tau_frames=10, lag_frames=3)
    with pytest.raises(ValueError, match="lag_frames must be an int"):
        InputTransform(lag_frames=-1)
    with pytest.raises(ValueError, match="lag_frames must be an int"):
        InputTransform(lag_frames=True)
    with pytest.raises(ValueError, match="needs lag_frames > 0"):
        InputTransform.from_dict({"kind": KIND_LAG, "lag_frames": 0})
