"""Shared helpers for the parity tests: reference data and seeded networks."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from models.flow_completion import RecurrentFlowCompleteNet
from models.propainter import InpaintGenerator
from models.raft import RAFT
from models.weights import load_checkpoint

DATA = Path(__file__).resolve().parent.parent / "data"
CASES = json.loads((DATA / "parity_cases.json").read_text())
CASE_NAMES = {"a": "a_default_134x141", "b": "b_chunked_128x128", "d": "d_outpaint_128x128"}


@lru_cache(maxsize=None)
def ref(case: str) -> dict[str, np.ndarray]:
    with np.load(DATA / f"parity_{case}.npz") as z:
        return {k: z[k] for k in z.files}


def options(case: str) -> dict:
    return dict(CASES[CASE_NAMES[case]]["opts"])


def load_networks(weights_dir: Path) -> tuple[RAFT, RecurrentFlowCompleteNet, InpaintGenerator]:
    """The three networks, loaded through the real checkpoint loader."""
    nets = (RAFT(), RecurrentFlowCompleteNet(), InpaintGenerator())
    for name, net in zip(("raft", "flow_completion", "propainter"), nets):
        load_checkpoint(name, net, weights_dir)
        net.eval()
    return nets


def expected_comp(case: str) -> np.ndarray:
    """The authors' composited frames at the processing size."""
    r = ref(case)
    if "comp_frames_masked" in r:
        proc = r.get("frames_proc", r["in_frames"])
        return np.where(r["masks_dilated"][..., None].astype(bool), r["comp_frames_masked"], proc)
    raise KeyError(case)


def assert_frames_match(out: np.ndarray, expected: np.ndarray, max_diff: int, max_fraction: float) -> None:
    """Frames equal but for a few values off by at most ``max_diff`` (the parity tolerances)."""
    assert out.shape == expected.shape, (out.shape, expected.shape)
    d = np.abs(out.astype(np.int16) - expected.astype(np.int16))
    frac = float((d > 0).mean())
    assert d.max() <= max_diff and frac <= max_fraction, f"max diff {d.max()}, {frac:.4%} of values differ"


def to_net(frames_u8: np.ndarray) -> torch.Tensor:
    """TxHxWx3 uint8 -> Tx3xHxW float in [-1, 1], the authors' conversion."""
    return torch.from_numpy(np.ascontiguousarray(frames_u8)).permute(0, 3, 1, 2).float() / 255 * 2 - 1
