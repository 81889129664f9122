"""Keyboard focus in the editor window: the keys belong to the editor, not to the last field
or button the mouse touched.

What an editor user expects (Resolve, After Effects): after clicking Run, closing a dialog or
typing a brush size, the next key press is a shortcut (3 shows the result, Ctrl+E exports).
So buttons never take the focus, a number field holds it only while the user types in it
(Enter or Escape hands it back; a text field's Enter handler does), a field that gets the focus by accident (a disabled button's
focus moving on, the window coming back after a dialog) hands it back at once, and shortcuts
with Ctrl or Alt reach the window even from inside a field.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit, QSlider, QWidget

# Ways a field may be given the focus on purpose; any other (OtherFocusReason when the
# focused widget is disabled, ActiveWindowFocusReason after a dialog) is sent home.
_ON_PURPOSE = {
    Qt.FocusReason.MouseFocusReason,
    Qt.FocusReason.TabFocusReason,
    Qt.FocusReason.BacktabFocusReason,
    Qt.FocusReason.ShortcutFocusReason,
}
# Text editing keys a field keeps even with Ctrl held.
_FIELD_KEYS = {QKeySequence.StandardKey.Copy, QKeySequence.StandardKey.Paste, QKeySequence.StandardKey.Cut,
               QKeySequence.StandardKey.SelectAll}
_ENTER = {Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape}
_MODIFIERS = {Qt.Key.Key_Control, Qt.Key.Key_Alt, Qt.Key.Key_Shift, Qt.Key.Key_Meta, Qt.Key.Key_AltGr}


class EditorFocus(QObject):
    """Keeps the keyboard on ``home`` (the canvas) for every control under ``root``.

    Call :meth:`watch` again for controls made later. :meth:`home_focus` gives the focus back
    unless the user is typing in a field."""

    def __init__(self, root: QWidget, home: QWidget) -> None:
        super().__init__(root)
        self.root = root
        self.home = home
        self.watch(root)

    def watch(self, root: QWidget) -> None:
        for b in root.findChildren(QAbstractButton):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        for s in root.findChildren(QSlider):
            s.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # arrows belong to the timeline
        for c in root.findChildren(QComboBox):
            c.setFocusPolicy(Qt.FocusPolicy.TabFocus)  # a click picks an item, the keys stay
        for f in root.findChildren(QAbstractSpinBox) + root.findChildren(QComboBox) + self._line_edits(root):
            f.removeEventFilter(self)
            f.installEventFilter(self)

    @staticmethod
    def _line_edits(root: QWidget) -> list[QLineEdit]:
        """Line edits of their own (a spin box's or combo box's inner one is watched through it)."""
        return [e for e in root.findChildren(QLineEdit)
                if not isinstance(e.parentWidget(), (QAbstractSpinBox, QComboBox))]

    def home_focus(self) -> None:
        """Give the keys to the canvas, unless a field is being typed in."""
        from PySide6.QtWidgets import QApplication

        focus = QApplication.focusWidget()
        if focus is None or focus is self.home or not self._typing_in(focus):
            self.home.setFocus(Qt.FocusReason.OtherFocusReason)

    def _typing_in(self, w: QWidget) -> bool:
        return isinstance(w, (QAbstractSpinBox, QLineEdit)) and w.window() is self.root.window() and w.isEnabled()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        t = event.type()
        if t == QEvent.Type.FocusIn:
            if event.reason() not in _ON_PURPOSE:
                self.home.setFocus(Qt.FocusReason.OtherFocusReason)
            return False
        if t == QEvent.Type.ShortcutOverride:
            key = event.key()
            if key in _ENTER:
                event.accept()  # Enter and Escape come to the field (below), not to Cancel Run
                return True
            mods = event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
                                        | Qt.KeyboardModifier.MetaModifier)
            if mods and key not in _MODIFIERS and not any(event.matches(k) for k in _FIELD_KEYS):
                event.ignore()  # the window's shortcut runs
                return True
            return False
        if t == QEvent.Type.KeyPress and event.key() in _ENTER:
            if isinstance(obj, QLineEdit) and event.key() != Qt.Key.Key_Escape:
                return False  # its returnPressed handler acts, then gives the keys back
            if isinstance(obj, QAbstractSpinBox):
                obj.interpretText()  # the typed value counts, as when the field loses the focus
            self.home.setFocus(Qt.FocusReason.OtherFocusReason)
            return True
        return False
