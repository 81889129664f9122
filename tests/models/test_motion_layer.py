"""MotionLayer follows an object by how it moves apart from a panning background (colours
alike, so no colour model can tell them apart), and says when that cue does not apply; the
stepper writes its mask, flagged, where the shape tracker has lost the object."""

from __future__ import annotations

import numpy as np
import pytest

from models.errors import InputError
from models.segmentation import MaskTrack, mask_iou, run_to_end
from models.segmentation.flow import FlowField
from models.segmentation.motion_layer import MotionLayer, MotionLayerConfig, background_motion
from models.segmentation import object_motion, tracking
from models.segmentation.tracking import REVIEW_LAYER

H, W, N = 120, 200, 16
PAN = 5  # background pixels a frame


def _texture(h, w, seed):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3)).astype(np.uint8)
    return np.kron(small, np.ones((4, 4, 1), dtype=np.uint8))[:h, :w]


def _panning_clip(object_speed=(1, 0), with_background=False):
    """A camera panning left over a textured wall (``PAN`` px a frame) with a 40x32 textured
    block of the same colours moving ``object_speed`` px a frame in the picture (or, with
    ``with_background``, painted on the wall: moving with it)."""
    wall = _texture(H, W + PAN * N + 8, 0)
    skin = _texture(32, 40, 1)
    frames, masks = [], []
    for t in range(N):
        f = wall[:, PAN * t:PAN * t + W].copy()
        if with_background:
            x, y = 80 - PAN * t, 44
        else:
            x, y = 60 + object_speed[0] * t, 44 + object_speed[1] * t
        mask = np.zeros((H, W), bool)
        mask[y:y + 32, x:x + 40] = True
        f[mask] = skin.reshape(-1, 3)
        frames.append(f)
        masks.append(mask)
    return frames, masks


def _flow(frames):
    flow = FlowField(lambda i: frames[i], max_side=W)
    flow.frame(0)
    return flow


def test_the_layer_follows_an_object_the_camera_pans_past():
    frames, masks = _panning_clip()
    layer = MotionLayer(_flow(frames), num_frames=N)
    layer.begin(0, masks[0])
    ious = []
    for t in range(1, N):
        out = layer.step(t - 1, t)
        assert out is not None, t
        assert layer.moving > 0.7
        ious.append(mask_iou(out, masks[t]))
    # the layer's edge follows the flow's (a frame may lose a corner), but it never drifts off:
    # each frame is found anew where the picture moves apart from the background
    assert min(ious) > 0.8, ious
    assert np.mean(ious) > 0.9, ious


def test_the_frame_beyond_takes_the_ghost_out():
    """Without the frame beyond (the clip's length unknown), the place the object left on the
    frame before is not explained by the background either: the mask takes part of it."""
    frames, masks = _panning_clip()
    scores = []
    for num_frames in (None, N):
        layer = MotionLayer(_flow(frames), num_frames=num_frames)
        layer.begin(0, masks[0])
        scores.append(np.mean([mask_iou(layer.step(t - 1, t), masks[t]) for t in range(1, N - 1)]))
    assert scores[1] > scores[0] + 0.05, scores


def test_no_layer_where_the_object_moves_with_the_background():
    frames, masks = _panning_clip(with_background=True)
    layer = MotionLayer(_flow(frames))
    layer.begin(0, masks[0])
    assert layer.step(0, 1) is None
    assert layer.moving < 0.25


def test_the_background_motion_is_a_homography_or_none():
    flow = np.zeros((60, 80, 2), np.float32)
    flow[..., 0] = -4.0
    model = background_motion(flow, np.ones((60, 80), bool), 0.5)
    assert model is not None and np.allclose(model[..., 0], -4.0, atol=1e-3)
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 20, (60, 80, 2)).astype(np.float32)  # no single motion
    assert background_motion(noise, np.ones((60, 80), bool), 0.5) is None
    assert background_motion(flow, np.zeros((60, 80), bool), 0.5) is None  # nothing to fit


def test_the_settings_are_checked():
    with pytest.raises(InputError):
        MotionLayerConfig(apart=0)
    with pytest.raises(InputError):
        MotionLayerConfig(min_found=1.5)


def _shape_tracker_loses_it(monkeypatch):
    """The shape tracker says "lost" on every step, with its prediction pushed 12 px off the
    object (what it does on a rider whose look changes as the wall shows through his wheels)."""
    step = object_motion.ObjectMotion.step

    def lost(self, src, dst):
        out = step(self, src, dst)
        off = np.roll(out.mask, 12, axis=0)
        return object_motion.StepOutcome("lost", off, off, 0.0, 0.0, "motion")

    monkeypatch.setattr(object_motion.ObjectMotion, "step", lost)


def _track(frames, mask):
    track = MaskTrack(N, (H, W))
    track.set_keyframe(0, mask)
    track.apply(run_to_end(track.repropagate_from(0, lambda i: frames[i])))
    return track


def test_where_the_shape_tracker_loses_a_moving_object_the_layer_is_written_and_flagged(monkeypatch):
    frames, masks = _panning_clip()
    _shape_tracker_loses_it(monkeypatch)
    track = _track(frames, masks[0])
    ious = [mask_iou(track.mask(t), masks[t]) for t in range(1, N)]
    assert np.mean(ious) > 0.8, ious
    assert all(track.flags.get(t) == REVIEW_LAYER for t in range(1, N)), track.flags
    # flagged frames are not shown as trusted (the timeline's confidence strip)
    assert track.confidence[0] == 1.0
    assert all(track.confidence[t] < tracking.TrackingConfig().confidence.review_below for t in range(1, N))
    # without the layer the same run ends on the shape tracker's wrong guess
    monkeypatch.setattr(tracking, "LAYER_MIN_MOVING", 1.01)
    before = _track(frames, masks[0])
    assert np.mean([mask_iou(before.mask(t), masks[t]) for t in range(1, N)]) < np.mean(ious) - 0.1


def test_a_mask_with_large_still_parts_is_not_given_to_the_layer(monkeypatch):
    """A mask drawn with a wide still part (a shadow strip on the ground beside a runner) is not
    one moving layer: the layer never writes it."""
    frames, masks = _panning_clip()
    key = masks[0].copy()
    key[80:110, 10:190] = True  # a strip of wall in the mask, twice the object's area
    _shape_tracker_loses_it(monkeypatch)
    track = _track(frames, key)
    assert not any(reason == REVIEW_LAYER for reason in track.flags.values())


def test_an_object_hidden_for_a_few_frames_keeps_its_place_and_is_found_again(monkeypatch):
    """Frames 6-8 show only the wall where the object is (a trunk of the wall's texture in front
    of it): the mask stays where the object was last seen, flagged, and the layer finds it again
    when it comes out."""
    frames, masks = _panning_clip()
    wall = _texture(H, W + PAN * N + 8, 0)
    hidden = (6, 7, 8)
    for t in hidden:
        frames[t] = wall[:, PAN * t:PAN * t + W].copy()
    _shape_tracker_loses_it(monkeypatch)
    track = _track(frames, masks[0])
    for t in hidden:
        assert track.flags.get(t) == tracking.REVIEW_LAYER_COAST, (t, track.flags.get(t))
        assert mask_iou(track.mask(t), masks[5]) > 0.6  # where it was last seen
    found_again = [mask_iou(track.mask(t), masks[t]) for t in range(11, N)]
    assert min(found_again) > 0.7, found_again
    assert all(track.flags.get(t) == REVIEW_LAYER for t in range(11, N))


def test_with_sam_the_layers_frames_are_snapped_and_stay_flagged(monkeypatch):
    """SAM snaps the layer's mask to the object's edges, but where the object is came from the
    layer alone (the shape tracker lost it): the frames stay flagged."""
    from models.segmentation.predictor import Prediction

    frames, masks = _panning_clip()

    class Sam:
        def set_frame(self, clip_id, index, frame):
            self.index = index
            return True

        def predict(self, points=None, labels=None, box=None, mask_input=None, multimask=True):
            m = masks[self.index][None]
            return Prediction(m, np.ones(1, np.float32), np.zeros((1, 4, 4), np.float32), 0)

    _shape_tracker_loses_it(monkeypatch)
    track = MaskTrack(N, (H, W))
    track.set_keyframe(0, masks[0])
    events = list(track.repropagate_from(0, lambda i: frames[i], predictor=Sam(), clip_id="c"))
    track.apply(events[-1])
    written = {e.index: e.method for e in events if type(e).__name__ == "MaskPropagated"}
    assert all(written[t] == "sam" for t in range(1, N)), written
    assert all(np.array_equal(track.mask(t), masks[t]) for t in range(1, N))
    assert all(track.flags.get(t) == REVIEW_LAYER for t in range(1, N)), track.flags
