"""The motion tracker on the hard generated clips (benchmarks/tracking_clips.py), at a small size.

Flat-coloured objects, motion against the camera, scale change, occlusion with re-appearance,
leaving the picture: every clip is followed from a keyframe in the middle, both ways, and no
frame where the object is visible gets an empty mask without a review flag.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.tracking_clips import CASES, make_clip
from models.segmentation import MaskTrack, mask_iou, run_to_end
from models.segmentation.tracking import REVIEW_HIDDEN, REVIEW_LOST

N, H, W = 30, 120, 160


def _track(kind):
    frames, truth = make_clip(kind, N, H, W)
    key = N // 2
    track = MaskTrack(N, (H, W))
    track.set_keyframe(key, truth[key])
    track.apply(run_to_end(track.repropagate_from(key, lambda i: frames[i])))
    ious = [mask_iou(track.mask(i), truth[i]) for i in range(N)]
    return frames, truth, track, ious


@pytest.mark.parametrize("kind", CASES)
def test_every_hard_clip_is_followed_and_no_visible_object_gets_an_empty_mask_in_silence(kind):
    _, truth, track, ious = _track(kind)
    assert all(track.mask(i) is not None for i in range(N))  # every frame got a mask
    assert np.mean(ious) >= 0.85, (kind, np.round(ious, 2).tolist())
    silent = [i for i in range(N) if truth[i].sum() > 0.05 * max(t.sum() for t in truth)
              and not track.mask(i).any() and i not in track.flags]
    assert silent == [], (kind, silent)


def test_a_wholly_hidden_object_is_marked_for_review_and_found_again_behind_the_wall():
    _, truth, track, ious = _track("occlusion")
    hidden = [i for i in range(N) if not truth[i].any()]
    assert hidden and all(i in track.flags for i in hidden)
    assert all(track.flags[i] in (REVIEW_HIDDEN, REVIEW_LOST) for i in hidden)
    reappeared = [i for i in range(max(hidden) + 1, N) if truth[i].sum() > 0.6 * truth[N // 2].sum()]
    assert reappeared and min(ious[i] for i in reappeared) > 0.8  # found again on the far side


def test_an_object_leaving_the_picture_gets_empty_masks_without_flags():
    _, truth, track, _ = _track("exit")
    gone = [i for i in range(N) if not truth[i].any()]
    assert gone  # the clip has frames without the object
    assert all(not track.mask(i).any() for i in gone)
    assert not set(gone) & set(track.flags)
