"""Recurrent flow completion network (ProPainter, section 3.2), with its edge branch.

Completes optical flow inside a mask: a P3D encoder (2D spatial conv + dilated temporal
conv) down to 1/8 resolution, dilated convolutions, bidirectional second-order deformable
propagation of the features along time, and a decoder with skip connections back to full
resolution. The edge branch (a small head predicting flow edges) is only used in training
but its weights are part of the checkpoint. Module names match the released
``recurrent_flow_completion.pth``.

Flows are BxTx2xHxW in pixels; masks BxTx1xHxW with 1 = hole; H, W multiples of 8.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.ops

from .deform import deform_conv3x3
from .device import trim_heap_on_cpu
from .errors import InputError


def safe_deform_conv2d(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                       mask: torch.Tensor) -> torch.Tensor:
    """3x3 modulated deformable conv (padding 1): torchvision's kernel on CUDA, elsewhere
    ``deform_conv3x3`` (same result, several times faster than torchvision's CPU kernel).
    Non-finite offsets become 0 on both paths (torchvision's CPU kernel reads out of bounds
    and crashes the process on them)."""
    # One reduction instead of an elementwise isfinite pass (~40x cheaper on CPU): the sum is
    # non-finite if any element is; an overflowing finite sum only costs a no-op nan_to_num.
    if not torch.isfinite(offset.sum(dtype=torch.float32)):
        offset = torch.nan_to_num(offset, nan=0.0, posinf=0.0, neginf=0.0)
    if x.is_cuda:
        return torchvision.ops.deform_conv2d(x, offset, weight, bias, padding=1, mask=mask)
    return deform_conv3x3(x, offset, weight, bias, mask)


def _lrelu(slope: float) -> nn.LeakyReLU:
    return nn.LeakyReLU(slope, inplace=True)


class DeformableAlignment(nn.Module):
    """Second-order deformable alignment: a modulated deformable 3x3 conv whose offsets and
    modulation masks are predicted from a condition tensor (offsets bounded by tanh)."""

    def __init__(self, in_channels: int, out_channels: int, cond_channels: int, deform_groups: int = 16,
                 max_residue_magnitude: float = 5.0) -> None:
        super().__init__()
        self.max_residue_magnitude = max_residue_magnitude
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        nn.init.uniform_(self.weight, -1 / (in_channels * 9) ** 0.5, 1 / (in_channels * 9) ** 0.5)
        self.conv_offset = nn.Sequential(
            nn.Conv2d(cond_channels, out_channels, 3, 1, 1), _lrelu(0.1),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1), _lrelu(0.1),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1), _lrelu(0.1),
            nn.Conv2d(out_channels, 27 * deform_groups, 3, 1, 1),
        )
        nn.init.zeros_(self.conv_offset[-1].weight)
        nn.init.zeros_(self.conv_offset[-1].bias)

    def offsets(self, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Bounded offsets (``max_residue_magnitude * tanh``) and modulation masks from ``cond``."""
        o1, o2, mask = torch.chunk(self.conv_offset(cond), 3, dim=1)
        return self.max_residue_magnitude * torch.tanh(torch.cat((o1, o2), dim=1)), torch.sigmoid(mask)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        offset, mask = self.offsets(cond)
        return safe_deform_conv2d(x, offset, self.weight, self.bias, mask)


class FeaturePropagation(nn.Module):
    """Bidirectional recurrent propagation of BxTxCxHxW features (backward pass, then a
    forward pass that also sees the backward features), fused by a 1x1 conv, residual."""

    def __init__(self, channel: int) -> None:
        super().__init__()
        self.channel = channel
        self.deform_align = nn.ModuleDict()
        self.backbone = nn.ModuleDict()
        for i, name in enumerate(("backward_", "forward_")):
            self.deform_align[name] = DeformableAlignment(2 * channel, channel, 3 * channel)
            self.backbone[name] = nn.Sequential(
                nn.Conv2d((2 + i) * channel, channel, 3, 1, 1), _lrelu(0.1), nn.Conv2d(channel, channel, 3, 1, 1)
            )
        self.fusion = nn.Conv2d(2 * channel, channel, 1)

    def _direction(self, name: str, spatial: list[torch.Tensor], other: list[torch.Tensor | None] | None = None,
                   fused: torch.Tensor | None = None) -> list[torch.Tensor | None]:
        """One pass. The forward pass (``other``: the backward features) writes each frame's
        fusion into ``fused`` as soon as it is known and lets go of that backward feature."""
        t = len(spatial)
        order = range(t - 1, -1, -1) if name == "backward_" else range(t)
        out: list[torch.Tensor | None] = [None] * t
        history: list[torch.Tensor] = []  # the last two propagated features
        prop = spatial[0].new_zeros(spatial[0].shape)
        for step, idx in enumerate(order):
            cur = spatial[idx]
            if step > 0:
                second = history[-2] if step > 1 else torch.zeros_like(prop)
                cond = torch.cat([prop, cur, second], dim=1)
                prop = self.deform_align[name](torch.cat([prop, second], dim=1), cond)
            parts = [cur] + ([other[idx]] if other is not None else []) + [prop]  # type: ignore[list-item]
            prop = prop + self.backbone[name](torch.cat(parts, dim=1))
            history = (history + [prop])[-2:]
            if step % 8 == 7:
                trim_heap_on_cpu(prop)
            if fused is None:
                out[idx] = prop
            else:
                assert other is not None
                fused[:, idx] = self.fusion(torch.cat([other[idx], prop], dim=1)) + cur  # type: ignore[list-item]
                other[idx] = None
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial = list(x.unbind(1))
        backward = self._direction("backward_", spatial)
        fused = torch.empty_like(x)
        self._direction("forward_", spatial, backward, fused)
        return fused


class Upconv(nn.Module):
    """2x bilinear upsampling (align_corners=True) followed by a conv."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True))


class P3DBlock(nn.Module):
    """Pseudo-3D conv: a 1xkxk spatial conv (+LeakyReLU) then a 3x1x1 temporal conv, dilation 2."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv3d(cin, cout, (1, 3, 3), (1, stride, stride), (0, 1, 1)), _lrelu(0.2))
        self.conv2 = nn.Sequential(nn.Conv3d(cout, cout, (3, 1, 1), 1, (2, 0, 0), dilation=(2, 1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class EdgeDetection(nn.Module):
    """Flow-edge head (training only; kept so the released checkpoint loads strictly)."""

    def __init__(self, cin: int = 2, cout: int = 1, mid: int = 16) -> None:
        super().__init__()
        self.projection = nn.Sequential(nn.Conv2d(cin, mid, 3, 1, 1), _lrelu(0.2))
        self.mid_layer_1 = nn.Sequential(nn.Conv2d(mid, mid, 3, 1, 1), _lrelu(0.2))
        self.mid_layer_2 = nn.Sequential(nn.Conv2d(mid, mid, 3, 1, 1))
        self.out_layer = nn.Conv2d(mid, cout, 1)

    def forward(self, flow: torch.Tensor) -> torch.Tensor:
        f = self.projection(flow)
        e = F.leaky_relu(f + self.mid_layer_2(self.mid_layer_1(f)), 0.01)
        return torch.sigmoid(self.out_layer(e))


def _layers(*modules: nn.Module) -> list[nn.Module]:
    """The Conv3d and LeakyReLU layers inside ``modules``, in the order they run."""
    out: list[nn.Module] = []
    for m in modules:
        out.extend([m] if isinstance(m, (nn.Conv3d, nn.LeakyReLU)) else _layers(*m.children()))
    return out


class _Frames:
    """The flow network's input, BxTx3xHxW (the flow zeroed in the hole, and the mask),
    made a few frames at a time as the encoder reads it rather than held whole: called with
    (lo, hi), frames [lo, hi) in the network's time order as Bx3x(hi-lo)xHxW. ``reverse``:
    the network's time runs backwards through ``flows``/``masks`` (BxTx2xHxW, BxTx1xHxW)."""

    def __init__(self, flows: torch.Tensor, masks: torch.Tensor | None, reverse: bool = False) -> None:
        self.flows, self.masks, self.reverse = flows, masks, reverse
        b, t, _, h, w = flows.shape
        self.shape = (b, t, 3, h, w)

    def __call__(self, lo: int, hi: int) -> torch.Tensor:
        b, t, _, h, w = self.shape
        if self.masks is None:  # ``flows`` is the input itself
            return self.flows[:, lo:hi].transpose(1, 2)
        x = self.flows.new_empty(b, 3, hi - lo, h, w)
        for j in range(lo, hi):
            i = t - 1 - j if self.reverse else j
            torch.mul(self.flows[:, i], 1 - self.masks[:, i], out=x[:, :2, j - lo])
            x[:, 2:, j - lo] = self.masks[:, i]
        return x


def _spatial_conv_fast(conv: nn.Conv3d, x: torch.Tensor, fast: torch.dtype) -> torch.Tensor:
    """A 1xkxk ``conv`` of BxCxTxHxW ``x`` as a 2-D convolution of its B*T frames in ``fast``
    (bf16) on the channels-last layout, where the CPU's bf16 convolutions are quick (PyTorch's
    3-D bf16 convolutions are not); the result in fp32, BxC'xTxH'xW'."""
    b, c, t, h, w = x.shape
    frames = x.transpose(1, 2).reshape(b * t, c, h, w)
    padding = conv.padding[1:]
    if conv.padding_mode != "zeros":
        ph, pw = padding
        frames = F.pad(frames, (pw, pw, ph, ph), mode=conv.padding_mode)
        padding = (0, 0)
    frames = frames.to(fast).contiguous(memory_format=torch.channels_last)
    y = F.conv2d(frames, conv.weight[:, :, 0].to(fast), None if conv.bias is None else conv.bias.to(fast),
                 conv.stride[1:], padding, conv.dilation[1:]).float()
    return y.reshape(b, t, *y.shape[1:]).transpose(1, 2)


def _in_time_chunks(layers: list[nn.Module], x: torch.Tensor | _Frames, chunk: int,
                    fast: torch.dtype | None = None) -> torch.Tensor:
    """Run Conv3d/LeakyReLU ``layers`` on BxCxTxHxW ``x`` (or a :class:`_Frames`), ``chunk``
    frames at a time, streamed.

    Each conv is computed once per frame, on demand: a chunk of a temporal conv (kernel
    kt > 1, stride 1, zero padding) reads its padding's reach of the previous layer's
    frames (zeros past the clip's ends), which are computed first, and a layer's frames are
    let go of as soon as the next layer has read them. Only a few frames of each
    intermediate layer exist at once; the result is the layers' own on the whole clip.
    """
    return _TimeStream(layers, x, chunk, fast).run()


class _TimeStream:
    """The state of one :func:`_in_time_chunks` call. A class rather than two closures that
    call each other: such closures form a reference cycle, and everything they hold (the
    input and the output of a whole sub-video) would then live until the next garbage
    collection instead of being freed on return."""

    def __init__(self, layers: list[nn.Module], x: torch.Tensor | _Frames, chunk: int,
                 fast: torch.dtype | None = None) -> None:
        self.fast = fast
        self.convs: list[tuple[nn.Conv3d, float | None]] = []
        for layer in layers:
            if isinstance(layer, nn.LeakyReLU):
                self.convs[-1] = (self.convs[-1][0], layer.negative_slope)
            else:
                # Frames map one to one (temporal stride 1); a temporal kernel pads with zeros.
                assert isinstance(layer, nn.Conv3d) and layer.stride[0] == 1
                assert layer.kernel_size[0] == 1 or layer.padding_mode == "zeros"
                self.convs.append((layer, None))
        self.x, self.chunk = x, chunk
        self.t = x.shape[1] if isinstance(x, _Frames) else x.shape[2]
        self.done = [0] * len(self.convs)
        self.bufs: list[list[tuple[int, torch.Tensor]]] = [[] for _ in self.convs]
        self.result: torch.Tensor | None = None

    def run(self) -> torch.Tensor:
        while self.done[-1] < self.t:
            self.compute(len(self.convs) - 1)
            trim_heap_on_cpu(self.result)  # the chunk's freed activations, before the next chunk's
        result, self.result, self.x = self.result, None, None
        assert result is not None
        return result

    def frames(self, i: int, lo: int, hi: int) -> torch.Tensor:
        """Frames [lo, hi) of layer i's output (i = -1: the input)."""
        if i < 0:
            return self.x(lo, hi) if isinstance(self.x, _Frames) else self.x[:, :, lo:hi]
        while self.done[i] < hi:
            self.compute(i)
        parts = [y[:, :, max(lo - s0, 0) : hi - s0] for s0, y in self.bufs[i] if s0 < hi and s0 + y.shape[2] > lo]
        return parts[0] if len(parts) == 1 else torch.cat(parts, 2)

    def compute(self, i: int) -> None:
        """The next chunk of layer i's output."""
        conv, slope = self.convs[i]
        a = self.done[i]
        b = min(self.t, a + self.chunk)
        p = conv.padding[0]
        if conv.kernel_size[0] == 1:
            x = self.frames(i - 1, a, b)
            y = conv(x) if self.fast is None else _spatial_conv_fast(conv, x, self.fast)
        else:
            lo, hi = max(0, a - p), min(self.t, b + p)
            xs = F.pad(self.frames(i - 1, lo, hi), (0, 0, 0, 0, lo - (a - p), b + p - hi))
            y = F.conv3d(xs, conv.weight, conv.bias, 1, (0, *conv.padding[1:]), conv.dilation)
        if slope is not None:
            y = F.leaky_relu(y, slope, inplace=True)
        self.done[i] = b
        if i > 0:  # the previous layer's frames this layer will not read again
            self.bufs[i - 1] = [(s0, z) for s0, z in self.bufs[i - 1] if s0 + z.shape[2] > b - p]
        if i == len(self.convs) - 1:
            if self.result is None:
                self.result = y.new_empty(y.shape[0], y.shape[1], self.t, *y.shape[3:])
            self.result[:, :, a:b] = y
        else:
            self.bufs[i].append((a, y))


class RecurrentFlowCompleteNet(nn.Module):
    time_chunk = 8  # frames of each encoder layer computed at once
    #: frames decoded at once (the last layers' activations are full-size: 32 channels,
    #: 13 MB a frame at 432x240)
    decoder_batch = 2

    def __init__(self) -> None:
        super().__init__()
        self.downsample = nn.Sequential(
            nn.Conv3d(3, 32, (1, 5, 5), (1, 2, 2), (0, 2, 2), padding_mode="replicate"), _lrelu(0.2)
        )
        self.encoder1 = nn.Sequential(P3DBlock(32, 32, 1), _lrelu(0.2), P3DBlock(32, 64, 2), _lrelu(0.2))
        self.encoder2 = nn.Sequential(P3DBlock(64, 64, 1), _lrelu(0.2), P3DBlock(64, 128, 2), _lrelu(0.2))
        self.mid_dilation = nn.Sequential(*[
            m for d in (3, 2, 1) for m in (nn.Conv3d(128, 128, (1, 3, 3), 1, (0, d, d), dilation=(1, d, d)), _lrelu(0.2))
        ])
        self.feat_prop_module = FeaturePropagation(128)
        self.decoder2 = nn.Sequential(nn.Conv2d(128, 128, 3, 1, 1), _lrelu(0.2), Upconv(128, 64), _lrelu(0.2))
        self.decoder1 = nn.Sequential(nn.Conv2d(64, 64, 3, 1, 1), _lrelu(0.2), Upconv(64, 32), _lrelu(0.2))
        self.upsample = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1), _lrelu(0.2), Upconv(32, 2))
        self.edgeDetector = EdgeDetection()

    def forward(self, masked_flows: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """BxTx2xHxW flows (zero in the hole) + BxTx1xHxW masks -> BxTx2xHxW completed flows."""
        return self._run(_Frames(torch.cat((masked_flows, masks), dim=2), None))

    def _run(self, x: _Frames, reverse: bool = False, fast: torch.dtype | None = None) -> torch.Tensor:
        """BxTx3xHxW (masked flow, mask) -> BxTx2xHxW; ``reverse``: the output in reversed time;
        ``fast``: the dtype the encoder's spatial and the decoder's convolutions run in (bf16;
        None: all in the weights' dtype, as the authors). The temporal and deformable
        convolutions and the result stay fp32."""
        b, t, _, h, w = x.shape
        if h % 8 or w % 8:
            raise InputError(f"flow completion needs sides that are multiples of 8, got {w}x{h}")
        # The 3D encoder runs layer by layer, each layer a few frames at a time: only one
        # layer's input and output for the whole sub-video exist at once (the half-resolution
        # activations of 80 frames would otherwise be held three and four times over).
        e1 = _in_time_chunks(_layers(self.downsample, self.encoder1), x, self.time_chunk, fast)
        del x
        trim_heap_on_cpu(e1)  # freed half-resolution activations go back to the system before the next ones
        mid = _in_time_chunks(_layers(self.encoder2, self.mid_dilation), e1, self.time_chunk, fast).transpose(1, 2)
        prop = self.feat_prop_module(mid)
        del mid
        trim_heap_on_cpu(prop)
        # The decoder is per frame: run it a few frames at a time so the full-resolution
        # activations of a long sub-video never exist at once.
        flows = prop.new_empty(b, t, 2, h, w)
        for bi in range(b):
            for i in range(0, t, self.decoder_batch):
                y = self._decode(prop[bi, i : i + self.decoder_batch], e1[bi, :, i : i + self.decoder_batch].transpose(0, 1),
                                 fast)
                if reverse:
                    flows[bi, t - i - len(y) : t - i] = y.flip(0)
                else:
                    flows[bi, i : i + len(y)] = y
                if i % 8 == 8 - self.decoder_batch:
                    trim_heap_on_cpu(flows)
        return flows

    def _decode(self, feat: torch.Tensor, skip: torch.Tensor, fast: torch.dtype | None = None) -> torch.Tensor:
        """NxCxhxw propagated features + the encoder's NxC'x2hx2w -> Nx2xHxW flows (fp32)."""
        if fast is None:
            return self.upsample(self.decoder1(self.decoder2(feat) + skip))
        with torch.autocast(feat.device.type, dtype=fast):
            feat = feat.contiguous(memory_format=torch.channels_last)
            d2 = self.decoder2(feat) + skip.contiguous(memory_format=torch.channels_last)
            return self.upsample(self.decoder1(d2)).float().contiguous()

    def complete(self, flows_f: torch.Tensor, flows_b: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Complete both directions and keep the input flow outside the hole.

        ``flows_f``/``flows_b``: Bx(T-1)x2xHxW (forward t: t->t+1; backward t: t+1->t);
        ``masks``: BxTx1xHxW. The forward flow at t uses the mask of frame t, the backward
        flow the mask of frame t+1; the backward pass runs on the time-reversed sequence.
        """
        pred_f = self.complete_one(flows_f, masks[:, :-1])
        trim_heap_on_cpu(pred_f)
        return pred_f, self.complete_one(flows_b, masks[:, 1:], backward=True)

    def complete_one(self, flows: torch.Tensor, masks: torch.Tensor, backward: bool = False,
                     fast: torch.dtype | None = None) -> torch.Tensor:
        """One direction of :meth:`complete` (its ``flows_f`` with ``masks[:, :-1]``, or its
        ``flows_b`` with ``masks[:, 1:]`` and ``backward``), so that a caller holds one
        direction's sub-video of flows at a time. ``masks`` may be 0/1 bytes (uint8): the
        same numbers as float masks, in a quarter of the memory. ``fast``: see :meth:`_run`."""
        # The network's input made as the encoder reads it (time-reversed for the backward
        # flows) and the result composed in place: few sub-video-sized tensors are alive at
        # once. The same products and sums as pred * m + flow * (1 - m).
        out = self._run(_Frames(flows, masks, reverse=backward), reverse=backward, fast=fast)
        for i in range(out.shape[1]):  # frame by frame: no sub-video-sized temporaries
            out[:, i].mul_(masks[:, i]).add_(flows[:, i] * (1 - masks[:, i]))
        return out
