"""What the window says is what happens: the engine note, errors in the window's words,
a fresh status for another clip, the result shown after a run, review spans."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from editor.widgets.gui_text import DOWNLOAD_PROPAINTER, DOWNLOAD_SAM, DOWNLOAD_SAM2, for_window
from editor.widgets.timeline import review_tooltip


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("PROPAINTER_WEIGHTS_DIR", str(tmp_path / "no-weights"))


def paint(w) -> None:
    m = np.zeros((64, 96), np.uint8)
    m[10:30, 10:40] = 255
    w.doc.set_masks({0: m}, "Paint")


def test_without_weights_the_note_says_which_engine_runs_and_propainter_does_not_start(opened, qtbot, dialogs,
                                                                                        no_weights):
    w = opened
    panel = w.panel
    panel.engine.setCurrentIndex(panel.engine.findData("auto"))
    assert "Runs use the classic engine" in panel.engine_note.text()
    panel.engine.setCurrentIndex(panel.engine.findData("propainter"))
    note = panel.engine_note.text()
    assert "cannot start" in note and "Runs use the ProPainter" not in note and DOWNLOAD_PROPAINTER in note
    paint(w)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert not w.is_running()
    (text,) = dialogs.texts("critical")
    assert DOWNLOAD_PROPAINTER in text and "main.py" not in text
    assert [a.text() for a in w.menuBar().actions()[-1].menu().actions() if "Download" in a.text()] == [
        "Download ProPainter Weights"]


def test_errors_in_the_window_name_menu_items_not_cli_commands(window, dialogs):
    from editor.jobs.sam_worker import NO_SAM

    cli = [
        NO_SAM,
        "--tracker sam2 needs the SAM 2 weights sam2.1_hiera_tiny: download them with "
        "`python main.py weights download sam2.1_hiera_tiny` (or pass --sam2-checkpoint), or use --tracker flow.",
        "Clicks need the SAM weights to make a mask: download them with `python main.py weights download sam_vit_b` "
        "(or pass --sam-checkpoint), or give the masks with --mask.",
        "The ProPainter weights are not in /x; download them (`python main.py weights download`, or the editor's "
        "Download button), give their folder (--weights-dir), or use the classic engine.",
    ]
    for message in cli:
        window.show_error("Problem", message)
    shown = dialogs.texts("critical")
    assert len(shown) == 4
    for text in shown:
        assert "main.py" not in text and "--" not in text and "`" not in text
    assert DOWNLOAD_SAM in shown[0] and DOWNLOAD_SAM2 in shown[0] and DOWNLOAD_SAM2 in shown[1]
    assert "Motion Tracker Only" in shown[1] and "paint the mask" in shown[2] and DOWNLOAD_PROPAINTER in shown[3]
    objects_menu = [m for m in window.menuBar().actions() if m.text() == "&Objects"][0].menu()
    texts = [a.text() for a in objects_menu.actions()]
    assert "Download SAM Weights" in texts and "Download SAM 2 Weights" in texts
    assert for_window("plain words") == "plain words"


def test_a_finished_run_shows_the_result_and_another_clip_starts_idle(opened, qtbot, tiny_sample, no_weights):
    w = opened
    paint(w)
    assert w.canvas.mode == "source"
    with qtbot.waitSignal(w.runFinished, timeout=60000):
        assert w.start_run()
    assert w.panel.stage.text().startswith("Done") and w.panel.progress.value() == w.panel.progress.maximum()
    assert w.canvas.mode == "result" and w.view_actions["result"].isChecked()
    w.doc.mark_saved()
    with qtbot.waitSignal(w.frameShown, timeout=10000):
        assert w.open_clip(str(tiny_sample.clip))
    assert w.panel.stage.text() == "Idle" and w.panel.progress.value() == 0


def test_review_tooltip_gives_spans_per_reason_not_a_line_a_frame(window):
    flags = {f: f"SAM 2 is unsure of this mask (its own IoU estimate is 0.{f:02d}): check it" for f in range(2, 9)}
    flags[11] = flags[2]
    flags[20] = "the object left the frame"
    window.timeline.set_objects([0], flags)
    tip = window.timeline.toolTip()
    assert tip == review_tooltip(flags)
    lines = tip.splitlines()
    assert lines == ["9 frames to review (Ctrl+Shift+Right: next):",
                     "Frames 3-9, 12: SAM 2 is unsure of this mask: check it",
                     "Frame 21: the object left the frame"]


def test_a_failed_run_reads_failed_not_done_and_stays_on_the_source(opened, qtbot, dialogs, monkeypatch):
    import editor.widgets.session
    from models.errors import ProPainterError

    def broken(snap):
        raise ProPainterError("the engine could not start")

    monkeypatch.setattr(editor.widgets.session, "make_job", broken)
    w = opened
    paint(w)
    with qtbot.waitSignal(w.runFinished, timeout=60000):
        assert w.start_run()
    assert w.panel.stage.text().startswith("Failed after") and "could not start" in w.panel.stage.text()
    assert w.canvas.mode == "source"
    assert any("could not start" in t for t in dialogs.texts("critical"))


def test_the_propainter_download_shows_the_licence_first_and_declining_fetches_nothing(window, qtbot, monkeypatch,
                                                                                       dialogs):
    import models.weights as weights

    fetched = []
    monkeypatch.setattr(weights, "download_missing", lambda **kw: fetched.append(kw) or [])
    window.act_download_propainter.trigger()  # the fake user declines
    (kind, title, text), = dialogs.shown
    assert kind == "choice" and "NTU S-Lab License 1.0" in text and "non-commercial" in text
    assert window.task is None and fetched == []
    dialogs.choices.append(True)
    window.panel.download.click()
    qtbot.waitUntil(lambda: window.task is None and bool(fetched), timeout=10000)
