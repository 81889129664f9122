"""PixelTrack follows an object that bends (no single shape moves it), keeps the margin the
user drew around it, and the stepper writes its mask where the object does not move as one
shape; its settings are checked."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.errors import InputError
from models.segmentation import MaskTrack, mask_iou, run_to_end
from models.segmentation.flow import FlowField
from models.segmentation.pixel_track import PixelTrack, PixelTrackConfig, disk, margin_radius

H, W, N = 96, 160, 12


def _texture(h, w, seed):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3)).astype(np.uint8)
    return np.kron(small, np.ones((4, 4, 1), dtype=np.uint8))[:h, :w]


def _bending_clip():
    """A red, textured arm over a green-blue textured background: the upper arm stays, the
    forearm swings up about the elbow (its tip moves about 3 px a frame): no single affine
    motion moves the whole arm."""
    bg = _texture(H, W, 0) // 2
    bg[..., 0] = 0
    skin = _texture(H, W, 1)
    skin[..., 0] = 200 + skin[..., 0] // 8
    skin[..., 2] = 0
    upper = np.zeros((H, W), np.uint8)
    cv2.line(upper, (20, 70), (75, 70), 1, 11)
    fore = np.zeros((H, W), np.uint8)
    cv2.line(fore, (75, 70), (135, 70), 1, 9)
    elbow = (75.0, 70.0)
    frames, masks = [], []
    for t in range(N):
        turn = cv2.getRotationMatrix2D(elbow, 3.0 * t, 1.0)
        fore_t = cv2.warpAffine(fore, turn, (W, H), flags=cv2.INTER_NEAREST) > 0
        skin_t = cv2.warpAffine(skin, turn, (W, H), flags=cv2.INTER_NEAREST)
        f = bg.copy()
        f[upper > 0] = skin[upper > 0]
        f[fore_t] = skin_t[fore_t]
        frames.append(f)
        masks.append((upper > 0) | fore_t)
    return frames, masks


def test_the_margin_of_a_grown_mask_is_measured_and_a_tight_mask_has_none():
    tight = np.zeros((80, 80), np.uint8)
    cv2.rectangle(tight, (20, 20), (50, 30), 1, -1)
    cv2.line(tight, (20, 40), (60, 70), 1, 1)  # a thin part: a tight mask loses it to any opening
    assert margin_radius(tight) == 0
    grown = cv2.dilate(tight, disk(5))
    assert 3 <= margin_radius(grown) <= 5


def test_a_bending_object_is_followed_pixel_by_pixel():
    frames, masks = _bending_clip()
    flow = FlowField(lambda i: frames[i])
    track = PixelTrack(flow)
    track.begin(0, masks[0])
    ious = [mask_iou(track.step(i - 1, i), masks[i]) for i in range(1, N)]
    assert min(ious) > 0.75, np.round(ious, 2).tolist()


def test_the_margin_drawn_on_the_keyframe_is_kept_along_the_track():
    frames, masks = _bending_clip()
    grown = [cv2.dilate(m.astype(np.uint8), disk(4)) > 0 for m in masks]
    track = PixelTrack(FlowField(lambda i: frames[i]))
    track.begin(0, grown[0])
    assert track.margin >= 2
    last = None
    for i in range(1, N):
        last = track.step(i - 1, i)
    assert mask_iou(last, grown[-1]) > 0.75
    assert last.sum() > 1.2 * masks[-1].sum()  # the margin around the object, not the object alone


def test_the_tracker_writes_the_pixel_track_where_the_object_bends():
    frames, masks = _bending_clip()
    track = MaskTrack(N, (H, W))
    track.set_keyframe(0, masks[0])
    track.apply(run_to_end(track.repropagate_from(0, lambda i: frames[i])))
    ious = [mask_iou(track.mask(i), masks[i]) for i in range(1, N)]
    assert np.mean(ious) > 0.8, np.round(ious, 2).tolist()
    bad = [i for i, j in zip(range(1, N), ious) if j < 0.5]
    assert set(bad) <= set(track.flags)


@pytest.mark.parametrize("kwargs", [dict(cell=1), dict(reach=-1), dict(add_key=1.5), dict(colour_cells=(8, 8))])
def test_bad_pixel_track_settings_are_refused(kwargs):
    with pytest.raises(InputError):
        PixelTrackConfig(**kwargs)


def test_stepping_before_begin_is_refused():
    frames, _ = _bending_clip()
    with pytest.raises(InputError, match="begin"):
        PixelTrack(FlowField(lambda i: frames[i])).step(0, 1)
