"""The whole ProPainter algorithm over a clip, streamed.

Faithful to the authors' ``inference_propainter.py`` (resize, mask dilation, RAFT in short
clips, flow completion and image propagation in padded sub-videos, windows of neighbour +
reference frames through the generator, composition with truncation and 0.5/0.5 running
averages), but every stage is computed lazily, on the authors' global chunk grid
(:mod:`models.plan`), and dropped as soon as no later window needs it. Frames and masks are
pulled from iterators as they are needed and finished frames are yielded in order, so the
memory held depends on the sub-video length, not on the clip length.

Speed-ups that do not change the result: encoder features of a frame are computed once and
shared by every window that uses the frame (they depend on the frame alone), RAFT features
of each frame are shared by its forward and backward flows, image propagation reads each
completed flow on the hole pixels only (:class:`models.propagation.StepFlow`, made once per
flow), and everything runs in ``torch.inference_mode``.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

import cv2
import numpy as np
import torch

from .config import ProPainterConfig
from .device import autocast_dtype, run_split, trim_heap
from .errors import Cancelled, InputError
from .events import Event, FramesReady, Progress, Sample, samples_of
from .flow_completion import RecurrentFlowCompleteNet
from .plan import ClipPlan
from .processor import FrameGeometry, ProPainterImageProcessor, dilate, resize_mask, to_binary_mask, to_uint8_frame
from .propagation import StepFlow, propagate_frames
from .propainter import InpaintGenerator
from .raft import RAFT, autocast, flow_pairs


@dataclass
class StageTimes:
    """Seconds spent per stage (for benchmarks and ETA)."""

    load: float = 0.0
    raft: float = 0.0
    flow_completion: float = 0.0
    propagation: float = 0.0
    transformer: float = 0.0
    compose: float = 0.0


class _Store:
    """Per-frame values with an index-based low-water mark."""

    def __init__(self) -> None:
        self.items: dict[int, Any] = {}

    def __contains__(self, i: int) -> bool:
        return i in self.items

    def __getitem__(self, i: int) -> Any:
        return self.items[i]

    def __setitem__(self, i: int, v: Any) -> None:
        self.items[i] = v

    def drop_below(self, low: int) -> None:
        self.drop_where(lambda k: k < low)

    def drop_where(self, dead: Callable[[int], bool]) -> None:
        for k in [k for k in self.items if dead(k)]:
            del self.items[k]


class _FrameStore(_Store):
    """uint8 frames, held losslessly compressed (PNG in memory, fastest level), with the most
    recently used ones also held decoded.

    A long clip reads up to two sub-videos ahead of its output (RAFT and flow completion run
    ahead of the windows), and those frames are only read back later; compressed, they take
    about half the memory (at 1280x720 with the defaults, about 0.35 instead of 0.7 GB). A
    frame read back is the frame put in, bit for bit. It costs about 5 ms to store and 2 ms
    to decode a 432x240 frame, next to seconds of compute per frame on a CPU; the windows and
    the image propagation passes read nearby frames again and again, which the decoded ones
    serve. On a GPU, where host memory is not the working memory and a frame takes a
    fraction of a second, the pipeline holds them as they are, in a plain :class:`_Store`.
    """

    def __init__(self, decoded: int = 24) -> None:
        super().__init__()
        self.decoded = decoded
        self.cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.decodes = 0  # how many times a frame was decoded (tests look at it)

    def __setitem__(self, i: int, v: np.ndarray) -> None:
        ok, buf = cv2.imencode(".png", np.ascontiguousarray(v), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:  # pragma: no cover - only if the codec itself failed
            raise RuntimeError(f"could not hold frame {i} compressed")
        self.items[i] = buf
        self._remember(i, v)

    def __getitem__(self, i: int) -> np.ndarray:
        v = self.cache.get(i)
        if v is not None:
            self.cache.move_to_end(i)
            return v
        self.decodes += 1
        return self._remember(i, cv2.imdecode(self.items[i], cv2.IMREAD_UNCHANGED))

    def _remember(self, i: int, v: np.ndarray) -> np.ndarray:
        v = v.view()
        v.setflags(write=False)  # shared by every reader: nobody may change it
        self.cache[i] = v
        self.cache.move_to_end(i)
        while len(self.cache) > self.decoded:
            self.cache.popitem(last=False)
        return v

    def drop_where(self, dead: Callable[[int], bool]) -> None:
        super().drop_where(dead)
        for k in [k for k in self.cache if dead(k)]:
            del self.cache[k]


class _Source:
    """Pulls frames and masks from the caller's iterators as stages need them."""

    def __init__(self, samples: Iterator[Sample], num_frames: int,
                 processor: ProPainterImageProcessor, device: torch.device, dtype: torch.dtype) -> None:
        self.samples = samples
        self.num_frames = num_frames
        self.processor = processor
        self.device, self.dtype = device, dtype
        self.loaded = 0
        self.geom: FrameGeometry | None = None
        # Held compactly on the host (uint8 frames, compressed losslessly on a CPU; masks
        # packed 8 pixels to the byte): the float tensors the networks take are made on use,
        # bit-for-bit the same as converting once. Frames are held from the first not yet
        # output (an out-of-memory retry starts there) to the furthest look-ahead: over two
        # sub-videos.
        # HxWx3 uint8 at the processing size
        self.ori: _Store = _FrameStore() if device.type == "cpu" else _Store()
        self.flow_mask = _Store()  # packed HxW bits
        self.mask = _Store()  # packed HxW bits (dilated)
        self.seconds = 0.0

    def ensure(self, upto: int) -> None:
        """Load frames up to index ``upto`` inclusive."""
        t0 = time.perf_counter()
        while self.loaded <= upto:
            i = self.loaded
            try:
                frame, mask, flow_mask = next(self.samples)
            except StopIteration:
                raise InputError(f"the clip ended after {i} frames but {self.num_frames} were announced") from None
            frame = to_uint8_frame(frame, f"frame {i}")
            if self.geom is None:
                self.geom = self.processor.geometry(frame.shape[1], frame.shape[0])
            ori = self.processor.prepare_frame(frame, self.geom)
            if flow_mask is not None:
                # Explicit masks (e.g. an outpainting canvas): used as given, not dilated.
                md = resize_mask(to_binary_mask(mask, f"mask {i}"), self.geom.proc_size)
                fm = resize_mask(to_binary_mask(flow_mask, f"flow mask {i}"), self.geom.proc_size)
            else:
                fm, md = self.processor.prepare_mask(mask, self.geom)
            self.ori[i] = ori
            self.flow_mask[i] = np.packbits(fm > 0)
            self.mask[i] = np.packbits(md > 0)
            self.loaded += 1
        self.seconds += time.perf_counter() - t0

    def frames(self, ids: Iterable[int]) -> torch.Tensor:
        """Nx3xHxW float32 in [-1, 1] on the device."""
        x = torch.from_numpy(np.stack([self.ori[i] for i in ids])).to(self.device)
        return x.permute(0, 3, 1, 2).float() / 255 * 2 - 1

    def mask_array(self, i: int, flow: bool = False) -> np.ndarray:
        """HxW uint8 0/1 mask of frame i (dilated, or the flow mask)."""
        assert self.geom is not None
        w, h = self.geom.proc_size
        return np.unpackbits((self.flow_mask if flow else self.mask)[i], count=h * w).reshape(h, w)

    def masks(self, ids: Iterable[int], dtype: torch.dtype, flow: bool = False) -> torch.Tensor:
        """Nx1xHxW 0/1 masks (dilated, or the flow masks) as ``dtype`` on the device."""
        x = torch.from_numpy(np.stack([self.mask_array(i, flow) for i in ids]))[:, None]
        return x.to(self.device).to(dtype)

    def drop_below(self, low: int) -> None:
        for s in (self.ori, self.flow_mask, self.mask):
            s.drop_below(low)


class ProPainterPipeline:
    """Runs ProPainter over clips with three loaded networks.

    ``half``: run flow completion, propagation and the generator in float16 (RAFT stays in
    float32), as the authors do with ``--fp16``. ``precision`` (a resolved one: "fp32",
    "fp16" or "bf16"; None = from ``half``) says the same and more: "bf16" keeps the weights
    and the data in fp32 and runs RAFT's encoders and update block, flow completion's spatial
    and decoder convolutions and the generator in bfloat16 (the correlation volume,
    coordinates, accumulated flows, flow completion's temporal and deformable convolutions
    and its output, image propagation and composition stay fp32). The precision is taken as
    given here; :func:`models.device.resolve_precision` chooses it for a device.
    """

    def __init__(self, raft: RAFT, flow_completion: RecurrentFlowCompleteNet, generator: InpaintGenerator,
                 config: ProPainterConfig | None = None, device: torch.device | str = "cpu", half: bool = False,
                 precision: str | None = None) -> None:
        self.config = config or ProPainterConfig()
        self.device = torch.device(device)
        if precision is None:
            precision = "fp16" if half else "fp32"
        if precision not in ("fp32", "fp16", "bf16"):
            raise InputError(f"precision must be fp32, fp16 or bf16, got {precision!r}")
        self.precision = precision
        self.half = precision == "fp16"
        self.dtype = torch.float16 if self.half else torch.float32
        #: the dtype the fast stages run in under autocast (None: no autocast)
        self.fast = autocast_dtype(precision)
        self.raft = raft.to(self.device).eval()
        self.flow_completion = flow_completion.to(self.device, self.dtype).eval()
        self.generator = generator.to(self.device, self.dtype).eval()
        self.processor = ProPainterImageProcessor(self.config)
        self.times = StageTimes()
        #: when a dict, completed flows are stored in it by frame index: {i: (fwd, bwd)}
        self.collected_flows: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = None
        #: the frame source of the last run (tests look at how many frames it holds)
        self.last_source: _Source | None = None
        #: on a CPU with several threads, compute two transformer windows at once, each with
        #: half the threads: the same frames, about 7 % faster windows on 2 cores, but the
        #: two windows' working memory adds up (peak RSS 1779 -> 2355 MiB for 100 frames at
        #: 432x240), so it is off by default
        self.concurrent_windows = False

    # ------------------------------------------------------------------ public
    def stream(self, frames: Iterable[Any], masks: Iterable[Any] | None, num_frames: int,
               cancel: Callable[[], bool] | None = None, flow_masks: Iterable[Any] | None = None) -> Iterator[Event]:
        """Yield :class:`Progress` and :class:`FramesReady` events; frames come out in order.

        ``frames``: HxWx3 uint8 RGB (or anything :func:`to_uint8_frame` takes); ``masks``:
        HxW, nonzero = hole (None for outpainting); ``num_frames``: their count. Output
        frames have the output size of :meth:`ProPainterConfig.processing_size` (the canvas
        when outpainting). A CUDA out-of-memory error halves ``subvideo_length`` and
        restarts at the first frame not yet yielded.
        """
        if masks is None and self.config.mode != "video_outpainting":
            raise InputError("inpainting needs masks: give one mask per frame")
        return self.stream_samples(samples_of(frames, masks, flow_masks), num_frames, cancel)

    def stream_pairs(self, pairs: Iterable[tuple[Any, Any]], num_frames: int, cancel: Callable[[], bool] | None = None,
                     flow_masks: Iterable[Any] | None = None) -> Iterator[Event]:
        """Like :meth:`stream`, with (frame, mask) pairs."""
        flows = iter(flow_masks) if flow_masks is not None else None
        samples = (Sample(f, m, None if flows is None else next(flows)) for f, m in pairs)
        return self.stream_samples(samples, num_frames, cancel)

    def stream_samples(self, samples: Iterable[Sample], num_frames: int,
                       cancel: Callable[[], bool] | None = None) -> Iterator[Event]:
        """Like :meth:`stream`, with one stream of :class:`Sample` (frame, mask, flow mask)."""
        if num_frames < 1:
            raise InputError("the clip has no frames")
        self.times = StageTimes()
        source = _Source(iter(samples), num_frames, self.processor, self.device, self.dtype)
        self.last_source = source
        start, length = 0, self.config.subvideo_length
        retries = self.config.oom_retries
        while start < num_frames:
            try:
                for ev in self._run(source, start, num_frames, length, cancel):
                    if isinstance(ev, FramesReady):
                        start = ev.stop
                    yield ev
                return
            except Exception as exc:  # noqa: BLE001 - only OOM is handled, the rest re-raised
                from .device import is_out_of_memory

                if not is_out_of_memory(exc) or retries <= 0 or length <= 2:
                    raise
                retries -= 1
                length = max(2, length // 2)
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                yield Progress("out of memory", start, num_frames,
                               f"out of GPU memory: retrying from frame {start} with sub-video length {length}")

    def __call__(self, frames: Iterable[Any], masks: Iterable[Any] | None, num_frames: int | None = None,
                 **kwargs: Any) -> list[np.ndarray]:
        """Whole clip in, list of output frames out (convenience over :meth:`stream`)."""
        frames = list(frames)
        out: list[np.ndarray] = []
        for ev in self.stream(frames, masks, num_frames or len(frames), **kwargs):
            if isinstance(ev, FramesReady):
                out.extend(ev.frames)
        return out

    # ---------------------------------------------------------------- internals
    @torch.inference_mode()
    def _run(self, src: _Source, offset: int, stop: int, length: int, cancel: Callable[[], bool] | None) -> Iterator[Event]:
        """Process frames ``[offset, stop)`` as one clip of their own."""
        cfg = self.config
        t = stop - offset
        src.ensure(offset)
        geom = src.geom
        assert geom is not None
        pw, ph = geom.proc_size
        single = t == 1  # one frame: process it as a still two-frame clip
        n = 2 if single else t
        plan = ClipPlan.build(n, length, cfg.neighbor_length, cfg.ref_stride, cfg.raft_clip_length(pw))

        def g(i: int) -> int:  # local index -> source index
            return offset + min(i, t - 1)

        gt_f, gt_b, pred_f, pred_b = _Store(), _Store(), _Store(), _Store()
        # Completed flows as the rest uses them, made as soon as a flow-completion sub-video
        # is done: at the feature size (1/4) for the windows, on the holes for image
        # propagation (a StepFlow pair per flow); the full-size ones are let go of at once.
        # The next sub-video's flows are held from its completion (needed for this one's
        # padding) to its own propagation, one sub-video later.
        feat_f, feat_b, steps = _Store(), _Store(), _Store()
        # Image propagation's results, held as the values on the dilated mask's pixels (the
        # updated frame is the source elsewhere) and which of them are still holes.
        upd, enc_cache = _Store(), _Store()
        raft_next = fc_next = ip_next = 0

        def check_cancel() -> None:
            if cancel is not None and cancel():
                raise Cancelled("cancelled by the user; finished frames were kept")

        def ensure_raft(upto: int) -> None:  # flows up to index upto
            nonlocal raft_next
            while raft_next < len(plan.raft_clips) and upto >= plan.raft_clips[raft_next].keep_start:
                c = plan.raft_clips[raft_next]
                src.ensure(g(c.stop - 1))
                t0 = time.perf_counter()
                frames = src.frames([g(i) for i in range(c.start, c.stop)])
                ff, fb = flow_pairs(self.raft, frames, cfg.raft_iter, fast=self.fast)
                del frames
                for k in range(c.stop - c.start - 1):  # each flow owns its memory
                    gt_f[c.start + k], gt_b[c.start + k] = ff[k], fb[k]
                del ff, fb
                trim_heap()
                self.times.raft += time.perf_counter() - t0
                raft_next += 1
                yield_progress.append(Progress("optical flow", offset + min(c.stop, t), stop))

        def hole(i: int) -> torch.Tensor:  # HxW, the pixels image propagation may fill in frame i
            return torch.from_numpy(src.mask_array(g(i))).to(self.device)

        def ensure_fc(upto: int) -> None:
            nonlocal fc_next
            while fc_next < len(plan.fc_chunks) and upto >= plan.fc_chunks[fc_next].keep_start:
                c = plan.fc_chunks[fc_next]
                ensure_raft(c.stop - 1)
                t0 = time.perf_counter()
                # The flow masks as 0/1 bytes: the network takes them a frame at a time, and
                # products with them are the same as with float masks.
                fm = src.masks([g(i) for i in range(c.start, c.stop + 1)], torch.uint8, flow=True)[None]
                # One direction at a time; the stacked copy is the input: the store keeps only
                # the next chunk's overlap.
                low = plan.fc_chunks[fc_next + 1].start if fc_next + 1 < len(plan.fc_chunks) else n
                for gt, pred, m, backward in ((gt_f, pred_f, fm[:, :-1], False), (gt_b, pred_b, fm[:, 1:], True)):
                    x = torch.stack([gt[i] for i in range(c.start, c.stop)])[None].to(self.dtype)
                    gt.drop_below(low)
                    p = self.flow_completion.complete_one(x, m, backward, fast=self.fast)
                    del x
                    for i in range(c.keep_start, c.keep_stop):  # copies: a dropped frame frees its memory
                        pred[i] = p[0, i - c.start].clone()
                    del p
                    trim_heap()
                del fm
                # Full-size flows are not held past here: image propagation takes them on the
                # holes only (StepFlow), the windows at the feature size.
                for i in range(c.keep_start, c.keep_stop):
                    if self.collected_flows is not None and i < t - 1:
                        self.collected_flows[offset + i] = (pred_f[i].float().cpu(), pred_b[i].float().cpu())
                    if i in flow_use:
                        down = InpaintGenerator.feature_flows(torch.stack([pred_f[i], pred_b[i]]))
                        feat_f[i], feat_b[i] = down[0], down[1]
                    steps[i] = StepFlow.pair(pred_f.items.pop(i), pred_b.items.pop(i), hole(i), hole(i + 1))
                trim_heap()
                self.times.flow_completion += time.perf_counter() - t0
                fc_next += 1
                yield_progress.append(Progress("flow completion", offset + min(c.keep_stop + 1, t), stop))

        def ensure_ip(upto: int) -> None:
            nonlocal ip_next
            while ip_next < len(plan.ip_chunks) and upto >= plan.ip_chunks[ip_next].keep_start:
                c = plan.ip_chunks[ip_next]
                ensure_fc(c.stop - 2)
                t0 = time.perf_counter()

                def masked(i: int) -> tuple[torch.Tensor, torch.Tensor]:  # frame i with its hole zeroed, and the mask
                    m = src.masks([g(i)], self.dtype)
                    return src.frames([g(i)]).to(self.dtype) * (1 - m), m

                def keep(i: int, prop: torch.Tensor, still: torch.Tensor) -> None:
                    if c.keep_start <= c.start + i < c.keep_stop:
                        x, m = masked(c.start + i)
                        on = m[0, 0] > 0
                        upd[c.start + i] = (x + prop * m)[0][:, on], still[0, 0][on] > 0

                # Frame by frame, the frames asked for as the passes reach them.
                propagate_frames(c.stop - c.start, lambda i: masked(c.start + i), lambda k: steps[c.start + k], keep,
                                 "nearest")
                ip_next += 1
                # Steps before the next sub-video are not needed again.
                steps.drop_below(plan.ip_chunks[ip_next].start if ip_next < len(plan.ip_chunks) else n)
                trim_heap()
                self.times.propagation += time.perf_counter() - t0
                yield_progress.append(Progress("propagation", offset + min(c.keep_stop, t), stop))

        def updated(i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            """Frame i after image propagation (3xHxW), its mask and its updated mask (1xHxW)."""
            frame = src.frames([g(i)])[0].to(self.dtype)
            mask = src.masks([g(i)], self.dtype)[0]
            m = mask[0] > 0
            vals, holes = upd[i]
            frame[:, m] = vals  # outside the mask the propagated frame is the source, bit for bit
            mask_upd = torch.zeros_like(mask)
            mask_upd[0, m] = holes.to(self.dtype)
            return frame, mask, mask_upd

        def feature_flows(i: int) -> tuple[torch.Tensor, torch.Tensor]:
            """Frame i's completed flows at the feature size (made by flow completion)."""
            return feat_f[i], feat_b[i]

        # The last window that uses a frame's updated image and features (as a neighbour or a
        # reference), and its completed flows (neighbours only): held no longer than that.
        last_use: dict[int, int] = {}
        flow_use: dict[int, int] = {}
        for wi, win in enumerate(plan.windows):
            last_use.update(dict.fromkeys(win.ids, wi))
            flow_use.update(dict.fromkeys(win.neighbors[:-1], wi))
        yield_progress: list[Progress] = []
        comp: dict[int, np.ndarray] = {}
        emitted = 0
        s = plan.neighbor_stride
        workers = self._window_workers()
        preds: dict[int, torch.Tensor] = {}
        for wi, win in enumerate(plan.windows):
            if wi not in preds:
                # The next group of windows (a pair on a multi-core CPU), computed at once.
                check_cancel()
                group = plan.windows[wi : wi + workers]
                ensure_ip(max(i for w in group for i in w.ids))
                yield from yield_progress
                yield_progress.clear()
                t0 = time.perf_counter()
                for k, pred in enumerate(self._windows(group, updated, feature_flows, enc_cache)):
                    preds[wi + k] = pred
                trim_heap()
                self.times.transformer += time.perf_counter() - t0
            nb = list(win.neighbors)
            pred = preds.pop(wi)
            t0 = time.perf_counter()
            pred_u8 = ((pred.float() + 1) / 2).cpu().permute(0, 2, 3, 1).numpy() * 255
            for k, idx in enumerate(nb):
                m = src.mask_array(g(idx))[..., None]
                img = pred_u8[k].astype(np.uint8) * m + src.ori[g(idx)] * (1 - m)
                prev = comp.get(idx)
                comp[idx] = img if prev is None else (prev.astype(np.float32) * 0.5 + img.astype(np.float32) * 0.5).astype(np.uint8)
            del pred, pred_u8  # not held while the next windows are computed
            # Frames before the next window's first neighbour are final.
            nxt = plan.windows[wi + 1] if wi + 1 < len(plan.windows) else None
            final = min(nxt.neighbors) if nxt is not None else n
            ready = [self._finish(comp.pop(i), geom) for i in range(emitted, min(final, t))]
            self.times.compose += time.perf_counter() - t0
            if ready:
                yield Progress("inpainting", offset + emitted + len(ready), stop)
                yield FramesReady(offset + emitted, ready)
                emitted += len(ready)
            # Drop what no later window or chunk needs.
            if nxt is not None:
                for store in (upd, enc_cache):
                    store.drop_where(lambda k: last_use[k] <= wi)  # noqa: B023 - used at once
                ip_low = plan.ip_chunks[ip_next].start if ip_next < len(plan.ip_chunks) else n
                for store in (feat_f, feat_b):
                    store.drop_where(lambda k: flow_use[k] <= wi)  # noqa: B023
                low = min(min(nxt.ids), nxt.f - s, ip_low)
                if fc_next < len(plan.fc_chunks):
                    low = min(low, plan.fc_chunks[fc_next].start)
                if raft_next < len(plan.raft_clips):
                    low = min(low, plan.raft_clips[raft_next].start)
                src.drop_below(offset + min(low, emitted))
        src.drop_below(stop)
        self.times.load = src.seconds

    def _finish(self, comp: np.ndarray, geom: FrameGeometry) -> np.ndarray:
        if (comp.shape[1], comp.shape[0]) == geom.out_size:
            return comp
        return cv2.resize(comp, geom.out_size, interpolation=cv2.INTER_CUBIC)

    def _window_workers(self) -> int:
        """Windows computed at once: two with ``concurrent_windows`` on a CPU with several
        threads (each window's many small operations leave cores idle; two windows with half
        the threads each keep them busy, and give the same numbers), else one."""
        return 2 if self.device.type == "cpu" and self.concurrent_windows and torch.get_num_threads() >= 2 else 1

    def _windows(self, group: list[Any], updated: Callable[[int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
                 flows: Callable[[int], tuple[torch.Tensor, torch.Tensor]], enc_cache: _Store) -> list[torch.Tensor]:
        """Predictions of the local frames of each window in ``group`` (see :meth:`_window_inputs`)."""
        inputs = [self._window_inputs(w.ids, list(w.neighbors), updated, flows, enc_cache)
                  for w in group]
        return run_split([lambda args=args: self._generate(*args) for args in inputs], self.device)

    def _generate(self, frames: torch.Tensor, ff: torch.Tensor, fb: torch.Tensor, masks_in: torch.Tensor,
                  masks_upd: torch.Tensor, num_local: int, enc_feat: list[torch.Tensor]) -> torch.Tensor:
        # Only the masked pixels of the prediction are used (composition), so only they are decoded.
        with autocast(frames, self.fast):  # here: autocast is per thread, and windows may run in others
            pred = self.generator(frames, ff, fb, masks_in, masks_upd, num_local, enc_feat=enc_feat, masked_only=True,
                                  flows_at_feature_size=True)[0]
        return pred if self.fast is None else pred.float()

    def _window_inputs(self, ids: list[int], nb: list[int],
                       updated: Callable[[int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
                       flows: Callable[[int], tuple[torch.Tensor, torch.Tensor]], enc_cache: _Store) -> tuple:
        """The generator's inputs for one window; encoder features of frames not seen yet are
        computed here (once per frame)."""
        frames, masks_in, masks_upd = (torch.stack(x)[None] for x in zip(*(updated(i) for i in ids)))
        missing = [k for k, i in enumerate(ids) if i not in enc_cache]
        if missing:
            with autocast(frames, self.fast):
                enc = self.generator.encode(frames[0, missing], masks_in[0, missing], masks_upd[0, missing])
            for k, e in zip(missing, enc):  # copies: a dropped frame frees its memory
                enc_cache[ids[k]] = e.clone()
        enc_feat = [enc_cache[i][None] for i in ids]  # per frame: not stacked into a copy
        pairs = [flows(i) for i in nb[:-1]]
        h, w = enc_feat[0].shape[-2:]
        ff = torch.stack([p[0] for p in pairs])[None] if pairs else frames.new_zeros(1, 0, 2, h, w)
        fb = torch.stack([p[1] for p in pairs])[None] if pairs else ff
        return frames, ff, fb, masks_in, masks_upd, len(nb), enc_feat


class ProPainterEngine:
    """The ProPainter engine the job runner drives (see :class:`models.events.Engine`).

    Loads the three checkpoints from ``weights_dir`` (default: the weights cache) through
    :mod:`models.weights`, on ``config.device`` in ``config``'s precision (automatic: fp16 on
    CUDA, bf16 on a CPU with bf16 instructions, else fp32).
    Output frames have the input size; outside the dilated mask they are the input pixels.
    """

    name = "propainter"

    def __init__(self, config: ProPainterConfig | None = None, weights_dir: Any = None) -> None:
        from .device import resolve_device, resolve_precision
        from .weights import load_checkpoint

        self.config = config or ProPainterConfig()
        self.device = resolve_device(self.config.device)
        #: "fp32", "fp16" or "bf16": what ``config`` asks for, as this device runs it
        self.precision = resolve_precision(self.device, self.config.requested_precision())
        nets = (RAFT(), RecurrentFlowCompleteNet(), InpaintGenerator())
        for name, net in zip(("raft", "flow_completion", "propainter"), nets):
            load_checkpoint(name, net, weights_dir, map_location="cpu")
        self.pipeline = ProPainterPipeline(*nets, config=self.config, device=self.device, precision=self.precision)

    def process(self, frames: Iterable[np.ndarray], masks: Iterable[np.ndarray], num_frames: int,
                cancel: Callable[[], bool] | None = None, flow_masks: Iterable[np.ndarray] | None = None) -> Iterator[Event]:
        """:meth:`run` over separate iterables of frames, masks and optional flow masks."""
        return self.run(samples_of(frames, masks, flow_masks), num_frames, cancel)

    def run(self, samples: Iterable[Sample], num_frames: int, cancel: Callable[[], bool] | None = None) -> Iterator[Event]:
        """Yield progress and finished frames (see :class:`models.events.Engine`)."""
        # The sources of frames not yet finished, to paste the fill into (bounded by the
        # pipeline's window, since frames come out in order).
        pending: deque[tuple[np.ndarray, np.ndarray]] = deque()

        def checked() -> Iterator[Sample]:
            for i, (f, m, fm) in enumerate(samples):
                f = to_uint8_frame(f, f"frame {i}")
                grow = 1 if fm is not None else self.config.mask_dilation + 1
                pending.append((f, dilate(to_binary_mask(m, f"mask {i}"), grow)))
                yield Sample(f, m, fm)

        for ev in self.pipeline.stream_samples(checked(), num_frames, cancel):
            if isinstance(ev, FramesReady):
                out = []
                for frame in ev.frames:
                    src, m = pending.popleft()
                    out.append(np.where(m[..., None].astype(bool), frame, src) if frame.shape == src.shape else frame)
                yield FramesReady(ev.start, out)
            else:
                yield ev
