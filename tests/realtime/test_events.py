"""Events: public JSON form, validation, conversion to intervals (writers: test_sinks)."""

from __future__ import annotations

import json

import pytest

from realtime.events import JSON_KEYS, Event
from realtime.vocab import Interval


def _segment(**kw) -> Event:
    args = dict(kind="segment", expression="micro", onset_frame=10, offset_frame=14,
                apex_frame=12, onset_time_s=0.333, offset_time_s=0.467, duration_s=5 / 30,
                confidence=0.91, mean_prob=0.7)
    return Event(**(args | kw))


def _onset(**kw) -> Event:
    args = dict(kind="onset", expression="macro", onset_frame=3, offset_frame=None,
                apex_frame=4, onset_time_s=0.1, offset_time_s=None, duration_s=None,
                confidence=0.8, mean_prob=0.75)
    return Event(**(args | kw))


def test_to_dict_uses_public_key_names():
    d = _segment(cut_short=True).to_dict()
    assert tuple(d) == JSON_KEYS
    assert d["onset_time"] == 0.333 and d["mean_confidence"] == 0.7 and d["cut_short"] is True
    d = _onset(source="cam0", face_id=1).to_dict()
    assert tuple(d) == JSON_KEYS + ("source", "face_id")
    assert (d["offset_frame"], d["offset_time"], d["duration"]) == (None, None, None)


@pytest.mark.parametrize("event", [_segment(), _onset(source="a.mp4", face_id=0)])
def test_json_round_trip(event):
    assert Event.from_dict(json.loads(json.dumps(event.to_dict()))) == event


@pytest.mark.parametrize("make,kwargs,match", [
    (_segment, {"kind": "start"}, "kind"),
    (_segment, {"expression": "smile"}, "expression"),
    (_segment, {"offset_frame": None}, "segment events need"),
    (_segment, {"offset_frame": 9}, "offset_frame 9 precedes"),
    (_segment, {"apex_frame": 15}, "apex_frame 15 lies outside"),
    (_onset, {"offset_frame": 5}, "onset events have no"),
    (_onset, {"onset_frame": -1}, "onset_frame"),
])
def test_validation(make, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(**kwargs)


def test_to_interval():
    assert _segment().to_interval("s", "v") == Interval("s", "v", 10, 14, "micro")
    with pytest.raises(ValueError, match="segment"):
        _onset().to_interval("s", "v")
