"""Masks from clicks and mask tracking on the command line: argparse and printing only.

- ``python main.py track VIDEO --mask KEYFRAME.png[@FRAME] -o MASKS_DIR`` propagates a keyframe
  mask both ways through the clip and writes one mask PNG per frame (the masks the editor
  would make). Each ``--mask`` is one object; the objects are merged.
- ``inpaint --click X,Y[@FRAME]`` / ``--box X0,Y0,X1,Y1[@FRAME]``: SAM turns each click (or
  box, with the clicks inside it) into an object mask on its frame, then the mask is tracked
  through the clip.

What runs is the tracking service, :mod:`editor.tracking` (``load_tracker``, ``track``,
``masks_from_clicks``), which the editor calls too. SAM is used when its weights are found
(``--sam-checkpoint`` or the official file of ``--sam-model`` in the weights folder); ``track``
then falls back to optical flow alone (and says so), while clicks cannot make a mask without SAM.

Wiring: :func:`register_cli` (called by ``editor.cli`` for the modules it lists in
``EXTENSION_MODULES``) adds the ``track`` command (:func:`register`) and the click/box mask
options of ``inpaint``.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from editor.tracking import (
    SAM2_MODELS,
    SAM_MODELS,
    TRACKERS,
    Box,
    Click,
    TrackerChoice,
    frame_spans,
    load_predictor,
    load_tracker,
    masks_from_clicks,
    track,
)
from models.errors import InputError

_NUMBER = r"[-+]?\d+(?:\.\d+)?"


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
    return load_tracker(choice or args.tracker, weights_dir=getattr(args, "weights_dir", None),
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
        empty = np.zeros((int(info.height), int(info.width)), dtype=np.uint8)
        masks = [empty] * num_frames  # frames outside --range: no mask
        flags: dict[int, list[str]] = {}
        for tracked in track(reader, keyframes, tracker=tracker, clip_id=str(args.video),
                             frame_range=_parse_range(args.range, num_frames), on_event=_Reporter()):
            merged = tracked.merged()
            masks[tracked.index] = empty if merged is None else merged
            if tracked.flags:
                flags[tracked.index] = [f"object {oid}: {reason}" for oid, reason in tracked.flags.items()]
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

