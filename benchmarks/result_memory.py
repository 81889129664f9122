"""Memory of the editor's frame path over a long clip: a run writes into the result folder,
the window steps through every result frame, Export encodes from it.

Prints resident memory (RSS) of this process at points through the run, and the peak, for
the editor's path (``run_job`` into a ``ResultFolder``, previews read back from disk) and,
with ``--old``, for what the editor did before (every finished frame kept in memory).
The engine is a cheap stand-in (it fills the hole with the frame's mean colour) so that the
figures are those of the frame path, not of an engine's working memory.

    .venv/bin/python benchmarks/result_memory.py --width 1920 --height 1080 --frames 1000 [--old]

The clip is made once under --work (H.264, a textured background panning under a logo).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from editor.document.results import ResultFolder, ResultStore, RunInfo  # noqa: E402
from editor.jobs import Job, JobChunk, JobSettings, run_job  # noqa: E402
from models.events import FramesReady, Progress  # noqa: E402


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Peak:
    """Samples RSS every 20 ms on a thread; ``peak`` is the highest seen."""

    def __init__(self) -> None:
        self.peak = rss_mib()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_mib())

    def stop(self) -> float:
        self._stop.set()
        self._t.join()
        return max(self.peak, rss_mib())


class MeanFill:
    """A stand-in engine: the hole takes the frame's mean colour; chunks of 10 frames."""

    name = "mean-fill"

    def run(self, samples, num_frames, cancel=None):
        out, start = [], 0
        for t, (frame, mask, _) in enumerate(samples):
            f = frame.copy()
            f[mask != 0] = frame.reshape(-1, 3).mean(axis=0).astype(np.uint8)
            out.append(f)
            if len(out) == 10 or t == num_frames - 1:
                yield Progress("fill", t + 1, num_frames)
                yield FramesReady(start, out)
                start, out = t + 1, []


def make_clip(path: Path, width: int, height: int, frames: int) -> None:
    from benchmarks._clips import texture
    from editor.media import VideoWriter

    scene = texture(height, width + frames * 2, seed=3)
    with VideoWriter(path, width, height, 25, codec="h264", quality=23, overwrite=True) as w:
        for i in range(frames):
            w.write(np.ascontiguousarray(scene[:, i * 2:i * 2 + width]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=1920)
    ap.add_argument("--height", type=int, default=1080)
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--work", default="/tmp/result_memory")
    ap.add_argument("--old", action="store_true", help="also keep every finished frame in memory, as the old editor did")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    clip = work / f"clip_{args.width}x{args.height}_{args.frames}.mp4"
    if not clip.exists():
        t = time.monotonic()
        make_clip(clip, args.width, args.height, args.frames)
        print(f"made {clip} in {time.monotonic() - t:.0f} s")
    w, h, n = args.width, args.height, args.frames
    mask = np.zeros((h, w), np.uint8)
    mask[h // 10:h // 10 + h // 6, w - w // 3:w - w // 10] = 1  # a logo
    import shutil

    shutil.rmtree(work / "result", ignore_errors=True)
    folder = ResultFolder.create(work / "result", str(clip), (w, h))
    kept: dict[int, np.ndarray] = {}
    marks: list[tuple[int, float]] = []
    base = rss_mib()
    peak = Peak()

    def on_event(event):
        if isinstance(event, JobChunk):
            if args.old:
                for k, f in enumerate(event.frames):
                    kept[event.start + k] = f
            if event.stop in (n // 10, n // 2, n) or event.stop % (n // 4 or 1) == 0:
                marks.append((event.stop, rss_mib()))

    t0 = time.monotonic()
    run_job(Job(clip, folder, mask, MeanFill(), settings=JobSettings(crop=False), run=RunInfo("bench", (0, n), "k")),
            on_event=on_event)
    t_run = time.monotonic() - t0
    run_peak = peak.stop()
    # the window stepping through every result frame
    store = ResultStore()
    store.attach(ResultFolder.open(folder.folder), ["bench"], 0)
    peak2 = Peak()
    t0 = time.monotonic()
    for i in range(n):
        store.frame(i)
    t_step = time.monotonic() - t0
    step_peak = peak2.stop()
    disk = sum(p.stat().st_size for p in folder.folder.glob("*.png")) / 2**30
    print(f"\n{w}x{h}, {n} frames, {'old path (frames kept in memory)' if args.old else 'result on disk'}")
    print("| point | RSS MiB |")
    print("|---|---|")
    print(f"| before the run | {base:.0f} |")
    for f, r in sorted(set(marks)):
        print(f"| after frame {f} | {r:.0f} |")
    print(f"| peak during the run | {run_peak:.0f} |")
    print(f"| peak stepping through all {n} results | {step_peak:.0f} |")
    print(f"\nrun {t_run:.0f} s ({t_run / n * 1000:.0f} ms/frame: decode + fill + PNG), stepping {t_step / n * 1000:.0f} ms/frame,"
          f" result on disk {disk:.2f} GiB")


if __name__ == "__main__":
    main()
