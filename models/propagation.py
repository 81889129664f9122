"""Flow warping, the forward/backward consistency check, and image-domain propagation.

Image propagation (ProPainter, section 3.1) fills each hole pixel with a pixel seen in a
neighbouring frame along the completed flows: a backward pass over the clip, then a forward
pass over its result. A pixel is taken only where the flows are consistent forward and
backward and the source pixel itself is known. Copies use nearest-neighbour sampling, so
they are exact.

A step of a pass changes only the hole pixels of the frame it fills, so it needs a flow
only there: :class:`StepFlow` is that part of a flow (where it points from each hole pixel,
and whether the consistency check passes there), a few per cent of a full-size flow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


def _sample_grid(flow: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor, h: int, w: int,
                 dtype: torch.dtype) -> torch.Tensor:
    """``grid_sample``'s normalised positions of the pixels (ys, xs) moved by ``flow``
    (2x... in pixels, x first): ...x2. The grid is offset first and normalised after, the
    order the released model was run with, so float rounding matches the authors' numbers."""
    gx = 2.0 * (xs.to(dtype) + flow[0]) / max(w - 1, 1) - 1.0
    gy = 2.0 * (ys.to(dtype) + flow[1]) / max(h - 1, 1) - 1.0
    return torch.stack((gx, gy), dim=-1)


def flow_warp(x: torch.Tensor, flow: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Sample ``x`` (NxCxHxW) at ``grid + flow`` (flow Nx2xHxW in pixels); zeros outside."""
    n, _, h, w = x.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    grid = _sample_grid(flow.transpose(0, 1), ys, xs, h, w, x.dtype)
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=True)


def _consistent(flow_fw: torch.Tensor, bw: torch.Tensor, alpha1: float, alpha2: float) -> torch.Tensor:
    """The check of :func:`consistency_mask` from ``flow_fw`` and ``flow_bw`` sampled along it
    (both Nx2x...): Nx1x..."""
    diff = flow_fw + bw
    mag = torch.sum(flow_fw * flow_fw, 1, keepdim=True) + torch.sum(bw * bw, 1, keepdim=True)
    return (torch.sum(diff * diff, 1, keepdim=True) < alpha1 * mag + alpha2).to(flow_fw)


def consistency_mask(flow_fw: torch.Tensor, flow_bw: torch.Tensor, alpha1: float = 0.01, alpha2: float = 0.5) -> torch.Tensor:
    """Nx1xHxW, 1 where following ``flow_fw`` then ``flow_bw`` comes back near the start.

    |f + b(x + f)|^2 < alpha1 (|f|^2 + |b(x + f)|^2) + alpha2 (Sundaram et al.).
    """
    return _consistent(flow_fw, flow_warp(flow_bw, flow_fw), alpha1, alpha2)


@dataclass
class StepFlow:
    """What one propagation step needs of a flow: the hole pixels of the frame it fills
    (``index``, P flat positions y * W + x), where the flow takes each of them
    (``grid``, 1x1xPx2 ``grid_sample`` positions) and whether the forward/backward check
    passes there (``valid``, P booleans). Per pixel, the same numbers as the full-size
    :func:`flow_warp` and :func:`consistency_mask` give.
    """

    index: torch.Tensor
    grid: torch.Tensor
    valid: torch.Tensor

    @classmethod
    def build(cls, flow: torch.Tensor, check: torch.Tensor, hole: torch.Tensor) -> StepFlow:
        """``flow``: 2xHxW, the flow the step follows; ``check``: 2xHxW, the flow the other
        way between the same frames (both of the frames' dtype); ``hole``: HxW, nonzero on
        the pixels the step fills."""
        h, w = hole.shape
        index = hole.reshape(-1).nonzero().view(-1)
        ys, xs = index // w, index % w
        fp = flow.reshape(2, -1)[:, index][None, :, None]  # 1x2x1xP
        grid = _sample_grid(fp[0], ys[None], xs[None], h, w, flow.dtype)[None]
        bw = F.grid_sample(check[None], grid, mode="bilinear", padding_mode="zeros", align_corners=True)
        valid = _consistent(fp, bw, 0.01, 0.5).view(-1) > 0
        return cls(index, grid, valid)

    @classmethod
    def pair(cls, flow_f: torch.Tensor, flow_b: torch.Tensor, hole_a: torch.Tensor, hole_b: torch.Tensor
             ) -> tuple[StepFlow, StepFlow]:
        """The steps over frames a -> b = a + 1: the forward flow (2xHxW) as the backward
        pass takes it into frame a's hole, the backward flow as the forward pass takes it
        into frame b's."""
        return cls.build(flow_f, flow_b, hole_a), cls.build(flow_b, flow_f, hole_b)

    def nbytes(self) -> int:
        return sum(x.numel() * x.element_size() for x in (self.index, self.grid, self.valid))


def _step(prop: torch.Tensor, prop_mask: torch.Tensor, cur: torch.Tensor, cur_mask: torch.Tensor, flow: StepFlow,
          mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One frame of a pass (1x3xHxW frames, 1x1xHxW masks): fill ``cur``'s hole from the
    previous result ``prop`` along ``flow`` where the flows are consistent and the source
    pixel is known. ``cur_mask`` is zero outside ``flow``'s pixels."""
    out = cur.clone(memory_format=torch.contiguous_format)
    out_mask = torch.zeros_like(cur_mask, memory_format=torch.contiguous_format)
    p = flow.index
    if len(p):
        c, cm = out.view(3, -1)[:, p], cur_mask.reshape(-1)[p]
        warped = F.grid_sample(prop, flow.grid, mode=mode, padding_mode="zeros", align_corners=True).view(3, -1)
        seen = (F.grid_sample(prop_mask, flow.grid, mode="bilinear", padding_mode="zeros",
                              align_corners=True).view(-1) > 0.1).to(cur_mask)
        valid = flow.valid.to(cur_mask)
        take = ((cm * valid * (1 - seen)) > 0.1).to(cur_mask)
        out.view(3, -1)[:, p] = take * warped + (1 - take) * c
        out_mask.view(-1)[p] = ((cm * (1 - valid * (1 - seen))) > 0.1).to(cur_mask)
    return out, out_mask


def propagate_images(masked_frames: torch.Tensor, flows_f: torch.Tensor, flows_b: torch.Tensor, masks: torch.Tensor,
                     mode: str = "nearest") -> tuple[torch.Tensor, torch.Tensor]:
    """Image propagation over one clip.

    ``masked_frames``: BxTx3xHxW in [-1, 1] with holes zeroed; ``flows_f``/``flows_b``:
    Bx(T-1)x2xHxW completed flows; ``masks``: BxTx1xHxW (1 = hole). Returns the propagated
    frames (BxTx3xHxW; callers composite them into the hole) and the masks of what is still
    unfilled (BxTx1xHxW).
    """
    frames_out, masks_out = [], []
    for b in range(masked_frames.shape[0]):
        out: list[tuple[torch.Tensor, torch.Tensor]] = []
        # Each pair is read by both passes: made once.
        steps = [StepFlow.pair(flows_f[b, k], flows_b[b, k], masks[b, k, 0], masks[b, k + 1, 0])
                 for k in range(flows_f.shape[1])]
        propagate_frames(masked_frames.shape[1], lambda i: (masked_frames[b : b + 1, i], masks[b : b + 1, i]),  # noqa: B023
                         steps.__getitem__, lambda i, prop, still: out.append((prop, still)), mode)  # noqa: B023
        frames_out.append(torch.cat([p for p, _ in out]))
        masks_out.append(torch.cat([m for _, m in out]))
    return torch.stack(frames_out), torch.stack(masks_out)


def propagate_frames(t: int, frame: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
                     flows: Callable[[int], tuple[StepFlow, StepFlow]],
                     emit: Callable[[int, torch.Tensor, torch.Tensor], None], mode: str = "nearest") -> None:
    """Image propagation frame by frame (:func:`propagate_images` runs on it), for a caller
    that holds its clip per frame: only the backward pass's results are held whole.

    ``frame(i)``: 1x3xHxW masked frame i and its 1x1xHxW mask; ``flows(k)``: the
    :meth:`StepFlow.pair` of the completed flows between frames k and k+1, built on the
    masks ``frame`` gives. Frames are asked for once each, last frame first;
    ``emit(i, propagated, still_unfilled)`` is called in frame order.
    """
    back: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * t
    back[t - 1] = prop, prop_mask = frame(t - 1)
    for idx in range(t - 2, -1, -1):
        back[idx] = prop, prop_mask = _step(prop, prop_mask, *frame(idx), flows(idx)[0], mode)
    prop, prop_mask = back[0]  # type: ignore[misc]
    back[0] = None
    emit(0, prop, prop_mask)
    for idx in range(1, t):
        cur, cur_mask = back[idx]  # type: ignore[misc]
        back[idx] = None
        prop, prop_mask = _step(prop, prop_mask, cur, cur_mask, flows(idx - 1)[1], mode)
        del cur, cur_mask
        emit(idx, prop, prop_mask)
