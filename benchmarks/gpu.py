"""The GPU check: ProPainter's peak GPU memory and speed on one CUDA GPU, with seeded weights.

    python benchmarks/gpu.py                 # on a CUDA GPU: under 8 minutes
    python benchmarks/gpu.py --dry-run       # anywhere (CPU): tiny sizes, every code path

Prints, for the four resolutions of the published memory table and sub-videos of 50 and 80
frames, in fp32 and fp16: the peak GPU memory of one sub-video (the caching allocator's
reserved peak, what ``nvidia-smi`` shows less the CUDA context, and the allocated peak),
the published figure (the authors' code) and ``models.memory.estimate``'s, and seconds per
frame. Then it exercises the out-of-memory back-off for real: the process is capped (with
``torch.cuda.set_per_process_memory_fraction``) below what an 80-frame sub-video needs, so
the pipeline must halve the sub-video until it fits, and the run must still give every frame.

Runs go from the smallest to the largest and stop at ``--budget`` seconds (the rest are
printed as skipped), so the script ends in time on a slower GPU. Seeded weights cost the same
compute and memory as the real ones; their frames mean nothing.

``--dry-run`` runs the same code on the CPU at tiny sizes (the four resolutions divided by
eight, sub-videos of 4 and 6 frames, RAFT at 2 iterations) with peak RSS in place of GPU
memory, and injects the out-of-memory error instead of capping the allocator; the tests run
it so the script keeps working while no GPU is at hand.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GiB = 2**30


@dataclass
class Cell:
    """One run: its peak memory (GiB) or the reason it has none, and its speed."""

    reserved: float | None = None
    allocated: float | None = None
    seconds_per_frame: float | None = None
    note: str = ""

    def memory(self) -> str:
        if self.note:
            return self.note
        return f"{self.reserved:.1f} ({self.allocated:.1f})"


def synthetic_clip(n: int, width: int, height: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A panning texture with a square moving through it (the square is the hole)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frames, masks = [], []
    for i in range(n):
        x, y = xx + 1.5 * i, yy + 0.6 * i
        img = np.stack([np.sin(x / 11) + 0.5 * np.sin(y / 5), np.cos(y / 13) + 0.5 * np.cos((x + y) / 7),
                        np.sin((x - y) / 17)], -1)
        frames.append(((img / 1.5 + 1) * 127.5).clip(0, 255).astype(np.uint8))
        m = np.zeros((height, width), np.uint8)
        s = max(8, min(width, height) // 6)
        cx, cy = (width // 4 + 3 * i) % max(1, width - s), (height // 3 + 2 * i) % max(1, height - s)
        m[cy : cy + s, cx : cx + s] = 1
        masks.append(m)
    return frames, masks


class Runner:
    """Loads the networks once per precision and runs one clip at a time, measuring it."""

    def __init__(self, weights: Path, device: str, raft_iter: int) -> None:
        from tests.models.parity import load_networks

        self.weights, self.device, self.raft_iter = weights, device, raft_iter
        self._nets = {}
        self._load = load_networks

    def pipeline(self, half: bool, subvideo_length: int):
        import torch

        from models import ProPainterConfig
        from models.pipeline import ProPainterPipeline

        if half not in self._nets:
            self._nets.clear()  # one precision's networks on the device at a time
            if self.device == "cuda":
                torch.cuda.empty_cache()
            self._nets[half] = self._load(self.weights)
        cfg = ProPainterConfig(raft_iter=self.raft_iter, subvideo_length=subvideo_length)
        return ProPainterPipeline(*self._nets[half], cfg, device=self.device, half=half)

    def run(self, width: int, height: int, frames: int, half: bool) -> tuple[Cell, list]:
        """One sub-video of ``frames`` frames; returns its cell and the pipeline's events."""
        import torch

        from models.device import is_out_of_memory
        from models.pipeline import FramesReady

        clip, masks = synthetic_clip(frames, width, height)
        pipe = self.pipeline(half, frames)
        events, out = [], 0
        if self.device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        try:
            for ev in pipe.stream(clip, masks, frames):
                events.append(ev)
                if isinstance(ev, FramesReady):
                    out += len(ev.frames)
        except Exception as exc:  # noqa: BLE001 - an OOM is a result here; anything else is not
            if not is_out_of_memory(exc):
                raise
            return Cell(note="OOM"), events
        if self.device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        if out != frames:
            raise SystemExit(f"{width}x{height}, {frames} frames: the pipeline gave {out} frames")
        if self.device == "cuda":
            reserved, allocated = torch.cuda.max_memory_reserved() / GiB, torch.cuda.max_memory_allocated() / GiB
        else:  # the process's peak RSS (it only grows): an upper bound for this run
            reserved = allocated = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GiB
        return Cell(reserved, allocated, seconds / frames), events


def memory_rows(runner: Runner, sizes, lengths, published_lengths, deadline: float) -> dict:
    from models import memory

    cells = {}
    order = sorted(((w * h, (w, h), (pw, ph)) for (w, h), (pw, ph) in sizes))
    for _, (w, h), (pw, ph) in order:
        for t, pt in zip(lengths, published_lengths):
            for precision in ("fp32", "fp16"):
                key = ((pw, ph), pt, precision)
                if time.monotonic() > deadline:
                    cells[key] = Cell(note="skipped (time)")
                    continue
                cell, _ = runner.run(w, h, t, precision == "fp16")
                cells[key] = cell
                print(f"  {pw}x{ph} {pt} frames {precision}: {cell.memory()} GiB"
                      + (f", {cell.seconds_per_frame:.3f} s/frame" if cell.seconds_per_frame else ""), flush=True)
    return cells


def print_table(cells: dict, dry_run: bool) -> None:
    from models import memory

    unit = "peak RSS GiB (CPU)" if dry_run else "peak GiB reserved (allocated)"
    print(f"\n| resolution | frames | precision | {unit} | published | estimate | s/frame |")
    print("|---|---|---|---|---|---|---|")
    for (pw, ph), published in memory.MEMORY_TABLE.items():
        for (precision, t), pub in sorted(published.items(), key=lambda kv: (kv[0][1], kv[0][0] != "fp32")):
            cell = cells.get(((pw, ph), t, precision))
            if cell is None:
                continue
            est = memory.estimate_gib(pw, ph, t, fp16=precision == "fp16")
            speed = f"{cell.seconds_per_frame:.3f}" if cell.seconds_per_frame else "-"
            print(f"| {pw}x{ph} | {t} | {precision} | {cell.memory()} | {'OOM' if pub is None else pub} | "
                  f"{est:.1f} | {speed} |")
    if dry_run:
        print("(dry run: each row ran at 1/8 of its resolution with 4 or 6 frames; the published and estimated "
              "figures are those of the full size)")


def oom_backoff(runner: Runner, width: int, height: int, frames: int, dry_run: bool) -> bool:
    """Make an 80-frame sub-video run out of memory and check that the back-off finishes it."""
    import torch

    from models.events import Progress

    print(f"\nOut-of-memory back-off: {width}x{height}, {frames} frames in one sub-video, fp32")
    restore = None
    if dry_run:
        # No allocator to cap on a CPU: the generator's first two calls fail as CUDA's would.
        from models.propainter import InpaintGenerator

        original = InpaintGenerator.forward
        failures = {"left": 2}

        def failing(self, *args, **kwargs):
            if failures["left"] > 0:
                failures["left"] -= 1
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
            return original(self, *args, **kwargs)

        InpaintGenerator.forward = failing

        def restore():
            InpaintGenerator.forward = original
    else:
        small, _ = runner.run(width, height, max(4, frames // 8), False)
        full, _ = runner.run(width, height, frames, False)
        if full.reserved is None or small.reserved is None:
            print("  could not measure the two sub-video lengths; back-off not exercised")
            return False
        total = torch.cuda.get_device_properties(0).total_memory / GiB
        cap = (small.reserved + full.reserved) / 2
        print(f"  peak {small.reserved:.1f} GiB at {max(4, frames // 8)} frames, {full.reserved:.1f} GiB at {frames}: "
              f"capping this process at {cap:.1f} GiB of {total:.0f}")
        if full.reserved < 1.15 * small.reserved:
            print("  (the peak hardly depends on the sub-video length here: the cap may fail at every length)")
        torch.cuda.empty_cache()
        torch.cuda.set_per_process_memory_fraction(cap / total, 0)

        def restore():
            torch.cuda.set_per_process_memory_fraction(1.0, 0)
            torch.cuda.empty_cache()
    try:
        cell, events = runner.run(width, height, frames, False)
    finally:
        restore()
    retries = [ev.message for ev in events if isinstance(ev, Progress) and ev.stage == "out of memory"]
    for message in retries:
        print(f"  {message}")
    ok = bool(retries) and not cell.note
    if ok:
        print(f"  finished all {frames} frames after {len(retries)} back-off(s), {cell.seconds_per_frame:.3f} s/frame: OK")
    elif not retries:
        print("  no out-of-memory error happened: back-off not exercised")
    else:
        print(f"  still out of memory after {len(retries)} back-off(s): FAILED")
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: check the script, measure nothing")
    ap.add_argument("--weights", type=Path, default=None, help="seeded weights folder (built if absent)")
    ap.add_argument("--raft-iter", type=int, default=None, help="RAFT iterations (default 20; 2 with --dry-run)")
    ap.add_argument("--budget", type=float, default=420.0, help="seconds for the memory table (default 420)")
    ap.add_argument("--only", nargs="+", default=None, metavar="WxH",
                    help="only these resolutions of the table (e.g. 320x240)")
    args = ap.parse_args(argv)
    import torch

    from models import memory

    if args.dry_run:
        device = "cpu"
        torch.set_num_threads(1)
    elif not torch.cuda.is_available():
        print("No CUDA GPU here: run with --dry-run to check the script on the CPU.", file=sys.stderr)
        return 2
    else:
        device = "cuda"
    raft_iter = args.raft_iter or (2 if args.dry_run else 20)
    work = Path(tempfile.mkdtemp(prefix="pp-gpu-"))
    weights = args.weights
    if weights is None:
        from tests.seeded import write_seeded_weights

        weights = work / "weights"
        write_seeded_weights(weights)
    table = list(memory.MEMORY_TABLE)
    if args.only:
        wanted = set(args.only)
        table = [(w, h) for (w, h) in table if f"{w}x{h}" in wanted]
        if not table:
            print(f"--only: none of {', '.join(args.only)} is in the table "
                  f"({', '.join(f'{w}x{h}' for w, h in memory.MEMORY_TABLE)})", file=sys.stderr)
            return 2
    started = time.monotonic()
    if args.dry_run:
        def tiny(v: int) -> int:
            return max(64, v // 8 // 8 * 8)

        sizes = [((tiny(w), tiny(h)), (w, h)) for (w, h) in table]
        lengths = (4, 6)
        where = "CPU (dry run)"
    else:
        sizes = [((w, h), (w, h)) for (w, h) in table]
        lengths = (50, 80)
        where = torch.cuda.get_device_name(0)
    print(f"ProPainter GPU check on {where}: torch {torch.__version__}, raft_iter {raft_iter}, seeded weights")
    runner = Runner(weights, device, raft_iter)
    cells = memory_rows(runner, sizes, lengths, (50, 80), started + args.budget)
    print_table(cells, args.dry_run)
    w, h = (88, 64) if args.dry_run else (720, 480)
    ok = oom_backoff(runner, w, h, 6 if args.dry_run else 80, args.dry_run)
    print(f"\n{time.monotonic() - started:.0f} s in all")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
