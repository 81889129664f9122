"""The tracker never accepts a mask it would not bet on in silence: TrackConfidence's signals
fire on the failures they name, stay quiet on a clean track, and a doubt carries on until the
object is found again."""

from __future__ import annotations

import numpy as np

from models.segmentation.confidence import REASON_CARRIED, REASONS, TrackConfidence
from models.segmentation.flow import FlowField

H, W, N = 96, 128, 10


def _texture(h, w, seed):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 4 + 1, w // 4 + 1, 3)).astype(np.uint8)
    return np.kron(small, np.ones((4, 4, 1), dtype=np.uint8))[:h, :w]


def _clip(dx=3):
    """A red-and-yellow textured square moving right over a green-blue textured background."""
    bg = _texture(H, W, 0) // 2
    bg[..., 0] = 0  # no red in the background: the object's colours stand out
    obj = _texture(24, 24, 1)
    obj[..., 0] = 200 + obj[..., 0] // 8
    obj[..., 2] = 0
    frames, masks = [], []
    for t in range(N):
        f, m = bg.copy(), np.zeros((H, W), bool)
        x = 20 + dx * t
        f[36:60, x:x + 24] = obj
        m[36:60, x:x + 24] = True
        frames.append(f)
        masks.append(m)
    return frames, masks


def _run(frames, masks, key=0):
    flow = FlowField(lambda i: frames[i])
    trust = TrackConfidence(flow)
    trust.begin(key, masks[key])
    return [trust.assess(i - 1, i, masks[i - 1], masks[i]) for i in range(key + 1, len(frames))]


def test_a_clean_track_is_not_flagged():
    frames, masks = _clip()
    out = _run(frames, masks)
    assert all(a.reason is None for a in out), [a.reason for a in out]
    assert min(a.confidence for a in out) >= 0.75


def test_a_mask_that_stays_behind_while_the_object_moves_is_flagged():
    frames, truth = _clip(dx=4)
    stuck = [truth[0]] * N  # the object moves on, the mask does not
    out = _run(frames, stuck)
    flagged = [i for i, a in enumerate(out, 1) if a.reason]
    assert flagged and flagged[0] <= 4  # caught within a few frames
    assert all(a.reason for a in out[flagged[0] - 1:])  # and stays flagged: it never finds the object again
    assert out[flagged[0] - 1].reason in set(REASONS.values()) | {REASON_CARRIED}


def test_a_mask_broken_into_pieces_is_flagged_as_such():
    frames, masks = _clip()
    broken = [m.copy() for m in masks]
    for m in broken[5:]:
        ys, xs = np.nonzero(m)
        m[:, xs.min() + 6: xs.min() + 9] = False
        m[ys.min() + 6: ys.min() + 9, :] = False
    out = _run(frames, broken)
    assert out[4].reason == REASONS["pieces"]


def test_a_doubt_carries_on_until_a_clean_step_finds_the_object_again():
    frames, masks = _clip()
    flow = FlowField(lambda i: frames[i])
    trust = TrackConfidence(flow)
    trust.begin(0, masks[0])
    assert trust.assess(0, 1, masks[0], masks[1]).reason is None
    trust.doubt()  # the tracker estimated frame 2 itself
    after = trust.assess(2, 3, masks[2], masks[3])
    assert after.reason is None and after.confidence >= 0.75  # clean and complete: found again


def test_a_mask_at_the_edge_of_the_picture_cannot_lift_a_doubt():
    frames, masks = _clip()
    flow = FlowField(lambda i: frames[i])
    trust = TrackConfidence(flow)
    trust.begin(0, masks[0])
    trust.doubt()
    edge = [m.copy() for m in masks]
    for m in edge:
        m[:, :2] = True  # touches the picture's edge: size and shape cannot be judged
    assert trust.assess(1, 2, edge[1], edge[2]).reason == REASON_CARRIED


def test_where_two_keyframes_tracks_meet_each_frame_keeps_the_surer_one(monkeypatch):
    """A correction stays local: a keyframe's track that goes wrong (here: it is made to slide
    onto something else) does not replace the frames another keyframe's track is surer of."""
    from models.segmentation import tracking
    from models.segmentation.tracking import MaskTrack, mask_iou, run_to_end

    frames, truth = _clip(dx=3)
    track = MaskTrack(N, (H, W))
    track.set_keyframe(0, truth[0])
    track.apply(run_to_end(track.repropagate_from(0, lambda i: frames[i])))
    good = {i: track.mask(i).copy() for i in range(1, N)}
    assert min(mask_iou(good[i], truth[i]) for i in range(1, N)) > 0.8

    real_step = tracking._Stepper._step

    def sliding(self, src, dst):  # from the last keyframe, the track drifts off the object
        mask, method, iou, reason = real_step(self, src, dst)
        if self._began == N - 1:
            mask = np.roll(mask, 4 * (N - 1 - dst), axis=0)
        return mask, method, iou, reason

    real_begin = tracking._Stepper.begin

    def begin(self, index, mask, keyframes=None):
        self._began = index
        real_begin(self, index, mask, keyframes)

    monkeypatch.setattr(tracking._Stepper, "_step", sliding)
    monkeypatch.setattr(tracking._Stepper, "begin", begin)
    track.set_keyframe(N - 1, truth[N - 1])
    events = list(track.repropagate_from(N - 1, lambda i: frames[i]))
    update = events[-1]
    track.apply(update)
    kept = [i for i in range(1, N - 1) if i not in update.after]
    assert kept  # frames where keyframe 0's track was surer kept its mask
    assert all(np.array_equal(track.mask(i), good[i]) for i in kept)
    assert any("keep the mask of a neighbouring keyframe's track" in getattr(e, "message", "") for e in events)
    assert min(mask_iou(track.mask(i), truth[i]) for i in kept) > 0.8
    track.revert(update)  # undo restores what was there
    assert all(np.array_equal(track.mask(i), good[i]) for i in range(1, N - 1))


def test_objects_that_cross_do_not_take_each_others_pixels():
    from models.segmentation.tracking import TrackSet

    tracks = TrackSet(3, (H, W))
    a, b = tracks.add(), tracks.add()
    left = np.zeros((H, W), bool)
    left[20:60, 10:60] = True
    right = np.zeros((H, W), bool)
    right[20:60, 40:90] = True  # overlaps the left one on columns 40..59
    a.set_keyframe(0, left)
    b.set_keyframe(0, right)
    for t, mask, sure in ((a, left, 0.9), (b, right, 0.4)):
        t._write({1: mask, 2: mask}, {}, {1: (0, sure), 2: (0, sure)})
    b._trust[2] = (0, 0.95)  # on frame 2 the second object is the surer one
    for update in tracks.separate():
        tracks.tracks[update.track_id].apply(update)
    assert not (a.mask(1) & b.mask(1)).any() and not (a.mask(2) & b.mask(2)).any()
    assert a.mask(1)[30, 50] and not b.mask(1)[30, 50]  # the surer object keeps the crossing
    assert b.mask(2)[30, 50] and not a.mask(2)[30, 50]
    assert np.array_equal(a.mask(0), left) and np.array_equal(b.mask(0), right)  # keyframes untouched
    assert (a.mask(1) | b.mask(1)).sum() == (left | right).sum()  # nothing is lost for removal
