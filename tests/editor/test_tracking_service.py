"""The tracking service (``editor/tracking.py``): one TrackedFrame per frame, per object."""

from __future__ import annotations

import numpy as np
import pytest

from editor.tracking import TrackedFrame, frame_spans, load_tracker, track
from models.errors import InputError
from models.segmentation import mask_iou

H, W, N, S = 48, 64, 8, 12


def _clip():
    """Two textured squares moving apart over a noise background; their true masks."""
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    tex = [rng.integers(0, 256, (S, S, 3), dtype=np.uint8) for _ in range(2)]
    frames, truth = [], {0: [], 1: []}
    for t in range(N):
        f = bg.copy()
        for oid, (x, y) in enumerate(((6 + 2 * t, 8), (40 - 2 * t, 28))):
            f[y:y + S, x:x + S] = tex[oid]
            m = np.zeros((H, W), bool)
            m[y:y + S, x:x + S] = True
            truth[oid].append(m)
        frames.append(f)
    return frames, truth


def test_track_yields_one_frame_per_index_with_each_objects_mask():
    frames, truth = _clip()
    out = list(track(frames, [(0, truth[0][0]), (0, truth[1][0])], tracker=load_tracker("flow")))
    assert [f.index for f in out] == list(range(N)) and all(isinstance(f, TrackedFrame) for f in out)
    assert out[0].methods == {0: "keyframe", 1: "keyframe"} and out[0].confidence == {0: 1.0, 1: 1.0}
    for f in out[1:]:
        assert set(f.masks) == {0, 1} and set(f.methods.values()) == {"flow"}
        for oid in (0, 1):
            assert f.masks[oid].dtype == bool and mask_iou(f.masks[oid], truth[oid][f.index]) > 0.8, (f.index, oid)
        assert np.array_equal(f.merged(), (f.masks[0] | f.masks[1]).astype(np.uint8))
        assert not f.needs_review


def test_track_over_a_range_with_named_objects_and_a_get_frame_function():
    frames, truth = _clip()
    keys = {"left": {3: truth[0][3]}, "right": {3: truth[1][3]}}
    events = []
    out = list(track(lambda i: frames[i], keys, num_frames=N, frame_range=(2, 6), on_event=events.append))
    assert [f.index for f in out] == [2, 3, 4, 5]
    assert set(out[0].masks) == {"left", "right"} and out[1].methods["left"] == "keyframe"
    assert events  # Progress and MaskPropagated as they happened


def test_track_input_errors_name_what_is_wrong():
    frames, truth = _clip()
    with pytest.raises(InputError, match="empty"):
        list(track(frames, [(0, np.zeros((H, W), bool))]))
    with pytest.raises(InputError, match="outside the clip"):
        list(track(frames, [(N, truth[0][0])]))
    with pytest.raises(InputError, match="outside the frames to track"):
        list(track(frames, [(0, truth[0][0])], frame_range=(2, 6)))
    with pytest.raises(InputError, match="num_frames"):
        list(track(lambda i: frames[i], [(0, truth[0][0])]))
    with pytest.raises(InputError, match="different sizes"):
        list(track(frames, [(0, truth[0][0]), (1, truth[1][1][:40])]))


def test_frame_spans():
    assert frame_spans([3, 4, 5, 9, 12, 13]) == "3-5, 9, 12-13" and frame_spans([]) == ""
