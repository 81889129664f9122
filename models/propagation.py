"""Flow warping, the forward/backward consistency check, and image-domain propagation.

Image propagation (ProPainter, section 3.1) fills each hole pixel with a pixel seen in a
neighbouring frame along the completed flows: a backward pass over the clip, then a forward
pass over its result. A pixel is taken only where the flows are consistent forward and
backward and the source pixel itself is known. Copies use nearest-neighbour sampling, so
they are exact.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def flow_warp(x: torch.Tensor, flow: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Sample ``x`` (NxCxHxW) at ``grid + flow`` (flow Nx2xHxW in pixels); zeros outside.

    The grid is offset first and normalised after, the order the released model was run
    with, so float rounding matches the authors' numbers.
    """
    n, _, h, w = x.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    grid = torch.stack((xs, ys), 2).to(x.dtype) + flow.permute(0, 2, 3, 1)
    gx = 2.0 * grid[..., 0] / max(w - 1, 1) - 1.0
    gy = 2.0 * grid[..., 1] / max(h - 1, 1) - 1.0
    return F.grid_sample(x, torch.stack((gx, gy), dim=3), mode=mode, padding_mode="zeros", align_corners=True)


def consistency_mask(flow_fw: torch.Tensor, flow_bw: torch.Tensor, alpha1: float = 0.01, alpha2: float = 0.5) -> torch.Tensor:
    """Nx1xHxW, 1 where following ``flow_fw`` then ``flow_bw`` comes back near the start.

    |f + b(x + f)|^2 < alpha1 (|f|^2 + |b(x + f)|^2) + alpha2 (Sundaram et al.).
    """
    bw = flow_warp(flow_bw, flow_fw)
    diff = flow_fw + bw
    mag = torch.sum(flow_fw * flow_fw, 1, keepdim=True) + torch.sum(bw * bw, 1, keepdim=True)
    return (torch.sum(diff * diff, 1, keepdim=True) < alpha1 * mag + alpha2).to(flow_fw)


def _step(prop: torch.Tensor, prop_mask: torch.Tensor, cur: torch.Tensor, cur_mask: torch.Tensor, fp: torch.Tensor,
          fc: torch.Tensor, mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One frame of a pass: fill ``cur``'s hole from the previous result ``prop`` along the
    flow ``fp`` where it is consistent with ``fc`` and the source pixel is known."""
    valid = consistency_mask(fp, fc)
    warped = flow_warp(prop, fp, mode)
    seen = (flow_warp(prop_mask, fp) > 0.1).to(prop_mask)
    take = ((cur_mask * valid * (1 - seen)) > 0.1).to(cur_mask)
    return take * warped + (1 - take) * cur, ((cur_mask * (1 - valid * (1 - seen))) > 0.1).to(cur_mask)


def propagate_images(masked_frames: torch.Tensor, flows_f: torch.Tensor, flows_b: torch.Tensor, masks: torch.Tensor,
                     mode: str = "nearest") -> tuple[torch.Tensor, torch.Tensor]:
    """Image propagation over one clip.

    ``masked_frames``: BxTx3xHxW in [-1, 1] with holes zeroed; ``flows_f``/``flows_b``:
    Bx(T-1)x2xHxW completed flows; ``masks``: BxTx1xHxW (1 = hole). Returns the propagated
    frames (BxTx3xHxW; callers composite them into the hole) and the masks of what is still
    unfilled (BxTx1xHxW).
    """
    out: list[tuple[torch.Tensor, torch.Tensor]] = []
    propagate_frames(masked_frames.shape[1], lambda i: (masked_frames[:, i], masks[:, i]),
                     lambda k: (flows_f[:, k], flows_b[:, k]), lambda i, prop, still: out.append((prop, still)), mode)
    return torch.stack([p for p, _ in out], dim=1), torch.stack([m for _, m in out], dim=1)


def propagate_frames(t: int, frame: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
                     flows: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
                     emit: Callable[[int, torch.Tensor, torch.Tensor], None], mode: str = "nearest") -> None:
    """Image propagation frame by frame (:func:`propagate_images` runs on it), for a caller
    that holds its clip per frame: only the backward pass's results are held whole.

    ``frame(i)``: Nx3xHxW masked frame i and its Nx1xHxW mask; ``flows(k)``: the forward
    and backward flows between frames k and k+1 (Nx2xHxW each). Frames are asked for once
    each, last frame first; ``emit(i, propagated, still_unfilled)`` is called in
    frame order.
    """
    back: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * t
    back[t - 1] = prop, prop_mask = frame(t - 1)
    for idx in range(t - 2, -1, -1):
        ff, fb = flows(idx)
        back[idx] = prop, prop_mask = _step(prop, prop_mask, *frame(idx), ff, fb, mode)
    prop, prop_mask = back[0]  # type: ignore[misc]
    back[0] = None
    emit(0, prop, prop_mask)
    for idx in range(1, t):
        ff, fb = flows(idx - 1)
        cur, cur_mask = back[idx]  # type: ignore[misc]
        back[idx] = None
        prop, prop_mask = _step(prop, prop_mask, cur, cur_mask, fb, ff, mode)
        del cur, cur_mask
        emit(idx, prop, prop_mask)
