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
) -> dict[int, np.ndarray]:
    """Clicks/boxes -> one SAM mask per object on its frame -> tracked through the clip.

    ``reader``: an opened :class:`editor.media.VideoReader` (``.info``, ``.frame(i)``);
    ``predictor``: a :class:`~models.segmentation.SamClickPredictor` (None raises
    :class:`WeightsError`: clicks cannot make a mask without SAM). Returns frame -> HxW uint8
    0/1, the union of every object, for the frames that have a mask. Events (Progress,
    FrameFlagged, ...) go to ``on_event``.
    """
    from models.segmentation import TrackSet

    if predictor is None:
        raise WeightsError(
            "Clicks need the SAM weights to make a mask: download them with "
            "`python main.py weights download sam_vit_b` (or pass --sam-checkpoint), or give the masks with --mask."
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
        predictor.set_frame(clip_id, frame, np.asarray(reader.frame(frame)))
        coords = np.array([[c.x, c.y] for c in points], dtype=np.float64).reshape(-1, 2)
        labels = np.array([c.label for c in points], dtype=np.int64)
        box_arr = None if box is None else np.array([box.x0, box.y0, box.x1, box.y1])
        single = box is None and len(points) == 1  # one click is ambiguous: let SAM offer three
        prediction = predictor.predict(coords if len(coords) else None, labels if len(coords) else None,
                                       box=box_arr, multimask=single)
        mask = prediction.mask
        if not mask.any():
            where = f"box {box.x0:g},{box.y0:g},{box.x1:g},{box.y1:g}" if box else f"click {points[0].x:g},{points[0].y:g}"
            raise InputError(f"SAM found no object at the {where} on frame {frame}; click on the object itself.")
        tracks.add().set_keyframe(frame, mask)
    for event in tracks.propagate_all(reader.frame, predictor=predictor, clip_id=clip_id, config=config,
                                      frame_range=frame_range, cancel=cancel):
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
) -> tuple[list[np.ndarray], dict[int, list[str]]]:
    """Each (frame, HxW mask) is one object; returns one merged HxW uint8 mask per frame
    (zeros where no object was tracked) and the flagged frames."""
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
    for event in tracks.propagate_all(reader.frame, predictor=predictor,
                                      clip_id=clip_id if clip_id is not None else id(reader),
                                      config=config, frame_range=frame_range, cancel=cancel):
        if on_event is not None:
            on_event(event)
    empty = np.zeros(size, dtype=np.uint8)
    masks = []
    for index in range(num_frames):
        merged = tracks.merged(index)
        masks.append(empty if merged is None else merged)
    return masks, tracks.flags()


# ----------------------------------------------------------------------------- argparse
def _add_sam_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("segment anything")
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
    p.add_argument("--no-sam", action="store_true", help="optical flow only, even when SAM weights are found")
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


class _Reporter:
    """Prints tracking progress and flags on stderr, one line per 10 % and per flag."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self._last = -1
        self._notes: set[str] = set()

    def __call__(self, event: Any) -> None:
        from models.events import Progress
        from models.segmentation import FrameFlagged

        if isinstance(event, FrameFlagged):
            print(f"frame {event.index} flagged (object {event.track_id}): {event.reason}; "
                  "propagation stopped in that direction", file=self.stream, flush=True)
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
            source = open_masks(path, num_frames, (info.width, info.height))
            keyframes.append((frame, np.array(source.mask(frame), dtype=np.uint8)))
        predictor = None
        if not args.no_sam:
            predictor = load_predictor(args.sam_checkpoint, args.sam_model, args.weights_dir,
                                       getattr(args, "device", None))
            if predictor is not None:
                print(f"Refining with Segment Anything ({args.sam_model}).", file=sys.stderr, flush=True)
        reporter = _Reporter()
        masks, flags = track_masks(reader, keyframes, predictor, clip_id=str(args.video),
                                   frame_range=_parse_range(args.range, num_frames), on_event=reporter)
        count = write_masks(out, masks, fps=float(info.fps), overwrite=args.overwrite)
    print(f"Wrote {count} masks to {out}" + (f"; {len(flags)} frame(s) flagged: {sorted(flags)}" if flags else "."),
          file=sys.stderr, flush=True)
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
    predictor = load_predictor(args.sam_checkpoint, args.sam_model, getattr(args, "weights_dir", None),
                               getattr(args, "device", None), required=True)
    return masks_from_clicks(reader, clicks, boxes, predictor, clip_id=str(getattr(args, "video", "")),
                             on_event=_Reporter())


def register_cli(cli: Any) -> None:
    """Hook for ``editor.cli``: the ``track`` command and ``inpaint --click/--box``."""
    cli.register_command(register)
    cli.register_mask_option(cli.MaskOption("--click/--box", add_click_arguments, build_click_masks))

