"""ProPainter's InpaintGenerator: encoder, dual-domain propagation, sparse transformer, decoder.

* Encoder: 5 input channels (masked frame in [-1, 1], the original mask, the mask left
  after image propagation) -> 128 channels at 1/4 resolution, with grouped layers that
  re-inject the 256-channel features (as in E2FGVI).
* Image propagation: :func:`models.propagation.propagate_images` (non-learnable).
* Feature propagation: bidirectional, flow-guided deformable alignment of the local
  frames' features (offsets = flow + a bounded learned residual), with the
  forward/backward consistency mask as a condition.
* Sparse transformer (:mod:`models.transformer`) over local and reference frames.
* Decoder: two 2x upsampling stages to a 3-channel image, tanh.

Module names match ``ProPainter.pth``; the image propagation module has no weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import InputError
from .flow_completion import DeformableAlignment, Upconv, safe_deform_conv2d
from .propagation import consistency_mask, flow_warp, propagate_images
from .transformer import SoftComp, SoftSplit, TemporalSparseTransformerBlock


def _lrelu(slope: float = 0.2) -> nn.LeakyReLU:
    return nn.LeakyReLU(slope, inplace=True)


class Encoder(nn.Module):
    GROUPS = (1, 2, 4, 8, 1)

    def __init__(self) -> None:
        super().__init__()
        spec = [(5, 64, 2, 1), (64, 64, 1, 1), (64, 128, 2, 1), (128, 256, 1, 1), (256, 384, 1, 1),
                (640, 512, 1, 2), (768, 384, 1, 4), (640, 256, 1, 8), (512, 128, 1, 1)]
        layers: list[nn.Module] = []
        for cin, cout, stride, groups in spec:
            layers += [nn.Conv2d(cin, cout, 3, stride, 1, groups=groups), _lrelu()]
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Channels-last (NHWC) activations: the CPU convolutions run without reordering.
        bt = x.shape[0]
        out = x.contiguous(memory_format=torch.channels_last)
        for i, layer in enumerate(self.layers):
            if i == 8:
                x0 = out.permute(0, 2, 3, 1)
                h, w = x0.shape[1:3]
            if i > 8 and i % 2 == 0:
                # Interleave the groups of x0 and out: [x0_1, out_1, x0_2, out_2, ...].
                g = self.GROUPS[(i - 8) // 2]
                out = torch.cat([x0.reshape(bt, h, w, g, -1), out.permute(0, 2, 3, 1).reshape(bt, h, w, g, -1)], 4)
                out = out.view(bt, h, w, -1).permute(0, 3, 1, 2)
            out = layer(out)
        return out.contiguous()


class FlowGuidedAlignment(DeformableAlignment):
    """Modulated deformable 3x3 conv whose offsets are the flow plus a learned residual
    (bounded by ``3 * tanh``), predicted from [current, warped, flow, validity, masks]."""

    def __init__(self, channel: int, deform_groups: int = 16, max_residue_magnitude: float = 3.0) -> None:
        super().__init__(channel, channel, 2 * channel + 5, deform_groups, max_residue_magnitude)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        offset, mask = self.offsets(cond)
        # deform_conv2d takes (dy, dx) pairs: the flow flipped, once per kernel tap and group.
        offset = offset + flow.flip(1).repeat(1, offset.shape[1] // 2, 1, 1)
        return safe_deform_conv2d(x, offset, self.weight, self.bias, mask)


class FeaturePropagation(nn.Module):
    """Learnable bidirectional propagation of the local frames' BxTxCxhxw features."""

    def __init__(self, channel: int = 128) -> None:
        super().__init__()
        self.deform_align = nn.ModuleDict()
        self.backbone = nn.ModuleDict()
        for name in ("backward_1", "forward_1"):
            self.deform_align[name] = FlowGuidedAlignment(channel)
            self.backbone[name] = nn.Sequential(
                nn.Conv2d(2 * channel + 2, channel, 3, 1, 1), _lrelu(), nn.Conv2d(channel, channel, 3, 1, 1)
            )
        self.fuse = nn.Sequential(nn.Conv2d(2 * channel + 2, channel, 3, 1, 1), _lrelu(), nn.Conv2d(channel, channel, 3, 1, 1))

    def _pass(self, name: str, feats: list[torch.Tensor], masks: list[torch.Tensor], flows_prop: torch.Tensor,
              flows_check: torch.Tensor, backward: bool) -> list[torch.Tensor]:
        t = len(feats)
        order = list(range(t - 1, -1, -1)) if backward else list(range(t))
        out: list[torch.Tensor | None] = [None] * t
        prop = None
        for step, idx in enumerate(order):
            cur, m = feats[idx], masks[idx]
            if step == 0:
                prop = cur
            else:
                k = idx if backward else idx - 1
                fp = flows_prop[:, k]
                valid = consistency_mask(fp, flows_check[:, k])
                warped = flow_warp(prop, fp)
                prop = self.deform_align[name](prop, torch.cat([cur, warped, fp, valid, m], dim=1), fp)
            prop = prop + self.backbone[name](torch.cat([cur, prop, m], dim=1))
            out[idx] = prop
        return out  # type: ignore[return-value]

    def forward(self, x: torch.Tensor, flows_f: torch.Tensor, flows_b: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """``x``: BxTxCxhxw; flows Bx(T-1)x2xhxw; ``masks``: BxTx2xhxw (original, updated)."""
        b, t, c, h, w = x.shape
        mlist = list(masks.unbind(1))
        back = self._pass("backward_1", list(x.unbind(1)), mlist, flows_f, flows_b, backward=True)
        fwd = self._pass("forward_1", back, mlist, flows_b, flows_f, backward=False)
        # The fusion is per frame: frame by frame, the inputs of all frames are never
        # concatenated at once.
        out = x.new_empty(b, t, c, h, w)
        for i in range(t):
            torch.add(self.fuse(torch.cat([back[i], fwd[i], mlist[i]], dim=1)), x[:, i], out=out[:, i])
        return out


class InpaintGenerator(nn.Module):
    """The ProPainter generator. See the module docstring for its parts."""

    frame_batch = 4  # frames through the per-frame parts (encoder, composition, decoder) at once

    def __init__(self, channel: int = 128, hidden: int = 512, depths: int = 8, heads: int = 4,
                 window: tuple[int, int] = (5, 9), pool: tuple[int, int] = (4, 4)) -> None:
        super().__init__()
        self.encoder = Encoder()
        self.decoder = nn.Sequential(
            Upconv(channel, 128), _lrelu(), nn.Conv2d(128, 64, 3, 1, 1), _lrelu(),
            Upconv(64, 64), _lrelu(), nn.Conv2d(64, 3, 3, 1, 1),
        )
        self.ss = SoftSplit(channel, hidden)
        self.sc = SoftComp(channel, hidden)
        self.feat_prop_module = FeaturePropagation(channel)
        self.transformers = TemporalSparseTransformerBlock(hidden, heads, window, pool, depths)

    @staticmethod
    def img_propagation(masked_frames: torch.Tensor, flows_f: torch.Tensor, flows_b: torch.Tensor, masks: torch.Tensor,
                        mode: str = "nearest") -> tuple[torch.Tensor, torch.Tensor]:
        return propagate_images(masked_frames, flows_f, flows_b, masks, mode)

    def encode(self, frames: torch.Tensor, masks_in: torch.Tensor, masks_updated: torch.Tensor) -> torch.Tensor:
        """Per-frame encoder features: Nx3xHxW, Nx1xHxW, Nx1xHxW -> Nx128xH/4xW/4.

        They depend on the frame alone, so a caller may compute them once per frame and pass
        them to :meth:`forward` for every window that uses the frame.
        """
        x = torch.cat([frames, masks_in, masks_updated], dim=1)
        # A few frames at a time: the half-resolution activations are the generator's largest.
        return torch.cat([self.encoder(x[i : i + self.frame_batch]) for i in range(0, len(x), self.frame_batch)])

    def forward(self, frames: torch.Tensor, flows_f: torch.Tensor, flows_b: torch.Tensor, masks_in: torch.Tensor,
                masks_updated: torch.Tensor, num_local_frames: int, t_dilation: int = 2,
                enc_feat: torch.Tensor | Sequence[torch.Tensor] | None = None, masked_only: bool = False,
                flows_at_feature_size: bool = False) -> torch.Tensor:
        """Predict the local frames of one window.

        ``frames``: BxTx3xHxW in [-1, 1] (image-propagated; local frames first, then the
        reference frames); ``flows_f``/``flows_b``: Bx(L-1)x2xHxW completed flows between the
        L = ``num_local_frames`` local frames; ``masks_in``/``masks_updated``: BxTx1xHxW.
        ``enc_feat``: the frames' :meth:`encode` features (BxTx128xH/4xW/4, or a sequence of T
        Bx128xH/4xW/4 tensors, one per frame: a caller holding them per frame need not stack
        them), if already known.
        ``flows_at_feature_size``: the flows are already :meth:`feature_flows` (Bx(L-1)x2xH/4xW/4).
        Returns BxLx3xHxW in [-1, 1].
        """
        l_t = num_local_frames
        b, t, _, H, W = frames.shape
        if H % 8 or W % 8:
            raise InputError(f"the generator needs sides that are multiples of 8, got {W}x{H}")
        if not 1 <= l_t <= t or flows_f.shape[1] != l_t - 1:
            raise InputError(f"window of {t} frames with {l_t} local frames needs {l_t - 1} flows, got {flows_f.shape[1]}")
        if enc_feat is None:
            enc_feat = self.encode(frames.reshape(b * t, 3, H, W), masks_in.reshape(b * t, 1, H, W),
                                   masks_updated.reshape(b * t, 1, H, W))
        c, h, w = enc_feat[0].shape[-3:]
        if isinstance(enc_feat, torch.Tensor):
            stacked = enc_feat.reshape(b, t, c, h, w)

            def encoded(lo: int, hi: int) -> torch.Tensor:  # BxNxCxhxw, frames [lo, hi) as encoded
                return stacked[:, lo:hi]
        else:
            per_frame = list(enc_feat)

            def encoded(lo: int, hi: int) -> torch.Tensor:
                return torch.stack(per_frame[lo:hi], dim=1)

        local_feat = encoded(0, l_t)

        def down_flow(f: torch.Tensor) -> torch.Tensor:
            return (f if flows_at_feature_size else self.feature_flows(f.reshape(-1, 2, H, W))).reshape(b, l_t - 1, 2, h, w)

        ds_mask_local = F.interpolate(masks_in[:, :l_t].reshape(-1, 1, H, W), scale_factor=0.25, mode="nearest").view(b, l_t, 1, h, w)
        ds_upd_local = F.interpolate(masks_updated[:, :l_t].reshape(-1, 1, H, W), scale_factor=0.25, mode="nearest").view(b, l_t, 1, h, w)
        mask_pool = F.max_pool2d(ds_mask_local.view(-1, 1, h, w), 7, 3, 3)
        mask_pool = mask_pool.view(b, l_t, 1, *mask_pool.shape[-2:]).permute(0, 1, 3, 4, 2)

        local_feat = self.feat_prop_module(local_feat, down_flow(flows_f), down_flow(flows_b),
                                           torch.cat([ds_mask_local, ds_upd_local], dim=2))
        fb = self.frame_batch

        def window_feats(lo: int, hi: int) -> torch.Tensor:
            """Features of the window's frames [lo, hi): the local ones propagated, the
            reference ones as encoded (the whole window's are never concatenated)."""
            hi = min(hi, t)
            parts = [local_feat[:, lo:hi]] if lo < l_t else []
            if hi > l_t:
                parts.append(encoded(max(lo, l_t), hi))
            return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

        tokens = torch.cat([self.ss(window_feats(i, i + fb).reshape(-1, c, h, w), b, (h, w)) for i in range(0, t, fb)], dim=1)
        tokens = self.transformers(tokens, (h, w), mask_pool, t_dilation=t_dilation)
        # Soft composition and decoding are per frame, and only the local frames are output.
        if masked_only:
            frames_local = frames[:, :l_t].reshape(-1, 3, H, W)
            masks_local = masks_in[:, :l_t].reshape(-1, H, W)
            enc = local_feat.reshape(-1, c, h, w)
            tokens = tokens[:, :l_t].reshape(b * l_t, 1, *tokens.shape[2:])
            out = torch.cat([self._decode_masked(enc[i : i + 1], tokens[i : i + 1], masks_local[i], frames_local[i : i + 1])
                             for i in range(len(enc))])
            return out.view(b, l_t, 3, H, W)
        comp = torch.cat([self.sc(tokens[:, i : min(i + fb, l_t)], min(fb, l_t - i), (h, w)).view(b, -1, c, h, w)
                          for i in range(0, l_t, fb)], dim=1)
        enc = (local_feat + comp).reshape(-1, c, h, w)
        out = torch.cat([self.decode(enc[i : i + fb]) for i in range(0, len(enc), fb)])
        return torch.tanh(out).view(b, l_t, 3, H, W)

    @staticmethod
    def feature_flows(flows: torch.Tensor) -> torch.Tensor:
        """Nx2xHxW flows (pixels) -> Nx2xH/4xW/4 flows in feature pixels, as feature
        propagation takes them. Per frame: a caller may compute them once per frame."""
        return F.interpolate(flows, scale_factor=0.25, mode="bilinear", align_corners=False) / 4.0

    def decode(self, feat: torch.Tensor) -> torch.Tensor:
        """Nx128xhxw -> Nx3xHxW (before tanh), on channels-last activations (faster CPU convs)."""
        return self.decoder(feat.contiguous(memory_format=torch.channels_last)).contiguous()

    def _decode_masked(self, enc: torch.Tensor, tokens: torch.Tensor, mask: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        """Compose and decode one frame only around its mask; elsewhere return the frame.

        ``enc``: 1x128xhxw features, ``tokens``: its 1x1xfhxfwxD transformer tokens,
        ``mask``: HxW, ``frame``: 1x3xHxW. The soft composition and the decoder see a few
        feature pixels around each output pixel, so each box of the mask is composed and
        decoded from a crop with a margin. The decoder's upsampling uses
        ``align_corners=True``, whose sampling positions depend on the whole map's size, so
        a crop is upsampled at the positions the whole map would use (:func:`_upsample_crop`).
        """
        h, w = enc.shape[-2:]
        boxes = decode_boxes(mask, (h, w), DECODE_MARGIN)
        if boxes is None:
            return torch.tanh(self.decode(enc + self.sc(tokens, 1, (h, w))))
        out = frame.clone()
        for box in boxes:
            y0, y1, x0, x1 = box
            x = enc[:, :, y0:y1, x0:x1] + self.sc.region(tokens[0, 0], box, (h, w))
            origin, full = (y0, x0), (h, w)
            for layer in self.decoder:  # the decoder's own layers, its upsamplings crop-aware
                if isinstance(layer, Upconv):
                    x = layer.conv(_upsample_crop(x, origin, full))
                    origin, full = (2 * origin[0], 2 * origin[1]), (2 * full[0], 2 * full[1])
                else:
                    x = layer(x)
            scale = full[0] // h
            out[:, :, scale * y0 : scale * y1, scale * x0 : scale * x1] = torch.tanh(x)
        return out


#: feature pixels composed and decoded around the mask (the decoder reaches under 3,
#: the composition's 3x3 conv 1 more)
DECODE_MARGIN = 5


def decode_boxes(mask: torch.Tensor, size: tuple[int, int], margin: int, max_fraction: float = 0.6
                 ) -> list[tuple[int, int, int, int]] | None:
    """Boxes (y0, y1, x0, x1) of an hxw feature map covering the HxW ``mask`` plus ``margin``
    feature pixels; overlapping boxes are merged. None when they would cover more than
    ``max_fraction`` of the map (decoding the whole map is then as cheap)."""
    h, w = size
    kh, kw = mask.shape[-2] // h, mask.shape[-1] // w
    occ = F.max_pool2d(mask.float().view(1, 1, *mask.shape[-2:]), (kh, kw), (kh, kw))[0, 0] > 0
    if not bool(occ.any()):
        return []
    k = 2 * margin + 1
    grown = F.max_pool2d(occ.float()[None, None], k, 1, margin)[0, 0] > 0
    _, _, stats, _ = cv2.connectedComponentsWithStats(grown.to(torch.uint8).cpu().numpy(), connectivity=8)
    boxes = [(int(y), int(y + hh), int(x), int(x + ww)) for x, y, ww, hh, _ in stats[1:]]
    merged = True
    while merged:  # boxes of separate blobs may still overlap
        merged = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                a, bb = boxes[i], boxes[j]
                if a[0] < bb[1] and bb[0] < a[1] and a[2] < bb[3] and bb[2] < a[3]:
                    boxes[i] = (min(a[0], bb[0]), max(a[1], bb[1]), min(a[2], bb[2]), max(a[3], bb[3]))
                    del boxes[j]
                    merged = True
                    break
            if merged:
                break
    if sum((y1 - y0) * (x1 - x0) for y0, y1, x0, x1 in boxes) > max_fraction * h * w:
        return None
    return boxes


def _upsample_crop(x: torch.Tensor, origin: tuple[int, int], full: tuple[int, int]) -> torch.Tensor:
    """2x bilinear ``align_corners=True`` upsampling of a crop of a larger map.

    ``x``: NxCxhcxwc, the crop of a ``full``-sized (h, w) map at ``origin`` (y, x). Returns
    the 2hcx2wc crop at ``2 * origin`` of the whole map's upsampling. Positions whose source
    lies past the crop's edge take the crop's edge: only the margin sees them.
    """
    for dim, o, n in ((2, origin[0], full[0]), (3, origin[1], full[1])):
        m = x.shape[dim]
        src = torch.arange(2 * o, 2 * (o + m), device=x.device, dtype=torch.float32) * ((n - 1) / (2 * n - 1))
        i0 = src.floor()
        shape = [1, 1, 1, 1]
        shape[dim] = -1
        lam = (src - i0).to(x.dtype).view(shape)
        i0 = i0.long()
        lo = (i0 - o).clamp(0, m - 1)
        hi = (torch.clamp(i0 + 1, max=n - 1) - o).clamp(0, m - 1)
        x = x.index_select(dim, lo) * (1 - lam) + x.index_select(dim, hi) * lam
    return x
