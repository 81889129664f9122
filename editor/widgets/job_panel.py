"""The side panel: engine, device and processing settings, the memory estimate, Run/Cancel
and the run's progress. It shows settings and forwards requests; the window runs jobs."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from editor.document.job_settings import DEFAULTS, engine_name, settings_of, weights_present
from editor.widgets.memory_plot import MemoryPlot

MAX_SIDES = [("Clip size", 0), ("1920 px", 1920), ("1280 px", 1280), ("960 px", 960), ("640 px", 640), ("480 px", 480)]


def list_devices() -> list[str]:
    """Usable devices, best first (cuda:N, mps, cpu)."""
    from models.device import available_devices

    return list(available_devices()) or ["cpu"]


def free_memory(device: str) -> float | None:
    """Bytes a job may still allocate on ``device`` (None when it cannot be told)."""
    from models.device import free_memory_bytes

    try:
        return float(free_memory_bytes(device))
    except (RuntimeError, ValueError, OSError):
        return None


def estimate_bytes(width: int, height: int, subvideo_length: int, fp16: bool) -> float:
    """Estimated GPU memory of one sub-video, from the authors' resolution table."""
    from models.memory import estimate

    return float(estimate(width, height, subvideo_length, fp16))


def _gib(x: float) -> str:
    return f"{x / 2**30:.1f} GiB"


class JobPanel(QWidget):
    def __init__(self, window):
        super().__init__()
        self.setObjectName("job-panel")
        self.window_ = window
        self._loading = False
        lay = QVBoxLayout(self)

        box = QGroupBox("Engine")
        form = QFormLayout(box)
        self.engine = QComboBox()
        for text, key in (("Automatic", "auto"), ("ProPainter", "propainter"), ("Classic (no weights)", "classic")):
            self.engine.addItem(text, key)
        form.addRow("Engine", self.engine)
        self.engine_note = QLabel()
        self.engine_note.setWordWrap(True)
        self.engine_note.setObjectName("note")
        form.addRow(self.engine_note)
        self.download = QPushButton("Download ProPainter weights")
        form.addRow(self.download)
        self.device = QComboBox()
        self.devices = list_devices()
        for d in ["auto"] + self.devices:
            self.device.addItem(d, d)
        form.addRow("Device", self.device)
        self.fp16 = QCheckBox("Half precision (fp16)")
        form.addRow(self.fp16)
        lay.addWidget(box)

        box = QGroupBox("Processing")
        form = QFormLayout(box)
        self.max_side = QComboBox()
        for text, v in MAX_SIDES:
            self.max_side.addItem(text, v)
        self.max_side.setToolTip("Longest side the engine works at; the fill is pasted back at full resolution")
        form.addRow("Processing size", self.max_side)
        self.subvideo = self._spin(4, 400, "Frames per sub-video (ProPainter); the classic engine previews every min(this, 10) frames")
        form.addRow("Sub-video length", self.subvideo)
        self.neighbor = self._spin(2, 50, "Local neighbour frames")
        form.addRow("Neighbour length", self.neighbor)
        self.ref_stride = self._spin(1, 50, "Stride of the reference frames")
        form.addRow("Reference stride", self.ref_stride)
        self.dilation = self._spin(0, 32, "Pixels the mask grows by before filling")
        form.addRow("Mask dilation", self.dilation)
        lay.addWidget(box)

        box = QGroupBox("Memory")
        v = QVBoxLayout(box)
        self.mem_label = QLabel()
        self.mem_label.setWordWrap(True)
        v.addWidget(self.mem_label)
        self.plot = MemoryPlot()
        v.addWidget(self.plot)
        self.mem_warning = QLabel()
        self.mem_warning.setObjectName("warning")
        self.mem_warning.setWordWrap(True)
        self.mem_warning.hide()
        v.addWidget(self.mem_warning)
        lay.addWidget(box)

        box = QGroupBox("Run")
        v = QVBoxLayout(box)
        row = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("run")
        self.cancel_button = QPushButton("Cancel")
        row.addWidget(self.run_button)
        row.addWidget(self.cancel_button)
        v.addLayout(row)
        self.progress = QProgressBar()
        self.progress.setValue(0)
        v.addWidget(self.progress)
        self.stage = QLabel("Idle")
        self.stage.setWordWrap(True)
        v.addWidget(self.stage)
        lay.addWidget(box)
        lay.addStretch(1)

        self.run_button.clicked.connect(window.start_run)
        self.cancel_button.clicked.connect(window.cancel_run)
        self.download.clicked.connect(self.download_weights)
        for w in (self.engine, self.device, self.max_side):
            w.currentIndexChanged.connect(self._changed)
        self.fp16.toggled.connect(self._changed)
        for w in (self.subvideo, self.neighbor, self.ref_stride, self.dilation):
            w.valueChanged.connect(self._changed)
        self._set_widgets(DEFAULTS)
        self._update_engine_note()
        self.refresh_estimate()

    def _spin(self, lo: int, hi: int, tip: str) -> QSpinBox:
        s = QSpinBox()
        s.setRange(lo, hi)
        s.setToolTip(tip)
        return s

    # ---- settings <-> widgets -----------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        return {
            "engine": self.engine.currentData(),
            "device": self.device.currentData(),
            "fp16": self.fp16.isChecked(),
            "max_side": self.max_side.currentData(),
            "subvideo_length": self.subvideo.value(),
            "neighbor_length": self.neighbor.value(),
            "ref_stride": self.ref_stride.value(),
            "mask_dilation": self.dilation.value(),
        }

    def _set_widgets(self, s: dict[str, Any]) -> None:
        self._loading = True
        for combo, key in ((self.engine, "engine"), (self.device, "device"), (self.max_side, "max_side")):
            i = combo.findData(s[key])
            combo.setCurrentIndex(max(0, i))
        self.fp16.setChecked(bool(s["fp16"]))
        self.subvideo.setValue(int(s["subvideo_length"]))
        self.neighbor.setValue(int(s["neighbor_length"]))
        self.ref_stride.setValue(int(s["ref_stride"]))
        self.dilation.setValue(int(s["mask_dilation"]))
        self._loading = False

    def load_from(self, doc) -> None:
        self._set_widgets(settings_of(doc.settings))
        self.refresh_estimate()

    def _changed(self) -> None:
        if self._loading:
            return
        doc = self.window_.doc
        if doc.clip is not None:
            for k, v in self.settings().items():
                doc.set_setting(k, v)
        self._update_engine_note()
        self.refresh_estimate()

    def _update_engine_note(self) -> None:
        present = weights_present()
        name = engine_name(self.settings())
        self.download.setVisible(not present)
        self.engine_note.setText(
            ("ProPainter weights are present. " if present else "ProPainter weights are not downloaded. ")
            + f"Runs use the {'ProPainter' if name == 'propainter' else 'classic'} engine."
        )

    # ---- memory -------------------------------------------------------------------------------
    def processing_size(self) -> tuple[int, int] | None:
        doc = self.window_.doc
        if doc.clip is None:
            return None
        try:
            c = doc.canvas()
        except Exception:
            c = None
        w, h = (c.width, c.height) if c is not None else (doc.clip.width, doc.clip.height)
        m = self.max_side.currentData() or 0
        if m and max(w, h) > m:
            f = m / max(w, h)
            w, h = int(w * f) // 8 * 8, int(h * f) // 8 * 8
        return w, h

    def refresh_estimate(self) -> None:
        size = self.processing_size()
        s = self.settings()
        if size is None:
            self.mem_label.setText("Open a clip to see the memory estimate.")
            self.plot.set_data([], None, None)
            self.mem_warning.hide()
            return
        w, h = size
        if engine_name(s) == "classic":
            self.mem_label.setText(f"Classic engine at {w}×{h}: a window of {2 * s['neighbor_length'] + 1} frames in RAM.")
            self.plot.set_data([], None, None)
            self.mem_warning.hide()
            return
        from models.memory import plan

        planned = int(s["subvideo_length"])
        lengths = sorted(set(range(10, max(100, planned) + 1, 10)) | {planned})
        est = [estimate_bytes(w, h, n, s["fp16"]) for n in lengths]
        dev = s["device"] if s["device"] != "auto" else self.devices[0]
        free = free_memory(dev)
        mine = estimate_bytes(w, h, planned, s["fp16"])
        self.plot.set_data(list(zip(lengths, est)), free, planned)
        self.mem_label.setText(
            f"{w}×{h}, sub-video {planned}: about {_gib(mine)}"
            + (f" of {_gib(free)} free on {dev}." if free else f" on {dev}.")
        )
        if free is not None and mine > free:
            p = plan(w, h, int(free), bool(s["fp16"]), max_subvideo=planned)
            self.mem_warning.setText(f"This will not fit in {_gib(free)} on {dev}. {p.suggestion}")
            self.mem_warning.show()
        else:
            self.mem_warning.hide()

    # ---- weights ------------------------------------------------------------------------------
    def download_weights(self) -> None:
        def fetch(report, cancelled):
            from models.weights import download_missing

            download_missing(progress=lambda name, done, total: report(done, total or 0, name), cancel=cancelled)
            return True

        self.window_.start_task("Downloading weights", fetch, lambda _r: self._update_engine_note(),
                                "Cannot download the weights")

    # ---- run state ----------------------------------------------------------------------------
    def set_running(self, running: bool, has_clip: bool) -> None:
        self.run_button.setEnabled(has_clip and not running)
        self.cancel_button.setEnabled(running)
        for w in (self.engine, self.device, self.fp16, self.max_side, self.subvideo, self.neighbor, self.ref_stride, self.dilation):
            w.setEnabled(not running)

    def show_started(self) -> None:
        self.progress.setValue(0)
        self.stage.setText("Starting…")

    def show_progress(self, p) -> None:
        from editor.jobs.runner import format_seconds

        self.progress.setMaximum(max(1, p.total))
        self.progress.setValue(p.done)
        text = f"{p.stage}: {p.done}/{p.total} frames, ETA {format_seconds(p.eta_s)}"
        if p.message:
            text += f"\n{p.message}"
        self.stage.setText(text)

    def show_cancelling(self) -> None:
        self.stage.setText("Cancelling after the current chunk…")

    def show_finished(self, cancelled: bool, seconds: float) -> None:
        self.stage.setText(("Cancelled: finished chunks are kept" if cancelled else "Done") + f" ({seconds:.1f} s)")
