"""``models.deform.deform_conv3x3`` (the CPU deformable conv) against torchvision's kernel."""

from __future__ import annotations

import pytest
import torch
import torchvision.ops

import models.flow_completion as flow_completion
from models.deform import deform_conv3x3
from models.flow_completion import safe_deform_conv2d

# (in channels, out channels, height, width, deformable groups): the flow completion and the
# propagation layers at small sizes, an odd size, and single-row / single-column inputs.
SHAPES = [(256, 128, 24, 40, 16), (128, 128, 17, 29, 16), (32, 16, 1, 9, 4), (32, 16, 7, 1, 4)]


def inputs(c: int, out_c: int, h: int, w: int, groups: int, magnitude: float = 10.0, batch: int = 1,
           seed: int = 0) -> tuple[torch.Tensor, ...]:
    """x, offset (uniform in +-magnitude px), weight, bias, mask in (0, 1)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, c, h, w, generator=g)
    offset = (torch.rand(batch, 18 * groups, h, w, generator=g) * 2 - 1) * magnitude
    weight = (torch.rand(out_c, c, 3, 3, generator=g) * 2 - 1) / (c * 9) ** 0.5
    bias = torch.randn(out_c, generator=g)
    mask = torch.rand(batch, 9 * groups, h, w, generator=g)
    return x, offset, weight, bias, mask


def reference(x, offset, weight, bias, mask) -> torch.Tensor:
    return torchvision.ops.deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)


def assert_matches(ours: torch.Tensor, ref: torch.Tensor, rel: float = 1e-5) -> None:
    """Equal within float32 round-off relative to the output scale."""
    assert ours.shape == ref.shape and ours.dtype == ref.dtype
    scale = ref.abs().max().item()
    diff = (ours - ref).abs().max().item()
    assert diff <= rel * max(scale, 1.0), f"max abs diff {diff:.3g} at output scale {scale:.3g}"


def sample_points(offset: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(y, x) pixel coordinates of every sample, as torchvision computes them."""
    n, _, h, w = offset.shape
    off = offset.view(n, -1, 3, 3, 2, h, w)
    tap = torch.arange(3, dtype=offset.dtype) - 1
    y = off[..., 0, :, :] + (torch.arange(h, dtype=offset.dtype)[:, None] + tap.view(3, 1, 1, 1))
    x = off[..., 1, :, :] + (torch.arange(w, dtype=offset.dtype) + tap.view(1, 3, 1, 1))
    return y, x


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matches_torchvision(shape):
    x, offset, weight, bias, mask = inputs(*shape)
    assert_matches(deform_conv3x3(x, offset, weight, bias, mask), reference(x, offset, weight, bias, mask))


def test_samples_beyond_every_border_and_on_it():
    """Offsets in half-pixel steps put samples exactly on -1, -0.5, H - 0.5, H (the boundary
    of torchvision's zero rule) and far outside on every side."""
    c, out_c, h, w, groups = 128, 128, 11, 13, 16
    x, _, weight, bias, mask = inputs(c, out_c, h, w, groups)
    g = torch.Generator().manual_seed(1)
    offset = torch.randint(-2 * w, 2 * w + 1, (1, 18 * groups, h, w), generator=g).float() / 2
    y, xs = sample_points(offset)
    for outside in (y <= -1, y >= h, xs <= -1, xs >= w, y == -1, y == h, xs == -0.5, xs == w - 0.5):
        assert outside.float().mean() > 0.001
    assert_matches(deform_conv3x3(x, offset, weight, bias, mask), reference(x, offset, weight, bias, mask))


def test_huge_finite_offsets_read_zero():
    """Also through safe_deform_conv2d, whose finiteness check (a sum) overflows here."""
    x, offset, weight, bias, mask = inputs(128, 128, 9, 10, 16)
    offset[:, ::7] = 1e30
    offset[:, 3::7] = -3e38
    ref = reference(x, offset, weight, bias, mask)
    assert_matches(deform_conv3x3(x, offset, weight, bias, mask), ref)
    assert_matches(safe_deform_conv2d(x, offset, weight, bias, mask), ref)


@pytest.mark.parametrize("rows", [1, 4])
def test_row_blocks(rows):
    """A tiny im2col budget splits the output rows into blocks (the last one shorter)."""
    c, out_c, h, w, groups = 128, 128, 17, 29, 16
    x, offset, weight, bias, mask = inputs(c, out_c, h, w, groups, batch=2)
    block_bytes = rows * c * 9 * w * 4
    ref = reference(x, offset, weight, bias, mask)
    with torch.inference_mode():
        assert_matches(deform_conv3x3(x, offset, weight, bias, mask, block_bytes=block_bytes), ref)
    assert_matches(deform_conv3x3(x, offset, weight, None, mask, block_bytes=block_bytes),
                   reference(x, offset, weight, None, mask))


def test_inference_mode_and_gradients():
    x, offset, weight, bias, mask = inputs(32, 16, 8, 11, 4)
    with torch.inference_mode():
        out = deform_conv3x3(x, offset, weight, bias, mask)
    assert not out.requires_grad
    assert_matches(out, reference(x, offset, weight, bias, mask))

    grads = []
    for op in (deform_conv3x3, reference):
        leaves = [t.clone().requires_grad_() for t in (x, offset, weight, bias, mask)]
        (op(*leaves) * torch.linspace(-1, 1, out.numel()).view(out.shape)).sum().backward()
        grads.append([t.grad for t in leaves])
    for ours, ref in zip(*grads):
        assert_matches(ours, ref, rel=1e-4)


def test_safe_deform_conv2d_zeroes_non_finite_offsets_and_avoids_torchvision_on_cpu(monkeypatch):
    x, offset, weight, bias, mask = inputs(128, 128, 9, 10, 16)
    bad = offset.clone()
    bad[0, 0, 0, 0], bad[0, 5, 3, 4], bad[0, 100, 8, 9] = float("nan"), float("inf"), float("-inf")
    cleaned = bad.clone()
    cleaned[0, 0, 0, 0] = cleaned[0, 5, 3, 4] = cleaned[0, 100, 8, 9] = 0.0
    expected = reference(x, cleaned, weight, bias, mask)

    def no_torchvision(*args, **kwargs):
        raise AssertionError("torchvision's deform_conv2d called on CPU")

    monkeypatch.setattr(flow_completion.torchvision.ops, "deform_conv2d", no_torchvision)
    out = safe_deform_conv2d(x, bad, weight, bias, mask)
    assert torch.isfinite(out).all()
    assert_matches(out, expected)


def test_half_input_is_computed_in_float32():
    x, offset, weight, bias, mask = inputs(32, 16, 8, 11, 4)
    half = [t.half() for t in (x, offset, weight, bias, mask)]
    out = deform_conv3x3(*half)
    assert out.dtype == torch.float16
    torch.testing.assert_close(out.float(), reference(*[t.float() for t in half]), rtol=0, atol=4e-3)


def test_bad_shapes_raise():
    x, offset, weight, bias, mask = inputs(32, 16, 8, 11, 4)
    with pytest.raises(ValueError):
        deform_conv3x3(x, offset[:, :-1], weight, bias, mask)
    with pytest.raises(ValueError):
        deform_conv3x3(x, offset, weight[:, :, :2], bias, mask)
