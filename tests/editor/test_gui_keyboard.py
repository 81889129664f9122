"""Keyboard focus in the real window: shortcuts reach the editor after Run, Cancel, a dialog
or a typed value, never the last field the mouse touched."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QDialog


def press(qtbot, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A key press as the user makes it: to whichever widget has the focus."""
    qtbot.keyClick(QApplication.focusWidget(), key, modifier)


def active(qtbot, w) -> None:
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w)


def test_after_clicking_run_and_cancel_keys_are_shortcuts_not_the_brush_size(opened, qtbot):
    w = opened
    active(qtbot, w)
    w.doc.masks.set_mask(0, np.full((64, 96), 255, np.uint8))
    size = w.size_spin.value()
    qtbot.mouseClick(w.panel.run_button, Qt.MouseButton.LeftButton)
    assert w.is_running()
    qtbot.mouseClick(w.panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.is_running(), timeout=60000)
    assert QApplication.focusWidget() is w.canvas
    press(qtbot, Qt.Key.Key_3)
    assert w.canvas.mode == "result" and w.view_actions["result"].isChecked()
    assert w.size_spin.value() == size
    press(qtbot, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    dialogs = [d for d in w.findChildren(QDialog) if d.isVisible()]
    assert [type(d).__name__ for d in dialogs] == ["ExportDialog"]
    dialogs[0].reject()
    qtbot.waitUntil(lambda: not dialogs[0].isVisible())
    active(qtbot, w)
    assert QApplication.focusWidget() is w.canvas
    press(qtbot, Qt.Key.Key_1)
    assert w.canvas.mode == "source" and w.size_spin.value() == size


def test_number_fields_hand_the_keys_back_on_enter_and_escape(opened, qtbot):
    w = opened
    active(qtbot, w)
    for field in (w.size_spin, w.panel.subvideo):
        qtbot.mouseClick(field, Qt.MouseButton.LeftButton)
        assert QApplication.focusWidget() is field  # a click into a field types into it
        field.lineEdit().selectAll()
        press(qtbot, Qt.Key.Key_4)
        press(qtbot, Qt.Key.Key_0)
        press(qtbot, Qt.Key.Key_Return)
        assert field.value() == 40 and QApplication.focusWidget() is w.canvas
        qtbot.mouseClick(field, Qt.MouseButton.LeftButton)
        press(qtbot, Qt.Key.Key_Escape)
        assert QApplication.focusWidget() is w.canvas
    press(qtbot, Qt.Key.Key_2)
    assert w.canvas.mode == "mask" and w.size_spin.value() == 40


def test_ctrl_shortcuts_reach_the_editor_from_inside_a_field(opened, qtbot):
    w = opened
    active(qtbot, w)
    qtbot.mouseClick(w.size_spin, Qt.MouseButton.LeftButton)
    assert QApplication.focusWidget() is w.size_spin
    press(qtbot, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    dialogs = [d for d in w.findChildren(QDialog) if d.isVisible()]
    assert [type(d).__name__ for d in dialogs] == ["ExportDialog"]
    dialogs[0].reject()


def test_buttons_and_combos_never_keep_the_keys(opened, qtbot):
    w = opened
    active(qtbot, w)
    qtbot.mouseClick(w.play_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(w.play_button, Qt.MouseButton.LeftButton)
    assert QApplication.focusWidget() is w.canvas
    w.panel.engine.setCurrentIndex(2)  # as a click in its list does
    assert QApplication.focusWidget() is w.canvas
    press(qtbot, Qt.Key.Key_4)
    assert w.canvas.mode == "split"
