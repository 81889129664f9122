"""Without SAM weights there is a way: a painted frame becomes the object's keyframe when
Ctrl+P is pressed on it, and propagation works from it (the motion tracker)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("PROPAINTER_WEIGHTS_DIR", str(tmp_path / "no-weights"))


def test_ctrl_p_on_a_painted_frame_makes_the_keyframe_and_propagates_without_sam(opened, qtbot, tiny_sample,
                                                                                 dialogs, no_weights):
    from editor.media import open_masks

    w = opened
    src = open_masks(tiny_sample.masks, 12, (96, 64))
    w.doc.set_masks({0: (src.mask(0) > 0).astype(np.uint8) * 255}, "Brush Stroke")
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w)
    w.canvas.setFocus()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)
    assert dialogs.texts("critical") == []
    assert w.doc.objects.keyframes() == [0]
    qtbot.waitUntil(lambda: w.task is None, timeout=120000)
    assert dialogs.texts("critical") == []
    assert len(w.doc.masks.frames()) == 12  # every frame has the object's mask now
    assert not np.array_equal(w.doc.masks.mask(0), w.doc.masks.mask(11))  # it moved with the ball


def test_without_a_mask_the_message_says_how_to_make_one(opened, dialogs):
    w = opened
    assert not w.propagate("both")
    (text,) = dialogs.texts("critical")
    assert "paint its mask on this frame" in text and "Ctrl+P" in text
