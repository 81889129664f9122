"""GUI responsiveness figures, printed as a table (never asserted in tests).

    python benchmarks/gui.py [--width 960 --height 540 --frames 36]

- scrub: seek to a frame already in the cache and repaint the canvas (target < 30 ms);
- brush: one mouse-move step of a brush stroke, including the repaint (target < 16 ms);
- stall: the longest gap between 5 ms GUI-thread timer ticks during a classic-engine run
  (target < 50 ms), i.e. the longest time the GUI could not react.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=960)
    ap.add_argument("--height", type=int, default=540)
    ap.add_argument("--frames", type=int, default=36)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="gui-bench-")
    os.environ.setdefault("PROPAINTER_EDITOR_HOME", os.path.join(tmp, "home"))
    from PySide6.QtCore import QElapsedTimer, QSettings, QTimer

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, os.path.join(tmp, "settings"))

    from editor.app import create_window
    from editor.sample import SampleScene, make_sample

    sample = make_sample(os.path.join(tmp, "clip"), SampleScene(width=args.width, height=args.height, num_frames=args.frames))
    app, w = create_window()
    w.resize(1280, 800)
    w.show()

    def pump(until, timeout=60.0):
        t0 = time.monotonic()
        while not until():
            app.processEvents()
            time.sleep(0.001)
            if time.monotonic() - t0 > timeout:
                raise TimeoutError("benchmark step timed out")

    w.open_clip(str(sample.clip))
    pump(lambda: w._shown == 0)
    # fill the cache: walk the clip once
    for i in range(args.frames):
        w.seek(i)
        pump(lambda i=i: w._shown == i)

    rows = []
    # scrub to cached frames
    times = []
    for k in range(60):
        i = (k * 7) % args.frames
        t = time.perf_counter()
        w.seek(i)
        w.canvas.repaint()
        times.append((time.perf_counter() - t) * 1000)
    rows.append(("scrub to a cached frame + repaint", times, 30))

    # brush stroke steps
    c = w.canvas
    c.radius = 20
    times = []
    c.begin_stroke(c.source_to_widget(50, 50))
    for k in range(120):
        p = c.source_to_widget(50 + k * 3 % (args.width - 100), 60 + (k * 2) % (args.height - 120))
        t = time.perf_counter()
        c.continue_stroke(p)
        c.repaint()
        times.append((time.perf_counter() - t) * 1000)
    c.end_stroke()
    rows.append(("brush stroke step + repaint", times, 16))

    # GUI stalls during a run
    w.set_tool("rect")
    w.set_scope("all")
    stroke_before = w.doc.masks.frames()
    w.doc.paint(range(args.frames), (args.height - 80, args.height - 10, args.width - 160, args.width - 10),
                __import__("numpy").full((70, 150), 255, "uint8"), "paint", "Rectangle")
    assert w.doc.masks.frames() and stroke_before is not None
    w.panel.subvideo.setValue(10)
    gaps = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]

    def tick():
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(5)
    t0 = time.monotonic()
    w.start_run()
    scrubs = 0
    while w.worker is not None:
        app.processEvents()
        if scrubs % 20 == 0:
            w.seek((scrubs // 20) % args.frames)  # the user scrubs while it runs
        scrubs += 1
        time.sleep(0.002)
    run_s = time.monotonic() - t0
    timer.stop()
    rows.append(("GUI-thread gap during a run (5 ms timer)", [float(g) for g in gaps], 50))

    print(f"\nGUI benchmark: {args.width}x{args.height}, {args.frames} frames, run {run_s:.1f} s "
          f"(classic engine), {os.cpu_count()} CPUs\n")
    print(f"{'measure':44s} {'n':>5s} {'median ms':>10s} {'p95 ms':>8s} {'max ms':>8s} {'target':>8s}")
    for name, values, target in rows:
        values = sorted(values)
        p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
        print(f"{name:44s} {len(values):5d} {statistics.median(values):10.2f} {p95:8.2f} {max(values):8.2f} {'<' + str(target):>8s}")
    w.doc.mark_saved()
    w.close()


if __name__ == "__main__":
    main()
