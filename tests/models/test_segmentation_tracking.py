"""Mask propagation: flow warping (+ SAM refinement), drift checks, keyframes, several objects."""

from __future__ import annotations

import numpy as np
import pytest

from models.errors import Cancelled, InputError
from models.events import Progress
from models.segmentation import (
    FLOW_ONLY_NOTE,
    MaskPropagated,
    MaskTrack,
    TrackingConfig,
    TrackSet,
    TrackUpdate,
    mask_iou,
    run_to_end,
)
from models.segmentation.predictor import Prediction

H, W, N = 64, 80, 12


def _texture(h, w, seed):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3)).astype(np.uint8)
    return np.kron(small, np.ones((4, 4, 1), dtype=np.uint8))[:h, :w] // 2 + rng.integers(0, 128, (h, w, 3)).astype(np.uint8)


def _clip(objects=((10, 20, 2, 1),), size=16, n=N, seed=0):
    """Frames and per-object masks: textured squares moving (dx, dy) px/frame over a textured background."""
    bg = _texture(H, W, seed)
    tex = [_texture(size, size, seed + 10 + k) for k in range(len(objects))]
    frames, masks = [], [[] for _ in objects]
    for t in range(n):
        f = bg.copy()
        for k, (x, y, dx, dy) in enumerate(objects):
            x0, y0 = x + dx * t, y + dy * t
            f[y0:y0 + size, x0:x0 + size] = tex[k]
            m = np.zeros((H, W), bool)
            m[y0:y0 + size, x0:x0 + size] = True
            masks[k].append(m)
        frames.append(f)
    return frames, masks


def _track(masks, keyframe=0):
    track = MaskTrack(len(masks), (H, W))
    track.set_keyframe(keyframe, masks[keyframe])
    return track


def test_flow_only_propagation_follows_a_moving_square_both_ways():
    frames, (masks,) = _clip()
    track = _track(masks, keyframe=6)
    events = list(track.repropagate_from(6, lambda i: frames[i]))
    assert isinstance(events[0], Progress) and events[0].message == FLOW_ONLY_NOTE
    update = events[-1]
    assert isinstance(update, TrackUpdate) and update.flow_only
    assert update.changed_frames == [i for i in range(N) if i != 6]
    assert track.mask(0) is None  # nothing written until applied
    track.apply(update)
    ious = [mask_iou(track.mask(i), masks[i]) for i in range(N)]
    assert min(ious) > 0.85, ious
    assert track.flags == {}
    propagated = [e for e in events if isinstance(e, MaskPropagated)]
    assert {e.method for e in propagated} == {"flow"} and len(propagated) == N - 1


def test_a_frame_the_object_cannot_be_followed_into_is_flagged_with_an_estimate_and_the_run_goes_on():
    frames, (masks,) = _clip()
    cut = 5
    frames[cut] = _texture(H, W, 99)  # a frame the object cannot be followed into
    track = _track(masks)
    update = run_to_end(track.repropagate_from(0, lambda i: frames[i]))
    assert list(update.flagged) == [cut]
    assert "estimated" in update.flagged[cut]
    assert sorted(update.after) == list(range(1, N))  # every frame has a mask, the flagged one too
    assert update.after[cut].any() and update.after[cut].sum() >= masks[cut].sum()  # the dilated estimate
    assert update.after[cut][masks[cut]].mean() > 0.9  # it covers where the object is
    track.apply(update)
    assert track.flags.keys() == {cut}
    assert min(mask_iou(track.mask(i), masks[i]) for i in range(cut + 1, N)) > 0.85  # found again after it


class _FakeSam:
    """Stands in for SamClickPredictor: returns given candidates, records prompts."""

    def __init__(self, make):
        self.make = make
        self.calls = []

    def set_frame(self, clip_id, index, frame):
        self.index = index
        return True

    def predict(self, points=None, labels=None, box=None, mask_input=None, multimask=True):
        self.calls.append((self.index, points, box, mask_input))
        masks = np.stack(self.make(self.index, mask_input))
        scores = np.linspace(1, 0, len(masks)).astype(np.float32)
        return Prediction(masks, scores, np.zeros((len(masks), 4, 4), np.float32), 0)


def test_sam_refinement_picks_the_candidate_closest_to_the_warped_mask():
    frames, (masks,) = _clip()
    wrong = np.zeros((H, W), bool)
    wrong[:10, :10] = True
    sam = _FakeSam(lambda i, warped: [wrong, masks[i], np.ones((H, W), bool)])
    track = _track(masks)
    events = list(track.repropagate_from(0, lambda i: frames[i], predictor=sam, clip_id="c"))
    update = events[-1]
    assert not update.flow_only and events[0].message == ""
    assert all(np.array_equal(update.after[i], masks[i]) for i in range(1, N))  # exact: SAM's right candidate
    index, points, box, mask_input = sam.calls[0]
    assert index == 1 and points.shape[1] == 2 and len(points) >= 1
    x0, y0, x1, y1 = box
    assert x0 <= 12 and y0 <= 21 and x1 >= 28 and y1 >= 37  # around the square moved one step
    assert mask_input.shape == (H, W) and mask_input.dtype == bool
    assert all(e.iou > 0.8 for e in events if isinstance(e, MaskPropagated))


def test_sam_mask_far_from_the_motion_flags_the_frames_and_keeps_the_tracked_mask():
    frames, (masks,) = _clip()
    far = np.zeros((H, W), bool)
    far[40:60, 50:75] = True
    sam = _FakeSam(lambda i, warped: [masks[i]] if i < 4 else [far])
    update = run_to_end(_track(masks).repropagate_from(0, lambda i: frames[i], predictor=sam))
    assert sorted(update.flagged) == list(range(4, N)) and all("SAM" in r for r in update.flagged.values())
    assert sorted(update.after) == list(range(1, N))
    assert min(mask_iou(update.after[i], masks[i]) for i in range(4, N)) > 0.85  # SAM's wrong mask was not taken


def test_repropagation_from_a_correction_stops_at_the_neighbouring_keyframes():
    frames, (masks,) = _clip(n=20)
    track = _track(masks, keyframe=0)
    track.set_keyframe(15, masks[15])
    track.apply(run_to_end(track.repropagate_from(0, lambda i: frames[i])))
    track.apply(run_to_end(track.repropagate_from(15, lambda i: frames[i], directions="forward")))
    old = {i: track.mask(i).copy() for i in range(20)}
    import cv2

    fixed = cv2.dilate(masks[8].astype(np.uint8), np.ones((5, 5), np.uint8)) > 0  # the user's bigger mask
    track.set_keyframe(8, fixed)
    assert track.keyframes == [0, 8, 15] and track.span(8) == (1, 14)
    update = run_to_end(track.repropagate_from(8, lambda i: frames[i]))
    assert update.changed_frames == [i for i in range(1, 15) if i != 8]
    track.apply(update)
    for i in (0, 15, 16, 19):  # keyframes and frames beyond them are untouched
        assert np.array_equal(track.mask(i), old[i])
    assert track.mask(9).sum() > old[9].sum() + 40  # the correction spread to its neighbours
    track.revert(update)
    assert all(np.array_equal(track.mask(i), old[i]) for i in range(20) if i != 8)


def test_several_objects_are_tracked_separately_and_merged():
    frames, (a, b) = _clip(objects=((4, 4, 2, 1), (56, 40, -2, -1)), size=12)
    tracks = TrackSet(N, (H, W))
    tracks.add().set_keyframe(0, a[0])
    tracks.add().set_keyframe(N - 1, b[N - 1])
    updates = [e for e in tracks.propagate_all(lambda i: frames[i]) if isinstance(e, TrackUpdate)]
    assert [u.track_id for u in updates] == [0, 1]
    for i in range(N):
        merged = tracks.merged(i)
        assert merged.dtype == np.uint8 and mask_iou(merged, a[i] | b[i]) > 0.8
        assert mask_iou(tracks.tracks[0].mask(i), a[i]) > 0.8


def test_cancel_raises_and_leaves_the_track_unchanged():
    frames, (masks,) = _clip()
    track = _track(masks)
    calls = iter(range(100))
    with pytest.raises(Cancelled):
        for _ in track.repropagate_from(0, lambda i: frames[i], cancel=lambda: next(calls) >= 3):
            pass
    assert track.frames_with_masks() == [0]


def test_bad_inputs_are_input_errors():
    frames, (masks,) = _clip()
    track = MaskTrack(N, (H, W))
    with pytest.raises(InputError, match="not a keyframe"):
        next(track.repropagate_from(3, lambda i: frames[i]))
    with pytest.raises(InputError, match="outside the clip"):
        track.set_keyframe(N, masks[0])
    with pytest.raises(InputError, match="but the clip is"):
        track.set_keyframe(0, np.zeros((5, 5), bool))
    with pytest.raises(InputError, match="area ratio"):
        TrackingConfig(min_area_ratio=1.5)
    track.set_keyframe(0, masks[0])
    with pytest.raises(InputError, match="HxWx3"):
        run_to_end(track.repropagate_from(0, lambda i: np.zeros((H, W), np.uint8)))
