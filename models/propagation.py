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


def _pass(frames: list[torch.Tensor], masks: list[torch.Tensor], flows_prop: torch.Tensor, flows_check: torch.Tensor,
          backward: bool, mode: str) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    t = len(frames)
    order = list(range(t - 1, -1, -1)) if backward else list(range(t))
    out_f: list[torch.Tensor | None] = [None] * t
    out_m: list[torch.Tensor | None] = [None] * t
    prop, prop_mask = frames[order[0]], masks[order[0]]
    out_f[order[0]], out_m[order[0]] = prop, prop_mask
    for idx in order[1:]:
        # backward: frame idx+1 -> idx with the forward flow at idx; forward: idx-1 -> idx
        # with the backward flow at idx-1.
        k = idx if backward else idx - 1
        prop, prop_mask = _step(prop, prop_mask, frames[idx], masks[idx], flows_prop[:, k], flows_check[:, k], mode)
        out_f[idx], out_m[idx] = prop, prop_mask
    return out_f, out_m  # type: ignore[return-value]


def propagate_images(masked_frames: torch.Tensor, flows_f: torch.Tensor, flows_b: torch.Tensor, masks: torch.Tensor,
                     mode: str = "nearest") -> tuple[torch.Tensor, torch.Tensor]:
    """Image propagation over one clip.

    ``masked_frames``: BxTx3xHxW in [-1, 1] with holes zeroed; ``flows_f``/``flows_b``:
    Bx(T-1)x2xHxW completed flows; ``masks``: BxTx1xHxW (1 = hole). Returns the propagated
    frames (BxTx3xHxW; callers composite them into the hole) and the masks of what is still
    unfilled (BxTx1xHxW).
    """
    frames = list(masked_frames.unbind(1))
    mlist = list(masks.unbind(1))
    f1, m1 = _pass(frames, mlist, flows_f, flows_b, backward=True, mode=mode)
    f2, m2 = _pass(f1, m1, flows_b, flows_f, backward=False, mode=mode)
    return torch.stack(f2, dim=1), torch.stack(m2, dim=1)


def propagate_frames(t: int, frame: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
                     flows: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
                     emit: Callable[[int, torch.Tensor, torch.Tensor], None], mode: str = "nearest") -> None:
    """:func:`propagate_images` frame by frame, for a caller that holds its clip per frame:
    the same numbers, with only the backward pass's results held whole.

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
