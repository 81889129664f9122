"""The real main window, driven offscreen: open, paint, undo, range, play, run, cancel, export,
projects, recovery and closing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

from editor.export import ExportSettings
from editor.jobs.worker import running_threads
from editor.media import open_video

Yes, No = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No


def widget_point(window, x: float, y: float) -> QPoint:
    return window.canvas.source_to_widget(x, y).toPoint()


def drag(qtbot, window, points) -> None:
    """A left-button drag on the canvas through source-pixel ``points``."""
    c = window.canvas
    qtbot.mousePress(c, Qt.MouseButton.LeftButton, pos=widget_point(window, *points[0]))
    for p in points[1:]:
        qtbot.mouseMove(c, pos=widget_point(window, *p))
    qtbot.mouseRelease(c, Qt.MouseButton.LeftButton, pos=widget_point(window, *points[-1]))


def paint_watermark(window, qtbot) -> None:
    """A rectangle on all frames, like a user masking a logo."""
    window.set_tool("rect")
    window.set_scope("all")
    drag(qtbot, window, [(60, 40), (80, 56)])


def run_and_record(window, qtbot, cancel_after_first: bool = False):
    """Start a run; returns [('chunk', start, n_results_so_far) ..., ('finished', cancelled)]."""
    log = []
    window.panel.subvideo.setValue(4)  # classic engine: a preview chunk every 4 frames

    def on_chunk(start, count):
        log.append(("chunk", start, count, window.is_running()))
        if cancel_after_first:
            window.cancel_run()

    # The window's own signals: these handlers run on the GUI thread.
    window.chunkShown.connect(on_chunk)
    window.runFinished.connect(lambda c: log.append(("finished", c)))
    try:
        assert window.start_run()
        qtbot.waitUntil(lambda: window.worker is None, timeout=60000)
    finally:
        window.chunkShown.disconnect(on_chunk)
        window.runFinished.disconnect()
    return log


def test_open_clip_shows_first_frame_and_status(opened):
    w = opened
    assert w.doc.num_frames == 12
    assert w.canvas.source_size == (96, 64)
    assert "96×64" in w.lbl_res.text() and "Frame 1 / 12" in w.lbl_frame.text()
    assert w.lbl_time.text() == "00:00:00:00"
    assert w.recent_files()[0].endswith("clip.mp4")


def test_brush_stroke_is_one_undo_step_with_undo_and_redo(opened, qtbot):
    w = opened
    w.size_spin.setValue(10)
    drag(qtbot, w, [(20, 20), (30, 22), (40, 24), (50, 26)])
    assert w.doc.masks.frames() == [0]
    assert w.doc.masks.mask(0)[22, 30] > 0 and w.doc.masks.mask(0)[60, 90] == 0
    assert w.doc.undo_stack.count() == 1
    assert w.act_undo.text() == "&Undo Brush Stroke"
    w.activateWindow()
    qtbot.keyClick(w.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert w.doc.masks.frames() == []
    assert not w.doc.is_modified()
    qtbot.keyClick(w.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert w.doc.masks.frames() == [0]
    assert "*" in w.windowTitle()


def test_eraser_removes_part_of_the_mask(opened, qtbot):
    w = opened
    w.set_tool("rect")
    drag(qtbot, w, [(10, 10), (60, 40)])
    w.set_tool("eraser")
    w.size_spin.setValue(8)
    drag(qtbot, w, [(30, 25), (31, 25)])
    m = w.doc.masks.mask(0)
    assert m[12, 12] == 255 and m[25, 30] == 0
    assert w.doc.undo_stack.undoText() == "Eraser Stroke"


def click(qtbot, window, x: float, y: float, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.mouseClick(window.canvas, Qt.MouseButton.LeftButton, modifier, widget_point(window, x, y))


def test_polygon_tool_fills_inside_as_one_undo_step(opened, qtbot):
    w = opened
    w.activateWindow()
    qtbot.keyClick(w.canvas, Qt.Key.Key_P)
    assert w.canvas.tool == "polygon" and w.tool_actions["polygon"].isChecked()
    for x, y in ((20, 10), (70, 10), (70, 50)):
        click(qtbot, w, x, y)
    assert len(w.canvas.polygon_points()) == 3 and w.doc.masks.frames() == []
    assert not w.canvas.grab().isNull()  # the outline in progress is drawn
    qtbot.mouseDClick(w.canvas, Qt.MouseButton.LeftButton, pos=widget_point(w, 20, 50))
    assert w.canvas.polygon_points() == []
    m = w.doc.masks.mask(0)
    assert m[30, 45] == 255 and m[12, 22] == 255 and m[48, 68] == 255
    assert m[5, 45] == 0 and m[30, 80] == 0 and m[58, 45] == 0
    assert w.doc.masks.frames() == [0] and w.doc.undo_stack.count() == 1
    assert w.doc.undo_stack.undoText() == "Polygon"
    w.doc.undo_stack.undo()
    assert w.doc.masks.frames() == []
    w.doc.undo_stack.redo()
    assert w.doc.masks.mask(0)[30, 45] == 255


def test_polygon_closes_on_its_first_point_or_enter_erases_with_alt_and_escape_cancels(opened, qtbot):
    w = opened
    paint_watermark(w, qtbot)  # a rectangle (60, 40)-(80, 56) on all frames
    w.set_tool("polygon")
    w.canvas.setFocus()
    for x, y in ((55, 35), (70, 35), (70, 60), (55, 60)):
        click(qtbot, w, x, y)
    click(qtbot, w, 55, 35, Qt.KeyboardModifier.AltModifier)  # back on the first point: close, erasing
    assert w.doc.undo_stack.undoText() == "Polygon on All Frames"
    for f in (0, 7):
        m = w.doc.masks.mask(f)
        assert m[48, 65] == 0 and m[48, 75] == 255
    for x, y in ((5, 5), (30, 5)):
        click(qtbot, w, x, y)
    qtbot.keyClick(w.canvas, Qt.Key.Key_Return)  # two vertices: nothing to close yet
    assert len(w.canvas.polygon_points()) == 2
    qtbot.keyClick(w.canvas, Qt.Key.Key_Escape)
    assert w.canvas.polygon_points() == [] and w.doc.undo_stack.count() == 2
    w.set_scope("frame")
    for x, y in ((5, 5), (30, 5), (30, 30)):
        click(qtbot, w, x, y)
    qtbot.keyClick(w.canvas, Qt.Key.Key_Return)
    assert w.doc.undo_stack.undoText() == "Polygon" and w.doc.masks.mask(0)[10, 20] == 255
    assert w.doc.masks.mask(1)[10, 20] == 0


def test_paint_on_all_frames_ticks_every_frame(opened, qtbot):
    w = opened
    paint_watermark(w, qtbot)
    assert w.doc.masks.frames() == list(range(12))
    assert w.timeline.mask_frames == set(range(12))
    assert w.doc.undo_stack.undoText() == "Rectangle on All Frames"
    w.doc.undo_stack.undo()
    assert w.timeline.mask_frames == set()


def test_in_out_keys_and_paint_on_range(opened, qtbot):
    w = opened
    w.activateWindow()
    w.seek(3)
    qtbot.keyClick(w.canvas, Qt.Key.Key_I)
    w.seek(8)
    qtbot.keyClick(w.canvas, Qt.Key.Key_O)
    assert (w.doc.in_point, w.doc.out_point) == (3, 8)
    assert (w.timeline.in_point, w.timeline.out_point) == (3, 8)
    w.set_scope("range")
    w.set_tool("rect")
    with qtbot.waitSignal(w.frameShown, timeout=5000, raising=False):
        pass
    drag(qtbot, w, [(5, 5), (20, 20)])
    assert w.doc.masks.frames() == [3, 4, 5, 6, 7, 8]
    qtbot.keyClick(w.canvas, Qt.Key.Key_Home)
    assert w.current == 0
    qtbot.keyClick(w.canvas, Qt.Key.Key_Right)
    assert w.current == 1
    qtbot.keyClick(w.canvas, Qt.Key.Key_End)
    assert w.current == 11


def test_scrubbing_the_timeline_and_playback(opened, qtbot):
    w = opened
    t = w.timeline
    qtbot.mousePress(t, Qt.MouseButton.LeftButton, pos=QPoint(int(t.x_of(6)), 30))
    assert w.current == 6
    qtbot.waitUntil(lambda: w._shown == 6, timeout=5000)
    w.seek(0)
    w.toggle_play()
    assert w.play_timer.isActive()
    qtbot.waitUntil(lambda: w.current >= 4, timeout=5000)
    w.toggle_play()
    assert not w.play_timer.isActive()


def test_timeline_shows_thumbnails_decoded_off_the_gui_thread(opened, qtbot, tiny_sample):
    w = opened
    t = w.timeline
    wanted = t.thumbnail_frames()
    assert 2 <= len(wanted) <= t.width() / 60 + 1  # about one per 60-100 px of track
    qtbot.waitUntil(lambda: set(wanted) <= set(t.thumbnails), timeout=10000)
    src = open_video(w.doc.clip.path)
    for f in wanted:
        img = t.thumbnails[f]
        assert (img.width(), img.height()) == (60, 40)  # 96x64 frames, 40 px high
        px = img.pixelColor(30, 20)
        want = src.frame(f)[30:34, 46:50].reshape(-1, 3).mean(axis=0)
        assert np.abs(np.array([px.red(), px.green(), px.blue()]) - want).max() < 40
    strip = t.grab().toImage()
    assert strip.pixelColor(int(t.x_of(wanted[1])), t.THUMB_TOP + 20) != strip.pixelColor(2, t.THUMB_TOP + 20)
    # a narrower timeline wants fewer thumbnails, all of them already decoded or on the way
    w.resize(700, 700)
    qtbot.waitUntil(lambda: set(t.thumbnail_frames()) <= set(t.thumbnails), timeout=10000)
    assert len(t.thumbnail_frames()) < len(wanted)
    # replacing the clip drops the old pictures and stops the old thread
    old, old_images = w.thumbs, dict(t.thumbnails)
    with qtbot.waitSignal(w.frameShown, timeout=10000):
        assert w.open_clip(str(tiny_sample.clip))
    assert w.thumbs is not old and not old._thread.isRunning()
    assert not any(t.thumbnails.get(f) is im for f, im in old_images.items())
    qtbot.waitUntil(lambda: set(t.thumbnail_frames()) <= set(t.thumbnails), timeout=10000)
    w.shutdown()
    assert w.thumbs is None and not running_threads()


def test_zoom_and_view_modes(opened, qtbot):
    w = opened
    z = w.canvas.zoom
    w.act_zoom_in.trigger()
    assert w.canvas.zoom > z and w.lbl_zoom.text().endswith("%")
    w.act_fit.trigger()
    assert abs(w.canvas.zoom - z) < 1e-6
    for mode in ("mask", "result", "split", "source"):
        w.set_view_mode(mode)
        assert w.canvas.mode == mode
        assert not w.canvas.grab().isNull()


def test_run_shows_chunk_previews_before_it_finishes(opened, qtbot):
    w = opened
    paint_watermark(w, qtbot)
    log = run_and_record(w, qtbot)
    chunks = [e for e in log if e[0] == "chunk"]
    assert len(chunks) >= 3 and log[-1] == ("finished", False)
    # the first preview arrived while the run was still going, with frames still to come
    assert chunks[0][3] is True and chunks[0][1] + chunks[0][2] < 12
    assert w.results.frames() == list(range(12))
    assert all(w.timeline.results.values()) and len(w.timeline.results) == 12
    # the result differs from the source inside the mask only
    src = open_video(w.doc.clip.path).frame(5)
    res = w.results.frame(5)
    assert res.shape == src.shape
    assert np.array_equal(res[:20], src[:20])
    assert not np.array_equal(res[40:57, 60:81], src[40:57, 60:81])
    assert w.panel.stage.text().startswith("Done")
    assert not list(Path(w.recovery_path().parent).rglob("*.mp4"))  # a preview run writes no video


def test_cancel_second_run_keeps_finished_chunks_and_marks_stale(opened, qtbot):
    w = opened
    paint_watermark(w, qtbot)
    run_and_record(w, qtbot)
    first_rev = w.doc.masks.revision
    w.set_scope("frame")
    w.set_tool("brush")
    drag(qtbot, w, [(10, 10), (12, 12)])  # an edit after the run: older results are stale
    assert w.doc.masks.revision != first_rev
    assert set(w.timeline.results.values()) == {False}
    log = run_and_record(w, qtbot, cancel_after_first=True)
    assert log[-1] == ("finished", True)
    status = w.results.status(w.doc.masks.revision)
    fresh = [f for f, ok in status.items() if ok]
    assert fresh and fresh == list(range(len(fresh))) and len(fresh) < 12
    assert len(status) == 12  # the stale rest is kept
    assert w.panel.stage.text().startswith("Cancelled")
    assert w.act_run.isEnabled() and not w.act_cancel.isEnabled()


def test_export_writes_results_and_masks(opened, qtbot, tmp_path):
    w = opened
    paint_watermark(w, qtbot)
    run_and_record(w, qtbot)
    out = tmp_path / "out.mp4"
    s = ExportSettings(out=str(out), codec="h264", quality=18, frame_range=(0, 12), audio=True,
                       masks_path=str(tmp_path / "masks"))
    assert w.start_export(s)
    qtbot.waitUntil(lambda: w.task is None, timeout=30000)
    with open_video(out) as r:
        assert r.info.num_frames == 12 and (r.info.width, r.info.height) == (96, 64)
        assert r.info.audio
    assert len(list((tmp_path / "masks").glob("*.png"))) == 12
    assert not list(tmp_path.glob(".*partial*"))


def test_export_dialog_builds_settings(opened, qtbot):
    w = opened
    w.doc.set_in(2)
    dlg = w.export_dialog()
    dlg.range.setChecked(True)
    dlg.masks.setChecked(True)
    s = dlg.export_settings()
    assert s.frame_range == (2, 12) and s.masks_path.endswith("_masks") and s.out.endswith(".mp4")
    dlg.codec.setCurrentIndex(dlg.codec.findData("png"))
    assert not dlg.export_settings().out.endswith(".mp4")
    dlg.reject()


def test_save_and_reopen_project(opened, qtbot, tmp_path, make_window):
    w = opened
    paint_watermark(w, qtbot)
    w.doc.set_in(2)
    w.panel.subvideo.setValue(40)
    path = tmp_path / "proj.ppproj"
    assert w.save_project_to(str(path))
    assert not w.doc.is_modified() and "proj.ppproj" in w.windowTitle()
    w2 = make_window()
    with qtbot.waitSignal(w2.frameShown, timeout=10000):
        assert w2.open_path(str(path))
    assert w2.doc.masks.frames() == list(range(12))
    np.testing.assert_array_equal(w2.doc.masks.mask(7), w.doc.masks.mask(7))
    assert (w2.doc.in_point, w2.doc.out_point) == (2, 11)
    assert w2.panel.subvideo.value() == 40
    assert not w2.doc.is_modified()


def test_autosave_and_restore_offer(opened, qtbot, make_window, dialogs):
    w = opened
    paint_watermark(w, qtbot)
    w.autosave()
    assert w.recovery_path().exists()
    w2 = make_window()
    dialogs.answers.append(Yes)
    assert w2.offer_recovery()
    assert "question" in dialogs.kinds()
    assert w2.doc.masks.frames() == list(range(12)) and w2.doc.is_modified()


def test_unsaved_changes_prompt_on_close_can_cancel(opened, qtbot, dialogs):
    w = opened
    paint_watermark(w, qtbot)
    dialogs.answers.append(QMessageBox.StandardButton.Cancel)
    assert not w.close()
    assert w.isVisible() and dialogs.texts("question")[-1].startswith("The project has unsaved")


def test_closing_during_a_run_asks_then_cancels_cleanly(opened, qtbot, dialogs):
    w = opened
    paint_watermark(w, qtbot)
    w.panel.subvideo.setValue(4)
    assert w.start_run()
    dialogs.answers.extend([Yes, QMessageBox.StandardButton.Discard])
    w.close()
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=30000)
    assert w.worker is None
    assert dialogs.texts("question")[0].startswith("Work is running")


def test_open_sample_writes_it_and_opens_with_masks(window, qtbot):
    with qtbot.waitSignal(window.frameShown, timeout=30000):
        window.open_sample()
    assert window.doc.num_frames == 72 and window.doc.masks.frames()
    assert window.doc.clip.path.endswith("clip.mp4")


def test_drop_a_clip_opens_it(window, qtbot, tiny_sample):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tiny_sample.clip))])
    ev = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.frameShown, timeout=10000):
        window.dropEvent(ev)
    assert window.doc.num_frames == 12


def test_expand_canvas_dialog_sets_the_canvas(opened, qtbot):
    w = opened
    dlg = w.expand_dialog()
    dlg.aspect.setCurrentText("1:1")
    assert dlg.preview.canvas.width == 96 and dlg.preview.canvas.height == 96
    dlg.r_size.setChecked(True)
    dlg.size_w.setValue(40)  # smaller than the frame: refused with a reason
    dlg._update()
    assert not dlg.ok.isEnabled() and "smaller" in dlg.error.text()
    dlg.r_aspect.setChecked(True)
    dlg._update()
    dlg.accept()
    assert w.doc.expansion == {"aspect": "1:1"}
    assert w.canvas.image_size() == (96, 96)
    assert w.doc.undo_stack.undoText() == "Expand Canvas"


def test_outpainting_run_gives_canvas_sized_results(opened, qtbot):
    w = opened
    w.doc.set_expansion({"aspect": "16:9"})
    run_and_record(w, qtbot)
    assert w.results.frame(0).shape == (64, 120, 3)
