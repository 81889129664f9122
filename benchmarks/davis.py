"""Mask tracking on real footage in DAVIS's folder layout: J, F, review flags, speed.

    python benchmarks/davis.py DIR [--sequences bmx-trees tennis ...] [--split val]
                               [--trackers dis raft sam2] [--threads 2] [--max-frames N]
                               [--weights-dir DIR] [--generated] [--per-frame]

``DIR`` holds ``JPEGImages/<sequence>/*.jpg|png`` and ``Annotations/<sequence>/*.png`` (or
the ``480p`` level of the DAVIS download between them). An annotation is a palette image with
one index per object (DAVIS 2017; 255 is "void", left out of the scores) or a grey/RGB image
where white is the object. The first frame's annotation is the keyframe: each object in it is
tracked as its own object (all at once, the way the editor and ``track`` do), with no SAM
refinement, and scored against its own annotation on every later frame (not the keyframe).

Columns, per sequence and tracker, then the mean over every object (as DAVIS averages):

- ``J``: region similarity, the IoU with the annotation (an empty prediction on an empty
  annotation counts 1, as in DAVIS); ``F``: DAVIS's boundary F-measure (boundaries matched
  within ceil(0.008 x image diagonal) pixels; :func:`boundary_f`);
- ``J<0.5 (flagged)``: frames (of an object) where the mask is mostly wrong, and how many of
  them the tracker flagged for review (the target: all of them);
- ``false flags``: flagged frames whose mask is good (J >= 0.8), and their share of the good
  frames; ``ms/frame``: wall time of the run per tracked frame.

Trackers: ``dis`` (the motion tracker with OpenCV DIS flow, no download), ``raft`` (the same
with RAFT flow, when ``raft-things.pth`` is in the weights folder), ``sam2`` (SAM 2 video
tracking, when a SAM 2.1 checkpoint is there); those whose weights are missing are skipped
with a line saying so. ``--generated`` adds the six generated clips of
``benchmarks/tracking_clips.py`` (keyframe: the first frame where the whole object is in the
picture) in the same table format; ``DIR`` may then be left out.

The full DAVIS 2017: download ``DAVIS-2017-trainval-480p.zip`` from davischallenge.org, unzip
it, and run ``python benchmarks/davis.py DAVIS --split val`` (or ``--sequences ...``).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.tracking_clips import CASES, make_clip  # noqa: E402
from editor.tracking import TrackerChoice, load_flow_model, load_tracker, track  # noqa: E402
from models.errors import ProPainterError  # noqa: E402

TRACKER_NAMES = ("dis", "raft", "sam2")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
VOID = 255  # DAVIS's palette index for pixels that are not scored


# ----------------------------------------------------------------------------- the measures
def region_j(prediction: np.ndarray, truth: np.ndarray, void: np.ndarray | None = None) -> float:
    """DAVIS's J: IoU of two HxW masks outside the ``void`` pixels; 1 when both are empty."""
    prediction, truth = np.asarray(prediction, bool), np.asarray(truth, bool)
    keep = np.ones_like(truth) if void is None else ~np.asarray(void, bool)
    union = np.count_nonzero((prediction | truth) & keep)
    return 1.0 if union == 0 else np.count_nonzero(prediction & truth & keep) / union


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """HxW bool: the pixels of ``mask`` whose right, lower or lower-right neighbour differs
    (the boundary half a pixel towards the origin, one pixel wide, as DAVIS draws it)."""
    m = np.asarray(mask, bool)
    right, down, diag = np.zeros_like(m), np.zeros_like(m), np.zeros_like(m)
    right[:, :-1], down[:-1, :], diag[:-1, :-1] = m[:, 1:], m[1:, :], m[1:, 1:]
    edge = (m ^ right) | (m ^ down) | (m ^ diag)
    # the last row and column have no neighbour below / to the right: compare along the edge only
    edge[-1, :] = m[-1, :] ^ right[-1, :]
    edge[:, -1] = m[:, -1] ^ down[:, -1]
    edge[-1, -1] = False
    return edge


def disk(radius: int) -> np.ndarray:
    """(2r+1)x(2r+1) uint8 structuring element: the points within ``radius`` of the centre."""
    r = int(radius)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return (xx * xx + yy * yy <= r * r).astype(np.uint8)


def boundary_f(prediction: np.ndarray, truth: np.ndarray, void: np.ndarray | None = None,
               bound_th: float = 0.008) -> float:
    """DAVIS's F: boundary precision/recall of ``prediction`` against ``truth`` (HxW masks),
    a boundary pixel counting as matched within ``ceil(bound_th * diagonal)`` pixels (or
    ``bound_th`` pixels when it is >= 1); the F-measure of the two. Void pixels are left out."""
    keep = np.ones(np.shape(truth), bool) if void is None else ~np.asarray(void, bool)
    pred_edge = boundary_map(np.asarray(prediction, bool) & keep)
    true_edge = boundary_map(np.asarray(truth, bool) & keep)
    tolerance = bound_th if bound_th >= 1 else int(np.ceil(bound_th * np.hypot(*np.shape(truth))))
    element = disk(tolerance)
    pred_near = cv2.dilate(pred_edge.astype(np.uint8), element) > 0
    true_near = cv2.dilate(true_edge.astype(np.uint8), element) > 0
    n_pred, n_true = np.count_nonzero(pred_edge), np.count_nonzero(true_edge)
    if n_pred == 0 and n_true == 0:
        return 1.0
    if n_pred == 0 or n_true == 0:  # one side has no boundary: precision or recall is 0
        return 0.0
    precision = np.count_nonzero(pred_edge & true_near) / n_pred
    recall = np.count_nonzero(true_edge & pred_near) / n_true
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


# ----------------------------------------------------------------------------- sequences
@dataclass
class Sequence:
    """Frames (HxWx3 uint8 RGB) and per-frame object ids (HxW uint8; 0 background, VOID not
    scored); ``first``: the keyframe (earlier frames are not used)."""

    name: str
    frames: list
    labels: list
    first: int = 0

    @property
    def objects(self) -> list[int]:
        ids = np.unique(self.labels[self.first])
        return [int(i) for i in ids if i not in (0, VOID)]


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def read_labels(path: Path) -> np.ndarray:
    """An annotation as HxW uint8 object ids: a palette image's indices (DAVIS 2017), else 1
    where the image is white (over half grey)."""
    image = Image.open(path)
    if image.mode == "P":
        return np.array(image, dtype=np.uint8)
    return (np.array(image.convert("L")) > 127).astype(np.uint8)


def davis_root(folder: Path) -> tuple[Path, Path]:
    """(frames folder, annotations folder) of a DAVIS-layout folder, with or without the
    resolution level (``480p``) of the DAVIS download."""
    images, annotations = folder / "JPEGImages", folder / "Annotations"
    if not images.is_dir() or not annotations.is_dir():
        raise SystemExit(f"{folder} is not in DAVIS's layout: it needs JPEGImages/<sequence>/ and "
                         f"Annotations/<sequence>/ folders.")
    if (images / "480p").is_dir() and (annotations / "480p").is_dir():
        images, annotations = images / "480p", annotations / "480p"
    return images, annotations


def sequence_names(folder: Path, names: list[str] | None, split: str | None) -> list[str]:
    images, annotations = davis_root(folder)
    present = sorted(p.name for p in images.iterdir() if p.is_dir() and (annotations / p.name).is_dir())
    if split is not None:
        listing = folder / "ImageSets" / "2017" / f"{split}.txt"
        if not listing.is_file():
            raise SystemExit(f"--split {split}: {listing} does not exist.")
        names = (names or []) + listing.read_text().split()
    if not names:
        return present
    missing = [n for n in names if n not in present]
    if missing:
        raise SystemExit(f"No sequence {', '.join(missing)} in {folder} (it has {', '.join(present) or 'none'}).")
    return list(dict.fromkeys(names))


def load_sequence(folder: Path, name: str, max_frames: int | None = None) -> Sequence:
    """One sequence of a DAVIS-layout folder; frames without an annotation are not scored."""
    images, annotations = davis_root(folder)
    frame_files = _files(images / name)[:max_frames]
    notes = {p.stem: p for p in _files(annotations / name)}
    if not frame_files or frame_files[0].stem not in notes:
        raise SystemExit(f"{name}: the first frame needs an annotation (the keyframe) in {annotations / name}.")
    frames, labels = [], []
    for path in frame_files:
        frames.append(np.array(Image.open(path).convert("RGB")))
        note = notes.get(path.stem)
        labels.append(None if note is None else read_labels(note))
        if labels[-1] is not None and labels[-1].shape != frames[-1].shape[:2]:
            raise SystemExit(f"{name}: {note.name} is {labels[-1].shape[1]}x{labels[-1].shape[0]} but its frame is "
                             f"{frames[-1].shape[1]}x{frames[-1].shape[0]}.")
    return Sequence(name, frames, labels)


def _inside(mask: np.ndarray) -> bool:
    """Visible and not touching the picture's edge (the whole object is in the picture)."""
    edge = mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()
    return bool(mask.any()) and not edge


def generated_sequences(num_frames: int, width: int, height: int) -> list[Sequence]:
    """The six clips of ``benchmarks/tracking_clips.py``; keyframe: the first frame where the
    whole object is in the picture (``exit`` starts outside it: a keyframe of a sliver would
    not say what the object is)."""
    out = []
    for kind in CASES:
        frames, truth = make_clip(kind, num_frames, height, width)
        first = next(i for i, m in enumerate(truth) if _inside(m))
        out.append(Sequence(kind, frames, [m.astype(np.uint8) for m in truth], first))
    return out


# ----------------------------------------------------------------------------- running
@dataclass
class Score:
    """One object of one sequence by one tracker: J, F and flag per scored frame."""

    j: list = field(default_factory=list)
    f: list = field(default_factory=list)
    flagged: list = field(default_factory=list)
    frames: list = field(default_factory=list)


@dataclass
class Row:
    sequence: str
    tracker: str
    scores: dict  # object id -> Score
    seconds: float
    tracked_frames: int


def run_sequence(seq: Sequence, tracker: TrackerChoice, name: str) -> Row:
    """Track every object of ``seq`` from its keyframe and score each scored frame."""
    objects = seq.objects
    keyframes = {oid: {seq.first: seq.labels[seq.first] == oid} for oid in objects}
    scores = {oid: Score() for oid in objects}
    frames = seq.frames
    start = time.perf_counter()
    tracked = list(track(lambda i: frames[i], keyframes, num_frames=len(frames), tracker=tracker,
                         frame_range=(seq.first, len(frames)), clip_id=seq.name))
    seconds = time.perf_counter() - start
    empty = np.zeros(frames[0].shape[:2], bool)
    for result in tracked:
        labels = seq.labels[result.index]
        if result.index == seq.first or labels is None:
            continue
        void = labels == VOID
        for oid in objects:
            mask = result.masks.get(oid, empty)
            score = scores[oid]
            score.frames.append(result.index)
            score.j.append(region_j(mask, labels == oid, void))
            score.f.append(boundary_f(mask, labels == oid, void))
            score.flagged.append(oid in result.flags)
    return Row(seq.name, name, scores, seconds, len(frames) - seq.first - 1)


def load_trackers(names: list[str], weights_dir: str | None, device: str | None) -> dict[str, TrackerChoice]:
    """The trackers of ``names`` that can run here (a line on stderr for each that cannot)."""
    out = {}
    for name in names:
        if name == "dis":
            out[name] = TrackerChoice("flow", note="motion tracker, DIS flow")
        elif name == "raft":
            flow_model = load_flow_model(weights_dir, device)
            if flow_model is None:
                print("(raft skipped: no raft-things.pth in the weights folder)", file=sys.stderr)
                continue
            out[name] = TrackerChoice("flow", flow_model=flow_model, note="motion tracker, RAFT flow")
        elif name == "sam2":
            try:
                out[name] = load_tracker("sam2", weights_dir=weights_dir, device=device)
            except ProPainterError as exc:
                print(f"(sam2 skipped: {exc})", file=sys.stderr)
    return out


# ----------------------------------------------------------------------------- printing
COLUMNS = (("sequence", 12), ("tracker", 7), ("objects", 7), ("frames", 6), ("J", 5), ("F", 5),
           ("J<0.5 (flagged)", 15), ("false flags (of good)", 21), ("ms/frame", 8))


def _line(cells) -> str:
    return "| " + " | ".join(f"{c:<{w}}" if i < 2 else f"{c:>{w}}" for i, (c, (_, w)) in enumerate(zip(cells, COLUMNS))) + " |"


def _cells(label: str, tracker: str, scores: list[Score], seconds: float, tracked_frames: int) -> list[str]:
    js = np.concatenate([s.j for s in scores]) if scores else np.zeros(0)
    flags = np.concatenate([s.flagged for s in scores]).astype(bool) if scores else np.zeros(0, bool)
    bad, good = js < 0.5, js >= 0.8
    false = int(np.count_nonzero(flags & good))
    share = f"{100 * false / max(1, np.count_nonzero(good)):.0f} %"
    # DAVIS averages per object, then over objects
    j_mean = np.mean([np.mean(s.j) for s in scores if s.j]) if scores else float("nan")
    f_mean = np.mean([np.mean(s.f) for s in scores if s.f]) if scores else float("nan")
    return [label, tracker, str(len(scores)), str(len(js)), f"{j_mean:.3f}", f"{f_mean:.3f}",
            f"{np.count_nonzero(bad)} ({np.count_nonzero(bad & flags)})", f"{false} ({share})",
            f"{1000 * seconds / max(1, tracked_frames):.1f}"]


def print_table(title: str, rows: list[Row], trackers: list[str], per_frame: bool = False) -> None:
    print(f"\n{title}\n")
    print(_line([name for name, _ in COLUMNS]))
    print("|" + "|".join("-" * (w + 2) for _, w in COLUMNS) + "|")
    for row in rows:
        print(_line(_cells(row.sequence, row.tracker, list(row.scores.values()), row.seconds, row.tracked_frames)))
    for name in trackers:
        mine = [r for r in rows if r.tracker == name]
        if len(mine) > 1:
            print(_line(_cells("mean", name, [s for r in mine for s in r.scores.values()],
                               sum(r.seconds for r in mine), sum(r.tracked_frames for r in mine))))
    if per_frame:
        for row in rows:
            for oid, s in row.scores.items():
                print(f"\n{row.sequence} / {row.tracker} / object {oid}: frame J F flagged")
                for index, j, f, flag in zip(s.frames, s.j, s.f, s.flagged):
                    print(f"  {index:5d} {j:.3f} {f:.3f} {'flagged' if flag else ''}")


def run_all(sequences, trackers: dict[str, TrackerChoice]) -> list[Row]:
    rows = []
    for seq in sequences:
        if not seq.objects:
            print(f"({seq.name} skipped: its first annotation has no object)", file=sys.stderr)
            continue
        for name, tracker in trackers.items():
            rows.append(run_sequence(seq, tracker, name))
            print(f"  {seq.name} / {name}: done", file=sys.stderr, flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path, help="a folder in DAVIS's layout (JPEGImages/, Annotations/)")
    parser.add_argument("--sequences", nargs="+", default=None, help="only these sequences (default: all)")
    parser.add_argument("--split", default=None, help="the sequences of DIR/ImageSets/2017/SPLIT.txt (train, val)")
    parser.add_argument("--trackers", nargs="+", default=list(TRACKER_NAMES), choices=TRACKER_NAMES)
    parser.add_argument("--threads", type=int, default=2, help="torch and OpenCV threads (2)")
    parser.add_argument("--max-frames", type=int, default=None, help="only the first N frames of each sequence")
    parser.add_argument("--weights-dir", default=None, help="folder with raft-things.pth / SAM 2 (default: the cache)")
    parser.add_argument("--device", default=None, help="for RAFT and SAM 2: cpu, cuda (default: CUDA if present)")
    parser.add_argument("--generated", action="store_true", help="also the six generated clips (tracking_clips.py)")
    parser.add_argument("--generated-size", default="432x240", help="WIDTHxHEIGHT of the generated clips")
    parser.add_argument("--generated-frames", type=int, default=50)
    parser.add_argument("--per-frame", action="store_true", help="print every frame's J, F and flag")
    args = parser.parse_args(argv)
    if args.folder is None and not args.generated:
        parser.error("give a DAVIS-layout folder, or --generated")
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    trackers = load_trackers(args.trackers, args.weights_dir, args.device)
    print(f"first frame's annotation = keyframe, later frames scored, no SAM refinement, {args.threads} thread(s); "
          f"trackers: {', '.join(trackers) or 'none'}")
    if args.folder is not None:
        names = sequence_names(args.folder, args.sequences, args.split)
        sequences = (load_sequence(args.folder, n, args.max_frames) for n in names)
        rows = run_all(sequences, trackers)
        print_table(f"{args.folder}: {len(names)} sequence(s)", rows, list(trackers), args.per_frame)
    if args.generated:
        width, height = (int(v) for v in args.generated_size.split("x"))
        sequences = generated_sequences(args.generated_frames, width, height)
        rows = run_all(sequences, trackers)
        print_table(f"generated clips (benchmarks/tracking_clips.py): {args.generated_frames} frames of "
                    f"{width}x{height}", rows, list(trackers), args.per_frame)
    return 0


if __name__ == "__main__":
    sys.exit(main())
