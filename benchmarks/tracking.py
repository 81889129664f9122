"""Mask tracking on hard generated clips with known visible masks: IoU, review flags, speed.

    python benchmarks/tracking.py [--frames 50] [--size 320x240] [--trackers dis raft sam2]
                                  [--raft-weights DIR] [--per-frame]

Six clips (``benchmarks/tracking_clips.py``: flat-coloured object, object moving against the
camera, scale change, partial + full occlusion with re-appearance, leaving/entering the
picture, a richly textured object), each tracked from a keyframe in the middle, forward and
backward, with no SAM refinement. Columns: mean and min IoU against the true visible mask,
frames marked "needs review", frames whose mask is empty where the object is visible (and
whether every such frame is marked), ms per frame.

- ``dis``: the motion tracker with OpenCV DIS flow (no download).
- ``raft``: the same with RAFT flow from ``raft-things.pth`` in ``--raft-weights`` (default:
  seeded random weights built like the tests build them: the speed is real, the flow is noise,
  so the column shows that the tracker does not trust a bad flow).
- ``sam2``: SAM 2 video tracking with a tiny randomly initialised network (timing only: its
  masks mean nothing without the real checkpoints).

Then an injected failure: a frame replaced by an unrelated image must be marked for review and
the object found again after it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tracking_clips import CASES, make_clip  # noqa: E402

from models.segmentation import MaskTrack, mask_iou, run_to_end  # noqa: E402


def track_clip(frames, truth, keyframe, **kwargs):
    """(ious per frame, update, seconds) for one object tracked both ways from ``keyframe``."""
    track = MaskTrack(len(frames), truth[0].shape)
    track.set_keyframe(keyframe, truth[keyframe])
    t0 = time.perf_counter()
    update = run_to_end(track.repropagate_from(keyframe, lambda i: frames[i], **kwargs))
    seconds = time.perf_counter() - t0
    track.apply(update)
    ious = [mask_iou(track.mask(i), truth[i]) if track.mask(i) is not None else 0.0 for i in range(len(frames))]
    return ious, track, seconds


def _raft(weights_dir: str | None):
    from models.segmentation.raft_flow import RaftFlow

    if weights_dir is None:
        from tests.seeded import write_seeded_weights

        weights_dir = tempfile.mkdtemp(prefix="seeded-")
        write_seeded_weights(Path(weights_dir))
        print(f"(RAFT: seeded random weights in {weights_dir}: real speed, meaningless flow)")
    return RaftFlow.from_weights(weights_dir)


def _sam2():
    from models.segmentation.sam2_video import Sam2VideoTracker

    print("(SAM 2: tiny random network: timing only)")
    return Sam2VideoTracker.tiny()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT")
    parser.add_argument("--trackers", nargs="+", default=["dis", "raft", "sam2"], choices=["dis", "raft", "sam2"])
    parser.add_argument("--raft-weights", default=None, help="folder with raft-things.pth (default: seeded)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--per-frame", action="store_true", help="print every frame's IoU")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    key = args.frames // 2
    print(f"{args.frames} frames of {width}x{height}, keyframe {key}, tracked both ways, no SAM refinement, "
          f"{args.threads} thread(s)\n")
    kwargs = {"dis": {}}
    if "raft" in args.trackers:
        kwargs["raft"] = {"flow_model": _raft(args.raft_weights)}
    if "sam2" in args.trackers:
        kwargs["sam2"] = {"video_tracker": _sam2()}
    print(f"| {'clip':<10} | {'tracker':<7} | {'mean IoU':>8} | {'min IoU':>7} | {'review':>6} | "
          f"{'empty where visible (marked)':>28} | {'ms/frame':>8} |")
    print("|" + "|".join("-" * (n + 2) for n in (10, 7, 8, 7, 6, 28, 8)) + "|")
    per_frame = {}
    for kind in CASES:
        frames, truth = make_clip(kind, args.frames, height, width)
        for name in args.trackers:
            ious, track, seconds = track_clip(frames, truth, key, **kwargs[name])
            scored = [v for i, v in enumerate(ious) if i != key]
            empty = [i for i in range(len(frames)) if truth[i].any() and (track.mask(i) is None or not track.mask(i).any())]
            marked = sum(1 for i in empty if i in track.flags)
            per_frame[(kind, name)] = ious
            if name == "sam2":  # random weights: the masks mean nothing, only the time does
                mean = low = "n/a"
                review = empties = "n/a"
            else:
                mean, low = f"{np.mean(scored):.3f}", f"{np.min(scored):.3f}"
                review, empties = str(len(track.flags)), f"{len(empty)} ({marked})"
            print(f"| {kind:<10} | {name:<7} | {mean:>8} | {low:>7} | {review:>6} | "
                  f"{empties:>28} | {1000 * seconds / (len(frames) - 1):8.1f} |", flush=True)
    if args.per_frame:
        cols = list(per_frame)
        print("\nframe " + " ".join(f"{k[0][:6]}/{k[1]:<4}" for k in cols))
        for i in range(args.frames):
            print(f"{i:5d} " + " ".join(f"{per_frame[k][i]:11.3f}" for k in cols))

    print("\ninjected failure: frame 30 of 'textured' replaced by an unrelated image (DIS)")
    frames, truth = make_clip("textured", args.frames, height, width)
    frames[30] = make_clip("flat", args.frames, height, width, seed=99)[0][0]
    ious, track, _ = track_clip(frames, truth, key)
    after = [ious[i] for i in range(31, args.frames)]
    print(f"  marked for review: {sorted(track.flags)}; frame 30 has a mask: {track.mask(30) is not None and track.mask(30).any()}; "
          f"mean IoU after it {np.mean(after):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
