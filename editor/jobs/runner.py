"""The job runner: one clip + range + masks + engine + settings -> one output file, or only
events when the job has no output (a preview run) (no Qt).

:func:`run_job` streams the clip through the engine and into the writer chunk by chunk:

- frames before and after the range are copied untouched;
- frames in the range go through ``engine.process`` as lazy iterators, so only the engine's
  window and the chunk in flight are in memory, whatever the clip length;
- **full-resolution compositing**: when the engine runs at a reduced size (``max_side``,
  ``scale``, an explicit processing size), the frames and masks are downscaled for it, and
  its fill is upscaled and pasted into the full-resolution frame only inside the dilated,
  feathered mask: outside it the output keeps the source pixels exactly;
- **crop fast path**: when the masks of the range fit in a small box (a watermark, a logo,
  subtitles), only a padded crop around them (sides multiples of 8) is processed and pasted
  back;
- progress (:class:`JobProgress`, with an ETA from :class:`Eta`) and every finished chunk
  (:class:`JobChunk`, for previews) go to ``on_event``; ``cancel`` is polled between chunks
  and a cancelled job leaves nothing under the output name;
- it always writes: the CLI into the user's file (every frame, in order, renamed into place
  when complete), the editor into a :class:`editor.document.results.ResultFolder` (only the
  processed frames, each kept as soon as it is finished, so a cancel or a crash keeps them and
  a later run can continue after them: ``Job.resume_from``).

:func:`plan_job` decides everything before a frame is decoded; :class:`Compositor` is the one
place that places, crops, resizes and pastes; :func:`run_job` is the loop between them. The
CLI and the editor's worker thread run this same code.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Union

import cv2
import numpy as np

from editor.errors import MediaError, OutputError
from models.canvas import Canvas
from models.errors import Cancelled, DeviceError, InputError
from models.events import CancelCheck, Engine, FramesReady, Progress, Sample

#: Smallest frame side an engine is given (ProPainter's encoder downsamples by 8, twice).
MIN_SIDE = 64

#: A run that continues an earlier one feeds the engine up to this many finished frames
#: before the first new one, as context (their output is not written again).
RESUME_CONTEXT = 10

#: Codec picked from the output name when the settings do not name one.
_CODEC_FOR_SUFFIX = {".webm": "vp9", ".mov": "h264", ".mkv": "h264", ".mp4": "h264",
                     ".m4v": "h264", ".avi": "h264", "": "png"}


class MaskProvider(Protocol):
    """Anything with ``mask(i) -> HxW`` (nonzero = hole), e.g. ``editor.media.MaskSource``."""

    def mask(self, index: int) -> np.ndarray: ...


#: Where a job's masks come from: a path (PNG folder, one image, mask video) opened with
#: ``editor.media.open_masks``; a mapping frame index -> HxW uint8 (frames not in it have
#: no hole; what the editor passes); one HxW array for every frame; or a provider.
MaskInput = Union[str, os.PathLike, Mapping[int, np.ndarray], np.ndarray, MaskProvider, None]


@dataclass(frozen=True)
class JobSettings:
    """How a job runs and what it writes.

    Attributes:
        codec: output codec ("h264", "hevc", "vp9", "prores", "ffv1", "png"); ``None``
            picks it from the output name (a name without suffix -> a PNG folder).
        quality: codec quality (CRF for h264/hevc/vp9, ProRes profile); ``None`` = default.
        max_side: the engine sees at most this many pixels on the longer side of what it
            processes (the frame or the crop); ``None`` = no limit.
        scale: resize ratio for the engine (0 < scale <= 1), like ProPainter's
            ``resize_ratio``; combined with ``max_side`` the smaller size wins.
        process_size: explicit (width, height) for the engine when the whole frame is
            processed (like ProPainter's ``--width/--height``); overrides scale/max_side
            and turns the crop fast path off.
        crop: use the crop fast path when the masks fit in a small region.
        crop_fraction: the masks' padded box must cover less than this share of the frame.
        crop_padding: context in pixels around the masks' box given to the engine.
        feather: width in full-resolution pixels of the soft edge when a reduced-size fill
            is pasted back.
        composite_dilation: the pasted region is the mask grown by this many full-resolution
            pixels (then the feather); ``None`` = 4 px, or more at a reduced size so the
            region stays inside what the engine filled.
        overwrite: replace an existing output once the new one is complete.
        audio: copy the source audio into the output.
    """

    codec: str | None = None
    quality: int | None = None
    max_side: int | None = None
    scale: float | None = None
    process_size: tuple[int, int] | None = None
    crop: bool = True
    crop_fraction: float = 0.25
    crop_padding: int = 48
    feather: int = 4
    composite_dilation: int | None = None
    overwrite: bool = False
    audio: bool = True

    def __post_init__(self) -> None:
        if self.max_side is not None and (isinstance(self.max_side, bool) or self.max_side < MIN_SIDE):
            raise InputError(f"--max-side {self.max_side} is too small: give {MIN_SIDE} pixels or more")
        if self.scale is not None and not 0 < self.scale <= 1:
            raise InputError(f"--resize-ratio {self.scale} must be above 0 and at most 1")
        if self.process_size is not None:
            w, h = self.process_size
            if w < MIN_SIDE or h < MIN_SIDE:
                raise InputError(f"--width/--height {w}x{h} is too small: give {MIN_SIDE} pixels or more per side")
        if not 0 < self.crop_fraction <= 1:
            raise InputError(f"crop fraction {self.crop_fraction} must be above 0 and at most 1")
        if self.crop_padding < 0 or self.feather < 0:
            raise InputError("crop padding and feather must be 0 pixels or more")


@dataclass
class Job:
    """One unit of work: what the editor snapshots and the CLI builds.

    Attributes:
        clip: input video file or folder of frames.
        out: output file, or folder for PNG frames (every frame of the clip); or a result
            folder (anything with ``begin/put/flush/close/abort`` and ``wants_untouched``
            False, e.g. :class:`editor.document.results.ResultFolder`: only the processed
            frames, each kept as it is finished).
        masks: see :data:`MaskInput`; ignored (may be None) when ``canvas`` is given.
        engine: anything following :class:`models.events.Engine`.
        frame_range: (start, stop) frames to process, stop exclusive; ``None`` = the clip.
            Frames outside it are copied untouched.
        settings: :class:`JobSettings`.
        canvas: outpainting: every frame is placed on this canvas and its new border filled
            (the whole clip is processed; the output has the canvas size).
        resume_from: a run into a result folder that continues an earlier one: frames of the
            range before this one are finished already and are not written again.
        run: what the result folder records about this run (``ResultFolder.begin``).
    """

    clip: str | os.PathLike
    out: Any
    masks: MaskInput
    engine: Engine
    frame_range: tuple[int, int] | None = None
    settings: JobSettings = field(default_factory=JobSettings)
    canvas: Canvas | None = None
    resume_from: int | None = None
    run: Any = None


@dataclass(frozen=True)
class JobProgress(Progress):
    """How far the job has got: ``done`` of ``total`` output frames (clip indices) finished,
    the engine's current ``stage`` with its own ``stage_done``/``stage_total``, a ``message``
    a user should see, and the estimated seconds left (``eta``, None until it can be
    estimated). A :class:`models.events.Progress`, so code written for engine events works."""

    eta: float | None = None
    stage_done: int = 0
    stage_total: int = 0

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


@dataclass(frozen=True)
class JobChunk(FramesReady):
    """Finished output frames ``start .. start + len(frames) - 1`` (clip indices, not range
    indices), full resolution, exactly as written; the editor previews them. A
    :class:`models.events.FramesReady`."""


JobEvent = Union[JobProgress, JobChunk]


@dataclass(frozen=True)
class JobResult:
    """What a finished job did (``out`` is None for a job that wrote nothing)."""

    out: Path | None
    num_frames: int
    frame_range: tuple[int, int]
    engine: str
    size: tuple[int, int]
    process_size: tuple[int, int] | None
    crop: tuple[int, int, int, int] | None
    passthrough: bool
    seconds: float
    audio_copied: list[bool]
    messages: list[str]


class Eta:
    """Seconds left from the rate so far: ``Eta(total)``, then ``update(done)``.

    The rate is measured from the first update (so a slow start-up such as loading weights
    is not counted as work) and the estimate is None until some work has been timed.
    """

    def __init__(self, total: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.total = total
        self._clock = clock
        self._t0: float | None = None
        self._done0 = 0
        self.done = 0

    def update(self, done: int) -> float | None:
        """Record ``done`` units finished; return the estimated seconds left."""
        now = self._clock()
        if self._t0 is None:
            self._t0, self._done0 = now, done
        self.done = done
        return self.remaining(now)

    def remaining(self, now: float | None = None) -> float | None:
        if self._t0 is None:
            return None
        if self.done >= self.total:
            return 0.0
        now = self._clock() if now is None else now
        worked = self.done - self._done0
        elapsed = now - self._t0
        if worked <= 0 or elapsed <= 0:
            return None
        return elapsed / worked * (self.total - self.done)


def format_seconds(seconds: float | None) -> str:
    """12.3 -> '0:12', 4000 -> '1:06:40', None -> '--:--'."""
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


# -- geometry -------------------------------------------------------------------------------
def crop_box(
    union: np.ndarray, padding: int, min_side: int = 2 * MIN_SIDE
) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) around the nonzero pixels of ``union`` (HxW) grown by ``padding``,
    each side a multiple of 8 and at least ``min_side`` (both capped by the frame), kept
    inside the frame (shifted, not cut, at the edges)."""
    h, w = union.shape
    ys, xs = np.nonzero(union)
    boxes = []
    for lo, hi, size in ((int(xs.min()), int(xs.max()) + 1, w), (int(ys.min()), int(ys.max()) + 1, h)):
        lo, hi = max(0, lo - padding), min(size, hi + padding)
        want = max(hi - lo, min(min_side, size))
        want = min(size, want + (-want) % 8)
        if want > size - size % 8 and size % 8:
            want = size  # a frame side that is not a multiple of 8 cannot be beaten
        centre = (lo + hi) / 2.0
        start = int(round(centre - want / 2.0))
        start = min(max(0, start), size - want)
        boxes.append((int(start), int(start + want)))
    (x0, x1), (y0, y1) = boxes
    return x0, y0, x1, y1


def processing_size(width: int, height: int, settings: JobSettings, whole_frame: bool) -> tuple[int, int] | None:
    """The (width, height) the engine runs at for a ``width`` x ``height`` region, or None
    when it runs at the region's own size (the engine then rounds to its grid itself).
    Reduced sizes follow the one rule of :func:`models.sizes.processing_size`."""
    from models.sizes import processing_size as grid_size

    size = settings.process_size if whole_frame else None
    reduce = size is not None or (settings.scale is not None and settings.scale < 1) or (
        settings.max_side is not None and max(width, height) > settings.max_side)
    if not reduce:
        return None
    pw, ph = grid_size(width, height, size=size, scale=settings.scale, max_side=settings.max_side)
    if (pw, ph) == (width, height):
        return None
    if min(pw, ph) < MIN_SIDE:
        raise InputError(
            f"processing {width}x{height} at {pw}x{ph} leaves sides under {MIN_SIDE} pixels: "
            "use a larger --max-side or --resize-ratio"
        )
    return pw, ph


def feather_alpha(mask: np.ndarray, dilation: int, feather: int) -> np.ndarray:
    """HxW float32 alpha: 1 on the mask grown by ``dilation`` px, falling linearly to 0
    over the next ``feather`` px, 0 beyond (so the source is kept exactly there)."""
    hole = mask != 0
    if not hole.any():
        return np.zeros(mask.shape, dtype=np.float32)
    dist = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_L2, 5)
    if feather <= 0:
        return (dist <= dilation).astype(np.float32)
    return np.clip(1.0 - (dist - dilation) / float(feather + 1), 0.0, 1.0).astype(np.float32)


def composite(source: np.ndarray, fill: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """source * (1 - alpha) + fill * alpha, uint8; pixels with alpha 0 are the source's."""
    a = alpha[..., None]
    out = source.astype(np.float32) * (1.0 - a) + fill.astype(np.float32) * a
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    keep = alpha <= 0
    out[keep] = source[keep]
    return out


# -- masks -----------------------------------------------------------------------------------
class _Masks:
    """A uniform ``mask(i) -> HxW uint8 0/1`` over the kinds of :data:`MaskInput`."""

    def __init__(self, masks: MaskInput, num_frames: int, size: tuple[int, int], notes: list[str],
                 rotation: int = 0) -> None:
        w, h = size
        self._h, self._w = h, w
        self._closer: Callable[[], None] | None = None
        self._map: Mapping[int, np.ndarray] | None = None
        self._one: np.ndarray | None = None
        self._src: Any = None
        if masks is None:
            raise InputError("no mask was given: pass --mask with a mask image, folder or video")
        if isinstance(masks, (str, os.PathLike)):
            from editor.media import open_masks

            src = open_masks(masks, num_frames, size, rotation=rotation)
            for note in getattr(src, "warnings", []) or []:
                notes.append(str(note))
            self._src = src
            self._closer = getattr(src, "close", None)
        elif isinstance(masks, np.ndarray):
            self._one = self._check(masks, "the mask")
        elif isinstance(masks, Mapping):
            self._map = masks
        elif hasattr(masks, "mask"):
            self._src = masks
        else:
            raise InputError(f"masks of type {type(masks).__name__} are not understood: give a path or arrays")

    def _check(self, m: np.ndarray, what: str) -> np.ndarray:
        m = np.asarray(m)
        if m.ndim == 3:
            m = m.max(axis=2)
        if m.shape != (self._h, self._w):
            raise InputError(
                f"{what} is {m.shape[1] if m.ndim > 1 else '?'}x{m.shape[0]} but the clip is "
                f"{self._w}x{self._h}: give masks of the clip's size"
            )
        return (m != 0).astype(np.uint8)

    def mask(self, index: int) -> np.ndarray:
        if self._one is not None:
            return self._one
        if self._map is not None:
            m = self._map.get(index)
            if m is None:
                return np.zeros((self._h, self._w), dtype=np.uint8)
            return self._check(m, f"the mask of frame {index}")
        return self._check(self._src.mask(index), f"the mask of frame {index}")

    def close(self) -> None:
        if self._closer is not None:
            self._closer()


def _union(masks: _Masks, start: int, stop: int) -> np.ndarray:
    union = None
    for i in range(start, stop):
        m = masks.mask(i)
        union = m.astype(bool) if union is None else (union | (m != 0))
    return union


# -- the job ---------------------------------------------------------------------------------
def _check_paths(clip: Path, out: Path) -> None:
    try:
        same = out.exists() and os.path.samefile(clip, out)
    except OSError:
        same = False
    if same or clip.expanduser().resolve() == out.expanduser().resolve():
        raise OutputError(f"The output {out} is the input clip; choose another output name.")


def _pick_codec(out: Path, codec: str | None) -> str:
    if codec is not None:
        return codec
    if out.is_dir() or not out.suffix or str(out).endswith(os.sep):
        return "png"
    known = _CODEC_FOR_SUFFIX.get(out.suffix.lower())
    if known is None:
        raise OutputError(
            f"The output {out} has an unknown extension {out.suffix!r}; use .mp4, .mkv, .mov, "
            ".webm, .avi or a folder name for PNG frames."
        )
    return known


@dataclass
class JobPlan:
    """What :func:`run_job` will do, decided before any frame is decoded.

    ``start``/``stop``: the frames the engine processes (stop exclusive); ``first_out``: the
    first of them written (a resumed run feeds the engine a few frames before it as context
    and drops their output); ``region``: the processed area (x0, y0, x1, y1) of the output
    frame, ``crop`` the same when it is smaller than the frame; ``psize``: the engine's
    (width, height) when it is not the region's size.
    """

    num_frames: int
    out_size: tuple[int, int]
    start: int
    stop: int
    first_out: int
    canvas: Canvas | None
    masks: _Masks
    flow_mask: np.ndarray | None
    passthrough: bool
    region: tuple[int, int, int, int]
    crop: tuple[int, int, int, int] | None
    psize: tuple[int, int] | None
    dilation: int


def plan_job(job: Job, info: Any, notes: list[str]) -> JobPlan:
    """Check ``job`` against the clip's ``info`` and decide ranges, region and sizes."""
    settings = job.settings
    clip = Path(job.clip).expanduser()
    n, w, h = info.num_frames, info.width, info.height
    if n < 1:
        raise MediaError(f"{clip} has no frames; choose another clip.")
    if min(w, h) < MIN_SIDE:
        raise InputError(
            f"The frames of {clip} are {w}x{h}, smaller than {MIN_SIDE} pixels on a side; upscale the clip first."
        )
    canvas = job.canvas
    flow_mask = None
    crop = None
    passthrough = False
    if canvas is not None:
        if (canvas.src_width, canvas.src_height) != (w, h):
            raise InputError(
                f"the canvas was planned for {canvas.src_width}x{canvas.src_height} but {clip} "
                f"is {w}x{h}: plan it for this clip"
            )
        if job.frame_range not in (None, (0, n)):
            raise InputError("outpainting expands every frame: drop the frame range")
        start, stop = 0, n
        out_w, out_h = canvas.width, canvas.height
        flow_mask, canvas_mask = canvas.masks()
        masks = _Masks(canvas_mask, n, (out_w, out_h), notes)
    else:
        start, stop = job.frame_range if job.frame_range is not None else (0, n)
        stop = n if stop is None else stop
        if not (0 <= start < stop <= n):
            raise InputError(
                f"the range {start}:{stop} is outside {clip}, which has {n} frames: "
                f"give START:STOP with 0 <= START < STOP <= {n}"
            )
        out_w, out_h = w, h
        masks = _Masks(job.masks, n, (w, h), notes, rotation=int(getattr(info, "rotation", 0) or 0))
        union = _union(masks, start, stop)
        if not union.any():
            passthrough = True
            notes.append(f"The masks are empty for frames {start}..{stop - 1}: the frames pass through untouched.")
        elif union.all() and all(masks.mask(i).all() for i in range(start, stop)):
            raise InputError(
                "the mask covers every pixel of every frame, so nothing is left to fill from: "
                "mask only what should be removed"
            )
        elif settings.crop and settings.process_size is None:  # an explicit size means the whole frame
            x0, y0, x1, y1 = box = crop_box(union, settings.crop_padding)
            if (x1 - x0) * (y1 - y0) < settings.crop_fraction * w * h:
                crop = box
                notes.append(f"Processing only the {x1 - x0}x{y1 - y0} region at ({x0}, {y0}) around the masks.")
    region = crop or (0, 0, out_w, out_h)
    rw, rh = region[2] - region[0], region[3] - region[1]
    psize = None if passthrough else processing_size(rw, rh, settings, whole_frame=crop is None)
    if psize is not None:
        notes.append(f"The engine runs at {psize[0]}x{psize[1]}; the fill is pasted at {rw}x{rh}.")
    dilation = settings.composite_dilation
    if dilation is None:
        dilation = 4 if psize is None else max(4, int(math.ceil(4 * rw / psize[0])) - settings.feather)
    first_out = start
    if job.resume_from is not None and not passthrough:
        if not start <= job.resume_from < stop:
            raise InputError(f"a run of frames {start}..{stop - 1} cannot continue from frame {job.resume_from}")
        first_out = job.resume_from
        context = min(first_out - start, RESUME_CONTEXT)
        start = first_out - context
        notes.append(f"Continuing from frame {first_out}: frames {job.frame_range[0] if job.frame_range else 0}.."
                     f"{first_out - 1} are already finished.")
    return JobPlan(n, (out_w, out_h), start, stop, first_out, canvas, masks, flow_mask,
                   passthrough, region, crop, psize, max(dilation, 0))


class Compositor:
    """The one way between a full source frame and the engine, and back.

    :meth:`sample` places the frame on the outpainting canvas, cuts the processed region and
    resizes it (frame, mask and flow mask) to the engine's size; the full frame and mask wait
    in a queue (frames come back in order) until :meth:`paste` puts the engine's fill back:
    as it is at full size, upscaled and pasted inside the grown, feathered mask at a reduced
    size. Pixels outside what the engine may change stay the source's exactly, and when
    outpainting every original pixel comes out as it went in.
    """

    def __init__(self, plan: JobPlan, feather: int) -> None:
        self.canvas = plan.canvas
        self.region = plan.region
        self.psize = plan.psize
        self.dilation, self.feather = plan.dilation, feather
        x0, y0, x1, y1 = self.region
        fm = None if plan.flow_mask is None else plan.flow_mask[y0:y1, x0:x1]
        self._flow_mask = None if fm is None else self._shrink_mask(fm)
        self._pending: deque[tuple[np.ndarray, np.ndarray, np.ndarray]] = deque()

    def place(self, frame: np.ndarray) -> np.ndarray:
        """A source frame as the output has it untouched (on the canvas when expanding)."""
        return self.canvas.place(frame) if self.canvas is not None else frame

    def _shrink_mask(self, m: np.ndarray) -> np.ndarray:
        if self.psize is None:
            return np.ascontiguousarray(m)
        return (cv2.resize(m.astype(np.float32), self.psize, interpolation=cv2.INTER_AREA) > 0).astype(np.uint8)

    def sample(self, frame: np.ndarray, mask: np.ndarray) -> Sample:
        full = self.place(frame)
        self._pending.append((frame, full, mask))
        x0, y0, x1, y1 = self.region
        f, m = full[y0:y1, x0:x1], mask[y0:y1, x0:x1]
        if self.psize is not None:
            f = cv2.resize(f, self.psize, interpolation=cv2.INTER_AREA)
        return Sample(np.ascontiguousarray(f), self._shrink_mask(m), self._flow_mask)

    def paste(self, fill: np.ndarray) -> np.ndarray:
        """The output frame for the oldest sample: ``fill`` (the engine's output for it) put back."""
        source, full, mask = self._pending.popleft()
        x0, y0, x1, y1 = self.region
        fill = np.asarray(fill)
        if self.psize is None:
            if fill.shape[:2] != (y1 - y0, x1 - x0):
                raise RuntimeError(f"the engine returned a {fill.shape[1]}x{fill.shape[0]} frame for {x1 - x0}x{y1 - y0}")
            if (x0, y0, x1, y1) == (0, 0, full.shape[1], full.shape[0]):
                out = np.array(fill, dtype=np.uint8, copy=True)
            else:
                out = full.copy()
                out[y0:y1, x0:x1] = fill
        else:
            up = cv2.resize(fill, (x1 - x0, y1 - y0), interpolation=cv2.INTER_CUBIC)
            alpha = feather_alpha(mask[y0:y1, x0:x1], self.dilation, self.feather)
            out = full.copy()
            out[y0:y1, x0:x1] = composite(full[y0:y1, x0:x1], up, alpha)
        if self.canvas is not None:
            c = self.canvas
            out[c.top:c.top + c.src_height, c.left:c.left + c.src_width] = source
        return out


class _FileSink:
    """run_job's output as a video file or PNG folder (every frame, in order)."""

    wants_untouched = True

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    @property
    def audio_copied(self) -> list[bool]:
        return list(self.writer.audio_copied)

    def begin(self, run: Any) -> None:
        pass

    def put(self, index: int, frame: np.ndarray) -> None:
        self.writer.write(frame)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.writer.close()

    def abort(self) -> None:
        self.writer.abort()


def run_job(
    job: Job,
    on_event: Callable[[JobEvent], None] | None = None,
    cancel: CancelCheck | None = None,
) -> JobResult:
    """Run ``job`` to completion and return what it did.

    ``on_event`` receives :class:`JobProgress` and :class:`JobChunk` events on the calling
    thread. ``cancel`` is polled between chunks; when it returns True a file output is
    deleted (a result folder keeps its finished frames) and :class:`models.errors.Cancelled`
    is raised.

    Raises:
        MediaError/InputError: unreadable clip or masks, sizes that do not match, frames
            too small, a mask covering every pixel of every frame, a bad range.
        OutputError: existing output without ``overwrite``, output = input, unwritable
            folder, disk full, unknown codec for the container.
        Cancelled: ``cancel()`` returned True.
    """
    from editor.media import VideoWriter, open_video

    t_start = time.monotonic()
    settings = job.settings
    clip = Path(job.clip).expanduser()
    emit = on_event or (lambda event: None)
    notes: list[str] = []
    if not clip.exists():
        raise MediaError(f"The video {clip} does not exist; check the path.")
    to_file = isinstance(job.out, (str, os.PathLike))
    if to_file:
        out = Path(job.out).expanduser()
        _check_paths(clip, out)
        codec = _pick_codec(out, settings.codec)
    elif job.out is None or not hasattr(job.out, "put"):
        raise OutputError("a job needs an output: a file name, a folder for PNG frames, or a result folder")
    with open_video(clip) as reader:
        info = reader.info
        notes.extend(str(w) for w in getattr(reader, "warnings", []) or [])
        plan = plan_job(job, info, notes)
        for text in notes:
            emit(JobProgress("masks", 0, plan.num_frames, text))
        n, start, stop = plan.num_frames, plan.start, plan.stop
        if to_file:
            if job.resume_from is not None:
                raise InputError("only a run into a result folder can continue an earlier one")
            audio_from = clip if settings.audio and not info.is_folder and info.audio else None
            writer = VideoWriter(
                out, *plan.out_size, info.fps, codec=codec, quality=settings.quality, audio_from=audio_from,
                timestamps=None if info.is_folder else reader.timestamps, overwrite=settings.overwrite,
            )
            for text in getattr(writer, "warnings", []):
                notes.append(str(text))
                emit(JobProgress("output", 0, plan.num_frames, str(text)))
            sink: Any = _FileSink(writer)
        else:
            sink = job.out
        sink.begin(job.run)
        comp = Compositor(plan, settings.feather)
        # What is decoded: all of the clip for a file; the processed frames for a result folder.
        first, last = (0, n) if sink.wants_untouched else (start, stop)
        if plan.passthrough and not sink.wants_untouched:
            first = last = start
        eta = Eta(n if plan.passthrough else stop - plan.first_out)
        # "work": the frames the ETA counts (engine frames; copied ones cost next to nothing),
        # None before the engine starts.
        state: dict[str, Any] = {"written": 0, "stage": ("copy", 0, 0), "work": 0 if plan.passthrough else None}
        out_total = n if sink.wants_untouched else (0 if plan.passthrough else stop - plan.first_out)

        def progress(message: str = "") -> None:
            work = state["work"]
            left = None if work is None else eta.update(min(work, eta.total))
            emit(JobProgress(state["stage"][0], state["written"], out_total, message, left,
                             state["stage"][1], state["stage"][2]))

        def write(index: int, frames: list[np.ndarray]) -> None:
            for k, frame in enumerate(frames):
                sink.put(index + k, frame)
            state["written"] += len(frames)
            if plan.passthrough or (plan.first_out <= index < stop):
                state["work"] = (state["work"] or 0) + len(frames)
            sink.flush()
            emit(JobChunk(index, frames))
            progress()
            if cancel is not None and cancel() and index + len(frames) < last:
                raise Cancelled(f"cancelled after {state['written']} of {out_total} frames")

        def copy_untouched(frames: Iterator[np.ndarray], index: int, count: int) -> None:
            """Frames outside the range, as they are (on the canvas when expanding), 16 at a time."""
            state["stage"] = ("copy", 0, count)
            for at in range(index, index + count, 16):
                write(at, [comp.place(f) for f in itertools.islice(frames, min(16, index + count - at))])

        try:
            frames = reader.iter_frames(first, last)
            copy_untouched(frames, first, start - first)
            if plan.passthrough:
                copy_untouched(frames, start, last - start)
            else:
                samples = (comp.sample(f, plan.masks.mask(i))
                           for i, f in enumerate(itertools.islice(frames, stop - start), start))
                state["stage"] = ("starting", 0, stop - start)
                state["work"] = 0
                progress(f"Running the {getattr(job.engine, 'name', 'engine')} engine on frames {start}..{stop - 1}.")
                expected = start
                extra: dict[str, Any] = {}
                if getattr(job.engine, "wants_survey", False):
                    # the same frames once more, decoded again, for an engine that reads the
                    # clip through before filling it (the classic engine's background plates)
                    extra["survey"] = (comp.sample(f, plan.masks.mask(i))
                                       for i, f in enumerate(reader.iter_frames(start, stop), start))
                events = job.engine.run(samples, stop - start, cancel=cancel, **extra)
                for event in _out_of_memory_as_device_error(events, clip, plan.region, plan.psize):
                    if isinstance(event, Progress):
                        state["stage"] = (event.stage, event.done, event.total)
                        progress(event.message)
                        continue
                    if not isinstance(event, FramesReady):
                        continue
                    if start + event.start != expected:
                        raise RuntimeError(f"engine {job.engine!r} skipped to frame {start + event.start}, expected {expected}")
                    done = [comp.paste(fill) for fill in event.frames]
                    expected += len(done)
                    keep = max(0, plan.first_out - (expected - len(done)))  # a resumed run's context frames
                    if keep < len(done):
                        write(expected - len(done) + keep, done[keep:])
                if expected != stop:
                    raise RuntimeError(f"engine {job.engine!r} returned frames up to {expected}, expected {stop}")
                copy_untouched(frames, stop, last - stop)
            if state["written"] != out_total:
                raise MediaError(
                    f"{clip} gave {state['written']} frames but announced {out_total}; the file may be truncated: re-encode it."
                )
            sink.close()
        except BaseException:
            sink.abort()
            raise
        finally:
            plan.masks.close()
    emit(JobProgress("done", out_total, out_total, "", 0.0))
    return JobResult(
        out=Path(job.out).expanduser() if to_file else getattr(sink, "folder", None),
        num_frames=state["written"],
        frame_range=(plan.first_out, plan.stop),
        engine=getattr(job.engine, "name", type(job.engine).__name__),
        size=plan.out_size,
        process_size=plan.psize,
        crop=plan.crop,
        passthrough=plan.passthrough,
        seconds=time.monotonic() - t_start,
        audio_copied=list(sink.audio_copied),
        messages=notes,
    )


def _is_out_of_memory(exc: BaseException) -> bool:
    # torch.OutOfMemoryError (CUDA/MPS) without importing torch here; MemoryError on CPU.
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def _out_of_memory_as_device_error(
    events: Iterator[Any], clip: Path, region: tuple[int, int, int, int], psize: tuple[int, int] | None
) -> Iterator[Any]:
    """Pass the engine's events on; an out-of-memory error becomes one clear DeviceError."""
    try:
        yield from events
    except Exception as exc:
        if not _is_out_of_memory(exc):
            raise
        w, h = psize or (region[2] - region[0], region[3] - region[1])
        raise DeviceError(
            f"Processing {clip.name} at {w}x{h} does not fit in this device's memory; lower the "
            "processing size (--max-side 640 or --resize-ratio 0.5; the output keeps its full "
            "size) or the sub-video length (--subvideo-length 40)."
        ) from None
