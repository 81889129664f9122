"""Speed and memory of the ProPainter pipeline on this machine, with seeded weights.

    python benchmarks/pipeline.py                       # 240x432, 100 and 400 frames
    python benchmarks/pipeline.py --frames 20 --raft-iter 20 --authors /path/to/ProPainter
    python benchmarks/pipeline.py --frames 80 --raft-iter 4 --authors /path/to/ProPainter --rounds 2
    python benchmarks/pipeline.py --frames 40 --precision fp32 bf16 --rounds 2 [--zero-flows] [--authors DIR]
    python benchmarks/pipeline.py --frames 40 --precision fp32 bf16 --rounds 3 --also-zero-flows --authors DIR

Prints seconds per frame by stage, peak RSS per run (each run in a fresh process), the
memory estimate table next to the published one, and — with ``--authors`` pointing at a
checkout of sczhou/ProPainter (plus einops, scipy, imageio, imageio-ffmpeg, tqdm, requests, matplotlib
installed) — the authors' unmodified ``inference_propainter.py --save_frames`` on the same PNG
frames and weights, timed and measured the same way (stages by ``_authors_probe.py``), with
the frames compared. Seeded weights do not inpaint
anything useful; they cost the same compute as the real ones.

With ``--precision`` naming more than one precision, the runs alternate round by round
(the authors' script too with ``--authors``) and the frames of each precision are compared
with the first one's (fp32): PSNR inside the dilated hole and the largest grey-level
difference. ``--zero-flows`` zeroes RAFT's and flow completion's last layers, so that every
completed flow is zero and image propagation fills the holes from the neighbouring frames;
``--also-zero-flows`` adds that comparison (one untimed run per precision) to the timed one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def clip_frame(i: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame i of an endless synthetic clip (panning texture, a moving square), made on
    demand so the input never holds the clip."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y = xx + 1.5 * i, yy + 0.6 * i
    img = np.stack([np.sin(x / 11) + 0.5 * np.sin(y / 5), np.cos(y / 13) + 0.5 * np.cos((x + y) / 7),
                    np.sin((x - y) / 17) + 0.4 * np.sin(x / 3)], -1)
    frame = ((img / 1.5 + 1) * 127.5).clip(0, 255).astype(np.uint8)
    mask = np.zeros((h, w), np.uint8)
    cx = int((w // 4 + 3 * i) % (w - 60)) + 10
    cy = int((h // 3 + 2 * i) % (h - 60)) + 10
    mask[cy : cy + 40, cx : cx + 40] = 1
    frame[mask.astype(bool)] = (230, 40, 40)
    return frame, mask


def child(args: argparse.Namespace) -> None:
    """One measured run in this process; prints a JSON line."""
    import torch

    torch.set_num_threads(args.threads)
    from models import ProPainterConfig
    from models.pipeline import FramesReady, ProPainterPipeline
    from tests.models.parity import load_networks

    nets = load_networks(Path(args.weights))
    if args.zero_flows:
        zero_flows(nets)
    cfg = ProPainterConfig(raft_iter=args.raft_iter, subvideo_length=args.subvideo_length)
    pipe = ProPainterPipeline(*nets, cfg, precision=args.precision[0])
    if args.windows_at_once is not None:
        pipe.concurrent_windows = args.windows_at_once == 2
    digest = hashlib.sha256()
    n_out = 0
    save = Path(args.save) if args.save else None
    pairs = (clip_frame(i, args.height, args.width) for i in range(args.frames))
    t0 = time.perf_counter()
    first = None
    for ev in pipe.stream_pairs(pairs, args.frames):
        if isinstance(ev, FramesReady):
            if first is None:
                first = time.perf_counter() - t0
            for k, f in enumerate(ev.frames):
                digest.update(f.tobytes())
                if save is not None:
                    np.save(save / f"{ev.start + k:05d}.npy", f)
            n_out += len(ev.frames)
            if args.first_only:
                break  # the time to the first preview only: the rest is not computed
    total = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"frames": n_out, "seconds": total, "stages": vars(pipe.times), "peak_rss": rss,
                      "first_frame": first,
                      "sha256": digest.hexdigest()}))


def zero_flows(nets) -> None:
    """Seeded weights whose flows are zero: RAFT's flow head and flow completion's last
    convolution give 0, so every completed flow is 0 and image propagation copies pixels
    from the neighbouring frames where the holes have moved (the same compute)."""
    import torch

    raft, fc, _ = nets
    with torch.no_grad():
        for conv in (raft.update_block.flow_head.conv2, fc.upsample[-1].conv):
            conv.weight.zero_()
            conv.bias.zero_()


def run_child(args: argparse.Namespace, frames: int, save: Path | None = None, precision: str | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", "--frames", str(frames), "--width", str(args.width),
           "--height", str(args.height), "--raft-iter", str(args.raft_iter), "--threads", str(args.threads),
           "--subvideo-length", str(args.subvideo_length), "--weights", str(args.weights),
           "--precision", precision or args.precision[0]]
    if args.zero_flows:
        cmd += ["--zero-flows"]
    if save is not None:
        cmd += ["--save", str(save)]
    if args.windows_at_once is not None:
        cmd += ["--windows-at-once", str(args.windows_at_once)]
    if args.first_only:
        cmd += ["--first-only"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_authors(args: argparse.Namespace, frames: int, work: Path) -> dict:
    """The authors' script on PNG frames written from the same synthetic clip."""
    import cv2

    src, msk, out = work / "in" / "clip", work / "in_masks", work / "out"
    shutil.rmtree(work, ignore_errors=True)
    for d in (src, msk):
        d.mkdir(parents=True, exist_ok=True)
    for i in range(frames):
        f, m = clip_frame(i, args.height, args.width)
        cv2.imwrite(str(src / f"{i:05d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(msk / f"{i:05d}.png"), m * 255)
    wdir = Path(args.authors) / "weights"
    wdir.mkdir(exist_ok=True)
    for name in ("raft-things.pth", "recurrent_flow_completion.pth", "ProPainter.pth"):
        source, target = Path(args.weights) / name, wdir / name
        if not (target.exists() and target.samefile(source)):  # --weights may be that folder
            shutil.copyfile(source, target)
    probe = [sys.executable, str(ROOT / "benchmarks" / "_authors_probe.py"), str(args.threads), "--",
             "-i", str(src), "-m", str(msk), "-o", str(out), "--save_frames",
             "--raft_iter", str(args.raft_iter), "--subvideo_length", str(args.subvideo_length)]
    res = subprocess.run(probe, cwd=args.authors, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"the authors' script failed:\n{res.stderr[-3000:]}")
    result = json.loads([ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")][-1][7:])
    pngs = sorted((out / "clip" / "frames").glob("*.png"))
    result["frames"] = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in pngs]
    return result


def precisions_side_by_side(args: argparse.Namespace, work: Path) -> None:
    """Our precisions (and the authors' fp32 script with ``--authors``) in alternating rounds on
    the first length; each precision's frames against the first precision's."""
    n = args.frames[0]
    names = (["authors"] if args.authors else []) + list(args.precision)
    runs: dict[str, list[dict]] = {k: [] for k in names}
    saved = {p: work / f"frames-{p}" for p in args.precision}
    for r in range(args.rounds):
        for name in names:
            if name == "authors":
                res = run_authors(args, n, work / f"authors{r}")
                res["frames"] = None
            else:
                save = saved[name] if r == 0 else None
                if save is not None:
                    save.mkdir()
                res = run_child(args, n, save, name)
            runs[name].append(res)
            st = " ".join(f"{k} {res['stages'][k] / n:.3f}" for k in ("raft", "flow_completion", "propagation", "transformer"))
            print(f"round {r + 1}: {name} {res['seconds']:.1f} s, s/frame {st}, peak RSS "
                  f"{res['peak_rss'] / 2**20:.0f} MiB", flush=True)
    print(f"\n{args.width}x{args.height}, {n} frames, raft_iter {args.raft_iter}, sub-video {args.subvideo_length}, "
          f"{args.threads} threads, seeded weights{' with zero flows' if args.zero_flows else ''}, "
          f"{args.rounds} round(s) alternating:")
    print(f"{'':>8} {'seconds':>20} {'s/frame':>8} {'raft':>6} {'flowc':>6} {'prop':>6} {'transf':>7} "
          f"{'first frame s':>13} {'peak RSS MiB':>12}")
    med = {name: print_runs(name, runs[name], n)[0] for name in names}
    base = args.precision[0]
    for p in args.precision[1:]:
        print(f"{p} vs {base}: {med[base] / med[p]:.2f}x the speed; frames: {compare_frames(args, saved[base], saved[p], n)}")
        if "authors" in med:
            print(f"{p} vs the authors' fp32: {med['authors'] / med[p]:.2f}x their speed")
    if args.also_zero_flows and not args.zero_flows:
        # The same comparison with flows that are exactly zero in every precision, so that
        # image propagation fills the holes and the difference is the generator's alone.
        zero = argparse.Namespace(**{**vars(args), "zero_flows": True})
        zsaved = {p: work / f"frames-zero-{p}" for p in args.precision}
        for p in args.precision:
            zsaved[p].mkdir()
            res = run_child(zero, n, zsaved[p], p)
            print(f"zero flows: {p} {res['seconds']:.1f} s (untimed comparison run)", flush=True)
        for p in args.precision[1:]:
            print(f"{p} vs {base}, seeded weights with zero flows: {compare_frames(args, zsaved[base], zsaved[p], n)}")


def compare_frames(args: argparse.Namespace, ref_dir: Path, out_dir: Path, n: int) -> str:
    """PSNR inside the dilated hole and the largest grey-level differences of the frames saved
    in ``out_dir`` against those in ``ref_dir``."""
    from models.processor import dilate

    ref = np.stack([np.load(p) for p in sorted(ref_dir.glob("*.npy"))]).astype(np.float64)
    out = np.stack([np.load(f) for f in sorted(out_dir.glob("*.npy"))]).astype(np.float64)
    hole = np.stack([dilate(clip_frame(i, args.height, args.width)[1], 4) for i in range(n)]).astype(bool)
    d = np.abs(out - ref)
    mse = float((d[hole] ** 2).mean())
    psnr = float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)
    return (f"PSNR inside the hole {psnr:.1f} dB, max grey-level difference {d.max():.0f} (outside the hole "
            f"{d[~hole].max():.0f}), {(d > 0).mean():.4%} of values differ")


def memory_table() -> None:
    from models import memory

    print("\nGPU memory estimate (GiB) vs the published table (fp32 / fp16):")
    print(f"{'resolution':>11} | {'50 frames':>22} | {'80 frames':>22}")
    for (w, h), cells in memory.MEMORY_TABLE.items():
        row = []
        for t in (50, 80):
            parts = []
            for p in ("fp32", "fp16"):
                seed = cells[(p, t)]
                est = memory.estimate_gib(w, h, t, fp16=p == "fp16")
                parts.append(f"{'OOM' if seed is None else seed:>3}/{est:4.1f}")
            row.append("  ".join(parts))
        print(f"{w:>5}x{h:<5} | {row[0]:>22} | {row[1]:>22}")
    print("(each cell: published / ours)")



def print_runs(name: str, runs: list[dict], n: int) -> tuple[float, float]:
    """One table row for ``runs`` of ``n`` frames (seconds of each run, medians of s/frame by
    stage, first frame and peak RSS); returns the median seconds and the median peak RSS."""
    secs = [r["seconds"] for r in runs]
    seconds, rss = statistics.median(secs), statistics.median(r["peak_rss"] for r in runs)
    st = {k: statistics.median(r["stages"][k] for r in runs) / n
          for k in ("raft", "flow_completion", "propagation", "transformer")}
    first_frame = statistics.median(r["first_frame"] for r in runs)
    print(f"{name:>8} {' '.join(f'{x:.1f}' for x in secs):>20} {seconds / n:>8.3f} {st['raft']:>6.3f} "
          f"{st['flow_completion']:>6.3f} {st['propagation']:>6.3f} {st['transformer']:>7.3f} "
          f"{first_frame:>13.1f} {rss / 2**20:>12.0f}")
    return seconds, rss

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--width", type=int, default=432)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--frames", type=int, nargs="+", default=[100, 400])
    ap.add_argument("--raft-iter", type=int, default=20)
    ap.add_argument("--subvideo-length", type=int, default=80)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1, help="runs per length (median reported)")
    ap.add_argument("--weights", type=Path, default=None, help="seeded weights folder (built if absent)")
    ap.add_argument("--authors", type=Path, default=None, help="a checkout of sczhou/ProPainter to compare with")
    ap.add_argument("--rounds", type=int, default=1, help="with --authors: alternating runs of ours and theirs")
    ap.add_argument("--windows-at-once", type=int, choices=(1, 2), default=None,
                    help="transformer windows computed side by side on the CPU (default: the pipeline's, 1)")
    ap.add_argument("--first-only", action="store_true",
                    help="stop each run at its first finished frame: time to the first preview only")
    ap.add_argument("--precision", nargs="+", choices=("fp32", "fp16", "bf16"), default=["fp32"],
                    help="our precision(s); more than one: alternating rounds, frames compared with the first")
    ap.add_argument("--zero-flows", action="store_true",
                    help="seeded weights whose flows are zero (image propagation fills the holes)")
    ap.add_argument("--also-zero-flows", action="store_true",
                    help="with several precisions: after the timed rounds, one more run of each with zero "
                         "flows, and their frames compared the same way")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--save", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.first_only and args.authors:
        ap.error("--first-only stops our runs early: it cannot be compared with --authors")
    if args.child:
        args.frames = args.frames[0]
        child(args)
        return
    work = Path(tempfile.mkdtemp(prefix="pp-bench-"))
    if args.weights is None:
        from tests.seeded import write_seeded_weights

        args.weights = work / "weights"
        write_seeded_weights(args.weights)
    if len(args.precision) > 1:
        precisions_side_by_side(args, work)
        shutil.rmtree(work, ignore_errors=True)
        return
    at_once = f", {args.windows_at_once} window(s) at once" if args.windows_at_once else ""
    print(f"ProPainter pipeline, {args.width}x{args.height}, raft_iter {args.raft_iter}, subvideo_length "
          f"{args.subvideo_length}, {args.threads} torch threads{at_once}, seeded weights, CPU")
    print(f"{'frames':>6} {'s/frame':>8} {'raft':>6} {'flowc':>6} {'prop':>6} {'transf':>7} {'peak RSS MiB':>13} "
          f"{'first frame s':>13}" + (" (runs stopped there; stages per clip frame)" if args.first_only else ""))
    save = None
    if args.authors:
        save = work / "ours"
        save.mkdir()
    first = {}
    for n in args.frames:
        # the first length's first run also keeps its frames for the side-by-side comparison
        runs = [run_child(args, n, save if (save is not None and not first and r == 0) else None)
                for r in range(args.repeat)]
        first = first or {"n": n, "run": runs[0]}
        med = statistics.median(r["seconds"] for r in runs)
        st = runs[0]["stages"]
        rss = statistics.median(r["peak_rss"] for r in runs) / 2**20
        print(f"{n:>6} {med / n:>8.3f} {st['raft'] / n:>6.3f} {st['flow_completion'] / n:>6.3f} "
              f"{st['propagation'] / n:>6.3f} {st['transformer'] / n:>7.3f} {rss:>13.0f} "
              f"{statistics.median(r['first_frame'] for r in runs):>13.1f}")
    if args.authors:
        # Rounds alternate ours and theirs, so both see the same machine (shared machines
        # drift by 10-20 % over minutes); medians and the ratio of medians are reported.
        n = first["n"]
        ours_runs, theirs_runs = [first["run"]], []
        for r in range(args.rounds):
            if r:
                ours_runs.append(run_child(args, n))
            theirs_runs.append(run_authors(args, n, work / f"authors{r}"))
        mine = np.stack([np.load(p) for p in sorted(save.glob("*.npy"))])
        diff = np.abs(mine.astype(int) - np.stack(theirs_runs[0]["frames"]).astype(int))
        print(f"\nSide by side, {n} frames (same frames, weights, threads), {args.rounds} round(s) alternating:")
        print(f"{'':>8} {'seconds':>20} {'s/frame':>8} {'raft':>6} {'flowc':>6} {'prop':>6} {'transf':>7} "
              f"{'first frame s':>13} {'peak RSS MiB':>12}")
        med = {name: print_runs(name, runs, n) for name, runs in (("authors", theirs_runs), ("ours", ours_runs))}
        print(f"speed-up {med['authors'][0] / med['ours'][0]:.2f}x, memory {med['ours'][1] / med['authors'][1]:.2f}x of theirs; "
              f"frames: max diff {diff.max()}, {(diff > 0).mean():.5%} of values differ")
        print("(stages in s/frame; the authors' script writes its frames only at the end: its first frame is "
              "final after the second generator window)")
    memory_table()
    from models import memory

    print(f"\nEstimate for {args.width}x{args.height}, {args.subvideo_length} frames, fp32 (GPU, authors' code): "
          f"{memory.estimate_gib(args.width, args.height, args.subvideo_length):.1f} GiB; our CPU peak RSS above "
          "includes ~0.9 GiB of libraries (torch, torchvision, OpenCV) and the weights before any frame.")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
