"""The tracking service: which tracker follows the objects, and their masks through a clip.

No Qt and no argparse: the command line (``editor/tracking_cli.py``: it parses and prints),
the editor (``editor/widgets/objects.py``), the benchmarks and a notebook all call this.

- :func:`load_tracker` (``choice`` auto, sam2, sam or flow) -> :class:`TrackerChoice`: the
  networks whose weights are present (SAM 2, SAM, RAFT; DIS needs nothing), or a
  :class:`~models.errors.WeightsError` saying how to get the missing ones.
  :func:`load_click_predictor` is what turns clicks into a first mask (SAM, or SAM 2's image mode).
- :func:`track` (objects given by keyframe masks) yields one :class:`TrackedFrame` per frame:
  each object's mask, the frames to review with their reason, how each mask was made.
- :func:`propagate`: one object's keyframe up to its neighbouring keyframes, as events ending
  in a :class:`~models.segmentation.TrackUpdate` (the editor's Propagate, one undo step).
- :func:`masks_from_clicks`: :class:`Click` / :class:`Box` prompts -> one mask per object -> tracked.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from models.errors import InputError, WeightsError
from models.spans import describe

SAM_MODELS = ("vit_b", "vit_l", "vit_h")
SAM2_MODELS = ("sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus", "sam2.1_hiera_large")
#: The tracker choices: auto picks SAM 2, then SAM, then the motion tracker alone, by the weights found.
TRACKERS = ("auto", "sam2", "sam", "flow")

#: What a frame source may be: an opened :class:`editor.media.VideoReader` (``.info``,
#: ``.frame(i)``), a sequence of HxWx3 uint8 RGB frames, or ``get_frame(i)`` (with ``num_frames``).
Frames = Any


# ----------------------------------------------------------------------------- loading
def _device(device: str | None) -> str:
    if device in (None, "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def load_predictor(
    checkpoint: str | Path | None = None,
    model_type: str = "vit_b",
    weights_dir: str | Path | None = None,
    device: str | None = None,
    required: bool = False,
) -> Any:
    """A :class:`~models.segmentation.SamClickPredictor`, or None when no weights are found.

    With ``checkpoint`` (or ``required``) missing weights raise :class:`WeightsError`.
    """
    from models.segmentation import SamClickPredictor, sam_weights_available

    if checkpoint is None and not sam_weights_available(model_type, weights_dir):
        if required:
            raise WeightsError(
                f"Clicks need the SAM weights to make a mask: download them with "
                f"`python main.py weights download sam_{model_type}` (or pass --sam-checkpoint), "
                f"or give the masks with --mask."
            )
        return None
    return SamClickPredictor.from_pretrained(model_type, checkpoint=checkpoint, weights_dir=weights_dir,
                                             device=_device(device))


@dataclass
class TrackerChoice:
    """What tracks the masks: ``name`` is "sam2", "sam" or "flow"; ``predictor`` (SAM, refines
    the motion tracker's masks), ``video`` (a SAM 2 video tracker) and ``flow_model`` (RAFT, or
    None for DIS) are the parts; ``note`` says in one line what runs and why."""

    name: str
    predictor: Any = None
    video: Any = None
    flow_model: Any = None
    note: str = ""

    def propagation_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``MaskTrack.repropagate_from`` / ``TrackSet.propagate_all``."""
        return {"predictor": self.predictor, "video_tracker": self.video, "flow_model": self.flow_model}


def load_flow_model(weights_dir: str | Path | None = None, device: str | None = None) -> Any:
    """RAFT (the ProPainter ``raft-things.pth``) for the mask flow when it is in the weights
    folder, else None (OpenCV DIS, no download)."""
    from models.segmentation.raft_flow import RaftFlow

    if not RaftFlow.available(weights_dir):
        return None
    return RaftFlow.from_weights(weights_dir, device=_device(device))


def load_video_tracker(model: str = "sam2.1_hiera_tiny", checkpoint: str | Path | None = None,
                       weights_dir: str | Path | None = None, device: str | None = None,
                       required: bool = False) -> Any:
    """A SAM 2 video tracker, or None when its weights are not found (``required``: raise)."""
    from models.segmentation.sam2_weights import sam2_weights_available

    if checkpoint is None and not sam2_weights_available(model, weights_dir):
        if required:
            raise WeightsError(
                f"--tracker sam2 needs the SAM 2 weights {model}: download them with "
                f"`python main.py weights download {model}` (or pass --sam2-checkpoint), or use --tracker flow."
            )
        return None
    try:
        from models.segmentation.sam2_video import Sam2VideoTracker
    except ImportError as exc:  # the sam2 package is missing or broken
        raise WeightsError(
            f"SAM 2 tracking needs the sam2 package ({exc}): install it with "
            f"`SAM2_BUILD_CUDA=0 pip install sam2`, or use --tracker sam or flow."
        ) from None
    return Sam2VideoTracker.from_pretrained(model, checkpoint=checkpoint, weights_dir=weights_dir,
                                            device=_device(device))


def sam2_cache_key(model: str, checkpoint: str | Path | None, weights_dir: str | Path | None,
                   device: str | None) -> tuple:
    """The key a loaded SAM 2 tracker is kept under in a ``cache`` of :func:`load_tracker`."""
    return ("sam2", model, str(checkpoint), str(weights_dir), device)


def _cached(cache: dict, key: tuple, load: Callable[[], Any]) -> Any:
    """``cache[key]``, loaded when absent or not found before (the weights may have come since)."""
    if cache.get(key) is None:
        cache[key] = load()
    return cache[key]


def load_click_predictor(*, prefer: str = "sam", sam_checkpoint: str | Path | None = None, sam_model: str = "vit_b",
                         sam2_model: str = "sam2.1_hiera_tiny", sam2_checkpoint: str | Path | None = None,
                         weights_dir: str | Path | None = None, device: str | None = None,
                         cache: dict | None = None) -> Any:
    """What turns clicks into a mask: SAM, or SAM 2's image mode when only its weights are there
    (``prefer`` "sam2": SAM 2 first). None when neither is found. A SAM 2 network already in
    ``cache`` (the tracker's) is shared, and one loaded here is kept there for the tracker."""
    def sam() -> Any:
        return load_predictor(sam_checkpoint, sam_model, weights_dir, device, required=False)

    def sam2() -> Any:
        video = _cached({} if cache is None else cache, sam2_cache_key(sam2_model, sam2_checkpoint, weights_dir, device),
                        lambda: load_video_tracker(sam2_model, sam2_checkpoint, weights_dir, device))
        if video is None:
            return None
        from models.segmentation import Sam2ClickPredictor

        return Sam2ClickPredictor.from_tracker(video)

    for load in ((sam2, sam) if prefer == "sam2" else (sam, sam2)):
        predictor = load()
        if predictor is not None:
            return predictor
    return None


def load_tracker(choice: str = "auto", *, weights_dir: str | Path | None = None, device: str | None = None,
                 sam_checkpoint: str | Path | None = None, sam_model: str = "vit_b",
                 sam2_checkpoint: str | Path | None = None, sam2_model: str = "sam2.1_hiera_tiny",
                 sam_predictor: Callable[[], Any] | None = None,
                 cache: dict | None = None) -> TrackerChoice:
    """The tracker ``choice`` (auto, sam2, sam, flow) with the weights that are present.

    "auto" takes SAM 2 when its weights (or ``sam2_checkpoint``) are found, else SAM refining
    the motion tracker, else the motion tracker alone; a named tracker whose weights are
    missing raises :class:`WeightsError` saying how to get them. The motion tracker's flow is
    RAFT when ``raft-things.pth`` is in the weights folder, else DIS. ``sam_predictor``: a
    function giving the SAM predictor (the editor's already-loaded one) instead of loading it.
    ``cache``: a dict that keeps the SAM 2 and RAFT networks found for the next call (the editor's).
    """
    if choice not in TRACKERS:
        raise InputError(f"--tracker {choice!r} is not one of {', '.join(TRACKERS)}.")
    cache = {} if cache is None else cache

    def cached(key: tuple, load: Callable[[], Any]) -> Any:
        return _cached(cache, key, load)

    if choice in ("auto", "sam2"):
        key = sam2_cache_key(sam2_model, sam2_checkpoint, weights_dir, device)
        video = cached(key, lambda: load_video_tracker(sam2_model, sam2_checkpoint, weights_dir, device,
                                                       required=choice == "sam2"))
        if video is not None:
            return TrackerChoice("sam2", video=video, note=f"Tracking with SAM 2 ({sam2_model}).")
    flow_model = cached(("raft", str(weights_dir), device), lambda: load_flow_model(weights_dir, device))
    flow_name = "RAFT" if flow_model is not None else "DIS (no RAFT weights found)"
    if choice in ("auto", "sam"):
        if sam_predictor is not None:
            predictor = sam_predictor()
        else:
            predictor = load_predictor(sam_checkpoint, sam_model, weights_dir, device, required=False)
        if predictor is None and choice == "sam":
            raise WeightsError(
                f"--tracker sam needs the SAM weights: download them with `python main.py weights download "
                f"sam_{sam_model}` (or pass --sam-checkpoint), or use --tracker flow."
            )
        if predictor is not None:
            return TrackerChoice("sam", predictor=predictor, flow_model=flow_model,
                                 note=f"Tracking by the object's motion ({flow_name} flow), refined by SAM ({sam_model}).")
    return TrackerChoice("flow", flow_model=flow_model,
                         note=f"Tracking by the object's motion alone ({flow_name} flow); check the edges.")


# ----------------------------------------------------------------------------- tracking
@dataclass(frozen=True)
class TrackedFrame:
    """Frame ``index`` of a tracking run, per object (keys: the object ids).

    ``masks``: HxW bool, for the objects that have a mask on this frame (an object that left
    the picture has an empty one); ``flags``: the reason this object's mask needs review (its
    mask is an estimate), only for flagged objects; ``methods``: how each mask was made
    ("keyframe", "flow", "sam", "sam2"); ``confidence``: the tracker's confidence in it,
    0..1 (1 on a keyframe; None where the tracker gives none).
    """

    index: int
    masks: dict[Hashable, np.ndarray] = field(repr=False)
    flags: dict[Hashable, str] = field(default_factory=dict)
    methods: dict[Hashable, str] = field(default_factory=dict)
    confidence: dict[Hashable, float | None] = field(default_factory=dict)

    @property
    def needs_review(self) -> bool:
        return bool(self.flags)

    def merged(self) -> np.ndarray | None:
        """HxW uint8 0/1: the union of every object's mask (the removal mask); None when no
        object has a mask here."""
        out = None
        for mask in self.masks.values():
            out = mask.copy() if out is None else out | mask
        return None if out is None else out.astype(np.uint8)


def _frame_source(frames: Frames, num_frames: int | None) -> tuple[Callable[[int], np.ndarray], int]:
    """(get_frame, number of frames) of a reader, a sequence of frames or a callable."""
    if hasattr(frames, "frame") and hasattr(frames, "info"):
        return frames.frame, int(frames.info.num_frames)
    if callable(frames):
        if num_frames is None:
            raise InputError("Tracking from a get_frame function needs num_frames.")
        return frames, int(num_frames)
    return frames.__getitem__, len(frames)


def _objects(keyframes: Sequence[tuple[int, np.ndarray]] | Mapping[Hashable, Mapping[int, np.ndarray]]
             ) -> dict[Hashable, dict[int, np.ndarray]]:
    if isinstance(keyframes, Mapping):
        return {oid: dict(frames) for oid, frames in keyframes.items()}
    return {i: {int(frame): mask} for i, (frame, mask) in enumerate(keyframes)}


def _confidence(event: Any) -> float | None:
    """The tracker's own confidence when its event carries one, else SAM's agreement with the
    tracked mask (IoU), else None."""
    value = getattr(event, "confidence", None)
    if value is None:
        value = event.iou
    return None if value is None else float(value)


def track(
    frames: Frames,
    keyframes: Sequence[tuple[int, np.ndarray]] | Mapping[Hashable, Mapping[int, np.ndarray]],
    *,
    tracker: TrackerChoice | None = None,
    num_frames: int | None = None,
    frame_range: tuple[int, int] | None = None,
    cancel: Callable[[], bool] | None = None,
    on_event: Callable[[Any], None] | None = None,
    clip_id: Hashable = None,
    config: Any = None,
) -> Iterator[TrackedFrame]:
    """Track objects from their keyframe masks; yields one :class:`TrackedFrame` per frame of
    ``frame_range`` (start, stop exclusive; default the whole clip), in order.

    ``frames``: an opened :class:`editor.media.VideoReader`, a sequence of HxWx3 uint8 RGB
    frames, or ``get_frame(i)`` with ``num_frames``. ``keyframes``: [(frame, HxW mask)], each
    one object (ids 0, 1, ...), or {object id: {frame: HxW mask}} for objects with several
    keyframes (each tracks up to its neighbours). ``tracker``: from :func:`load_tracker`
    (default: the motion tracker with DIS). ``cancel()`` is polled before every frame and
    raises :class:`~models.errors.Cancelled`; ``on_event`` gets the propagation's events
    (Progress, FrameFlagged, ...) as they happen; ``config``: a
    :class:`~models.segmentation.TrackingConfig`.

    A frame's masks are final only when every object is tracked (a later keyframe's pass may
    replace an earlier one's), so the frames come after the propagation has run; the work,
    the cancel checks and the events happen on the first ``next()``.
    """
    from models.segmentation import MaskPropagated, TrackSet

    get_frame, count = _frame_source(frames, num_frames)
    objects = _objects(keyframes)
    if not objects:
        raise InputError("Give at least one keyframe mask (white = object) to track.")
    start, stop = (0, count) if frame_range is None else (int(frame_range[0]), min(int(frame_range[1]), count))
    if not 0 <= start < stop:
        raise InputError(f"The frames to track {start}..{stop - 1} are not within the clip (frames 0..{count - 1}).")
    size = None
    for oid, masks in objects.items():
        for frame, mask in masks.items():
            mask = np.asarray(mask)
            if not 0 <= frame < count:
                raise InputError(f"The keyframe {frame} is outside the clip (frames 0..{count - 1}).")
            if not start <= frame < stop:
                raise InputError(f"The keyframe {frame} is outside the frames to track ({start}..{stop - 1}).")
            if not mask.any():
                raise InputError(f"The keyframe mask for frame {frame} is empty; paint the object white.")
            if size is None:
                size = mask.shape[:2]
            elif mask.shape[:2] != size:
                raise InputError(f"The keyframe masks are of different sizes: {mask.shape[1]}x{mask.shape[0]} "
                                 f"on frame {frame}, {size[1]}x{size[0]} before it.")
    info = getattr(frames, "info", None)
    if info is not None and (int(info.height), int(info.width)) != size:
        raise InputError(f"The keyframe masks are {size[1]}x{size[0]} but the clip is {info.width}x{info.height}.")
    tracker = tracker or TrackerChoice("flow")

    tracks = TrackSet(count, size)
    for oid, masks in objects.items():
        object_track = tracks.add(oid)
        for frame, mask in sorted(masks.items()):
            object_track.set_keyframe(frame, mask)
    made: dict[tuple[Hashable, int], tuple[str, float | None]] = {}
    for event in tracks.propagate_all(get_frame, clip_id=clip_id if clip_id is not None else id(frames),
                                      config=config, frame_range=(start, stop), cancel=cancel,
                                      **tracker.propagation_kwargs()):
        if isinstance(event, MaskPropagated):
            made[(event.track_id, event.index)] = (event.method, _confidence(event))
        if on_event is not None:
            on_event(event)
    for index in range(start, stop):
        masks, flags, methods, confidence = {}, {}, {}, {}
        for oid, object_track in tracks.tracks.items():
            mask = object_track.mask(index)
            if mask is None:
                continue
            masks[oid] = mask
            if index in object_track.keyframes:
                methods[oid], confidence[oid] = "keyframe", 1.0
            else:
                methods[oid], confidence[oid] = made.get((oid, index), ("flow", None))
            reason = object_track.flags.get(index)
            if reason is not None:
                flags[oid] = reason
        yield TrackedFrame(index, masks, flags, methods, confidence)


def propagate(object_track: Any, keyframe: int, frames: Frames, *, tracker: TrackerChoice,
              directions: str = "both", frame_range: tuple[int, int] | None = None,
              cancel: Callable[[], bool] | None = None, clip_id: Hashable = None,
              config: Any = None) -> Iterator[Any]:
    """One object's (a :class:`~models.segmentation.MaskTrack`) ``keyframe`` tracked up to its
    neighbouring keyframes within ``frame_range``, ``directions`` "both", "forward" or
    "backward": the propagation's events (Progress, FrameFlagged, MaskPropagated), the last a
    :class:`~models.segmentation.TrackUpdate` that the caller applies (one undo step); the
    track is not changed here."""
    get_frame, _ = _frame_source(frames, object_track.num_frames)
    return object_track.repropagate_from(keyframe, get_frame, clip_id=clip_id, directions=directions,
                                         frame_range=frame_range, cancel=cancel, config=config,
                                         **tracker.propagation_kwargs())


# ----------------------------------------------------------------------------- clicks -> masks
@dataclass(frozen=True)
class Click:
    """A click at (x, y) pixels on ``frame``; ``label`` 1 = include, 0 = exclude."""

    x: float
    y: float
    frame: int = 0
    label: int = 1


@dataclass(frozen=True)
class Box:
    """A box (x0, y0, x1, y1) pixels on ``frame``."""

    x0: float
    y0: float
    x1: float
    y1: float
    frame: int = 0

    def contains(self, click: Click) -> bool:
        return click.frame == self.frame and self.x0 <= click.x <= self.x1 and self.y0 <= click.y <= self.y1


def _click_objects(clicks: Sequence[Click], boxes: Sequence[Box]) -> list[tuple[int, list[Click], Box | None]]:
    """Each box is one object with the clicks inside it; every other include-click is one object;
    exclude-clicks go with every object on their frame."""
    objects: list[tuple[int, list[Click], Box | None]] = []
    used: set[int] = set()
    for box in boxes:
        inside = [c for i, c in enumerate(clicks) if box.contains(c)]
        used.update(i for i, c in enumerate(clicks) if box.contains(c))
        objects.append((box.frame, inside, box))
    for i, click in enumerate(clicks):
        if i not in used and click.label == 1:
            objects.append((click.frame, [click], None))
    for i, click in enumerate(clicks):
        if click.label == 0 and i not in used:
            for frame, points, _ in objects:
                if frame == click.frame:
                    points.append(click)
    if not objects:
        raise InputError("Give at least one --click (on the object) or --box to make a mask.")
    return objects


def masks_from_clicks(
    reader: Any,
    clicks: Sequence[Click],
    boxes: Sequence[Box] = (),
    predictor: Any = None,
    *,
    clip_id: Any = None,
    frame_range: tuple[int, int] | None = None,
    config: Any = None,
    on_event: Callable[[Any], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    tracker: TrackerChoice | None = None,
) -> dict[int, np.ndarray]:
    """Clicks/boxes -> one SAM mask per object on its frame -> tracked through the clip.

    ``reader``: an opened :class:`editor.media.VideoReader` (``.info``, ``.frame(i)``);
    ``predictor``: a :class:`~models.segmentation.SamClickPredictor` (None raises
    :class:`WeightsError`: clicks cannot make a mask without SAM); ``tracker``: a
    :class:`TrackerChoice` (its SAM 2 makes the masks from the clicks when it has one; its
    parts track them). Returns frame -> HxW uint8 0/1, the union of every object, for the
    frames that have a mask. Events (Progress, FrameFlagged, ...) go to ``on_event``.
    """
    tracker = tracker or TrackerChoice("sam" if predictor is not None else "flow", predictor=predictor)
    predictor = predictor if predictor is not None else tracker.predictor  # makes the masks from the clicks
    video = tracker.video
    if predictor is None and video is None:
        raise WeightsError(
            "Clicks need the SAM or SAM 2 weights to make a mask: download them with "
            "`python main.py weights download sam_vit_b` (or sam2.1_hiera_tiny, or pass --sam-checkpoint), "
            "or give the masks with --mask."
        )
    info = reader.info
    num_frames, size = int(info.num_frames), (int(info.height), int(info.width))
    clip_id = clip_id if clip_id is not None else id(reader)
    keyframes = []
    for frame, points, box in _click_objects(clicks, boxes):
        if not 0 <= frame < num_frames:
            raise InputError(f"A click or box is on frame {frame}, but the clip has frames 0..{num_frames - 1}.")
        for c in points:
            if c.x >= size[1] or c.y >= size[0]:
                raise InputError(f"The click {c.x:g},{c.y:g} is outside the {size[1]}x{size[0]} frame.")
        coords = np.array([[c.x, c.y] for c in points], dtype=np.float64).reshape(-1, 2)
        labels = np.array([c.label for c in points], dtype=np.int64)
        box_arr = None if box is None else np.array([box.x0, box.y0, box.x1, box.y1])
        if video is not None:
            mask = video.mask_from_prompt(reader.frame, num_frames, frame, points=coords if len(coords) else None,
                                          labels=labels if len(coords) else None, box=box_arr)
        else:
            predictor.set_frame(clip_id, frame, np.asarray(reader.frame(frame)))
            single = box is None and len(points) == 1  # one click is ambiguous: let SAM offer three
            prediction = predictor.predict(coords if len(coords) else None, labels if len(coords) else None,
                                           box=box_arr, multimask=single)
            mask = prediction.mask
        if not mask.any():
            where = f"box {box.x0:g},{box.y0:g},{box.x1:g},{box.y1:g}" if box else f"click {points[0].x:g},{points[0].y:g}"
            raise InputError(f"SAM found no object at the {where} on frame {frame}; click on the object itself.")
        keyframes.append((frame, mask))
    out = {}
    for tracked in track(reader, keyframes, tracker=tracker, frame_range=frame_range, cancel=cancel,
                         on_event=on_event, clip_id=clip_id, config=config):
        merged = tracked.merged()
        if merged is not None:
            out[tracked.index] = merged
    return out


# ----------------------------------------------------------------------------- wording
def frame_spans(frames: Sequence[int]) -> str:
    """"3-7, 12, 20-21" for frame numbers as given (callers showing 0-based indices add 1)."""
    return describe(frames)
