"""Modulated deformable 3x3 convolution (DCNv2: stride 1, padding 1, dilation 1) in plain
PyTorch ops, for devices without a good kernel (torchvision's CPU kernel is a serial,
scalar im2col).

Same inputs and result as ``torchvision.ops.deform_conv2d(x, offset, weight, bias,
padding=1, mask=mask)``: ``offset`` is Nx(2*G*9)xHxW with a (dy, dx) pair per deformable
group and kernel tap (taps row-major), ``mask`` Nx(G*9)xHxW. Sampling is bilinear; a point
outside (-1, H) x (-1, W) reads 0 and corners outside the image read 0, which is exactly
``grid_sample``'s zeros padding. The im2col matrix comes from one ``grid_sample`` call with
the 9 taps stacked along the grid's height (the result is already laid out as
(group, channel, tap, pixel), i.e. the rows of ``weight`` flattened), is scaled by the mask
in place and meets the weight in one GEMM. Output rows are processed in blocks so the
im2col buffer stays under ``block_bytes``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BLOCK_BYTES = 8 << 20
"""Default bound on the im2col buffer of one block of output rows (small enough to stay in
a typical L3 cache between grid_sample and the GEMM; 8 MiB measured 5-15% faster than 32
MiB at 135x240 and no slower at 60x108)."""


def _tap_bases(size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """3 x size normalised sample coordinates (``align_corners=False``) of the kernel taps
    -1, 0, +1 around each output position along one axis, before offsets."""
    pos = torch.arange(size, dtype=dtype, device=device) + torch.arange(-1, 2, dtype=dtype, device=device)[:, None]
    return (2 * pos + 1) / size - 1


def deform_conv3x3(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                   mask: torch.Tensor, block_bytes: int = BLOCK_BYTES) -> torch.Tensor:
    """``torchvision.ops.deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)`` for a
    3x3 ``weight`` (OxCx3x3, one weight group), via ``grid_sample`` and a GEMM.

    Half and bfloat16 inputs are computed in float32 and cast back. Differentiable; under
    ``no_grad``/``inference_mode`` it writes each block straight into the output."""
    if x.dtype not in (torch.float32, torch.float64):
        out = deform_conv3x3(x.float(), offset.float(), weight.float(), None if bias is None else bias.float(),
                             mask.float(), block_bytes)
        return out.to(x.dtype)
    n, c, h, w = x.shape
    out_c = weight.shape[0]
    groups = offset.shape[1] // 18
    if weight.shape[1:] != (c, 3, 3) or offset.shape != (n, 18 * groups, h, w) or mask.shape != (n, 9 * groups, h, w) \
            or groups == 0 or c % groups:
        raise ValueError(f"deform_conv3x3: bad shapes x {tuple(x.shape)}, offset {tuple(offset.shape)}, "
                         f"weight {tuple(weight.shape)}, mask {tuple(mask.shape)}")
    offset, mask, weight = offset.to(x.dtype), mask.to(x.dtype), weight.to(x.dtype)
    cg = c // groups
    # Tap k = 3 * ky + kx: x bases vary with kx and the column, y bases with ky and the row.
    base_x = _tap_bases(w, x.dtype, x.device).repeat(3, 1).view(9, 1, w)
    base_y = _tap_bases(h, x.dtype, x.device).repeat_interleave(3, 0).view(9, h, 1)
    weight2d = weight.reshape(out_c, c * 9)
    bias2d = None if bias is None else bias.to(x.dtype).view(out_c, 1)
    rows = max(1, min(h, block_bytes // (c * 9 * w * x.element_size())))
    tracked = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, offset, mask, weight, bias))
    out = None if tracked else x.new_empty(n, out_c, h * w)
    results = []
    for i in range(n):
        image = x[i].reshape(groups, cg, h, w)
        blocks = []
        for r0 in range(0, h, rows):
            r1 = min(h, r0 + rows)
            px = (r1 - r0) * w
            off = offset[i, :, r0:r1].reshape(groups, 9, 2, r1 - r0, w)
            if tracked:
                grid = torch.stack((base_x + off[:, :, 1] * (2 / w), base_y[:, r0:r1] + off[:, :, 0] * (2 / h)), -1)
            else:
                grid = x.new_empty(groups, 9, r1 - r0, w, 2)
                torch.add(base_x, off[:, :, 1], alpha=2 / w, out=grid[..., 0])
                torch.add(base_y[:, r0:r1], off[:, :, 0], alpha=2 / h, out=grid[..., 1])
            # Points beyond +-3 are outside the image either way; clamping keeps huge finite
            # offsets away from grid_sample's float-to-int index conversion.
            grid = grid.clamp(-3.0, 3.0) if tracked else grid.clamp_(-3.0, 3.0)
            col = F.grid_sample(image, grid.view(groups, 9 * (r1 - r0), w, 2), mode="bilinear",
                                padding_mode="zeros", align_corners=False).view(groups, cg, 9, px)
            m = mask[i, :, r0:r1].reshape(groups, 1, 9, px)
            col = (col * m if tracked else col.mul_(m)).view(c * 9, px)
            if tracked:
                blocks.append(weight2d @ col if bias2d is None else torch.addmm(bias2d, weight2d, col))
            elif bias2d is None:
                torch.mm(weight2d, col, out=out[i, :, r0 * w:r1 * w])
            else:
                torch.addmm(bias2d, weight2d, col, out=out[i, :, r0 * w:r1 * w])
        if tracked:
            results.append(torch.cat(blocks, 1) if len(blocks) > 1 else blocks[0])
    if tracked:
        out = torch.stack(results)
    return out.view(n, out_c, h, w)
