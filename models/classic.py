"""The no-weights engine: optical flow, flow completion, propagation, plates, synthesis.

It follows ProPainter's idea with classical parts, so it runs anywhere with no download:

1. **Masks**: the hole (``mask``) is dilated by ``mask_dilation`` pixels; flow is completed
   in a wider region (the hole dilated by ``flow_mask_dilation`` more, or the caller's
   ``flow_masks``), because a moving object corrupts the flow around it too.
2. **Flow**: OpenCV DIS optical flow between neighbouring frames, forward and backward, at
   most ``flow_max_side`` pixels on the longer side. The hole is first smoothed away in the
   grey images so the removed object does not drag the flow with it.
3. **Flow completion**: inside the flow region the flow is replaced by the background motion:
   a homography fitted (RANSAC) to the flow outside it, plus the residual flow interpolated
   smoothly from the region's boundary (a push-pull pyramid fill).
4. **Propagation**: each hole pixel is followed along the chained flows into the frames
   ``neighbor_radius`` each side, forward and backward; a step that fails the
   forward/backward consistency check ends the chain (occlusion). The first frame in each
   direction where the pixel lies outside that frame's hole gives a colour; the two
   directions are blended, the nearer in time weighing more. Pixels still unseen may come
   from the previous output frame's propagated fill (ProPainter's recurrence, one step).
5. **Every frame can give** (``plates``): each shot's frames are registered to its first
   frame by chained homographies, and pixels that move with the background are put on a
   plate (:mod:`models.plate`). A pixel the window did not see takes the nearest sighting
   in time anywhere in the shot: the latest before it (a plate updated as the clip streams)
   or, when ``run`` is given a ``survey`` (the same clip once more, read through first),
   the first after it. People walking past are not background and never go on a plate, so
   they are not pasted in as ghosts; and a plate is used only where it agrees with the
   frame in a ring around the hole (a thing standing there now makes the old background
   wrong).
6. **Never-seen pixels are synthesised** (``synthesis="patch"``): exemplar synthesis
   (:mod:`models.synthesis`, PatchMatch guided by the diffusion fill) made once per shot on
   its plate when there is a survey, else on the first frame that needs it, and carried
   along the motion to the next frames while the ring around it still fits: texture, not a
   smear, and no flicker. ``cv2.inpaint`` (Telea) only for slivers and for
   ``synthesis="telea"``.

Frames are read lazily and only ``2 * neighbor_radius + 1`` input frames (plus the chunk
being assembled, one previous output and each open shot's plates, two canvases twice the
frame's size each way; a closed shot keeps only the box its holes cover) are held at any
time, whatever the clip length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

import cv2
import numpy as np

from .errors import Cancelled, InputError
from .events import CancelCheck, Event, FramesReady, Progress, Sample, samples_of
from .plate import MADE, HomographyFit, Plates, fit_homography, fit_motion
from .synthesis import synthesize

_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
_INPAINT = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
_MOTION_MODELS = ("homography", "smooth")
_SYNTHESIS = ("patch", "telea")
#: Pixels around the hole that judge whether a plate still shows what is there now.
RING = 8
#: Mean colour difference (0-255) above which a plate is taken as out of date there.
PLATE_AGREEMENT = 16.0
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
_REMAP_BLOCK = 4096  # cv2.remap wants maps narrower than 32767 columns


@dataclass(frozen=True)
class ClassicConfig:
    """Settings of the classical engine; every field is checked on construction.

    Attributes:
        mask_dilation: pixels (3x3 cross iterations) the hole grows by before filling,
            as ProPainter's ``mask_dilation``; outside the grown hole output == input.
        flow_mask_dilation: further pixels around the hole where the flow is not trusted
            and is completed instead (ignored where ``flow_masks`` are given).
        neighbor_radius: frames each side a hole pixel is followed into (the window);
            memory holds ``2 * neighbor_radius + 1`` input frames.
        chunk_size: frames per ``FramesReady`` event; ``cancel`` is polled between chunks.
        flow_preset: DIS preset, "ultrafast", "fast" or "medium".
        flow_max_side: longest side, in pixels, at which flow is computed; propagation and
            the output stay at full resolution.
        motion_model: "homography" (fit the background motion, then interpolate what it
            misses) or "smooth" (interpolate the flow from the region's boundary only).
        flow_trust_margin: width of the band around the flow region whose flow is not used
            to complete it, as a fraction of the flow image's longer side: the removed object
            drags DIS flow around it over a distance that grows with DIS's pyramid.
        consistency_alpha, consistency_beta: a chained step from a to b is kept when
            ``|f + b|^2 <= alpha * (|f|^2 + |b|^2) + beta`` (beta in flow-resolution px^2),
            with f the forward and b the backward flow.
        inpaint_radius: ``cv2.inpaint`` radius in pixels for pixels never seen.
        inpaint_method: "telea" or "ns" (Navier-Stokes).
        reuse_filled: also pull still-unseen pixels from the previous output frame's
            propagated (not inpainted) fill.
        plates: fill what the window did not see from the shot's background plates (any
            frame of the clip, registered by homography; see :mod:`models.plate`).
        synthesis: how pixels that no frame shows are made: "patch" (exemplar synthesis,
            :mod:`models.synthesis`, made once and carried along the background's motion)
            or "telea" (``cv2.inpaint`` on every frame).
        synthesis_min_pixels: fewer unseen pixels than this in a frame are filled by
            ``cv2.inpaint`` (a sliver does not need texture).
    """

    mask_dilation: int = 4
    flow_mask_dilation: int = 8
    neighbor_radius: int = 15
    chunk_size: int = 10
    flow_preset: str = "medium"
    flow_max_side: int = 640
    motion_model: str = "homography"
    flow_trust_margin: float = 0.05
    consistency_alpha: float = 0.003
    consistency_beta: float = 0.1
    inpaint_radius: int = 5
    inpaint_method: str = "telea"
    reuse_filled: bool = True
    plates: bool = True
    synthesis: str = "patch"
    synthesis_min_pixels: int = 64

    def __post_init__(self) -> None:
        ints = {
            "mask_dilation": (self.mask_dilation, 0, 64),
            "flow_mask_dilation": (self.flow_mask_dilation, 0, 64),
            "neighbor_radius": (self.neighbor_radius, 1, 100),
            "chunk_size": (self.chunk_size, 1, 10_000),
            "flow_max_side": (self.flow_max_side, 32, 8192),
            "inpaint_radius": (self.inpaint_radius, 1, 100),
            "synthesis_min_pixels": (self.synthesis_min_pixels, 0, 1 << 30),
        }
        for name, (value, low, high) in ints.items():
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
                raise InputError(f"classic engine option {name}={value!r} must be a whole number from {low} to {high}")
        for name, value, allowed in (
            ("flow_preset", self.flow_preset, tuple(_PRESETS)),
            ("motion_model", self.motion_model, _MOTION_MODELS),
            ("inpaint_method", self.inpaint_method, tuple(_INPAINT)),
            ("synthesis", self.synthesis, _SYNTHESIS),
        ):
            if value not in allowed:
                raise InputError(f"classic engine option {name}={value!r} must be one of {', '.join(allowed)}")
        for name, value, high in (
            ("consistency_alpha", self.consistency_alpha, 1e6),
            ("consistency_beta", self.consistency_beta, 1e6),
            ("flow_trust_margin", self.flow_trust_margin, 0.5),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= high:
                raise InputError(f"classic engine option {name}={value!r} must be a number from 0 to {high:g}")


def dilate(mask: np.ndarray, pixels: int) -> np.ndarray:
    """HxW bool -> HxW bool grown by ``pixels`` (3x3 cross steps, like ProPainter)."""
    if pixels <= 0 or not mask.any():
        return mask.astype(bool, copy=True)
    return cv2.dilate(mask.astype(np.uint8), _CROSS, iterations=pixels).astype(bool)


def smooth_fill(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill unknown pixels smoothly from the known ones (push-pull pyramid interpolation).

    Args:
        values: HxW or HxWxC float32; only pixels where ``known`` is True are read.
        known: HxW bool.
    Returns:
        float32 array like ``values``: equal to it where known, a smooth interpolation of
        the surrounding known values elsewhere (0 if nothing is known).
    """
    values = values.astype(np.float32, copy=False)
    if known.all():
        return values.copy()
    if not known.any():
        return np.zeros_like(values)
    weight = known.astype(np.float32)
    wv = values * (weight[..., None] if values.ndim == 3 else weight)
    levels = [(wv, weight)]
    while min(levels[-1][1].shape) > 2:
        v, w = levels[-1]
        levels.append((cv2.pyrDown(v), cv2.pyrDown(w)))
    v, w = levels[-1]
    known_mean = values[known].mean(axis=0)
    estimate = _normalise(v, w, np.broadcast_to(known_mean, v.shape).astype(np.float32))
    for v, w in reversed(levels[:-1]):
        coarse = cv2.pyrUp(estimate, dstsize=(w.shape[1], w.shape[0]))
        coarse = coarse.reshape(v.shape)
        estimate = _normalise(v, w, coarse)
    out = estimate.reshape(values.shape)
    out[known] = values[known]
    return out


def _normalise(v: np.ndarray, w: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Blend v / w (where the level saw known pixels) with the coarser ``fallback``."""
    w3 = w[..., None] if v.ndim == 3 else w
    alpha = np.clip(w3 * 2.0, 0.0, 1.0)
    fine = v / np.maximum(w3, 1e-6)
    return (alpha * fine + (1.0 - alpha) * fallback).astype(np.float32)


def complete_flow(
    flow: np.ndarray, region: np.ndarray, model: str = "homography", margin: int = 12,
    fit: HomographyFit | None = None,
) -> np.ndarray:
    """Replace ``flow`` inside ``region`` by the background motion around it.

    Args:
        flow: hxwx2 float32 (dx, dy) in pixels.
        region: hxw bool, True where the flow is not trusted.
        model: "homography" fits a homography (RANSAC) to the trusted flow and interpolates
            the residual; "smooth" interpolates the flow itself.
        margin: pixels around ``region`` whose flow is kept but not used to fill it: the
            removed object drags the flow next to it, and interpolating from there carries
            that error into the hole.
        fit: the homography already fitted to ``flow`` off ``region`` grown by ``margin``
            (:func:`models.plate.fit_homography`), when the caller has it.
    Returns:
        hxwx2 float32, equal to ``flow`` outside ``region``.
    """
    if not region.any():
        return flow
    known = ~dilate(region, margin)
    if known.sum() < 16:
        known, fit = ~region, None  # not the pixels the given fit used
    base = np.zeros_like(flow)
    if model == "homography":
        base = _homography_flow(flow, known, fit)
    filled = base + smooth_fill(flow - base, known)
    out = flow.copy()
    out[region] = filled[region]
    return out


def _homography_flow(flow: np.ndarray, known: np.ndarray, fit: HomographyFit | None = None) -> np.ndarray:
    """The flow of a homography fitted to the known flow vectors (zeros if none fits)."""
    h, w = known.shape
    fit = fit if fit is not None else fit_homography(flow, known)
    if fit.field is None or np.abs(fit.field).max() > 4 * max(h, w):
        return np.zeros_like(flow)
    return fit.field.astype(np.float32)


def _sample(image: np.ndarray, pos: np.ndarray, scale: tuple[float, float], nearest: bool = False) -> np.ndarray:
    """Bilinear samples of ``image`` (hxwxC) at full-resolution points ``pos`` (Nx2 x, y).

    ``scale`` = (image width / full width, image height / full height). Returns NxC.
    """
    n = len(pos)
    channels = 1 if image.ndim == 2 else image.shape[2]
    if n == 0:
        return np.zeros((0, channels), dtype=image.dtype)
    rows = -(-n // _REMAP_BLOCK)
    maps = np.zeros((2, rows * _REMAP_BLOCK), dtype=np.float32)
    maps[0, :n] = (pos[:, 0] + 0.5) * scale[0] - 0.5
    maps[1, :n] = (pos[:, 1] + 0.5) * scale[1] - 0.5
    mx = maps[0].reshape(rows, _REMAP_BLOCK)
    my = maps[1].reshape(rows, _REMAP_BLOCK)
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    out = cv2.remap(image, mx, my, interp, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(rows * _REMAP_BLOCK, channels)[:n]


class _Window:
    """The frames around the one being filled, with their masks and flows (lazily made)."""

    def __init__(self, config: ClassicConfig, num_frames: int) -> None:
        self.config = config
        self.num_frames = num_frames
        self.frames: dict[int, np.ndarray] = {}
        self.holes: dict[int, np.ndarray] = {}  # dilated hole, full res, bool
        self.flow_regions: dict[int, np.ndarray] = {}  # full res, bool (None-free)
        self._sources: dict[int, np.ndarray] = {}  # pixels usable as a source, full res
        self._grey: dict[int, np.ndarray] = {}  # hole-smoothed grey, flow res
        self._small_regions: dict[int, np.ndarray] = {}
        self._flows: dict[tuple[int, int], np.ndarray] = {}  # (a, b): flow a -> b, flow res
        self._follows: dict[int, np.ndarray] = {}  # flow res bool: flow follows the background
        self.motion: dict[tuple[int, int], np.ndarray | None] = {}  # (a, b): homography a -> b
        self.size: tuple[int, int] | None = None  # (H, W)
        self.flow_size: tuple[int, int] = (0, 0)  # (h, w)
        self.scale: tuple[float, float] = (1.0, 1.0)
        self._dis = cv2.DISOpticalFlow_create(_PRESETS[config.flow_preset])

    def add(self, index: int, frame: np.ndarray, mask: np.ndarray, flow_mask: np.ndarray | None) -> None:
        if self.size is None:
            self.size = frame.shape[:2]
            h, w = self.size
            factor = min(1.0, self.config.flow_max_side / max(h, w))
            fh, fw = max(8, round(h * factor)), max(8, round(w * factor))
            self.flow_size = (fh, fw)
            self.scale = (fw / w, fh / h)
        hole = dilate(mask != 0, self.config.mask_dilation)
        if flow_mask is None:
            region = dilate(hole, self.config.flow_mask_dilation)
        else:
            region = (flow_mask != 0) | hole
        self.frames[index] = frame
        self.holes[index] = hole
        self.flow_regions[index] = region

    def forget_before(self, index: int) -> None:
        for store in (self.frames, self.holes, self.flow_regions, self._sources, self._grey, self._small_regions,
                      self._follows):
            for key in [k for k in store if k < index]:
                del store[key]
        for key in [k for k in self._flows if min(k) < index]:
            del self._flows[key]
        for key in [k for k in self.motion if min(k) < index]:
            del self.motion[key]

    def background(self, index: int) -> np.ndarray:
        """HxW bool: pixels of frame ``index`` that show background (off the hole, and moving
        as the background does: never a person walking past). Needs a neighbour's flow."""
        follows = self._follows.get(index)
        if follows is None:
            return np.zeros(self.size, dtype=bool)  # type: ignore[arg-type]
        h, w = self.size  # type: ignore[misc]
        if follows.shape != (h, w):
            follows = cv2.resize(follows.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        return follows & self.sources(index)

    def sources(self, index: int) -> np.ndarray:
        """HxW bool: pixels of frame ``index`` whose colour can be pulled (off the hole)."""
        if index not in self._sources:
            self._sources[index] = ~dilate(self.holes[index], 1)
        return self._sources[index]

    def _small_region(self, index: int) -> np.ndarray:
        if index not in self._small_regions:
            fh, fw = self.flow_size
            region = self.flow_regions[index].astype(np.uint8)
            small = cv2.resize(region, (fw, fh), interpolation=cv2.INTER_AREA) if region.shape != (fh, fw) else region
            self._small_regions[index] = small > 0
        return self._small_regions[index]

    def _grey_image(self, index: int) -> np.ndarray:
        if index not in self._grey:
            fh, fw = self.flow_size
            grey = cv2.cvtColor(self.frames[index], cv2.COLOR_RGB2GRAY)
            if grey.shape != (fh, fw):
                grey = cv2.resize(grey, (fw, fh), interpolation=cv2.INTER_AREA)
            region = self._small_region(index)
            if region.any():
                filled = smooth_fill(grey.astype(np.float32), ~region)
                grey = np.clip(filled + 0.5, 0, 255).astype(np.uint8)
            self._grey[index] = grey
        return self._grey[index]

    def flow(self, a: int, b: int) -> np.ndarray:
        """hxwx2 float32 completed flow from frame a to frame b (neighbours), flow res."""
        if (a, b) not in self._flows:
            ga, gb = self._grey_image(a), self._grey_image(b)
            region = self._small_region(a) | self._small_region(b)
            forward = self._dis.calc(ga, gb, None)
            backward = self._dis.calc(gb, ga, None)
            model = self.config.motion_model
            margin = round(self.config.flow_trust_margin * max(self.flow_size))
            fits = {}
            if self.config.plates:
                known = ~dilate(region, margin)
                for p, q, raw in ((a, b, forward), (b, a, backward)):
                    grey = (ga, gb) if p == a else (gb, ga)
                    # one fit serves the background's motion and the flow completion
                    fits[p] = fit_homography(raw, known)
                    matrix, follows = fit_motion(raw, known, self.scale, grey, judge=~region, fit=fits[p])
                    self.motion[(p, q)] = matrix
                    self._follows.setdefault(p, follows)
            self._flows[(a, b)] = complete_flow(forward, region, model, margin, fits.get(a))
            self._flows[(b, a)] = complete_flow(backward, region, model, margin, fits.get(b))
        return self._flows[(a, b)]


class ClassicEngine:
    """The engine used when ProPainter weights are absent (see the module docstring).

    ``process(frames, masks, num_frames, cancel=None, flow_masks=None)`` follows
    :class:`models.events.Engine`: frames HxWx3 uint8 RGB, masks HxW (nonzero = hole),
    optional flow masks HxW (where flow is completed, e.g. an outpainting canvas border).
    """

    name = "classic"

    def __init__(self, config: ClassicConfig | None = None) -> None:
        self.config = config if config is not None else ClassicConfig()

    def process(
        self,
        frames: Iterable[np.ndarray],
        masks: Iterable[np.ndarray],
        num_frames: int,
        cancel: CancelCheck | None = None,
        flow_masks: Iterable[np.ndarray] | None = None,
    ) -> Iterator[Event]:
        """:meth:`run` over separate iterables of frames, masks and optional flow masks."""
        return self.run(samples_of(frames, masks, flow_masks), num_frames, cancel)

    #: ``run`` takes ``survey``: a second stream of the same samples, read through first.
    wants_survey = True

    def run(
        self,
        samples: Iterable[Sample],
        num_frames: int,
        cancel: CancelCheck | None = None,
        survey: Iterable[Sample] | None = None,
    ) -> Iterator[Event]:
        """Yield ``Progress`` and ``FramesReady`` events; frames come out in order.

        ``survey`` (optional) is the same clip once more: it is read through first to build
        each shot's plate of first sightings, so a hole pixel can come from a frame anywhere
        after it, not only from the window; without it the plates hold what was seen so far.

        Raises:
            InputError: frames or masks of the wrong shape, type or count.
            Cancelled: ``cancel()`` returned True (checked before each chunk).
        """
        if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames < 1:
            raise InputError(f"the clip must have at least one frame, got num_frames={num_frames!r}")
        cfg = self.config
        first: Plates | None = None
        if cfg.plates and survey is not None:
            first = yield from self._survey(survey, num_frames, cancel)
        radius = cfg.neighbor_radius
        window = _Window(cfg, num_frames)
        reader = _read(samples, num_frames)
        read = 0
        state = _Fill()
        chunk: list[np.ndarray] = []
        yield Progress("propagation", 0, num_frames)
        for t in range(num_frames):
            if t % cfg.chunk_size == 0 and cancel is not None and cancel():
                raise Cancelled(f"cancelled after {t} of {num_frames} frames")
            while read < min(num_frames, t + radius + 1):
                window.add(read, *next(reader))
                if cfg.plates:
                    state.track(window, read, num_frames, first)
                read += 1
            out, reliable = self._fill(window, t, state, first)
            state.previous = (out, reliable)
            chunk.append(out)
            window.forget_before(t + 1 - radius)
            if state.latest is not None:
                state.latest.forget_before(t + 1 - radius)
                state.made.forget_before(t)  # type: ignore[union-attr]
            if first is not None:
                first.forget_before(t)
            yield Progress("propagation", t + 1, num_frames)
            if len(chunk) == cfg.chunk_size or t == num_frames - 1:
                yield FramesReady(t + 1 - len(chunk), chunk)
                chunk = []

    def _survey(
        self, samples: Iterable[Sample], num_frames: int, cancel: CancelCheck | None
    ) -> Iterator[Event]:
        """Read the clip once: register its frames and keep each point's first sighting."""
        window = _Window(self.config, num_frames)
        plates: Plates | None = None
        yield Progress("survey", 0, num_frames,
                       "Reading the clip through once, to find every frame that shows the background behind the mask.")
        for index, (frame, mask, flow_mask) in enumerate(_read(samples, num_frames)):
            if index % self.config.chunk_size == 0 and cancel is not None and cancel():
                raise Cancelled(f"cancelled while surveying the clip, at frame {index} of {num_frames}")
            window.add(index, frame, mask, flow_mask)
            if plates is None:
                plates = Plates(window.size, keep="first", make=self.config.synthesis == "patch")  # type: ignore[arg-type]
            if index == 0:
                plates.register(0, None)
            elif _pair_has_hole(window, index):
                window.flow(index - 1, index)
                plates.add(index - 1, window.frames[index - 1], window.background(index - 1), window.holes[index - 1])
                plates.register(index, window.motion.get((index - 1, index)))
            else:
                plates.register(index, None)
            window.forget_before(index)
            yield Progress("survey", index + 1, num_frames)
        assert plates is not None
        last = num_frames - 1
        plates.add(last, window.frames[last], window.background(last), window.holes[last])
        plates.finish()
        return plates

    def _fill(
        self, window: _Window, t: int, state: "_Fill", first: Plates | None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Frame t filled, and the HxW bool map of its trustworthy pixels (None = all)."""
        frame, hole = window.frames[t], window.holes[t]
        if not hole.any():
            return frame, None
        cfg = self.config
        ys, xs = np.nonzero(hole)
        points = np.stack([xs, ys], axis=1).astype(np.float32)
        total = np.zeros((len(points), 3), dtype=np.float32)
        weight = np.zeros(len(points), dtype=np.float32)
        for step in (1, -1):
            self._propagate(window, t, step, points, total, weight)
        if cfg.reuse_filled and state.previous is not None and t - 1 in window.frames:
            self._pull_previous(window, t, state.previous, points, total, weight)
        # only what the window's frames gave is carried to the next frame (the plates are
        # asked again there, and judged again)
        carried = np.ones(hole.shape, dtype=bool)
        carried[ys[weight == 0], xs[weight == 0]] = False
        if state.latest is not None:
            self._from_plates(window, t, state.latest, first, points, total, weight)
        out = frame.copy()
        seen = weight > 0
        colours = total[seen] / weight[seen, None]
        out[ys[seen], xs[seen]] = np.clip(colours + 0.5, 0, 255).astype(np.uint8)
        unseen = np.zeros(hole.shape, dtype=bool)
        unseen[ys[~seen], xs[~seen]] = True
        if not seen.all():
            self._make(window, out, unseen, t, state)
        return out, carried

    def _from_plates(
        self, window: _Window, t: int, latest: Plates, first: Plates | None, points: np.ndarray, total: np.ndarray, weight: np.ndarray
    ) -> None:
        """Still-unseen points from the nearest sighting on the plates (latest or first)."""
        todo = np.nonzero(weight == 0)[0]
        if len(todo) == 0:
            return
        colours, found, made = _nearest_sighting(t, latest, first, points[todo])
        # a sighting is used only where the plate agrees with this frame around the hole: a
        # thing standing there now (a hand, a person) makes the older background wrong. What
        # was synthesised on the survey's plate is judged by that plate alone: it was made to
        # fit the plate's surroundings, which may be long gone (a fade, a cup brought in).
        px, py = points[todo, 0].astype(np.intp), points[todo, 1].astype(np.intp)
        for which, plates in ((~made, (latest, first)), (made, (first, None))):
            if not (found & which).any():
                continue
            stale = self._staleness(window, t, *plates)  # type: ignore[arg-type]
            if stale is not None:
                found &= ~which | (stale[py, px] <= PLATE_AGREEMENT)
        total[todo[found]] = colours[found]
        weight[todo[found]] = 1.0

    @staticmethod
    def _staleness(window: _Window, t: int, latest: Plates, first: Plates | None) -> np.ndarray | None:
        """HxW float32: how far the plates are from frame t next to each hole pixel (grey
        levels, interpolated into the hole from a ring around it), None if nothing compares."""
        hole = window.holes[t]
        ys, xs = np.nonzero(_ring(window, t))
        if len(xs) == 0:
            return None
        colours, found, _ = _nearest_sighting(t, latest, first, np.stack([xs, ys], axis=1).astype(np.float32))
        if not found.any():
            return None
        # a ring pixel that no frame showed as background is something that is there now and
        # not on the plates (moving, or held still in front of the camera): disagreement
        diff = np.full(len(xs), 255.0, np.float32)
        frame = window.frames[t][ys[found], xs[found]].astype(np.float32)
        diff[found] = np.abs(colours[found] - frame).mean(axis=1)
        values = np.zeros(hole.shape, np.float32)
        known = np.zeros(hole.shape, bool)
        values[ys, xs] = diff
        known[ys, xs] = True
        # each ring pixel stands for its neighbourhood: a median over 5x5 drops noise
        values = cv2.medianBlur(np.clip(values, 0, 255).astype(np.uint8), 5).astype(np.float32)
        return smooth_fill(values, known)

    def _make(self, window: _Window, out: np.ndarray, unseen: np.ndarray, t: int, state: "_Fill") -> None:
        """Fill pixels no frame shows, in place: synthesised once and carried, or inpainted."""
        cfg = self.config
        made = state.made
        if made is not None and cfg.synthesis == "patch":
            ys, xs = np.nonzero(unseen)
            colours, _, found = made.lookup(t, np.stack([xs, ys], axis=1).astype(np.float32))
            stale = self._staleness(window, t, made, None)
            if stale is not None:
                found &= stale[ys, xs] <= PLATE_AGREEMENT
            out[ys[found], xs[found]] = np.clip(colours[found] + 0.5, 0, 255).astype(np.uint8)
            unseen = unseen.copy()
            unseen[ys[found], xs[found]] = False
            if unseen.sum() >= cfg.synthesis_min_pixels:
                painted = synthesize(out, unseen, seed=t, em_steps=2)
                out[unseen] = painted[unseen]
                # what else the plate held under this hole was made to fit an older ring: the
                # ring written now vouches only for what is made now
                made.clear(t, window.holes[t] & ~unseen)
                # with the ring around it, so a later frame can tell whether it still fits
                made.add(t, out, unseen | _ring(window, t), unseen, erode=False)
                return
        if unseen.any():
            painted = cv2.inpaint(out, unseen.astype(np.uint8), cfg.inpaint_radius, _INPAINT[cfg.inpaint_method])
            out[unseen] = painted[unseen]

    def _step(
        self, window: _Window, a: int, b: int, pos: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Follow points ``pos`` (Nx2, frame a) to frame b: (new positions, kept flags)."""
        h, w = window.size  # type: ignore[misc]
        sx, sy = window.scale
        unit = np.array([1.0 / sx, 1.0 / sy], dtype=np.float32)
        f = _sample(window.flow(a, b), pos, window.scale) * unit
        new = pos + f
        inside = (new[:, 0] >= 0) & (new[:, 0] <= w - 1) & (new[:, 1] >= 0) & (new[:, 1] <= h - 1)
        back = _sample(window.flow(b, a), new, window.scale) * unit
        # the check runs in flow-resolution pixels so beta means the same at any size
        fs, bs = f / unit, back / unit
        err = np.sum((fs + bs) ** 2, axis=1)
        bound = self.config.consistency_alpha * (np.sum(fs**2, axis=1) + np.sum(bs**2, axis=1))
        return new, inside & (err <= bound + self.config.consistency_beta)

    def _propagate(
        self, window: _Window, t: int, step: int, points: np.ndarray, total: np.ndarray, weight: np.ndarray
    ) -> None:
        """Chain flows from frame t in direction ``step``; add colours found to total/weight."""
        alive = np.arange(len(points))
        pos = points.copy()
        for k in range(1, self.config.neighbor_radius + 1):
            a, b = t + (k - 1) * step, t + k * step
            if len(alive) == 0 or b not in window.frames:
                break
            pos, kept = self._step(window, a, b, pos)
            alive, pos = alive[kept], pos[kept]
            rounded = np.rint(pos).astype(np.intp)
            usable = window.sources(b)[rounded[:, 1], rounded[:, 0]]
            found = alive[usable]
            colours = _sample(window.frames[b], pos[usable], (1.0, 1.0)).astype(np.float32)
            w = 1.0 / k
            total[found] += w * colours
            weight[found] += w
            alive, pos = alive[~usable], pos[~usable]

    def _pull_previous(
        self,
        window: _Window,
        t: int,
        previous: tuple[np.ndarray, np.ndarray | None],
        points: np.ndarray,
        total: np.ndarray,
        weight: np.ndarray,
    ) -> None:
        """Fill still-unseen points from the previous output's propagated pixels."""
        out, reliable = previous
        todo = np.nonzero(weight == 0)[0]
        if len(todo) == 0 or reliable is None:
            return
        pos, kept = self._step(window, t, t - 1, points[todo])
        todo, pos = todo[kept], pos[kept]
        trusted = ~dilate(~reliable, 1)
        rounded = np.rint(pos).astype(np.intp)
        usable = trusted[rounded[:, 1], rounded[:, 0]]
        total[todo[usable]] = _sample(out, pos[usable], (1.0, 1.0)).astype(np.float32)
        weight[todo[usable]] = 1.0


def _nearest_sighting(
    t: int, latest: Plates, first: Plates | None, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Colours of points of frame t from the nearer in time of the two plates, found, and
    which of them were synthesised (on the survey's plate) rather than seen."""
    colours, times, found = latest.lookup(t, points)
    made = np.zeros(len(points), bool)
    if first is not None:
        c2, t2, f2 = first.lookup(t, points)
        nearer = f2 & (~found | (np.abs(t2.astype(np.int64) - t) < np.abs(times.astype(np.int64) - t)))
        colours[nearer], found = c2[nearer], found | f2
        made = nearer & (t2 == MADE)
    return colours, found, made


def _ring(window: _Window, t: int) -> np.ndarray:
    """HxW bool: the band that judges whether a plate still fits frame t's hole. It lies just
    outside where the flow is completed, so the frame's own pixels there are judged
    (background or not) and go on the plates."""
    region = window.flow_regions[t] | window.holes[t]
    return dilate(region, RING) & ~dilate(region, 1) & window.sources(t)


def _pair_has_hole(window: _Window, index: int) -> bool:
    return bool(window.holes[index - 1].any() or window.holes[index].any())


class _Fill:
    """What the fill pass carries from frame to frame."""

    def __init__(self) -> None:
        self.previous: tuple[np.ndarray, np.ndarray | None] | None = None  # last output, its reliable pixels
        self.latest: Plates | None = None  # latest sightings, as the clip streams
        self.made: Plates | None = None  # synthesised pixels, to carry to the next frames

    def track(self, window: _Window, index: int, num_frames: int, first: Plates | None) -> None:
        """Register frame ``index`` (just read) and put frame ``index - 1`` on the plate."""
        if self.latest is None:
            self.latest = Plates(window.size, keep="latest")  # type: ignore[arg-type]
            self.made = Plates(window.size, keep="latest")  # type: ignore[arg-type]
        # frames with no hole on either side need no flow (and get none: a new shot starts)
        needed = index > 0 and _pair_has_hole(window, index)
        if needed:
            window.flow(index - 1, index)
            self.latest.add(index - 1, window.frames[index - 1], window.background(index - 1), window.holes[index - 1])
        for plates in (self.latest, self.made):
            if first is not None:
                plates.share_registration(first)
            else:
                plates.register(index, window.motion.get((index - 1, index)) if needed else None)
        if index == num_frames - 1 and (needed or window.holes[index].any()):
            self.latest.add(index, window.frames[index], window.background(index), window.holes[index])


def _read(samples: Iterable[Sample], num_frames: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """Checked (frame, mask, flow_mask) triples, pulled one at a time."""
    it = iter(samples)
    size: tuple[int, int] | None = None
    for index in range(num_frames):
        sample = next(it, None)
        if sample is None:
            raise InputError(f"the clip gave only {index} frames but num_frames is {num_frames}")
        frame, mask, flow_mask = sample
        if mask is None:
            raise InputError(f"frame {index} has no mask: give one mask per frame")
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise InputError(
                f"frame {index} must be an HxWx3 uint8 RGB image, got shape {frame.shape} and type {frame.dtype}"
            )
        if size is None:
            size = frame.shape[:2]
        elif frame.shape[:2] != size:
            raise InputError(f"frame {index} is {frame.shape[1]}x{frame.shape[0]} but the clip is {size[1]}x{size[0]}")
        yield frame, _check_mask(mask, size, index, "mask"), (
            None if flow_mask is None else _check_mask(flow_mask, size, index, "flow mask")
        )


def _check_mask(mask: np.ndarray, size: tuple[int, int], index: int, what: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[2] == 1:
        mask = mask[..., 0]
    if mask.shape != size:
        raise InputError(
            f"{what} {index} has shape {mask.shape} but the frames are {size[0]}x{size[1]} (HxW): "
            f"give one {size[1]}x{size[0]} {what} per frame"
        )
    return mask
