"""Navigation as an editor expects it, in the real window: J/K/L shuttle, playback that loops
inside the in/out range, a go-to field for frames and timecodes, next/previous keyframe,
and a timeline that zooms with Ctrl+wheel."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from editor.widgets.timeline import parse_position


def press(qtbot, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(QApplication.focusWidget(), key, modifier)


def active(qtbot, w) -> None:
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w)
    w.canvas.setFocus()


def test_jkl_shuttle_and_shift_k_makes_the_keyframe(opened, qtbot):
    w = opened
    active(qtbot, w)
    press(qtbot, Qt.Key.Key_L)
    assert w.is_playing() and (w.play_direction, w.play_speed) == (1, 1)
    press(qtbot, Qt.Key.Key_L)
    assert w.play_speed == 2
    press(qtbot, Qt.Key.Key_K)
    assert not w.is_playing()
    assert w.doc.objects.keyframes() == []  # K stops; it makes no keyframe
    w.seek(8)
    press(qtbot, Qt.Key.Key_J)
    assert w.is_playing() and w.play_direction == -1
    qtbot.waitUntil(lambda: w.current <= 5, timeout=5000)
    press(qtbot, Qt.Key.Key_K)
    assert w.act_keyframe.shortcut().toString() == "Shift+K"
    m = np.zeros((64, 96), np.uint8)
    m[10:30, 10:30] = 255
    w.doc.set_masks({w.current: m}, "Paint")
    press(qtbot, Qt.Key.Key_K, Qt.KeyboardModifier.ShiftModifier)
    assert w.doc.objects.keyframes() == [w.current]


def test_playback_loops_inside_the_in_out_range_and_never_passes_the_out_point(opened, qtbot):
    w = opened
    w.seek(3)
    w.doc.set_in(3)
    w.seek(6)
    w.doc.set_out(6)
    w.seek(0)  # outside the range: play starts at the in point
    seen = []
    w.frameShown.connect(seen.append)
    w.toggle_play()
    qtbot.waitUntil(lambda: len(seen) >= 10, timeout=10000)
    w.toggle_play()
    assert set(seen) <= {3, 4, 5, 6}
    assert seen[:6] == [3, 4, 5, 6, 3, 4]


def test_the_go_to_field_takes_frames_timecodes_and_steps(opened, qtbot):
    w = opened
    active(qtbot, w)
    press(qtbot, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is w.goto_field
    qtbot.keyClicks(w.goto_field, "10")
    press(qtbot, Qt.Key.Key_Return)
    assert w.current == 9 and QApplication.focusWidget() is w.canvas  # 1-based, as the status bar counts
    press(qtbot, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(w.goto_field, "-4")
    press(qtbot, Qt.Key.Key_Return)
    assert w.current == 5
    press(qtbot, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(w.goto_field, "99")
    press(qtbot, Qt.Key.Key_Return)
    assert w.current == 5 and "not a frame of this clip" in w.statusBar().currentMessage()
    press(qtbot, Qt.Key.Key_Escape)
    assert QApplication.focusWidget() is w.canvas
    press(qtbot, Qt.Key.Key_3)
    assert w.canvas.mode == "result"


@pytest.mark.parametrize("text,frame", [("1", 0), ("42", 41), ("+3", 13), ("-3", 7), ("00:00:01:05", 30),
                                        ("1:05", 30), ("0:01:00", 25), ("01.05", 30), ("", None), ("abc", None)])
def test_parse_position(text, frame):
    assert parse_position(text, Fraction(25), current=10) == frame


def test_next_and_previous_keyframe(opened, qtbot):
    w = opened
    active(qtbot, w)
    w.timeline.set_objects([2, 7], {})
    w.seek(0)
    press(qtbot, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert w.current == 2
    press(qtbot, Qt.Key.Key_Right, Qt.KeyboardModifier.AltModifier)
    assert w.current == 7
    assert not w.goto_keyframe(1) and w.current == 7
    press(qtbot, Qt.Key.Key_Left, Qt.KeyboardModifier.AltModifier)
    assert w.current == 2


def wheel(widget, x: float, steps: int, modifiers) -> None:
    pos = QPointF(x, 30)
    ev = QWheelEvent(pos, widget.mapToGlobal(pos), QPoint(), QPoint(0, 120 * steps), Qt.MouseButton.NoButton,
                     modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, ev)


def test_ctrl_wheel_zooms_the_timeline_around_the_pointer(opened, qtbot):
    w = opened
    t = w.timeline
    full = t._cell(0)[1]
    x = t.x_of(6)
    wheel(t, x, 3, Qt.KeyboardModifier.ControlModifier)
    assert t._cell(0)[1] > 1.5 * full  # frames are wider
    assert t.frame_at(x) == 6  # the frame under the pointer stays there
    wheel(t, x, -1, Qt.KeyboardModifier.NoModifier)  # the wheel scrolls a zoomed timeline
    assert t.view_start > 0 or t.view_frames == t.num_frames
    qtbot.mousePress(t, Qt.MouseButton.LeftButton, pos=QPoint(int(t.x_of(9)), 30))
    assert w.current == 9  # scrubbing follows the zoom
    w.act_tl_fit.trigger()
    assert t._cell(0)[1] == pytest.approx(full)
