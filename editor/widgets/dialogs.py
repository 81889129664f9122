"""The canvas expansion (outpainting) dialog, the export dialog, and :func:`ask_choice` (a
question with two named answers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainter, QPen
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from editor.export import ExportSettings
from editor.widgets.canvas import to_qimage
from models.canvas import plan_canvas
from models.errors import InputError

PRESETS = ["16:9", "4:3", "1:1", "9:16"]


def ask_choice(parent: QWidget | None, title: str, text: str, accept: str, reject: str) -> bool:
    """A warning with two buttons named by what they do; True when ``accept`` is chosen.

    ``reject`` is the default (Enter, Escape and closing the box choose it): the safe answer.
    Tests replace this function (it blocks).
    """
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.NoButton, parent)
    yes = box.addButton(accept, QMessageBox.ButtonRole.AcceptRole)
    no = box.addButton(reject, QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(no)
    box.setEscapeButton(no)
    box.exec()
    return box.clickedButton() is yes


def ask_options(parent: QWidget | None, title: str, text: str, detail: str, options: list[str]) -> int | None:
    """A warning with one button per option (the first is the default) and Cancel; the index
    of the chosen option, or None for Cancel (also Escape and closing the box).
    Tests replace this function (it blocks)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.NoButton, parent)
    box.setInformativeText(detail)
    buttons = [box.addButton(o, QMessageBox.ButtonRole.ActionRole) for o in options]
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(buttons[0])
    box.setEscapeButton(cancel)
    box.exec()
    clicked = box.clickedButton()
    return buttons.index(clicked) if clicked in buttons else None


class CanvasPreview(QWidget):
    """The frame drawn inside the planned canvas; the new border hatched."""

    def __init__(self, frame: np.ndarray | None):
        super().__init__()
        self.setMinimumSize(320, 200)
        self.frame = to_qimage(frame) if frame is not None else None
        self.canvas = None

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(24, 24, 27))
        c = self.canvas
        if c is None:
            p.setPen(QColor(200, 120, 120))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No valid canvas")
            return
        z = min((self.width() - 10) / c.width, (self.height() - 10) / c.height)
        ox, oy = (self.width() - c.width * z) / 2, (self.height() - c.height * z) / 2
        outer = QRectF(ox, oy, c.width * z, c.height * z)
        p.fillRect(outer, QColor(255, 40, 90, 90))
        p.fillRect(outer, QBrush(QColor(255, 255, 255, 70), Qt.BrushStyle.BDiagPattern))
        inner = QRectF(ox + c.left * z, oy + c.top * z, c.src_width * z, c.src_height * z)
        if self.frame is not None:
            p.drawImage(inner, self.frame)
        p.setPen(QPen(QColor(255, 255, 255), 1))
        p.drawRect(outer)
        p.drawText(outer.adjusted(4, 2, 0, 0), Qt.AlignmentFlag.AlignLeft, f"{c.width}×{c.height}")


class ExpandDialog(QDialog):
    """Pick the outpainting canvas: an aspect preset, a custom size or a scale."""

    def __init__(self, parent, width: int, height: int, frame: np.ndarray | None, current: dict | None):
        super().__init__(parent)
        self.setWindowTitle("Expand Canvas")
        self.src = (width, height)
        lay = QVBoxLayout(self)
        form = QFormLayout()
        self.kind = QButtonGroup(self)
        self.r_aspect, self.r_size, self.r_scale = QRadioButton("Aspect"), QRadioButton("Size"), QRadioButton("Scale")
        for i, r in enumerate((self.r_aspect, self.r_size, self.r_scale)):
            self.kind.addButton(r, i)
        self.aspect = QComboBox()
        self.aspect.setEditable(True)
        self.aspect.addItems(PRESETS)
        row = QHBoxLayout()
        row.addWidget(self.aspect)
        form.addRow(self.r_aspect, row)
        self.size_w, self.size_h = QSpinBox(), QSpinBox()
        for s, v in ((self.size_w, width), (self.size_h, height)):
            s.setRange(8, 16384)
            s.setSingleStep(8)
            s.setValue(v)
        row = QHBoxLayout()
        row.addWidget(self.size_w)
        row.addWidget(QLabel("×"))
        row.addWidget(self.size_h)
        form.addRow(self.r_size, row)
        self.scale_w, self.scale_h = QDoubleSpinBox(), QDoubleSpinBox()
        for s, v in ((self.scale_w, 1.2), (self.scale_h, 1.0)):
            s.setRange(1.0, 4.0)
            s.setSingleStep(0.05)
            s.setValue(v)
        row = QHBoxLayout()
        row.addWidget(QLabel("W"))
        row.addWidget(self.scale_w)
        row.addWidget(QLabel("H"))
        row.addWidget(self.scale_h)
        form.addRow(self.r_scale, row)
        lay.addLayout(form)
        self.preview = CanvasPreview(frame)
        lay.addWidget(self.preview, 1)
        self.error = QLabel()
        self.error.setObjectName("warning")
        lay.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.remove = buttons.addButton("Remove Expansion", QDialogButtonBox.ButtonRole.ResetRole)
        self.remove.clicked.connect(self._remove)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        lay.addWidget(buttons)
        self.removed = False
        current = current or {"aspect": "16:9"}
        if "size" in current:
            self.r_size.setChecked(True)
            self.size_w.setValue(current["size"][0])
            self.size_h.setValue(current["size"][1])
        elif "scale_w" in current or "scale_h" in current:
            self.r_scale.setChecked(True)
            self.scale_w.setValue(current.get("scale_w") or 1.0)
            self.scale_h.setValue(current.get("scale_h") or 1.0)
        else:
            self.r_aspect.setChecked(True)
            self.aspect.setCurrentText(str(current.get("aspect", "16:9")))
        for sig in (self.kind.idClicked, self.aspect.currentTextChanged, self.size_w.valueChanged,
                    self.size_h.valueChanged, self.scale_w.valueChanged, self.scale_h.valueChanged):
            sig.connect(self._update)
        self.resize(520, 440)
        self._update()

    def expansion(self) -> dict[str, Any]:
        if self.r_size.isChecked():
            return {"size": [self.size_w.value(), self.size_h.value()]}
        if self.r_scale.isChecked():
            return {"scale_w": self.scale_w.value(), "scale_h": self.scale_h.value()}
        return {"aspect": self.aspect.currentText().strip()}

    def _update(self, *_):
        kw = dict(self.expansion())
        if "size" in kw:
            kw["size"] = tuple(kw["size"])
        try:
            self.preview.canvas = plan_canvas(self.src[1], self.src[0], **kw)
            self.error.setText("")
            self.ok.setEnabled(True)
        except InputError as exc:
            self.preview.canvas = None
            self.error.setText(str(exc))
            self.ok.setEnabled(False)
        self.preview.update()

    def _remove(self) -> None:
        self.removed = True
        self.accept()


class ExportDialog(QDialog):
    """Codec, quality, range or whole clip, audio, masks; returns ExportSettings."""

    def __init__(self, parent, clip_path: str, in_out: tuple[int, int], num_frames: int, has_audio: bool):
        super().__init__(parent)
        from editor.media import CODECS, available_codecs

        self.setWindowTitle("Export")
        self.codecs = CODECS
        self.in_out, self.num_frames = in_out, num_frames
        form = QFormLayout(self)
        self.path = QLineEdit(str(Path(clip_path).with_name(Path(clip_path).stem + "_inpainted.mp4")))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        form.addRow("File", row)
        self.codec = QComboBox()
        for c in available_codecs():
            self.codec.addItem(c, c)
        form.addRow("Codec", self.codec)
        self.quality = QSpinBox()
        form.addRow("Quality", self.quality)
        self.quality_note = QLabel()
        self.quality_note.setObjectName("note")
        form.addRow("", self.quality_note)
        self.whole = QRadioButton(f"Whole clip ({num_frames} frames)")
        self.range = QRadioButton(f"In/out range ({in_out[0] + 1}–{in_out[1] + 1})")
        self.whole.setChecked(True)
        col = QVBoxLayout()
        col.addWidget(self.whole)
        col.addWidget(self.range)
        form.addRow("Frames", col)
        self.audio = QCheckBox("Copy the audio (of the exported range)")
        self.audio.setChecked(has_audio)
        self.audio.setEnabled(has_audio)
        form.addRow(self.audio)
        self.masks = QCheckBox("Also export the masks as PNGs next to the video")
        form.addRow(self.masks)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.codec.currentIndexChanged.connect(self._codec_changed)
        self._codec_changed()
        self.resize(560, 280)

    def _codec_changed(self) -> None:
        spec = self.codecs[self.codec.currentData()]
        if spec.quality_range is None:
            self.quality.setEnabled(False)
            self.quality_note.setText("lossless")
        else:
            self.quality.setEnabled(True)
            self.quality.setRange(*spec.quality_range)
            self.quality.setValue(spec.default_quality)
            self.quality_note.setText("CRF: lower is better" if spec.name != "prores" else "ProRes profile: 3 = HQ")
        p = Path(self.path.text())
        if spec.suffixes and p.suffix.lower() not in spec.suffixes:
            self.path.setText(str(p.with_suffix(spec.suffixes[0])))
        elif not spec.suffixes and p.suffix:
            self.path.setText(str(p.with_suffix("")))

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export To", self.path.text())
        if path:
            self.path.setText(path)

    def export_settings(self) -> ExportSettings:
        out = self.path.text().strip()
        spec = self.codecs[self.codec.currentData()]
        rng = (self.in_out[0], self.in_out[1] + 1) if self.range.isChecked() else (0, self.num_frames)
        masks = str(Path(out).with_name(Path(out).stem + "_masks")) if self.masks.isChecked() else None
        return ExportSettings(out=out, codec=spec.name, quality=self.quality.value() if spec.quality_range else None,
                              frame_range=rng, audio=self.audio.isChecked(), masks_path=masks)
