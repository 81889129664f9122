"""The authors' chunk grid for one clip, computed up front.

Everything here depends only on the clip length and the options, so a streamed run and a
whole-clip run cut the clip at the same places and produce the same frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field

IMG_PROP_MAX = 100  # image propagation sub-videos are min(100, subvideo_length) long
FC_PAD = 5  # frames of context on each side of a flow-completion sub-video
IP_PAD = 10  # frames of context on each side of an image-propagation sub-video


@dataclass(frozen=True)
class Chunk:
    """Compute on ``[start, stop)`` (with context), keep ``[keep_start, keep_stop)``."""

    start: int
    stop: int
    keep_start: int
    keep_stop: int


@dataclass(frozen=True)
class Window:
    """One transformer window: its start frame, local (neighbour) and reference frames."""

    f: int
    neighbors: tuple[int, ...]
    refs: tuple[int, ...]

    @property
    def ids(self) -> list[int]:
        return list(self.neighbors) + list(self.refs)


def reference_ids(f: int, neighbors: tuple[int, ...], length: int, ref_stride: int, ref_num: int) -> list[int]:
    """Reference frames of the window at ``f`` (see the parity README, "Reference frames")."""
    refs: list[int] = []
    if ref_num == -1:
        return [i for i in range(0, length, ref_stride) if i not in neighbors]
    half = ref_stride * (ref_num // 2)
    for i in range(max(0, f - half), min(length, f + half), ref_stride):
        if i in neighbors:
            continue
        if len(refs) > ref_num:
            break
        refs.append(i)
    return refs


def _chunks(n: int, length: int, pad: int) -> list[Chunk]:
    if n <= length:
        return [Chunk(0, n, 0, n)]
    out = []
    for f in range(0, n, length):
        out.append(Chunk(max(0, f - pad), min(n, f + length + pad), f, min(n, f + length)))
    return out


@dataclass(frozen=True)
class ClipPlan:
    num_frames: int
    subvideo_length: int
    neighbor_length: int
    ref_stride: int
    raft_clip: int
    raft_clips: list[Chunk] = field(repr=False)
    fc_chunks: list[Chunk] = field(repr=False)
    ip_chunks: list[Chunk] = field(repr=False)
    windows: list[Window] = field(repr=False)
    ref_num: int = -1

    @property
    def neighbor_stride(self) -> int:
        return self.neighbor_length // 2

    @property
    def ip_length(self) -> int:
        return min(IMG_PROP_MAX, self.subvideo_length)

    @classmethod
    def build(cls, num_frames: int, subvideo_length: int, neighbor_length: int, ref_stride: int, raft_clip: int) -> "ClipPlan":
        t = num_frames
        # RAFT: clips of raft_clip frames; each later clip starts one frame early so that no
        # flow is lost. Chunk(start, stop) here counts frames; the flows kept are [start, stop-1).
        if t > raft_clip:
            raft = [Chunk(f - (f > 0), min(t, f + raft_clip), f - (f > 0), min(t, f + raft_clip) - 1) for f in range(0, t, raft_clip)]
        else:
            raft = [Chunk(0, t, 0, t - 1)]
        fc = _chunks(t - 1, subvideo_length, FC_PAD)
        ip = _chunks(t, min(IMG_PROP_MAX, subvideo_length), IP_PAD)
        s = neighbor_length // 2
        ref_num = subvideo_length // ref_stride if t > subvideo_length else -1
        windows = []
        for f in range(0, t, s):
            nb = tuple(range(max(0, f - s), min(t, f + s + 1)))
            windows.append(Window(f, nb, tuple(reference_ids(f, nb, t, ref_stride, ref_num))))
        return cls(t, subvideo_length, neighbor_length, ref_stride, raft_clip, raft, fc, ip, windows, ref_num)
