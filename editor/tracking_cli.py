"""Masks from clicks and mask tracking on the command line.

- ``python main.py track VIDEO --mask KEYFRAME.png[@FRAME] -o MASKS_DIR`` propagates a keyframe
  mask both ways through the clip and writes one mask PNG per frame (the masks the editor
  would make). Each ``--mask`` is one object; the objects are merged.
- ``inpaint --click X,Y[@FRAME]`` / ``--box X0,Y0,X1,Y1[@FRAME]``: SAM turns each click (or
  box, with the clicks inside it) into an object mask on its frame, then the mask is tracked
  through the clip (:func:`masks_from_clicks`).

SAM is used when its weights are found (``--sam-checkpoint`` or the official file of
``--sam-model`` in the weights folder); ``track`` then falls back to optical flow alone (and
says so), while clicks cannot make a mask without SAM.

Wiring: :func:`register_cli` (called by ``editor.cli`` for the modules it lists in
``EXTENSION_MODULES``) adds the ``track`` command (:func:`register`) and the click/box mask
options of ``inpaint``.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from models.errors import InputError, WeightsError

SAM_MODELS = ("vit_b", "vit_l", "vit_h")
SAM2_MODELS = ("sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus", "sam2.1_hiera_large")
#: ``--tracker``: auto picks SAM 2, then SAM, then the motion tracker alone, by the weights found.
TRACKERS = ("auto", "sam2", "sam", "flow")
_NUMBER = r"[-+]?\d+(?:\.\d+)?"


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


def _split_frame(text: str, what: str, example: str) -> tuple[str, int]:
    body, sep, frame = text.strip().rpartition("@")
    if not sep:
        return text.strip(), 0
    if not re.fullmatch(r"\d+", frame.strip()):
        raise InputError(f"{what} {text!r}: the frame after '@' must be a whole number, e.g. {example}.")
    return body.strip(), int(frame)


def parse_click(text: str, label: int = 1) -> Click:
    """``"X,Y[@FRAME]"`` -> :class:`Click` (frame 0 when not given)."""
    body, frame = _split_frame(text, "--click", "120,80@15")
    parts = [p.strip() for p in body.split(",")]
    if len(parts) != 2 or not all(re.fullmatch(_NUMBER, p) for p in parts):
        raise InputError(f"--click {text!r} is not X,Y[@FRAME] in pixels, e.g. 120,80 or 120,80@15.")
    x, y = (float(p) for p in parts)
    if x < 0 or y < 0:
        raise InputError(f"--click {text!r} must not have negative coordinates.")
    return Click(x, y, frame, label)


def parse_box(text: str) -> Box:
    """``"X0,Y0,X1,Y1[@FRAME]"`` -> :class:`Box` (corners sorted; frame 0 when not given)."""
    body, frame = _split_frame(text, "--box", "40,30,200,180@15")
    parts = [p.strip() for p in body.split(",")]
    if len(parts) != 4 or not all(re.fullmatch(_NUMBER, p) for p in parts):
        raise InputError(f"--box {text!r} is not X0,Y0,X1,Y1[@FRAME] in pixels, e.g. 40,30,200,180@15.")
    x0, y0, x1, y1 = (float(p) for p in parts)
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise InputError(f"--box {text!r} is empty; give two opposite corners.")
    if x0 < 0 or y0 < 0:
        raise InputError(f"--box {text!r} must not have negative coordinates.")
    return Box(x0, y0, x1, y1, frame)


def parse_mask_arg(text: str) -> tuple[Path, int]:
    """``"PATH[@FRAME]"`` -> (path, frame); frame 0 when not given."""
    body, sep, frame = str(text).rpartition("@")
    if sep and re.fullmatch(r"\d+", frame):
        return Path(body).expanduser(), int(frame)
    return Path(text).expanduser(), 0


# ----------------------------------------------------------------------------- SAM loading
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
    if device in (None, "auto"):
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    return SamClickPredictor.from_pretrained(model_type, checkpoint=checkpoint, weights_dir=weights_dir, device=device)


# ----------------------------------------------------------------------------- tracker choice
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


def _device(device: str | None) -> str:
    if device in (None, "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


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
    """The key a loaded SAM 2 tracker is kept under in a ``cache`` of :func:`resolve_tracker`."""
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


def resolve_tracker(choice: str = "auto", *, weights_dir: str | Path | None = None, device: str | None = None,
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


# ----------------------------------------------------------------------------- clicks -> masks
def _objects(clicks: Sequence[Click], boxes: Sequence[Box]) -> list[tuple[int, list[Click], Box | None]]:
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
    parts track them). Returns frame -> HxW uint8
    0/1, the union of every object, for the frames that have a mask. Events (Progress,
    FrameFlagged, ...) go to ``on_event``.
    """
    from models.segmentation import TrackSet

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
    tracks = TrackSet(num_frames, size)
    for frame, points, box in _objects(clicks, boxes):
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
        tracks.add().set_keyframe(frame, mask)
    for event in tracks.propagate_all(reader.frame, clip_id=clip_id, config=config, frame_range=frame_range,
                                      cancel=cancel, **tracker.propagation_kwargs()):
        if on_event is not None:
            on_event(event)
    out = {}
    for index in range(num_frames):
        merged = tracks.merged(index)
        if merged is not None:
            out[index] = merged
    return out


def track_masks(
    reader: Any,
    keyframes: Sequence[tuple[int, np.ndarray]],
    predictor: Any = None,
    *,
    clip_id: Any = None,
    frame_range: tuple[int, int] | None = None,
    config: Any = None,
    on_event: Callable[[Any], None] | None = None,
    cancel: Callable[[], bool] | None = None,
    tracker: TrackerChoice | None = None,
) -> tuple[list[np.ndarray], dict[int, list[str]]]:
    """Each (frame, HxW mask) is one object; returns one merged HxW uint8 mask per frame
    (zeros where no object was tracked) and the frames that need review (frame -> reasons).
    ``tracker`` (a :class:`TrackerChoice`) overrides ``predictor``."""
    from models.segmentation import TrackSet

    info = reader.info
    num_frames, size = int(info.num_frames), (int(info.height), int(info.width))
    tracks = TrackSet(num_frames, size)
    for frame, mask in keyframes:
        if not 0 <= frame < num_frames:
            raise InputError(f"The keyframe {frame} is outside the clip (frames 0..{num_frames - 1}).")
        if not np.asarray(mask).any():
            raise InputError(f"The keyframe mask for frame {frame} is empty; paint the object white.")
        tracks.add().set_keyframe(frame, mask)
    tracker = tracker or TrackerChoice("sam" if predictor is not None else "flow", predictor=predictor)
    for event in tracks.propagate_all(reader.frame, clip_id=clip_id if clip_id is not None else id(reader),
                                      config=config, frame_range=frame_range, cancel=cancel,
                                      **tracker.propagation_kwargs()):
        if on_event is not None:
            on_event(event)
    empty = np.zeros(size, dtype=np.uint8)
    masks = []
    for index in range(num_frames):
        merged = tracks.merged(index)
        masks.append(empty if merged is None else merged)
    return masks, tracks.flags()


# ----------------------------------------------------------------------------- argparse
def _add_tracker_options(g) -> None:
    g.add_argument("--tracker", choices=TRACKERS, default="auto",
                   help="what follows the object: sam2 (SAM 2 video), sam (motion refined by SAM), flow (motion "
                        "alone: RAFT when raft-things.pth is in the weights folder, else DIS); auto picks the first "
                        "whose weights are found (default)")
    g.add_argument("--sam2-model", choices=SAM2_MODELS, default="sam2.1_hiera_tiny", help="SAM 2 size (tiny)")
    g.add_argument("--sam2-checkpoint", type=Path, default=None,
                   help="a SAM 2 checkpoint file (default: the official one of --sam2-model in the weights folder)")


def _tracker_from_args(args: argparse.Namespace, choice: str | None = None) -> TrackerChoice:
    return resolve_tracker(choice or args.tracker, weights_dir=getattr(args, "weights_dir", None),
                           device=getattr(args, "device", None), sam_checkpoint=args.sam_checkpoint,
                           sam_model=args.sam_model, sam2_checkpoint=args.sam2_checkpoint, sam2_model=args.sam2_model)


def _add_sam_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("segment anything")
    _add_tracker_options(g)
    g.add_argument("--sam-checkpoint", type=Path, default=None,
                   help="a SAM checkpoint file (default: the official one of --sam-model in the weights folder)")
    g.add_argument("--sam-model", choices=SAM_MODELS, default="vit_b", help="SAM size (vit_b)")
    if not any("--weights-dir" in a.option_strings for a in p._actions):
        g.add_argument("--weights-dir", type=Path, default=None, help="folder holding the checkpoints")
    if not any("--device" in a.option_strings for a in p._actions):
        g.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:N")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``track VIDEO --mask KEYFRAME.png[@FRAME] -o MASKS_DIR``."""
    p = subparsers.add_parser(
        "track", help="propagate a keyframe mask through a clip (one mask PNG per frame)",
        description="Track an object through the clip from a keyframe mask (optical flow, refined by "
                    "Segment Anything when its weights are found) and write one mask PNG per frame.")
    p.add_argument("video", type=Path, help="the clip (a video file or a folder of frames)")
    p.add_argument("--mask", action="append", required=True, metavar="MASK.png[@FRAME]",
                   help="keyframe mask (white = object) on FRAME (default 0); repeat for more objects")
    p.add_argument("-o", "--output", type=Path, required=True, help="folder for the masks (000000.png ...)")
    p.add_argument("--range", default=None, metavar="START:STOP", help="track only these frames (STOP exclusive)")
    p.add_argument("--no-sam", action="store_true", help="the same as --tracker flow")
    p.add_argument("--overwrite", action="store_true", help="replace an existing mask folder")
    _add_sam_options(p)
    p.set_defaults(func=cmd_track)


def _parse_range(text: str | None, num_frames: int) -> tuple[int, int] | None:
    if text is None:
        return None
    start_s, sep, stop_s = text.partition(":")
    try:
        if not sep:
            raise ValueError
        start = int(start_s) if start_s.strip() else 0
        stop = int(stop_s) if stop_s.strip() else num_frames
    except ValueError:
        raise InputError(f"--range {text!r} is not START:STOP, e.g. 10:50 (STOP exclusive).") from None
    if not 0 <= start < stop:
        raise InputError(f"--range {text!r} needs 0 <= START < STOP, e.g. 10:50.")
    return start, min(stop, num_frames)


def frame_spans(frames: Sequence[int]) -> str:
    """"3-7, 12, 20-21" for sorted frame numbers."""
    out, frames = [], sorted(frames)
    start = prev = None
    for f in frames + [None]:
        if f is not None and prev is not None and f == prev + 1:
            prev = f
            continue
        if start is not None:
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
        start = prev = f
    return ", ".join(out)


def review_summary(flags: dict[int, list[str]]) -> str:
    """One line: how many frames need review and which, or that none do."""
    if not flags:
        return "No frame needs review: the object was followed on every frame."
    return (f"{len(flags)} frame(s) need review (their masks are estimates; frames {frame_spans(list(flags))}): "
            f"check them in the editor and set a keyframe where a mask is wrong.")


class _Reporter:
    """Prints tracking progress and frames that need review on stderr, one line per 10 % and
    per run of flagged frames."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self._last = -1
        self._notes: set[str] = set()
        self._last_flag: Any = None

    def __call__(self, event: Any) -> None:
        from models.events import Progress
        from models.segmentation import FrameFlagged

        if isinstance(event, FrameFlagged):
            key = (event.track_id, event.reason)
            if self._last_flag != (key, event.index - event.direction):
                print(f"frame {event.index} needs review (object {event.track_id}): {event.reason}",
                      file=self.stream, flush=True)
            self._last_flag = (key, event.index)
        elif isinstance(event, Progress):
            if event.message and event.done == 0 and event.message not in self._notes:
                self._notes.add(event.message)
                print(event.message, file=self.stream, flush=True)
            pct = 100 * event.done // max(1, event.total)
            if pct // 10 != self._last:
                self._last = pct // 10
                print(f"tracking: {event.done}/{event.total} frames ({pct}%)", file=self.stream, flush=True)


def cmd_track(args: argparse.Namespace) -> int:
    from editor.media import open_masks, open_video, write_masks
    from editor.media._files import IMAGE_SUFFIXES, read_image

    out = Path(args.output).expanduser()
    if out.suffix:
        raise InputError(f"The track output {out} must be a folder name (it gets one PNG per frame).")
    with open_video(args.video) as reader:
        info = reader.info
        num_frames = int(info.num_frames)
        keyframes = []
        for text in args.mask:
            path, frame = parse_mask_arg(text)
            if not path.is_file():
                raise InputError(f"The keyframe mask {path} does not exist; give a PNG (white = object).")
            shape = read_image(path, gray=True).shape[:2] if path.suffix.lower() in IMAGE_SUFFIXES else None
            rotation = int(getattr(info, "rotation", 0) or 0)
            sizes = {(info.height, info.width)}
            if rotation in (90, 270):  # drawn on the stored (unrotated) frames: open_masks turns it
                sizes.add((info.width, info.height))
            if shape is not None and shape not in sizes:  # a resized keyframe would track the wrong outline
                turned = f" (shown rotated by {rotation} degrees; stored {info.height}x{info.width})" if rotation in (90, 270) else ""
                raise InputError(
                    f"The keyframe mask {path} is {shape[1]}x{shape[0]} but the clip is {info.width}x{info.height}{turned}: "
                    f"give a mask of the clip's size (white = object)."
                )
            source = open_masks(path, num_frames, (info.width, info.height), rotation=rotation)
            keyframes.append((frame, np.array(source.mask(frame), dtype=np.uint8)))
        tracker = _tracker_from_args(args, "flow" if args.no_sam else None)
        print(tracker.note, file=sys.stderr, flush=True)
        reporter = _Reporter()
        masks, flags = track_masks(reader, keyframes, clip_id=str(args.video), tracker=tracker,
                                   frame_range=_parse_range(args.range, num_frames), on_event=reporter)
        count = write_masks(out, masks, fps=float(info.fps), overwrite=args.overwrite)
    print(f"Wrote {count} masks to {out}.", file=sys.stderr, flush=True)
    print(review_summary(flags), file=sys.stderr, flush=True)
    return 0


def add_click_arguments(p: argparse.ArgumentParser) -> None:
    """The ``inpaint`` options that make masks from clicks."""
    g = p.add_argument_group("masks by clicking (Segment Anything)")
    g.add_argument("--click", action="append", default=[], metavar="X,Y[@FRAME]",
                   help="click on an object to remove on FRAME (default 0); repeat for more objects")
    g.add_argument("--exclude-click", action="append", default=[], metavar="X,Y[@FRAME]",
                   help="a point that is not part of the object(s) on that frame")
    g.add_argument("--box", action="append", default=[], metavar="X0,Y0,X1,Y1[@FRAME]",
                   help="a box around an object to remove; clicks inside it refine it")
    sam = p.add_argument_group("segment anything")
    sam.add_argument("--sam-checkpoint", type=Path, default=None,
                     help="a SAM checkpoint file (default: the official one of --sam-model in the weights folder)")
    sam.add_argument("--sam-model", choices=SAM_MODELS, default="vit_b", help="SAM size (vit_b)")
    _add_tracker_options(sam)


def build_click_masks(args: argparse.Namespace, reader: Any) -> dict[int, np.ndarray] | None:
    """For ``inpaint``: the tracked masks when --click/--box were given, else None."""
    texts_click = list(getattr(args, "click", []) or [])
    texts_exclude = list(getattr(args, "exclude_click", []) or [])
    texts_box = list(getattr(args, "box", []) or [])
    if not texts_click and not texts_box:
        if texts_exclude:
            raise InputError("--exclude-click needs a --click or --box on the object to remove.")
        return None
    clicks = [parse_click(t) for t in texts_click] + [parse_click(t, label=0) for t in texts_exclude]
    boxes = [parse_box(t) for t in texts_box]
    tracker = _tracker_from_args(args)
    predictor = None
    if tracker.video is None and tracker.predictor is None:  # --tracker flow: SAM still turns the clicks into masks
        predictor = load_predictor(args.sam_checkpoint, args.sam_model, getattr(args, "weights_dir", None),
                                   getattr(args, "device", None), required=True)
    print(tracker.note, file=sys.stderr, flush=True)
    reporter = _Reporter()
    flagged: dict[int, list[str]] = {}

    def on_event(event: Any) -> None:
        from models.segmentation import FrameFlagged

        if isinstance(event, FrameFlagged):
            flagged.setdefault(event.index, []).append(event.reason)
        reporter(event)

    masks = masks_from_clicks(reader, clicks, boxes, predictor, clip_id=str(getattr(args, "video", "")),
                              on_event=on_event, tracker=tracker)
    print(review_summary(flagged), file=sys.stderr, flush=True)
    return masks


def register_cli(cli: Any) -> None:
    """Hook for ``editor.cli``: the ``track`` command and ``inpaint --click/--box``."""
    cli.register_command(register)
    cli.register_mask_option(cli.MaskOption("--click/--box", add_click_arguments, build_click_masks))

