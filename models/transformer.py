"""Mask-guided sparse video transformer (ProPainter, section 3.3).

Tokens are 7x7 soft-split patches (stride 3) of the 1/4-resolution features. Attention is
windowed (5x9 tokens). A window that the (local) mask does not touch attends only within
itself, frame by frame; a window touched by the mask attends across time (every other
frame: the temporal dilation alternates even/odd frames from layer to layer) to its own
tokens, to the tokens of the four diagonally rolled neighbouring windows (their outer
quarter, 148 tokens) and to 4x4-pooled global tokens. The feed-forward network is the
soft-split-aware "fusion" FFN. Module and buffer names match ``ProPainter.pth``.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .device import trim_heap_on_cpu

T2T = dict(kernel_size=(7, 7), stride=(3, 3), padding=(3, 3))


def token_grid(size: tuple[int, int]) -> tuple[int, int]:
    """Token grid of a feature map of ``size`` (h, w) under the 7/3/3 soft split."""
    k, s, p = T2T["kernel_size"], T2T["stride"], T2T["padding"]
    return tuple(int((size[i] + 2 * p[i] - (k[i] - 1) - 1) / s[i] + 1) for i in range(2))  # type: ignore[return-value]


class SoftSplit(nn.Module):
    """(B*T)xCxhxw features -> BxTxfhxfwxD tokens (overlapping 7x7 patches, linear embedding)."""

    def __init__(self, channel: int, hidden: int) -> None:
        super().__init__()
        self.embedding = nn.Linear(channel * 49, hidden)

    def forward(self, x: torch.Tensor, b: int, size: tuple[int, int]) -> torch.Tensor:
        fh, fw = token_grid(size)
        e = self.embedding
        feat = F.unfold(x, **T2T)  # N x C*49 x tokens
        # The linear on the transposed patches, without copying them (bitwise the same).
        feat = torch.bmm(feat.transpose(1, 2), e.weight.t().expand(len(feat), -1, -1)).add_(e.bias)
        return feat.view(b, -1, fh, fw, e.out_features)


class SoftComp(nn.Module):
    """Tokens -> (B*T)xCxhxw features (linear, fold of the overlapping patches, 3x3 conv)."""

    def __init__(self, channel: int, hidden: int) -> None:
        super().__init__()
        self.embedding = nn.Linear(hidden, channel * 49)
        self.bias_conv = nn.Conv2d(channel, channel, 3, 1, 1)

    def forward(self, x: torch.Tensor, t: int, size: tuple[int, int]) -> torch.Tensor:
        b = x.shape[0]
        e = self.embedding
        x = x.reshape(b * t, -1, x.shape[-1])
        # The linear straight into fold's (frames, C*49, tokens) layout (bitwise the same).
        feat = torch.baddbmm(e.bias.view(1, -1, 1), e.weight.expand(len(x), -1, -1), x.transpose(1, 2))
        return self.bias_conv(F.fold(feat, output_size=size, **T2T))

    def region(self, x: torch.Tensor, box: tuple[int, int, int, int], size: tuple[int, int]) -> torch.Tensor:
        """The ``forward`` of one frame's fhxfwxD tokens ``x`` on the feature pixels of ``box``
        (y0, y1, x0, x1) only: 1xCx(y1-y0)x(x1-x0), from the tokens whose patches reach it."""
        y0, y1, x0, x1 = box
        (k, _), (st, _), (p, _) = T2T["kernel_size"], T2T["stride"], T2T["padding"]
        # The 3x3 conv reads one pixel around the box; token i covers rows [st*i - p, st*i - p + k).
        ry0, ry1, rx0, rx1 = max(0, y0 - 1), min(size[0], y1 + 1), max(0, x0 - 1), min(size[1], x1 + 1)
        ti0, ti1 = max(0, (ry0 + p - k) // st + 1), min(x.shape[0], (ry1 + p - 1) // st + 1)
        tj0, tj1 = max(0, (rx0 + p - k) // st + 1), min(x.shape[1], (rx1 + p - 1) // st + 1)
        e = self.embedding
        sel = x[ti0:ti1, tj0:tj1].reshape(1, -1, x.shape[-1])
        feat = torch.baddbmm(e.bias.view(1, -1, 1), e.weight[None], sel.transpose(1, 2))
        nh, nw = ti1 - ti0, tj1 - tj0
        folded = F.fold(feat, output_size=(st * (nh - 1) + k, st * (nw - 1) + k), kernel_size=k, stride=st)
        oy, ox = st * ti0 - p, st * tj0 - p  # where the folded map starts in the feature map
        folded = folded[:, :, ry0 - oy : ry1 - oy, rx0 - ox : rx1 - ox]
        out = self.bias_conv(folded)
        return out[:, :, y0 - ry0 : y1 - ry0, x0 - rx0 : x1 - rx0]


class FusionFeedForward(nn.Module):
    """FFN whose hidden patches are folded back to the feature map (averaging overlaps) and
    re-split, so neighbouring tokens exchange information."""

    def __init__(self, dim: int, hidden_dim: int = 1960) -> None:
        super().__init__()
        self.fc1 = nn.Sequential(nn.Linear(dim, hidden_dim))
        self.fc2 = nn.Sequential(nn.GELU(), nn.Linear(hidden_dim, dim))

    #: frames whose hidden activations exist at once (they are 1960-wide: 100 MB for the
    #: 18 frames of a 432x240 window, three times over); every step is per frame, so the
    #: result does not depend on it
    frames_at_once = 2

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        fh, fw = token_grid(size)
        n_vecs = fh * fw
        b, n, c = x.shape
        frames = b * n // n_vecs
        x = x.view(frames, n_vecs, c)
        out = x.new_empty(frames, n_vecs, c)
        normalizer = F.fold(x.new_ones(1, 49, n_vecs), output_size=size, **T2T)
        for i in range(0, frames, self.frames_at_once):
            self._frames(x[i : i + self.frames_at_once], size, normalizer, out[i : i + self.frames_at_once])
        return out.view(b, n, c)

    def _frames(self, x: torch.Tensor, size: tuple[int, int], normalizer: torch.Tensor, out: torch.Tensor) -> None:
        fc1, fc2 = self.fc1[0], self.fc2[1]
        f = len(x)
        # fc1 straight into fold's (frames, hidden, tokens) layout and fc2 straight from
        # unfold's: the products of the row-major linears (bitwise on the CPU), without the
        # two transposed copies of the hidden activations.
        h = torch.baddbmm(fc1.bias.view(1, -1, 1), fc1.weight.expand(f, -1, -1), x.transpose(1, 2))
        folded = F.fold(h, output_size=size, **T2T)
        del h
        h = self.fc2[0](F.unfold(folded.div_(normalizer), **T2T))  # GELU
        del folded
        if not torch.is_autocast_enabled(out.device.type):
            torch.baddbmm(fc2.bias, h.transpose(1, 2), fc2.weight.t().expand(f, -1, -1), out=out)
        else:  # under autocast (bf16 on the CPU): out= cannot mix dtypes; the product in bf16, kept in out's
            out.copy_(torch.baddbmm(fc2.bias, h.transpose(1, 2), fc2.weight.t().expand(f, -1, -1)))


def _rolled_index(win: tuple[int, int]) -> torch.Tensor:
    eh, ew = (win[0] + 1) // 2, (win[1] + 1) // 2
    masks = []
    for rows, cols in ((slice(None, -eh), slice(None, -ew)), (slice(None, -eh), slice(ew, None)),
                       (slice(eh, None), slice(None, -ew)), (slice(eh, None), slice(ew, None))):
        m = torch.ones(win)
        m[rows, cols] = 0
        masks.append(m)
    return torch.stack(masks).flatten().nonzero().view(-1)


class SparseWindowAttention(nn.Module):
    #: frames of the windows the mask does not touch attended at once
    frames_at_once = 3

    def __init__(self, dim: int, heads: int, window: tuple[int, int] = (5, 9), pool: tuple[int, int] = (4, 4)) -> None:
        super().__init__()
        self.key = nn.Linear(dim, dim)
        self.query = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.heads = heads
        self.window = window
        self.expand = ((window[0] + 1) // 2, (window[1] + 1) // 2)
        self.pool_layer = nn.Conv2d(dim, dim, pool, stride=pool, groups=dim)
        self.register_buffer("valid_ind_rolled", _rolled_index(window))

    def _token_index(self, nh: int, nw: int, device: torch.device) -> torch.Tensor:
        """Per window, where its keys sit in the flattened nh x nw token map: its own
        wh*ww tokens, then the kept tokens of the four diagonally rolled maps (the order of
        ``torch.roll`` + window partition + ``valid_ind_rolled``). (nwin)x(wh*ww + 148)."""
        key = (nh, nw, device)
        cached = getattr(self, "_index_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        wh, ww = self.window
        eh, ew = self.expand
        r = torch.arange(wh, device=device).view(wh, 1)
        c = torch.arange(ww, device=device).view(1, ww)
        y = (torch.arange(0, nh, wh, device=device).view(-1, 1, 1, 1) + r).expand(-1, nw // ww, wh, ww)
        x = (torch.arange(0, nw, ww, device=device).view(1, -1, 1, 1) + c).expand(nh // wh, -1, wh, ww)
        y, x = y.reshape(-1, wh * ww), x.reshape(-1, wh * ww)
        # torch.roll(src, (sy, sx))[y, x] == src[(y - sy) % nh, (x - sx) % nw]
        rolled = torch.cat([((y - sy) % nh) * nw + (x - sx) % nw
                            for sy, sx in ((-eh, -ew), (-eh, ew), (eh, -ew), (eh, ew))], dim=1)
        index = torch.cat((y * nw + x, rolled[:, self.valid_ind_rolled.to(device)]), dim=1)
        self._index_cache = (key, index)
        return index

    def forward(self, x: torch.Tensor, mask: torch.Tensor, t_index: torch.Tensor) -> torch.Tensor:
        """``x``: BxTxHxWxC tokens; ``mask``: BxLxHxWx1 pooled local masks; ``t_index``: frames
        the masked windows attend to."""
        b, t, h, w, c = x.shape
        wh, ww = self.window
        nwh, nww = math.ceil(h / wh), math.ceil(w / ww)
        nh, nw = nwh * wh, nww * ww
        if nh != h or nw != w:
            x = F.pad(x, (0, 0, 0, nw - w, 0, nh - h))
            mask = F.pad(mask, (0, 0, 0, nw - w, 0, nh - h))
        heads = self.heads
        ch = c // heads
        nwin, n, nk = nwh * nww, nh * nw, wh * ww
        q, k, v = self.query(x), self.key(x), self.value(x)

        # Which windows does the mask touch (in any local frame)?
        l = mask.shape[1]
        touched = F.max_pool2d(mask.view(b * l, nh, nw), self.window, self.window).view(b, l, nwin).sum(1)

        pooled = self.pool_layer(x.view(b * t, nh, nw, c).permute(0, 3, 1, 2))
        ph, pw = pooled.shape[-2:]
        npool = ph * pw
        pooled = pooled.permute(0, 2, 3, 1).reshape(b, t, npool, c)

        # Tokens are gathered straight from the flattened maps (rows of c = heads x ch values)
        # instead of rolling and partitioning whole maps: a window's keys are its own tokens,
        # the rolled neighbours' kept tokens and the pooled tokens, frame by frame.
        index = self._token_index(nh, nw, x.device)  # nwin x (nk + 148)
        own = index[:, :nk]
        frames = torch.arange(t, device=x.device)
        out = torch.empty(b, t * n, c, dtype=q.dtype, device=q.device)
        scale = 1.0 / math.sqrt(ch)
        for bi in range(b):
            qb, kb, vb = q[bi].view(t * n, c), k[bi].view(t * n, c), v[bi].view(t * n, c)
            sel = touched[bi].nonzero().view(-1)
            if len(sel):
                ns, nt = len(sel), len(t_index)
                # Per window and attended frame: the rows of its map keys (own and rolled
                # neighbours'), then of that frame's pooled tokens.
                map_rows = (index[sel].unsqueeze(1) + (t_index * n).view(1, -1, 1)).view(-1)
                pool_rows = (t_index.view(-1, 1) * npool + torch.arange(npool, device=x.device).view(1, -1)).view(-1)
                q_rows = (own[sel].unsqueeze(1) + (frames * n).view(1, -1, 1)).view(-1)

                def keys(src: torch.Tensor, pool: torch.Tensor) -> torch.Tensor:  # -> ns x (nt * keys) x c
                    pooled_keys = pool.view(t * npool, c).index_select(0, pool_rows).view(1, nt, npool, c)
                    return torch.cat((src.index_select(0, map_rows).view(ns, nt, -1, c),
                                      pooled_keys.expand(ns, -1, -1, -1)), dim=2).view(ns, -1, c)

                kt = keys(kb, self.key(pooled[bi]))
                vt = keys(vb, self.value(pooled[bi]))
                qt = qb.index_select(0, q_rows)
                # Fused attention: the (t*45) x (keys) matrix of every masked window is never
                # held at once (it is the largest tensor of the generator otherwise).
                att_out = F.scaled_dot_product_attention(
                    qt.view(ns, t * nk, heads, ch).transpose(1, 2), kt.view(ns, -1, heads, ch).transpose(1, 2),
                    vt.view(ns, -1, heads, ch).transpose(1, 2), scale=scale)
                out[bi].index_copy_(0, q_rows, att_out.transpose(1, 2).reshape(-1, c))
                del kt, vt, qt, att_out
            rest = (touched[bi] == 0).nonzero().view(-1)
            nr = len(rest)
            # Within the window, frame by frame (a few frames at a time: same numbers, and
            # the gathered copies of q, k and v stay small).
            for f0 in range(0, t if nr else 0, self.frames_at_once):
                fr = frames[f0 : f0 + self.frames_at_once]
                r_rows = (own[rest].unsqueeze(1) + (fr * n).view(1, -1, 1)).view(-1)

                def win(src: torch.Tensor) -> torch.Tensor:  # -> nr x heads x frames x nk x ch
                    return src.index_select(0, r_rows).view(nr, len(fr), nk, heads, ch).permute(0, 3, 1, 2, 4).contiguous()

                qs, ks, vs = win(qb), win(kb), win(vb)
                att = torch.softmax((qs @ ks.transpose(-2, -1)) * scale, dim=-1)
                out[bi].index_copy_(0, r_rows, (att @ vs).permute(0, 2, 3, 1, 4).reshape(-1, c))
                del qs, ks, vs, att
        del q, k, v, qb, kb, vb  # before the projection's output is made
        out = out.view(b, t, nh, nw, c)
        return self.proj(out[:, :, :h, :w])


class TemporalSparseTransformer(nn.Module):
    def __init__(self, dim: int, heads: int, window: tuple[int, int], pool: tuple[int, int]) -> None:
        super().__init__()
        self.attention = SparseWindowAttention(dim, heads, window, pool)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = FusionFeedForward(dim)

    def forward(self, x: torch.Tensor, size: tuple[int, int], mask: torch.Tensor, t_index: torch.Tensor) -> torch.Tensor:
        b, t, h, w, c = x.shape
        x = x + self.attention(self.norm1(x), mask, t_index)
        x = x + self.mlp(self.norm2(x).view(b, t * h * w, c), size).view(b, t, h, w, c)
        trim_heap_on_cpu(x)  # once a layer: more often costs more in page faults than it saves
        return x


class TemporalSparseTransformerBlock(nn.Module):
    def __init__(self, dim: int = 512, heads: int = 4, window: tuple[int, int] = (5, 9), pool: tuple[int, int] = (4, 4),
                 depths: int = 8) -> None:
        super().__init__()
        self.transformer = nn.Sequential(*[TemporalSparseTransformer(dim, heads, window, pool) for _ in range(depths)])

    def forward(self, x: torch.Tensor, size: tuple[int, int], mask: torch.Tensor, t_dilation: int = 2) -> torch.Tensor:
        t = x.shape[1]
        for i, layer in enumerate(self.transformer):
            x = layer(x, size, mask, torch.arange(i % t_dilation, t, t_dilation, device=x.device))
        return x
