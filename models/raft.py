"""RAFT optical flow (Teed & Deng, 2020), the "things" configuration ProPainter uses.

Full model: feature encoder with instance norm (256 channels), context encoder with batch
norm (128 hidden + 128 context), an all-pairs correlation pyramid of 4 levels sampled with
radius 4, a separable ConvGRU update block and convex 8x upsampling. Only the final
upsampled flow is returned. Module names match the released ``raft-things.pth`` (without
its ``module.`` prefix) so the checkpoint loads with a strict state-dict load.

Frames are Bx3xHxW float in [-1, 1] (``x / 255 * 2 - 1``); H and W multiples of 8.
Flows are Bx2xHxW in pixels, channel 0 = x (right), channel 1 = y (down).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from .device import trim_heap_on_cpu
from .errors import InputError


@dataclass(frozen=True)
class RAFTConfig:
    """Hyper-parameters of the full RAFT model; tests may shrink ``corr_levels``."""

    corr_levels: int = 4
    corr_radius: int = 4
    hidden_dim: int = 128
    context_dim: int = 128
    feature_dim: int = 256


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels)
    return nn.Identity()


class ResidualBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, norm: str, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, padding=1, stride=stride)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1)
        self.norm1 = _norm(norm, planes)
        self.norm2 = _norm(norm, planes)
        if stride == 1:
            self.downsample = None
        else:
            self.norm3 = _norm(norm, planes)
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride), self.norm3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        y = F.relu(self.norm2(self.conv2(y)))
        if self.downsample is not None:
            x = self.downsample(x)
        return F.relu(x + y)


class BasicEncoder(nn.Module):
    """7x7/2 stem, three stages of residual blocks (64, 96/2, 128/2), 1x1 projection: H/8."""

    def __init__(self, output_dim: int, norm: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3)
        self.norm1 = _norm(norm, 64)
        planes = [(64, 64, 1), (64, 96, 2), (96, 128, 2)]
        for i, (cin, cout, stride) in enumerate(planes, start=1):
            setattr(self, f"layer{i}", nn.Sequential(ResidualBlock(cin, cout, norm, stride), ResidualBlock(cout, cout, norm)))
        self.conv2 = nn.Conv2d(128, output_dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.norm1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.conv2(x)


class BasicMotionEncoder(nn.Module):
    def __init__(self, corr_planes: int) -> None:
        super().__init__()
        self.convc1 = nn.Conv2d(corr_planes, 256, 1)
        self.convc2 = nn.Conv2d(256, 192, 3, padding=1)
        self.convf1 = nn.Conv2d(2, 128, 7, padding=3)
        self.convf2 = nn.Conv2d(128, 64, 3, padding=1)
        self.conv = nn.Conv2d(64 + 192, 128 - 2, 3, padding=1)

    def forward(self, flow: torch.Tensor, corr: torch.Tensor) -> torch.Tensor:
        c = F.relu(self.convc2(F.relu(self.convc1(corr))))
        f = F.relu(self.convf2(F.relu(self.convf1(flow))))
        out = F.relu(self.conv(torch.cat([c, f], dim=1)))
        return torch.cat([out, flow], dim=1)


class SepConvGRU(nn.Module):
    """A ConvGRU run twice: once with 1x5 kernels, then with 5x1 kernels.

    Its input ``x`` is [context, motion features]; the context is the same in every
    refinement iteration, so :meth:`context_terms` computes its part of each gate's
    convolution (with the bias) once per pair and :meth:`step` adds it to the convolution of
    [hidden state, motion features]: the same sums, a third fewer multiplications per
    iteration (the sums' order differs, so the results differ at float round-off).
    """

    def __init__(self, hidden_dim: int, input_dim: int) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        c = hidden_dim + input_dim
        for axis, (k, p) in {"1": ((1, 5), (0, 2)), "2": ((5, 1), (2, 0))}.items():
            for gate in "zrq":
                setattr(self, f"conv{gate}{axis}", nn.Conv2d(c, hidden_dim, k, padding=p))

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        for axis in "12":
            hx = torch.cat([h, x], dim=1)
            z = torch.sigmoid(getattr(self, f"convz{axis}")(hx))
            r = torch.sigmoid(getattr(self, f"convr{axis}")(hx))
            q = torch.tanh(getattr(self, f"convq{axis}")(torch.cat([r * h, x], dim=1)))
            h = (1 - z) * h + z * q
        return h

    def context_terms(self, context: torch.Tensor) -> dict:
        """Per axis: the context's part of the z and r convolutions (stacked, with their
        biases), of the q convolution, and the weights the iterations apply to the rest."""
        hd, cd = self.hidden_dim, context.shape[1]
        terms = {}
        for axis in "12":
            convs = [getattr(self, f"conv{gate}{axis}") for gate in "zrq"]
            pad = convs[0].padding
            w_zr = torch.cat([convs[0].weight, convs[1].weight])
            w_q = convs[2].weight
            terms[axis] = (
                F.conv2d(context, w_zr[:, hd : hd + cd], torch.cat([convs[0].bias, convs[1].bias]), padding=pad),
                F.conv2d(context, w_q[:, hd : hd + cd], convs[2].bias, padding=pad),
                torch.cat([w_zr[:, :hd], w_zr[:, hd + cd :]], dim=1).contiguous(),
                torch.cat([w_q[:, :hd], w_q[:, hd + cd :]], dim=1).contiguous(),
                pad,
            )
        return terms

    def step(self, h: torch.Tensor, motion: torch.Tensor, terms: dict) -> torch.Tensor:
        """:meth:`forward` with ``x`` = [context, ``motion``], the context's part precomputed."""
        hd = self.hidden_dim
        low = motion.dtype  # bf16 under autocast: the hidden state (fp32) is cast before the
        # concatenation, not after it (the same numbers as autocast's cast in the convolution,
        # half the bytes copied); in fp32 these casts do nothing
        for axis in "12":
            zr_ctx, q_ctx, w_zr, w_q, pad = terms[axis]
            zr = torch.sigmoid(F.conv2d(torch.cat([h.to(low), motion], dim=1), w_zr, padding=pad).add_(zr_ctx))
            z, r = zr[:, :hd], zr[:, hd:]
            q = torch.tanh(F.conv2d(torch.cat([(r * h).to(low), motion], dim=1), w_q, padding=pad).add_(q_ctx))
            h = (1 - z) * h + z * q
        return h


class FlowHead(nn.Module):
    def __init__(self, input_dim: int, hidden_dim: int = 256) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(input_dim, hidden_dim, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden_dim, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(x)))


class BasicUpdateBlock(nn.Module):
    def __init__(self, corr_planes: int, hidden_dim: int) -> None:
        super().__init__()
        self.encoder = BasicMotionEncoder(corr_planes)
        self.gru = SepConvGRU(hidden_dim, 128 + hidden_dim)
        self.flow_head = FlowHead(hidden_dim)
        self.mask = nn.Sequential(nn.Conv2d(128, 256, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(256, 64 * 9, 1))

    def forward(self, net, inp, corr, flow, upsample_mask: bool = True, context_terms: dict | None = None):
        """One iteration; ``context_terms`` (:meth:`SepConvGRU.context_terms` of ``inp``): the
        GRU takes the context's part precomputed (``inp`` is then not read)."""
        if context_terms is not None:
            net = self.gru.step(net, self.encoder(flow, corr), context_terms)
        else:
            net = self.gru(net, torch.cat([inp, self.encoder(flow, corr)], dim=1))
        # The 0.25 scale was used in training to balance gradients; it is part of the model.
        # Only the last iteration's mask is used, so earlier ones are not computed.
        mask = 0.25 * self.mask(net) if upsample_mask else None
        return net, mask, self.flow_head(net)


def autocast(x: torch.Tensor, dtype: torch.dtype | None) -> Any:
    """``torch.autocast`` on ``x``'s device to ``dtype``, or nothing when ``dtype`` is None."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(x.device.type, dtype=dtype)


def _fast_layout(x: torch.Tensor, fast: torch.dtype | None) -> torch.Tensor:
    """``x`` in the channels-last layout when the convolutions run in ``fast`` (bf16): oneDNN's
    bf16 convolutions on a CPU are 2-3x faster on it than on NCHW, which they would reorder
    at every call. fp32 keeps NCHW (and its numbers bit for bit)."""
    return x if fast is None else x.contiguous(memory_format=torch.channels_last)


def _pixel_grid(n: int, h: int, w: int, device, dtype=torch.float32) -> torch.Tensor:
    """Nx2xHxW grid of (x, y) pixel coordinates."""
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=dtype), torch.arange(w, device=device, dtype=dtype), indexing="ij")
    return torch.stack([xs, ys])[None].expand(n, 2, h, w)


class CorrPyramid:
    """All-pairs correlation of two feature maps, average-pooled into ``levels`` levels.

    Lookup samples a (2r+1)^2 window around each coordinate on every level. As in the
    released RAFT, the window's first axis offsets x and its second offsets y.
    """

    def __init__(self, f1: torch.Tensor, f2: torch.Tensor, levels: int, radius: int) -> None:
        b, c, h, w = f1.shape
        corr = torch.matmul(f1.reshape(b, c, h * w).transpose(1, 2), f2.reshape(b, c, h * w))
        corr = (corr / torch.sqrt(torch.tensor(float(c)))).reshape(b * h * w, 1, h, w)
        self.pyramid = [corr]
        for _ in range(levels - 1):
            corr = F.avg_pool2d(corr, 2, stride=2)
            self.pyramid.append(corr)
        self.radius = radius
        r = radius
        d = torch.linspace(-r, r, 2 * r + 1, device=f1.device)
        a, bb = torch.meshgrid(d, d, indexing="ij")
        self.delta = torch.stack([a, bb], dim=-1).view(1, 2 * r + 1, 2 * r + 1, 2)

    def __call__(self, coords: torch.Tensor) -> torch.Tensor:
        """Bx2xHxW coordinates -> Bx(levels*(2r+1)^2)xHxW correlations, fp32, NCHW."""
        return self._sampled(coords).permute(0, 3, 1, 2).contiguous().float()

    def channels_last(self, coords: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """:meth:`__call__` for the bf16 path: cast to ``dtype``, in the channels-last layout the
        samples are computed in (no transpose to NCHW and back), and each level's sampling
        grid in one fused multiply-add (fp32 coordinates, rounded differently from
        :meth:`__call__`'s, which keeps the released code's order of operations)."""
        return self._sampled(coords, fused=True).to(dtype).permute(0, 3, 1, 2)

    def _sampled(self, coords: torch.Tensor, fused: bool = False) -> torch.Tensor:
        b, _, h, w = coords.shape
        centre = coords.permute(0, 2, 3, 1).reshape(b * h * w, 1, 1, 2)
        out = []
        for i, corr in enumerate(self.pyramid):
            hh, ww = corr.shape[-2:]
            # A 1-pixel level (frames under 128 px) would divide by zero; any finite scale samples
            # its one value, so use 1 there instead of producing NaN as the released code does.
            sx, sy = 2 / max(ww - 1, 1), 2 / max(hh - 1, 1)
            if fused:  # grid = (centre / 2**i + delta) * s - 1 as centre * (s / 2**i) + (delta * s - 1)
                scale = torch.tensor([sx, sy], device=coords.device)
                grid = torch.addcmul(self.delta * scale - 1, centre, scale / 2**i)
            else:
                pts = centre / 2**i + self.delta
                grid = torch.cat([2 * pts[..., :1] / max(ww - 1, 1) - 1, 2 * pts[..., 1:] / max(hh - 1, 1) - 1], dim=-1)
            sampled = F.grid_sample(corr, grid, align_corners=True)
            out.append(sampled.view(b, h, w, -1))
        return torch.cat(out, dim=-1)


class RAFT(nn.Module):
    """RAFT "things". ``forward(image1, image2, iters)`` -> Bx2xHxW flow from image1 to image2."""

    def __init__(self, config: RAFTConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or RAFTConfig()
        self.fnet = BasicEncoder(config.feature_dim, "instance")
        self.cnet = BasicEncoder(config.hidden_dim + config.context_dim, "batch")
        corr_planes = config.corr_levels * (2 * config.corr_radius + 1) ** 2
        self.update_block = BasicUpdateBlock(corr_planes, config.hidden_dim)

    @staticmethod
    def _upsample(flow: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Convex combination of each 3x3 coarse neighbourhood: Nx2xhxw -> Nx2x8hx8w."""
        n, _, h, w = flow.shape
        mask = torch.softmax(mask.view(n, 1, 9, 8, 8, h, w), dim=2)
        up = F.unfold(8 * flow, [3, 3], padding=1).view(n, 2, 9, 1, 1, h, w)
        up = torch.sum(mask * up, dim=2).permute(0, 1, 4, 2, 5, 3)
        return up.reshape(n, 2, 8 * h, 8 * w)

    def forward(self, image1: torch.Tensor, image2: torch.Tensor, iters: int = 20) -> torch.Tensor:
        if image1.shape != image2.shape or image1.dim() != 4 or image1.shape[1] != 3:
            raise InputError(f"RAFT needs two Bx3xHxW frames of one shape, got {tuple(image1.shape)} and {tuple(image2.shape)}")
        n = image1.shape[0]
        feats = self.features(torch.cat([image1, image2], dim=0))
        return self.refine(feats[:n], feats[n:], self.context(image1), iters)

    def features(self, frames: torch.Tensor, fast: torch.dtype | None = None) -> torch.Tensor:
        """Nx3xHxW -> Nx256xH/8xW/8 matching features (instance norm: per frame), in fp32.
        ``fast``: the encoder's convolutions under autocast to this dtype (bf16)."""
        h, w = frames.shape[-2:]
        if h % 8 or w % 8:
            raise InputError(f"RAFT needs frame sides that are multiples of 8, got {w}x{h}")
        with autocast(frames, fast):
            return self.fnet(_fast_layout(frames, fast)).float()

    def context(self, frames: torch.Tensor, fast: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Nx3xHxW -> (hidden state, context features) of the first frame of each pair, in fp32."""
        cfg = self.config
        with autocast(frames, fast):
            net, inp = torch.split(self.cnet(_fast_layout(frames, fast)).float(), [cfg.hidden_dim, cfg.context_dim], dim=1)
        return torch.tanh(net), torch.relu(inp)

    def refine(self, f1: torch.Tensor, f2: torch.Tensor, context: tuple[torch.Tensor, torch.Tensor], iters: int,
               fast: torch.dtype | None = None) -> torch.Tensor:
        """Iterative refinement from precomputed features -> Nx2xHxW flow (f1's frame to f2's).

        ``fast``: the update block's convolutions under autocast to this dtype (bf16); the
        correlation volume, its lookup, the coordinates and the hidden state stay fp32."""
        cfg = self.config
        n, _, h, w = f1.shape
        corr_fn = CorrPyramid(f1, f2, cfg.corr_levels, cfg.corr_radius)
        net, inp = context
        net, inp = _fast_layout(net, fast), _fast_layout(inp, fast)
        coords0 = _pixel_grid(n, h, w, f1.device)
        coords1 = coords0.clone()
        mask = None
        with autocast(f1, fast):
            terms = self.update_block.gru.context_terms(inp)  # the same in every iteration
        # The convolutions' inputs in bf16 before they are concatenated (the same numbers as
        # autocast's casts inside the convolutions, fewer bytes); fp32: no casts.
        low = net.dtype if fast is None else fast
        for it in range(iters):
            corr = corr_fn(coords1) if fast is None else corr_fn.channels_last(coords1, fast)
            flow = _fast_layout(coords1 - coords0, fast).to(low)
            with autocast(f1, fast):
                net, mask, delta = self.update_block(net, inp, corr, flow, upsample_mask=it == iters - 1,
                                                     context_terms=terms)
            net = net.float()
            coords1 = coords1 + delta.float()
        return self._upsample(coords1 - coords0, mask.float().contiguous())


@torch.inference_mode()
def bidirectional_flows(raft: RAFT, frames: torch.Tensor, iters: int = 20, pair_batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Flows between consecutive frames of a clip.

    ``frames``: Tx3xHxW in [-1, 1]. Returns (forward, backward), each (T-1)x2xHxW: forward
    index t is the flow from frame t to t+1, backward index t from frame t+1 to t.
    """
    forward, backward = flow_pairs(raft, frames, iters, pair_batch)
    return torch.stack(forward), torch.stack(backward)


@torch.inference_mode()
def flow_pairs(raft: RAFT, frames: torch.Tensor, iters: int = 20, pair_batch: int = 2,
               fast: torch.dtype | None = None) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Like :func:`bidirectional_flows`, as lists of 2xHxW flows that each own their memory
    (a caller can let go of them one by one).

    ``pair_batch`` frames are encoded, and pairs refined, at a time (at least 2; a last
    batch of one joins the one before). Which frames or pairs share a batch does not change
    the flows, bit for bit, as long as no batch holds a single one: a batch of one can take
    another kernel, which rounds differently. Small batches are as fast on a CPU and hold
    less: at 432x240, a 12-frame clip's working memory is about 200 MiB with batches of 2
    against 520 with 6. ``fast``: see :meth:`RAFT.refine` (None: fp32 throughout).
    """
    if frames.dim() != 4 or frames.shape[0] < 2:
        raise InputError(f"flows need a Tx3xHxW clip of at least 2 frames, got {tuple(frames.shape)}")
    # Each frame's matching features and context are computed once and shared by the
    # forward and the backward flow (the released code recomputes them per pair).
    t = frames.shape[0]
    feats, nets, inps = [], [], []
    for lo, hi in _batches(t, pair_batch):
        chunk = frames[lo:hi]
        feats.append(raft.features(chunk, fast))
        net, inp = raft.context(chunk, fast)
        nets.append(net)
        inps.append(inp)
    feat, net, inp = torch.cat(feats), torch.cat(nets), torch.cat(inps)
    del feats, nets, inps
    # Pair j < t-1 is the forward flow j (frame j to j+1), pair t-1+j the backward flow j
    # (frame j+1 to j); the context is the first frame's. Each batch's features are picked
    # from the clip's, not from whole-clip copies in pair order.
    first = list(range(t - 1)) + list(range(1, t))
    second = list(range(1, t)) + list(range(t - 1))
    flows: list[torch.Tensor] = []
    for lo, hi in _batches(len(first), pair_batch):
        a, b = first[lo:hi], second[lo:hi]
        out = raft.refine(feat[a], feat[b], (net[a], inp[a]), iters, fast)
        flows.extend(f.clone() for f in out)
        del out
        trim_heap_on_cpu(frames)  # the batch's correlation pyramid, before the next one's
    return flows[: t - 1], flows[t - 1 :]


def _batches(n: int, size: int) -> list[tuple[int, int]]:
    """[lo, hi) ranges of ``size`` (at least 2) covering ``n`` items, none of one item
    unless ``n`` is 1: a last single item joins the batch before it."""
    size = max(2, size)
    bounds = list(range(0, n, size)) + [n]
    if n > 1 and bounds[-1] - bounds[-2] == 1:
        del bounds[-2]
    return list(zip(bounds[:-1], bounds[1:]))
