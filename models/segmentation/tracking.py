"""Mask propagation across a clip: the object's own motion moves the mask, SAM snaps it to the object.

From a keyframe mask, each step towards the next frame (forward and backward):

1. **Follow the object** by its appearance (:class:`~models.segmentation.object_motion.ObjectMotion`):
   constant-velocity prediction, masked template search, ECC alignment and the dense optical
   flow's affine motion (OpenCV DIS, or RAFT when its weights are given to the
   :class:`~models.segmentation.flow.FlowField`) compete; the pose whose pixels look most like
   the object wins. Parts that no longer look like it in broad regions are hidden behind
   something and left out of the mask; the object's full shape moves on under them.
   Beside it, the object's mask is carried pixel by pixel
   (:class:`~models.segmentation.pixel_track.PixelTrack`: each pixel with its own flow, then a
   colour cut from local and keyframe colour models, the mask's drawn margin kept). Where the
   object does not move as one shape (a runner's legs, a turning rider), the mask that explains
   the colours around it better is written; a pixel track that runs on for
   :data:`PIXEL_RUN_LIMIT` frames without the whole shape matching again is flagged (it drifts).
   Where the background is one homography and the object moves apart from it (a rider the
   camera pans with), the mask is kept on the part of the picture that moves apart
   (:class:`~models.segmentation.motion_layer.MotionLayer`): where the shape tracker lost the
   object, the layer is written (such frames are flagged: a motion layer has no edges of its
   own), and where the layer loses it for a moment the mask waits where it was last seen.
2. **Refine** (when a :class:`~models.segmentation.predictor.SamClickPredictor` is given): SAM
   is prompted with the mask's box, a few interior points and the mask itself, and the
   candidate with the highest IoU with it is kept (unless it disagrees: then the tracked mask
   is kept and the frame is marked).
3. **Never an empty mask in silence**: where the object cannot be seen the run does not stop.
   The pose is carried on by the object's motion, later frames look for it again, and the
   frame gets the best estimate (the visible part when something is in front of it, else the
   predicted shape, dilated) and a *review* flag with the reason. An object that leaves the
   picture gets empty masks without a flag.

Without SAM the mask follows the motion alone, and the run says so (a :class:`Progress` note and
``TrackUpdate.flow_only``). :class:`MaskTrack` holds one object's keyframes, masks and review
flags; :class:`TrackSet` holds several objects and merges them into the removal mask.
Propagation is a generator: it yields :class:`Progress`, :class:`MaskPropagated` and
:class:`FrameFlagged` events and finally one :class:`TrackUpdate` (every changed frame, before
and after), which the caller applies in one undo step; the track is not touched while the run
is in progress, so a cancelled run (``models.errors.Cancelled``) leaves it as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Hashable, Iterator, Union

import cv2
import numpy as np

from ..errors import Cancelled, InputError
from ..events import Progress
from ..spans import describe
from .flow import DIS_PRESETS, FlowField, FrameGetter
from .confidence import ConfidenceConfig, TrackConfidence
from .object_motion import ObjectMotion, WorkImages
from .pixel_track import PixelTrack
from .motion_layer import MotionLayer

#: SAM 2's predicted IoU of its own mask under this flags the frame
SAM2_MIN_IOU = 0.5
REVIEW_LEFT_DOUBTFUL = ("the mask is empty because the object seemed to leave the picture, but the track "
                        "was already doubtful: check it or set a keyframe here")
FLOW_ONLY_NOTE = "No SAM model loaded: masks follow the optical flow alone; check their edges."


@dataclass(frozen=True)
class TrackingConfig:
    """Settings of mask propagation; checked on construction."""

    flow_max_side: int = 640  # long side of the images the flow is computed on
    flow_preset: str = "medium"  # DIS preset: ultrafast, fast, medium
    min_area_ratio: float = 0.5  # area(new) / area(previous) below this flags the frame
    max_area_ratio: float = 2.0  # ... above this flags the frame
    min_iou: float = 0.5  # SAM's mask vs the flow-warped mask below this flags the frame
    min_visible: float = 0.2  # share of the object that must be seen for a frame to count as tracked
    num_points: int = 3  # interior points given to SAM
    box_margin: float = 0.05  # the SAM box is the warped mask's box grown by this share
    mask_prompt: bool = True  # also give SAM the warped mask as a prompt
    confidence: ConfidenceConfig = field(default_factory=ConfidenceConfig)  # when a frame is flagged

    def __post_init__(self) -> None:
        if self.flow_preset not in DIS_PRESETS:
            raise InputError(f"Unknown flow preset {self.flow_preset!r}; choose one of {', '.join(DIS_PRESETS)}.")
        if self.flow_max_side < 16:
            raise InputError(f"flow_max_side must be at least 16 pixels, got {self.flow_max_side}.")
        if not 0 < self.min_area_ratio < 1 < self.max_area_ratio:
            raise InputError(
                f"The area ratio limits must satisfy 0 < min < 1 < max, got {self.min_area_ratio} and {self.max_area_ratio}."
            )
        if not 0 <= self.min_iou <= 1:
            raise InputError(f"min_iou must be within 0..1, got {self.min_iou}.")
        if not 0 < self.min_visible <= 1:
            raise InputError(f"min_visible must be within (0, 1], got {self.min_visible}.")
        if self.num_points < 0:
            raise InputError(f"num_points must not be negative, got {self.num_points}.")
        if not 0 <= self.box_margin <= 1:
            raise InputError(f"box_margin must be within 0..1, got {self.box_margin}.")


@dataclass(frozen=True)
class MaskPropagated:
    """Frame ``index`` of track ``track_id`` got ``mask`` (HxW bool) by ``method`` ("flow"/"sam").

    ``iou``: with SAM, the IoU of SAM's mask with the flow-warped one. ``confidence``: how far
    the motion tracker trusts the mask, in [0, 1] (:class:`TrackConfidence`; None from SAM 2).
    """

    track_id: Hashable
    index: int
    mask: np.ndarray = field(repr=False)
    method: str
    iou: float | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class FrameFlagged:
    """Frame ``index``, reached going ``direction`` (+1/-1), needs review for ``reason``: its
    mask is an estimate (the run went on past it)."""

    track_id: Hashable
    index: int
    direction: int
    reason: str


@dataclass(frozen=True)
class TrackUpdate:
    """Every change one propagation made to a track: apply it (one undo step) or revert it.

    ``before``/``after``: frame -> HxW bool mask or None (no mask); ``flags_before`` /
    ``flags_after``: frame -> reason or None, for the frames whose flag changed.
    """

    track_id: Hashable
    keyframe: int
    before: dict[int, np.ndarray | None] = field(repr=False)
    after: dict[int, np.ndarray | None] = field(repr=False)
    flags_before: dict[int, str | None] = field(default_factory=dict)
    flags_after: dict[int, str | None] = field(default_factory=dict)
    flow_only: bool = False
    #: frame -> (keyframe whose track wrote it, confidence) or None, before and after
    trust_before: dict[int, tuple[int, float] | None] = field(default_factory=dict)
    trust_after: dict[int, tuple[int, float] | None] = field(default_factory=dict)

    @property
    def changed_frames(self) -> list[int]:
        return sorted(set(self.after) | set(self.flags_after))

    @property
    def flagged(self) -> dict[int, str]:
        return {i: r for i, r in self.flags_after.items() if r is not None}


TrackEvent = Union[Progress, MaskPropagated, FrameFlagged, TrackUpdate]
CancelCheck = Callable[[], bool]


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two HxW masks (1.0 when both are empty)."""
    a, b = np.asarray(a) > 0, np.asarray(b) > 0
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def mask_box(mask: np.ndarray, margin: float = 0.0) -> np.ndarray | None:
    """(x0, y0, x1, y1) pixels around the nonzero pixels, grown by ``margin`` of its size."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    height, width = mask.shape
    return np.array([max(0, x0 - mx), max(0, y0 - my), min(width, x1 + mx), min(height, y1 + my)], dtype=np.float64)


def interior_points(mask: np.ndarray, count: int) -> np.ndarray:
    """Up to ``count`` (x, y) points deep inside ``mask``, spread apart (Nx2 float)."""
    if count <= 0:
        return np.zeros((0, 2))
    binary = (np.asarray(mask) > 0).astype(np.uint8)
    dist = cv2.distanceTransform(np.pad(binary, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    points = []
    for _ in range(count):
        y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
        depth = float(dist[y, x])
        if depth < 1.0:
            break
        points.append((float(x), float(y)))
        cv2.circle(dist, (int(x), int(y)), max(2, int(depth * 1.5)), 0.0, -1)
    return np.array(points, dtype=np.float64).reshape(-1, 2)


def _touches_border(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


#: What a frame marked for review says, by what the tracker found there.
REVIEW_HIDDEN = "the object is hidden behind something here: the mask holds only what is visible"
REVIEW_LOST = ("the object could not be followed here: the mask is estimated from its motion "
               "(dilated); check it or set a keyframe here")
REVIEW_PIXELS = ("the object could not be followed as one shape here: the mask is estimated from the motion "
                 "and colours of its pixels; check it or set a keyframe here")

#: where two keyframes' tracks meet, the one being written keeps a frame unless the other one
#: is surer there by more than this (confidences are coarse: a near tie is no evidence)
TRUST_MARGIN = 0.25
#: The shape tracker (:class:`ObjectMotion`) is trusted without a second look when this share of
#: the object's seen pixels still looks the same: the object moved as one shape.
SHAPE_SURE_AGREEMENT = 0.87
#: the states of the shape tracker in which the pixel track (:class:`PixelTrack`) may write the
#: mask instead: "tracked" (seen, but not surely as one shape) and "lost" (not seen, nothing
#: explains it); not "hidden" (another surface is in its place: only the visible part is kept)
PIXELS_FOR = ("tracked", "lost")
#: a mask carried by its pixels alone drifts a little every frame (nothing holds its shape):
#: after this many frames without a sure match of the whole shape, it is flagged
PIXEL_RUN_LIMIT = 6
#: the pixel track's mask is taken over the shape tracker's when it explains the colours around
#: the object better by this much (mean log-likelihood per pixel, :meth:`PixelTrack.explains`)
PIXELS_FIT_MARGIN = 0.0
#: ... and where the shape tracker lost the object, the pixel track's mask must stand out from
#: its surroundings this much (:meth:`PixelTrack.contrast`)
PIXELS_MIN_CONTRAST = 0.1
#: a flagged frame's confidence is at most this share of the review threshold
FLAGGED_CONFIDENCE = 0.98
#: the motion layer (:class:`MotionLayer`) may write the mask of an object of which at least this
#: share moved apart from the background on the first step where the cue applied (a mask with
#: large still parts, such as a shadow strip or a wide margin, is not one moving layer)
LAYER_MIN_MOVING = 0.7
#: where the shape tracker says the object is hidden, its visible part is believed unless it
#: overlaps the moving layer less than this (IoU): then its pose is elsewhere
LAYER_HIDDEN_IOU = 0.3
#: a mask followed on the moving layer stays where the object was last seen, for at most this
#: many frames, where the layer does not show it (something passes in front of it, it holds
#: still for a moment); the layer keeps looking for it there
LAYER_COAST = 8
REVIEW_LAYER_COAST = ("the object is not seen moving here (something may be in front of it): the mask stays "
                      "where it was last seen; check it or set a keyframe here")
REVIEW_LAYER = ("the mask follows the part of the picture that moves apart from the background: "
                "check its edges or set a keyframe here")
REVIEW_PIXEL_RUN = ("the mask has followed the object's pixels for {n} frames without matching its whole "
                    "shape: it may have drifted; check it or set a keyframe here")


class _Stepper:
    """One propagation step from frame to frame, shared by every direction and track.

    The object is followed by its own appearance (:class:`ObjectMotion`); SAM, when given,
    snaps the result to the object's edges. A step never stops the run: a frame where the
    object cannot be seen gets the best estimate and a reason for review.
    """

    def __init__(self, flow: FlowField, predictor, clip_id: Hashable, config: TrackingConfig,
                 num_frames: int | None = None) -> None:
        self.flow = flow
        self.predictor = predictor
        self.clip_id = clip_id
        self.config = config
        self._images = WorkImages(flow)
        self.num_frames = num_frames  # the clip's length, when known

    def begin(self, index: int, mask: np.ndarray, keyframes: dict[int, np.ndarray] | None = None) -> None:
        """Start a direction at keyframe ``index``; ``keyframes``: every keyframe mask of the
        object (their colours make the model the confidence checks against)."""
        self.flow.frame(index)
        self.motion = ObjectMotion(self._images, self.flow.size, self.flow.flow_size, self.flow,
                                   min_visible=self.config.min_visible)
        self.motion.begin(index, mask)
        self.pixels = PixelTrack(self.flow)
        self.pixels.begin(index, mask, keyframes)
        self._pixel_run = 0
        self.layer = MotionLayer(self.flow, num_frames=self.num_frames)
        self.layer.begin(index, mask)
        self._layer_fits = None
        self._on_layer = False  # the last frame's mask came from the layer
        self._coast = 0  # frames carried on by the layer's motion alone since it last saw the object
        self.trust = TrackConfidence(self.flow, self.config.confidence)
        for k, m in sorted((keyframes or {index: mask}).items()):
            self.trust.add_keyframe(k, m)
        self.trust.begin(index, mask)
        self._prev = np.asarray(mask) > 0

    def step(self, src: int, dst: int) -> tuple[np.ndarray, str, float | None, str | None]:
        """(mask to write, method, SAM IoU or None, reason for review or None). A mask the
        step would not bet on (:class:`TrackConfidence`) is flagged with the signal that fired."""
        mask, method, iou, reason = self._step(src, dst)
        if reason in (REVIEW_HIDDEN, REVIEW_LOST, REVIEW_PIXELS, REVIEW_LAYER_COAST):
            self.trust.doubt()  # the tracker's own estimate: what follows is carried on from it
        elif mask.any():
            assessed = self.trust.assess(src, dst, self._prev, mask).reason
            reason = reason or assessed  # SAM's disagreement is said first; the tracked mask is judged too
        elif reason is None and self.trust.confidence < self.config.confidence.review_below:
            # "left the picture" is believed only from a track that was sure where the object was
            reason = REVIEW_LEFT_DOUBTFUL
        self._prev = np.asarray(mask) > 0
        return mask, method, iou, reason

    def _step(self, src: int, dst: int) -> tuple[np.ndarray, str, float | None, str | None]:
        cfg = self.config
        out = self.motion.step(src, dst)
        pixels = self.pixels.step(src, dst)
        # a mask that is not one moving layer never gets the layer's mask: it is not looked for
        layer = None if self._layer_fits is False else self.layer.step(src, dst)
        if self._layer_fits is None and self.layer.moving > 0:
            # the first step where the cue applies says whether the mask is an object that moves
            # apart from the background, or holds still parts too (a shadow strip, a wide margin)
            self._layer_fits = self.layer.moving >= LAYER_MIN_MOVING
        # where the shape tracker did not see the object (or says it is hidden somewhere the layer
        # does not put it), the moving layer is written: the pixel track drifts where the
        # background streams past (its edge pixels take the background's flow), the layer is
        # found anew on every frame and finds the object again after something passed in front
        if layer is not None and self._layer_fits and (
                out.state in ("lost", "left") or (out.state == "hidden" and mask_iou(layer, out.mask) < LAYER_HIDDEN_IOU)):
            mask, method, iou, why = self._refine(dst, layer, REVIEW_LAYER)  # SAM, when loaded, snaps it
            # snapped or not, where the object is came from the layer alone: the frame stays flagged
            why = why or REVIEW_LAYER
            self.pixels.sync(mask)
            self.layer.sync(mask)
            self._pixel_run = 0
            self._coast = 0
            self._on_layer = True
            return mask, method, iou, why
        if (self._on_layer and layer is None and out.state != "tracked" and self._coast < LAYER_COAST
                and self.layer.predicted is not None and self.layer.predicted.any()):
            # followed on the layer until now and not seen on it here (a trunk in front, a frame
            # where it holds still): the mask stays where the object was last seen, flagged
            self._coast += 1
            mask = self.layer.predicted
            self.pixels.sync(mask)
            return mask, "flow", None, REVIEW_LAYER_COAST
        self._on_layer = False
        use_pixels = False
        # unless what was seen still looks the same (the object moved as one shape), the mask that
        # explains the colours around the object better (by the keyframes' colour models) wins: a
        # bending object leaves the shape behind, a flat object's flow is filled in from the
        # background and drags the pixel track there
        if out.state in PIXELS_FOR and pixels.any() and not (out.state == "tracked" and
                                                             out.agreement >= SHAPE_SURE_AGREEMENT):
            pixel_fit, shape_fit = self.pixels.explains(dst, [pixels, out.mask])
            use_pixels = pixel_fit > shape_fit + PIXELS_FIT_MARGIN
            if out.state == "lost":  # where its colours do not stand out (a cut, a flash), the shape's estimate
                use_pixels = use_pixels and self.pixels.contrast(dst, pixels) >= PIXELS_MIN_CONTRAST
        if use_pixels:
            # it bent, turned or could not be found as one shape: its pixels are followed instead
            self._pixel_run += 1
            reason = None if out.state == "tracked" else REVIEW_PIXELS
            if reason is None and self._pixel_run > PIXEL_RUN_LIMIT:
                reason = REVIEW_PIXEL_RUN.format(n=self._pixel_run)
            mask, method, iou, why = self._refine(dst, pixels, reason)
            if method == "sam":  # snapped to the object's edges: no drift carried on from here
                self.pixels.sync(mask)
                self._pixel_run = 0
                why = why or (REVIEW_PIXELS if out.state == "lost" else None)
            return mask, method, iou, why
        if out.state in ("tracked", "left"):
            self.layer.sync(out.mask)
            # the pixel track goes on from the shape tracker's mask where that saw the object (its
            # guess where it did not see it is no better than the pixels')
            self.pixels.sync(out.mask)
        if out.state == "tracked":
            self._pixel_run = 0
        if out.state == "left":
            return out.mask, "flow", None, None
        if out.state == "hidden":
            return out.mask, "flow", None, REVIEW_HIDDEN
        if out.state == "lost":
            return out.mask, "flow", None, REVIEW_LOST
        refined = self._refine(dst, out.mask, None, out.visible)
        if refined[1] == "sam":
            self.pixels.sync(refined[0])
        return refined

    def _refine(self, dst: int, warped: np.ndarray, reason: str | None, visible: float = 0.0):
        """``warped`` snapped by SAM when there is a predictor (else as it is)."""
        cfg = self.config
        if self.predictor is None or not warped.any():
            return warped, "flow", None, reason
        self.predictor.set_frame(self.clip_id, dst, self.flow.frame(dst))
        points = interior_points(warped, cfg.num_points)
        prediction = self.predictor.predict(
            points=points if len(points) else None,
            labels=np.ones(len(points), dtype=np.int64) if len(points) else None,
            box=mask_box(warped, cfg.box_margin),
            mask_input=warped if cfg.mask_prompt else None,
            multimask=True,
        )
        ious = [mask_iou(candidate, warped) for candidate in prediction.masks]
        best = int(np.argmax(ious))
        refined, iou = prediction.masks[best], float(ious[best])
        if iou < cfg.min_iou:
            return warped, "flow", iou, (f"SAM's mask overlaps the tracked object only {iou:.2f} (IoU): "
                                         "the tracked mask was kept; check it")
        ratio = np.count_nonzero(refined) / max(1, np.count_nonzero(warped))
        if not cfg.min_area_ratio <= ratio <= cfg.max_area_ratio:
            return warped, "flow", iou, f"SAM's mask is {ratio:.2f}x the tracked one: the tracked mask was kept; check it"
        if visible > 0.9 and iou < 0.9:
            self.motion.reanchor(dst, refined)  # the object changed shape: follow SAM's outline from here
        return refined, "sam", iou, None


class MaskTrack:
    """One object's masks over a clip of ``num_frames`` frames of ``size`` (H, W).

    Keyframes are masks the user set (clicks or brush); other frames are propagated from them.
    Masks are HxW bool; a frame without a mask returns None.
    """

    def __init__(self, num_frames: int, size: tuple[int, int], track_id: Hashable = 0) -> None:
        if num_frames < 1:
            raise InputError(f"A mask track needs at least one frame, got {num_frames}.")
        if len(size) != 2 or min(size) < 1:
            raise InputError(f"A mask track needs a frame size (H, W), got {size}.")
        self.num_frames = int(num_frames)
        self.size = (int(size[0]), int(size[1]))
        self.track_id = track_id
        self._masks: dict[int, np.ndarray] = {}
        self._keyframes: set[int] = set()
        self._flags: dict[int, str] = {}
        # frame -> (keyframe whose track wrote it, the tracker's confidence there): where two
        # keyframes' tracks meet, each frame keeps the more confident one
        self._trust: dict[int, tuple[int, float]] = {}

    # ---------------------------------------------------------------- reading
    def mask(self, index: int) -> np.ndarray | None:
        return self._masks.get(int(index))

    @property
    def keyframes(self) -> list[int]:
        return sorted(self._keyframes)

    @property
    def flags(self) -> dict[int, str]:
        """Frames that need review (their mask is an estimate), with the reason (for the timeline)."""
        return dict(self._flags)

    @property
    def trust(self) -> dict[int, tuple[int, float]]:
        """Frame -> (keyframe whose track wrote it, the tracker's confidence there): what a saved
        project keeps so that a reopened one still knows which frames were doubtful."""
        return dict(self._trust)

    @property
    def confidence(self) -> dict[int, float]:
        """Frame -> how far the tracker trusts its mask there, in [0, 1] (1 on keyframes), for
        the frames the motion tracker wrote (for the timeline's strip; kept with the project)."""
        out = {i: float(c) for i, (_, c) in self._trust.items() if i in self._masks}
        out.update({k: 1.0 for k in self._keyframes})
        return out

    def frames_with_masks(self) -> list[int]:
        return sorted(self._masks)

    def span(self, index: int, frame_range: tuple[int, int] | None = None) -> tuple[int, int]:
        """(first, last) frames re-propagation from ``index`` may replace: up to the
        neighbouring keyframes (exclusive) and within ``frame_range`` = (start, stop)."""
        lo, hi = (0, self.num_frames - 1) if frame_range is None else (frame_range[0], frame_range[1] - 1)
        before = [k for k in self._keyframes if k < index]
        after = [k for k in self._keyframes if k > index]
        if before:
            lo = max(lo, max(before) + 1)
        if after:
            hi = min(hi, min(after) - 1)
        return lo, hi

    # ---------------------------------------------------------------- editing
    def keyframe_update(self, index: int, mask: np.ndarray) -> TrackUpdate:
        """The change that makes ``mask`` (HxW, nonzero = object) the user's mask on frame
        ``index``, not applied (an undo step applies it, then :meth:`mark_keyframe`)."""
        index = self._check_index(index)
        mask = np.asarray(mask)
        if mask.shape != self.size:
            raise InputError(
                f"The mask for frame {index} is {mask.shape[1] if mask.ndim > 1 else '?'}x{mask.shape[0]} "
                f"but the clip is {self.size[1]}x{self.size[0]}."
            )
        return TrackUpdate(
            self.track_id,
            index,
            before={index: self._masks.get(index)},
            after={index: mask > 0},
            flags_before={index: self._flags.get(index)} if index in self._flags else {},
            flags_after={index: None} if index in self._flags else {},
        )

    def set_keyframe(self, index: int, mask: np.ndarray) -> TrackUpdate:
        """Make ``mask`` (HxW, nonzero = object) the user's mask on frame ``index``; applied."""
        update = self.keyframe_update(index, mask)
        self.apply(update)
        self._keyframes.add(update.keyframe)
        return update

    def copy(self) -> "MaskTrack":
        """An independent track with the same masks, keyframes and flags (the mask arrays are
        shared: the track never changes an array in place, it replaces it)."""
        other = MaskTrack(self.num_frames, self.size, self.track_id)
        other._masks, other._keyframes, other._flags = dict(self._masks), set(self._keyframes), dict(self._flags)
        other._trust = dict(self._trust)
        return other

    def mark_keyframe(self, index: int) -> None:
        """Frame ``index`` becomes a keyframe with the mask it has (redo of an undone keyframe)."""
        index = self._check_index(index)
        if index not in self._masks:
            raise InputError(f"Frame {index} has no mask for this object, so it cannot be a keyframe.")
        self._keyframes.add(index)

    def remove_keyframe(self, index: int) -> None:
        """Frame ``index`` stops being a keyframe (its mask stays until re-propagated over)."""
        self._keyframes.discard(int(index))

    def apply(self, update: TrackUpdate) -> None:
        """Write ``update.after`` (the redo side of an undo step)."""
        self._write(update.after, update.flags_after, update.trust_after)

    def revert(self, update: TrackUpdate) -> None:
        """Write ``update.before`` (the undo side)."""
        self._write(update.before, update.flags_before, update.trust_before)

    def _write(self, masks: dict[int, np.ndarray | None], flags: dict[int, str | None],
               trust: dict[int, tuple[int, float] | None] | None = None) -> None:
        for index, value in (trust or {}).items():
            if value is None:
                self._trust.pop(index, None)
            else:
                self._trust[index] = value
        for index, mask in masks.items():
            if mask is None:
                self._masks.pop(index, None)
            else:
                self._masks[index] = mask
        for index, reason in flags.items():
            if reason is None:
                self._flags.pop(index, None)
            else:
                self._flags[index] = reason

    def _check_index(self, index: int) -> int:
        index = int(index)
        if not 0 <= index < self.num_frames:
            raise InputError(f"Frame {index} is outside the clip (0..{self.num_frames - 1}).")
        return index

    # ---------------------------------------------------------------- propagation
    def repropagate_from(
        self,
        frame: int,
        get_frame: FrameGetter | FlowField,
        *,
        predictor=None,
        clip_id: Hashable = None,
        config: TrackingConfig | None = None,
        directions: str = "both",
        frame_range: tuple[int, int] | None = None,
        cancel: CancelCheck | None = None,
        flow_model=None,
        video_tracker=None,
    ) -> Iterator[TrackEvent]:
        """Propagate keyframe ``frame`` up to the neighbouring keyframes; yields events.

        ``get_frame(i) -> HxWx3 uint8 RGB`` (or a shared :class:`FlowField`);
        ``predictor``: a :class:`SamClickPredictor` or None (flow only); ``clip_id``: the
        key of this clip in the predictor's embedding cache; ``directions``: "both",
        "forward" or "backward"; ``flow_model``: an optical flow callable in place of DIS
        (e.g. :class:`~models.segmentation.raft_flow.RaftFlow`); ``video_tracker``: a
        :class:`~models.segmentation.sam2_video.Sam2VideoTracker` that segments the object on
        every frame from all its keyframes (SAM 2's memory), in place of the motion tracker and
        SAM refinement. The last event is a :class:`TrackUpdate` (also the
        generator's return value); the track itself is unchanged until it is :meth:`apply`-ed.
        ``cancel()`` is polled before every frame and raises :class:`Cancelled`.
        """
        frame = self._check_index(frame)
        if frame not in self._keyframes:
            raise InputError(f"Frame {frame} is not a keyframe of this object; set its mask first.")
        if directions not in ("both", "forward", "backward"):
            raise InputError(f"Propagation direction must be both, forward or backward, got {directions!r}.")
        config = config or TrackingConfig()
        flow = get_frame if isinstance(get_frame, FlowField) else FlowField(
            get_frame, max_side=config.flow_max_side, preset=config.flow_preset, flow_model=flow_model
        )
        stepper = _Stepper(flow, predictor, clip_id, config, self.num_frames) if video_tracker is None else None
        lo, hi = self.span(frame, frame_range)
        plan = []
        if directions in ("both", "forward") and hi > frame:
            plan.append((+1, hi))
        if directions in ("both", "backward") and lo < frame:
            plan.append((-1, lo))
        total = sum(abs(end - frame) for _, end in plan)
        done = 0
        after: dict[int, np.ndarray | None] = {}
        flags_after: dict[int, str | None] = {}
        # frames in the span lose stale flags; a new flag may set them again
        for index in self._flags:
            if lo <= index <= hi:
                flags_after[index] = None
        flow_only = predictor is None and video_tracker is None
        yield Progress("tracking", 0, total, FLOW_ONLY_NOTE if flow_only else "")
        if video_tracker is not None:
            steps = self._sam2_steps(video_tracker, flow, frame, lo, hi, directions, cancel)
        else:
            steps = self._motion_steps(stepper, frame, plan, cancel)
        trust_after: dict[int, tuple[int, float] | None] = {}
        kept: list[int] = []
        for target, direction, new, method, iou, reason, trust in steps:
            held = self._trust.get(target)
            # the track coming the other way, from the next keyframe beyond this frame
            facing = held is not None and held[0] in self._keyframes and (held[0] - target) * direction > 0
            if trust is not None and facing and target in self._masks and held[1] > trust + TRUST_MARGIN:
                # that keyframe's track is surer here: a correction stays local
                flags_after.pop(target, None)
                kept.append(target)
                done += 1
                yield Progress("tracking", done, total)
                continue
            after[target] = new
            trust_after[target] = None if trust is None else (frame, float(trust))
            if reason is not None:
                flags_after[target] = reason
                yield FrameFlagged(self.track_id, target, direction, reason)
            yield MaskPropagated(self.track_id, target, new, method, iou, trust)
            done += 1
            yield Progress("tracking", done, total)
        if kept:
            yield Progress("tracking", done, total,
                           f"{len(kept)} frame(s) keep the mask of a neighbouring keyframe's track, which is surer there "
                           f"(frames {describe(kept, offset=1)})")
        before = {i: self._masks.get(i) for i in after}
        flags_before = {i: self._flags.get(i) for i in flags_after}
        trust_before = {i: self._trust.get(i) for i in trust_after}
        # drop no-op flag entries so changed_frames lists only real changes
        for i in [i for i in flags_after if flags_after[i] == flags_before[i]]:
            del flags_after[i], flags_before[i]
        update = TrackUpdate(self.track_id, frame, before, after, flags_before, flags_after, flow_only,
                             trust_before, trust_after)
        yield update
        return update

    def _motion_steps(self, stepper: "_Stepper", frame: int, plan, cancel):
        """(frame, direction, mask, method, iou, reason, confidence) per frame, by the motion tracker."""
        for direction, end in plan:
            index = frame
            stepper.begin(frame, self._masks[frame], {k: self._masks[k] for k in self._keyframes})
            while index != end:
                if cancel is not None and cancel():
                    raise Cancelled("Mask propagation was cancelled; the masks were not changed.")
                target = index + direction
                new, method, iou, reason = stepper.step(index, target)
                confidence = stepper.trust.confidence
                if reason is not None:
                    # a frame flagged for review is not trusted, whatever signals the confidence measured
                    # (the timeline's strip, and where two keyframes' tracks meet)
                    confidence = min(confidence, FLAGGED_CONFIDENCE * stepper.config.confidence.review_below)
                yield target, direction, new, method, iou, reason, confidence
                index = target

    def _sam2_steps(self, video_tracker, flow: FlowField, frame: int, lo: int, hi: int, directions: str, cancel):
        """The same, by SAM 2 from every keyframe of the object, flagged from SAM 2's own word:
        its object score (a mask it doubts is there) and the IoU it predicts for its mask
        (under :data:`SAM2_MIN_IOU`). A frame where SAM 2 sees no
        object right after one where it did (and not at the picture's edge) is marked for
        review: SAM 2 says it is hidden or gone, and an empty mask must not pass unnoticed."""
        keyframes = {k: self._masks[k] for k in self._keyframes}
        last = {+1: self._masks[frame], -1: self._masks[frame]}
        for out in video_tracker.propagate(flow.frame, self.num_frames, keyframes, frame, lo=lo, hi=hi,
                                           directions=directions, cancel=cancel):
            mask = np.asarray(out.mask, dtype=bool)
            reason = None
            previous = last[out.direction]
            iou = getattr(out, "iou", None)
            if not mask.any() and previous is not None and previous.any() and not _touches_border(previous):
                reason = f"SAM 2 does not see the object here (score {out.score:.1f}): the mask is empty; check it"
            elif mask.any() and out.score < 0:
                reason = f"SAM 2 doubts the object is here (score {out.score:.1f}): check the mask"
            elif mask.any() and iou is not None and iou < SAM2_MIN_IOU:
                reason = f"SAM 2 is unsure of this mask (its own IoU estimate is {iou:.2f}): check it"
            if mask.any() or reason is None:
                last[out.direction] = mask
            yield out.index, out.direction, mask, "sam2", None, reason, iou


def run_to_end(events: Iterator[TrackEvent]) -> TrackUpdate:
    """Drain a propagation generator and return its :class:`TrackUpdate` (not applied)."""
    last = None
    for event in events:
        if isinstance(event, TrackUpdate):
            last = event
    if last is None:
        raise RuntimeError("The propagation ended without a TrackUpdate.")
    return last


class TrackSet:
    """Several objects on one clip, each its own :class:`MaskTrack`, merged for removal."""

    def __init__(self, num_frames: int, size: tuple[int, int]) -> None:
        self.num_frames = int(num_frames)
        self.size = (int(size[0]), int(size[1]))
        self.tracks: dict[Hashable, MaskTrack] = {}
        self._next_id = 0

    def add(self, track_id: Hashable | None = None) -> MaskTrack:
        if track_id is None:
            while self._next_id in self.tracks:
                self._next_id += 1
            track_id = self._next_id
        if track_id in self.tracks:
            raise InputError(f"There is already an object track called {track_id!r}.")
        track = MaskTrack(self.num_frames, self.size, track_id)
        self.tracks[track_id] = track
        return track

    def remove(self, track_id: Hashable) -> MaskTrack:
        return self.tracks.pop(track_id)

    def __len__(self) -> int:
        return len(self.tracks)

    def merged(self, index: int, exclude: Hashable | None = None) -> np.ndarray | None:
        """HxW uint8 0/1: the union of every object's mask on frame ``index`` (None if none),
        leaving out object ``exclude``."""
        out = None
        for track_id, track in self.tracks.items():
            mask = track.mask(index) if track_id != exclude else None
            if mask is not None:
                out = mask.copy() if out is None else out | mask
        return None if out is None else out.astype(np.uint8)

    def flags(self) -> dict[int, list[str]]:
        """Frame -> reasons, over every object (for the timeline)."""
        out: dict[int, list[str]] = {}
        for track in self.tracks.values():
            for index, reason in track.flags.items():
                out.setdefault(index, []).append(f"object {track.track_id}: {reason}")
        return out

    def confidence(self) -> dict[int, float]:
        """Frame -> the lowest confidence of any object's mask there (for the timeline)."""
        out: dict[int, float] = {}
        for track in self.tracks.values():
            for index, value in track.confidence.items():
                out[index] = min(value, out.get(index, 1.0))
        return out

    def propagate_all(
        self,
        get_frame: FrameGetter,
        *,
        predictor=None,
        clip_id: Hashable = None,
        config: TrackingConfig | None = None,
        frame_range: tuple[int, int] | None = None,
        cancel: CancelCheck | None = None,
        flow_model=None,
        video_tracker=None,
    ) -> Iterator[TrackEvent]:
        """Propagate every keyframe of every object (one shared flow cache); yields events.

        Each keyframe fills its span up to the neighbouring keyframes, keyframes in order, so
        between two keyframes the later one's backward pass wins. Every :class:`TrackUpdate`
        is applied as it arrives (this is the batch path for the CLI and first propagation;
        the GUI wraps the run in one undo step by collecting the updates it yields).
        """
        config = config or TrackingConfig()
        flow = FlowField(get_frame, max_side=config.flow_max_side, preset=config.flow_preset, flow_model=flow_model)
        for track in list(self.tracks.values()):
            for keyframe in track.keyframes:
                for event in track.repropagate_from(
                    keyframe, flow, predictor=predictor, clip_id=clip_id, config=config,
                    frame_range=frame_range, cancel=cancel, video_tracker=video_tracker,
                ):
                    if isinstance(event, TrackUpdate):
                        track.apply(event)
                    yield event
        for update in self.separate():
            self.tracks[update.track_id].apply(update)
            yield update

    def separate(self) -> list[TrackUpdate]:
        """Where tracked objects overlap, the pixels go to one of them: the object whose
        keyframe it is, else the one tracked with more confidence there (objects that cross
        do not take each other's pixels). Returns the changes, not applied."""
        after: dict[Hashable, dict[int, np.ndarray]] = {}
        tracks = list(self.tracks.values())
        for index in range(self.num_frames):
            owners = [t for t in tracks if t.mask(index) is not None]
            if len(owners) < 2:
                continue

            def rank(t: MaskTrack) -> float:
                if index in t._keyframes:
                    return 2.0
                held = t._trust.get(index)
                return -1.0 if held is None else float(held[1])

            owners.sort(key=rank, reverse=True)
            taken = np.zeros(self.size, bool)
            for t in owners:
                mask = after.get(t.track_id, {}).get(index, t.mask(index))
                if index not in t._keyframes and (mask & taken).any():
                    mask = mask & ~taken
                    after.setdefault(t.track_id, {})[index] = mask
                taken |= mask
        return [TrackUpdate(tid, -1, {i: self.tracks[tid].mask(i) for i in masks}, dict(masks))
                for tid, masks in after.items()]
