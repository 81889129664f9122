"""File > Import Masks takes a folder of per-frame masks, as the CLI does; a frame picked out
of a numbered sequence asks whether the folder was meant."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog

from editor.media import mask_sequence


def picked(monkeypatch, file=None, folder=None):
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(file or ""), "")))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(folder or "")))


def per_frame_differs(w) -> bool:
    return not np.array_equal(w.doc.masks.mask(0), w.doc.masks.mask(11))


def menu_texts(w, title):
    menu = [m for m in w.menuBar().actions() if m.text() == title][0].menu()
    return [a.text() for a in menu.actions()]


def test_import_mask_folder_gives_each_frame_its_own_mask(opened, monkeypatch, tiny_sample):
    w = opened
    assert "Import Mask &Folder…" in menu_texts(w, "&File")
    picked(monkeypatch, folder=tiny_sample.masks)
    w.act_import_mask_folder.trigger()
    assert w.doc.masks.frames() == list(range(12)) and per_frame_differs(w)
    assert w.doc.undo_stack.undoText() == "Import Masks"


def test_a_frame_of_a_numbered_sequence_asks_and_imports_the_folder(opened, monkeypatch, tiny_sample, dialogs):
    w = opened
    picked(monkeypatch, file=tiny_sample.masks / "000003.png")
    dialogs.options = [0]
    w.act_import_masks.trigger()
    (kind, title, text), = dialogs.shown
    assert kind == "options" and "one of 12 numbered masks" in text and "Import the Folder (12 Masks)" in text
    assert w.doc.masks.frames() == list(range(12)) and per_frame_differs(w)


def test_one_image_on_every_frame_only_when_chosen_and_cancel_changes_nothing(opened, monkeypatch, tiny_sample,
                                                                            dialogs):
    w = opened
    picked(monkeypatch, file=tiny_sample.masks / "000003.png")
    w.act_import_masks.trigger()  # the fake user cancels
    assert w.doc.masks.frames() == [] and w.doc.undo_stack.count() == 0
    dialogs.options = [1]
    w.act_import_masks.trigger()
    assert w.doc.masks.frames() == list(range(12)) and not per_frame_differs(w)


def test_a_lone_image_imports_without_a_question(opened, monkeypatch, tiny_sample, dialogs):
    w = opened
    picked(monkeypatch, file=tiny_sample.logo_mask)
    w.act_import_masks.trigger()
    assert dialogs.shown == []
    assert w.doc.masks.frames() == list(range(12))


@pytest.mark.parametrize("names,picked_name,expected", [
    (["m_001.png", "m_002.png", "m_010.png", "other.png"], "m_002.png", ["m_001.png", "m_002.png", "m_010.png"]),
    (["m_001.png", "x_002.png"], "m_001.png", []),
    (["logo.png", "logo2.png"], "logo.png", []),
    (["7.png", "8.jpg"], "7.png", []),
])
def test_mask_sequence_finds_the_numbered_neighbours(tmp_path, names, picked_name, expected):
    for n in names:
        cv2.imwrite(str(tmp_path / n), np.zeros((4, 4), np.uint8))
    assert [p.name for p in mask_sequence(tmp_path / picked_name)] == expected
