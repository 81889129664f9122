"""Offscreen screenshots of the main states. They go to tmp_path, or to docs/screenshots when
PROPAINTER_SCREENSHOTS=1 (how the committed ones are made)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

from .test_gui import drag

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shots(tmp_path):
    folder = ROOT / "docs" / "screenshots" if os.environ.get("PROPAINTER_SCREENSHOTS") == "1" else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save(widget, path: Path) -> None:
    assert widget.grab().save(str(path))
    img = QImage(str(path))
    assert img.width() > 200 and img.height() > 150


def test_screenshots_of_the_main_states(make_window, qtbot, shots, tmp_path_factory):
    from editor.sample import SampleScene, make_sample

    sample = make_sample(tmp_path_factory.mktemp("shot"), SampleScene(num_frames=24))
    w = make_window()
    w.resize(1280, 800)
    save(w, shots / "empty.png")

    with qtbot.waitSignal(w.frameShown, timeout=10000):
        assert w.open_clip(str(sample.clip))
    w.set_tool("rect")
    w.set_scope("all")
    drag(qtbot, w, [(250, 195), (312, 232)])  # the logo corner, on all frames
    w.set_tool("brush")
    w.set_scope("frame")
    w.size_spin.setValue(40)
    w.seek(6)
    qtbot.waitUntil(lambda: w._shown == 6, timeout=5000)
    save(w, shots / "clip_with_mask.png")

    w.set_view_mode("result")
    w.panel.subvideo.setValue(4)
    grabbed = []

    def on_chunk(start, count):
        if not grabbed and start <= w.current < start + count:
            save(w, shots / "running_with_previews.png")
            grabbed.append(start)

    w.chunkShown.connect(on_chunk)
    assert w.start_run()
    qtbot.waitUntil(lambda: w.worker is None, timeout=120000)
    assert grabbed

    w.set_view_mode("split")
    w.canvas.split = 0.86  # the logo straddles the line: removed on the right
    save(w, shots / "result_split.png")

    dlg = w.expand_dialog()
    dlg.aspect.setCurrentText("16:9")
    save(dlg, shots / "outpainting_dialog.png")
    dlg.reject()
    dlg = w.export_dialog()
    save(dlg, shots / "export_dialog.png")
    dlg.reject()
