"""RAFT as the mask tracker's optical flow (the ProPainter ``raft-things.pth``)."""

from __future__ import annotations

import numpy as np
import torch

from editor.tracking import load_tracker
from models.raft import RAFT, RAFTConfig
from models.segmentation import MaskTrack, mask_iou, run_to_end
from models.segmentation.flow import FlowField
from models.segmentation.raft_flow import RaftFlow


def _frames(n=6, h=44, w=60):
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 256, (h + 20, w + 20, 3), dtype=np.uint8)
    tex = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    frames, masks = [], []
    for t in range(n):
        f = bg[t:t + h, 2 * t:2 * t + w].copy()
        f[10 + t:22 + t, 8 + 3 * t:20 + 3 * t] = tex
        m = np.zeros((h, w), bool)
        m[10 + t:22 + t, 8 + 3 * t:20 + 3 * t] = True
        frames.append(f)
        masks.append(m)
    return frames, masks


def test_raft_flow_pads_to_multiples_of_8_and_returns_the_frames_size():
    torch.manual_seed(0)
    flow = RaftFlow(RAFT(RAFTConfig(corr_levels=2, corr_radius=2)), iters=2)
    frames, _ = _frames()
    out = flow(frames[0], frames[1])
    assert out.shape == (44, 60, 2) and out.dtype == np.float32 and np.isfinite(out).all()


def test_the_tracker_uses_raft_when_its_weights_are_in_the_weights_folder(seeded_weights_dir, tmp_path):
    choice = load_tracker("flow", weights_dir=seeded_weights_dir)
    assert isinstance(choice.flow_model, RaftFlow) and "RAFT" in choice.note
    assert load_tracker("flow", weights_dir=tmp_path).flow_model is None  # DIS: no download needed
    frames, masks = _frames()
    field = FlowField(lambda i: frames[i], flow_model=choice.flow_model)
    assert field.backend == "raft" and field.flow(0, 1).shape == (44, 60, 2)
    track = MaskTrack(len(frames), masks[0].shape)
    track.set_keyframe(2, masks[2])
    update = run_to_end(track.repropagate_from(2, lambda i: frames[i], **choice.propagation_kwargs()))
    track.apply(update)
    # seeded RAFT weights give a meaningless flow: the tracker must not follow it off the object
    assert min(mask_iou(track.mask(i), masks[i]) for i in range(len(frames))) > 0.8
