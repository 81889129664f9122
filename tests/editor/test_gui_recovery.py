"""Restoring after a crash names what it restores, and never silently replaces the file the
user asked to open."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QMessageBox

Yes = QMessageBox.StandardButton.Yes


def edit(w) -> None:
    m = np.zeros((64, 96), np.uint8)
    m[5:20, 5:20] = 255
    w.doc.set_masks({3: m}, "Brush Stroke")


def test_the_offer_names_the_clip_it_restores(opened, make_window, dialogs):
    edit(opened)
    opened.autosave()
    w2 = make_window()
    dialogs.answers.append(Yes)
    assert w2.offer_recovery()
    (kind, title, text), = dialogs.shown
    assert kind == "question" and "clip clip.mp4" in text
    assert w2.doc.masks.frames() == [3] and w2.doc.is_modified()


def test_the_offer_names_the_project_and_saving_goes_back_to_it(opened, make_window, dialogs, tmp_path):
    from editor.document.project import SUFFIX

    project = tmp_path / f"shot{SUFFIX}"
    assert opened.save_project_to(str(project))
    edit(opened)
    opened.autosave()
    w2 = make_window()
    dialogs.answers.append(Yes)
    assert w2.offer_recovery()
    assert f"project shot{SUFFIX}" in dialogs.texts("question")[0]
    assert w2.doc.path == str(project) and w2.doc.is_modified() and f"shot{SUFFIX}*" in w2.windowTitle()


def test_a_requested_file_is_not_replaced_and_the_unsaved_work_is_kept_aside(opened, make_window, dialogs,
                                                                             tiny_sample, tmp_path):
    edit(opened)
    opened.autosave()
    other = tmp_path / "other.mp4"
    other.write_bytes(Path(tiny_sample.clip).read_bytes())
    w2 = make_window()
    assert not w2.offer_recovery(str(other))  # the fake user cancels: what was asked for opens
    (kind, title, text), = dialogs.shown
    assert kind == "options" and "clip clip.mp4" in text and "other.mp4" in text
    assert not w2.recovery_path().exists() and Path(w2.kept_recovery).exists()
    assert w2.doc.clip is None
    # asked for the clip the work is of: the plain question, and restoring is what was asked
    edit(opened)
    opened.autosave()
    w3 = make_window()
    dialogs.answers.append(Yes)
    assert w3.offer_recovery(str(tiny_sample.clip))
    assert dialogs.shown[-1][0] == "question" and w3.doc.masks.frames() == [3]
