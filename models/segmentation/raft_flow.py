"""RAFT optical flow for mask tracking: the ProPainter RAFT weights, used between two frames.

DIS (OpenCV) needs no download and is fast, but fills the flow of flat regions in from their
surroundings; RAFT's all-pairs correlation follows objects with little texture and large
motions far better. :class:`RaftFlow` is a callable ``(a, b) -> hxwx2 float32`` on hxwx3 uint8
RGB images that a :class:`~models.segmentation.flow.FlowField` uses in place of DIS. The
images are padded (edge pixels repeated) to multiples of 8, RAFT's stride, and to at least
what its coarsest correlation level needs, and the flow is cropped back.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from .. import weights
from ..raft import RAFT


class RaftFlow:
    """Flow from image ``a`` to image ``b`` with a RAFT network (``iters`` refinement steps)."""

    name = "raft"

    def __init__(self, raft: RAFT, iters: int = 12, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.raft = raft.to(self.device).eval()
        self.iters = int(iters)

    @classmethod
    def from_weights(cls, weights_dir: str | os.PathLike | None = None, iters: int = 12,
                     device: str | torch.device = "cpu") -> "RaftFlow":
        """RAFT with ``raft-things.pth`` from the weights folder (hash-checked, ``weights_only``);
        raises :class:`~models.errors.WeightsError` when it is missing or damaged."""
        model = weights.load_checkpoint("raft", RAFT(), weights_dir=weights_dir)
        return cls(model, iters=iters, device=device)

    @staticmethod
    def available(weights_dir: str | os.PathLike | None = None) -> bool:
        """True when ``raft-things.pth`` is in the weights folder (not checked)."""
        return weights.checkpoint_path("raft", weights_dir).is_file()

    def _tensor(self, image: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(image)).to(self.device).permute(2, 0, 1)[None].float()
        return x / 127.5 - 1.0

    @torch.inference_mode()
    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        h, w = a.shape[:2]
        least = 8 * 2 ** self.raft.config.corr_levels  # the coarsest correlation level needs a few cells
        pad_h, pad_w = max(least, h + (-h) % 8) - h, max(least, w + (-w) % 8) - w
        x = torch.cat([self._tensor(a), self._tensor(b)])
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        flow = self.raft(x[:1], x[1:], iters=self.iters)[0, :, :h, :w]
        return flow.permute(1, 2, 0).float().cpu().numpy().astype(np.float32)
