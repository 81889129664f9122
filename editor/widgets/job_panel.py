"""The side panel: engine, device and processing settings, the memory estimate, Run/Cancel
and the run's progress. It shows settings and forwards requests; the window runs jobs."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from editor.document.job_settings import DEFAULTS, engine_name, settings_of, weights_present
from editor.jobs.worker import TaskWorker, start_thread
from editor.widgets.memory_plot import MemoryPlot

#: The precision choices, as the CLI's --precision (:data:`editor.engine_settings.PRECISIONS`).
PRECISIONS = [("Automatic", "auto"), ("Full (fp32)", "fp32"), ("Half (fp16, CUDA)", "fp16"),
              ("bfloat16 (bf16)", "bf16")]
PRECISION_TIP = ("fp32 computes as the authors' code does. fp16 runs flow completion and the generator in half precision on "
                 "CUDA (on other devices it runs as fp32). bf16 runs RAFT's and the generator's "
                 "convolutions and products in bfloat16, fast on CUDA and on CPUs with AMX or AVX-512 "
                 "BF16; flows stay fp32. Half precision changes the filled pixels slightly.")
MAX_SIDES = [("Clip size", 0), ("1920 px", 1920), ("1280 px", 1280), ("960 px", 960), ("640 px", 640), ("480 px", 480)]


def list_devices() -> list[str]:
    """Usable devices, best first (cuda:N, mps, cpu)."""
    from models.device import available_devices

    return list(available_devices()) or ["cpu"]


def free_memory(device: str) -> float | None:
    """Bytes a job may still allocate on ``device`` (None when it cannot be told).

    Asks torch (``torch.cuda.mem_get_info`` on CUDA): :class:`FreeMemoryProbe` calls it on a
    worker thread, never the GUI thread."""
    from models.device import free_memory_bytes

    try:
        return float(free_memory_bytes(device))
    except (RuntimeError, ValueError, OSError):
        return None


class FreeMemoryProbe(QObject):
    """Free memory per device, measured on a worker thread and cached, so that the estimate,
    which changes with every setting, never waits for torch on the GUI thread.

    :meth:`cached` answers from the cache; :meth:`request` starts a measurement unless one
    is cached or running; ``measured(device)`` is emitted (on the GUI thread) when it arrives.
    :meth:`forget` drops the cache, e.g. after a run, when the free memory has changed; a
    measurement running then is measured again, since it may have started before the change.
    """

    measured = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._values: dict[str, float | None] = {}
        self._running: dict[str, tuple[TaskWorker, Any, int]] = {}  # device -> (worker, thread, generation)
        self._generation = 0

    def cached(self, device: str) -> tuple[bool, float | None]:
        """(known, bytes): known is False until a measurement for ``device`` has arrived."""
        return device in self._values, self._values.get(device)

    def request(self, device: str) -> None:
        if device in self._values or device in self._running:
            return
        worker = TaskWorker(lambda _report, _cancelled: free_memory(device))
        worker.setObjectName(device)
        worker.succeeded.connect(self._on_measured)
        worker.failed.connect(self._on_failed)
        worker.finished.connect(self._on_finished)
        self._running[device] = (worker, start_thread(worker, "free-memory"), self._generation)

    def forget(self) -> None:
        self._values.clear()
        self._generation += 1

    def busy(self) -> bool:
        return bool(self._running)

    def _current(self) -> str | None:
        """The device of the worker that sent this signal, if its measurement is still wanted."""
        worker = self.sender()
        device = worker.objectName() if worker is not None else None
        running = self._running.get(device) if device is not None else None
        return device if running is not None and running[2] == self._generation else None

    def _store(self, value: float | None) -> None:
        device = self._current()
        if device is not None:
            self._values[device] = value
            self.measured.emit(device)

    @Slot(object)
    def _on_measured(self, value: object) -> None:
        self._store(None if value is None else float(value))  # type: ignore[arg-type]

    @Slot(str)
    def _on_failed(self, _message: str) -> None:
        self._store(None)

    @Slot(bool)
    def _on_finished(self, _cancelled: bool) -> None:
        worker = self.sender()
        device = worker.objectName() if worker is not None else None
        running = self._running.pop(device, None) if device is not None else None
        if running is not None and running[2] != self._generation:
            self.request(device)  # forgotten while it ran: measure again


def estimate_bytes(width: int, height: int, subvideo_length: int, half: bool) -> float:
    """Estimated memory of one sub-video, from the authors' resolution table (``half``: its
    half-precision column, see :func:`models.device.half_memory`)."""
    from models.memory import estimate

    return float(estimate(width, height, subvideo_length, half))


def _gib(x: float) -> str:
    return f"{x / 2**30:.1f} GiB"


class JobPanel(QWidget):
    def __init__(self, window):
        super().__init__()
        self.setObjectName("job-panel")
        self.window_ = window
        self._loading = False
        self._was_running = False
        # The settings scroll on a short screen; Run, Cancel and the progress stay in view below them.
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 6, 6)
        settings = QWidget()
        settings.setObjectName("job-settings")
        lay = QVBoxLayout(settings)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(settings)
        outer.addWidget(self.scroll, 1)

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
        self.precision = QComboBox()
        for text, value in PRECISIONS:
            self.precision.addItem(text, value)
        form.addRow("Precision", self.precision)
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
        self.neighbor = self._spin(2, 50, "Local neighbour frames (ProPainter)")
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
        lay.addStretch(1)
        outer.addWidget(box)
        # as wide as the settings need (only the height scrolls), with room for the scroll bar
        self.scroll.setMinimumWidth(settings.minimumSizeHint().width()
                                    + self.scroll.verticalScrollBar().sizeHint().width())

        self.run_button.clicked.connect(window.start_run)
        self.cancel_button.clicked.connect(window.cancel_run)
        self.download.clicked.connect(self.download_weights)
        self.memory = FreeMemoryProbe(self)
        self.memory.measured.connect(lambda _device: self.refresh_estimate())
        for w in (self.engine, self.device, self.precision, self.max_side):
            w.currentIndexChanged.connect(self._changed)
        for w in (self.subvideo, self.neighbor, self.ref_stride, self.dilation):
            w.valueChanged.connect(self._changed)
        self._set_widgets(DEFAULTS)
        self._update_engine_note()
        self._update_precision_text()
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
            "precision": self.precision.currentData(),
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
        self.precision.setCurrentIndex(max(0, self.precision.findData(s["precision"])))
        self.subvideo.setValue(int(s["subvideo_length"]))
        self.neighbor.setValue(int(s["neighbor_length"]))
        self.ref_stride.setValue(int(s["ref_stride"]))
        self.dilation.setValue(int(s["mask_dilation"]))
        self._loading = False

    def load_from(self, doc) -> None:
        self._set_widgets(settings_of(doc.settings))
        self.refresh_free_memory()

    def _changed(self) -> None:
        if self._loading:
            return
        doc = self.window_.doc
        if doc.clip is not None:
            for k, v in self.settings().items():
                doc.set_setting(k, v)
        self._update_engine_note()
        self._update_precision_text()
        self.refresh_estimate()

    def _update_precision_text(self) -> None:
        """Automatic's item and the tooltip say what automatic picks for the chosen device
        (detected from the CPU's flags and torch's build: no GPU call)."""
        from models.device import precision_choice_text, resolve_precision

        dev = self.estimate_device()
        self.precision.setItemText(0, f"Automatic ({resolve_precision(dev, 'auto')} here)")
        self.precision.setToolTip(f"{precision_choice_text(dev)} {PRECISION_TIP}")

    def _update_engine_note(self) -> None:
        """Says which engine a run will use, as the run will decide it."""
        from editor.widgets.gui_text import DOWNLOAD_PROPAINTER

        present = weights_present()
        name = engine_name(self.settings())
        self.download.setVisible(not present)
        if present:
            text = f"ProPainter weights are present. Runs use the {'ProPainter' if name == 'propainter' else 'classic'} engine."
        elif name == "propainter":
            text = ("ProPainter weights are not downloaded: a ProPainter run cannot start until they are "
                    f"(the button below, or {DOWNLOAD_PROPAINTER}). Choose Automatic or Classic to run "
                    "the classic engine now.")
        else:
            text = "ProPainter weights are not downloaded. Runs use the classic engine (no weights needed)."
        self.engine_note.setText(text)

    # ---- memory -------------------------------------------------------------------------------
    def processing_size(self) -> tuple[int, int] | None:
        """The size the engine runs at for the whole frame (or canvas), by the engine's rule."""
        from models.errors import InputError
        from models.sizes import processing_size

        doc = self.window_.doc
        if doc.clip is None:
            return None
        try:
            c = doc.canvas()
        except Exception:
            c = None
        w, h = (c.width, c.height) if c is not None else (doc.clip.width, doc.clip.height)
        try:
            return processing_size(w, h, max_side=self.max_side.currentData() or None)
        except InputError:
            return None

    def estimate_device(self) -> str:
        """The device the estimate is for: the chosen one, or the first available for "auto"."""
        dev = self.device.currentData()
        return dev if dev != "auto" else self.devices[0]

    def refresh_free_memory(self) -> None:
        """Measure the free memory again (on a worker thread) and update the estimate."""
        self.memory.forget()
        self.refresh_estimate()

    def refresh_estimate(self) -> None:
        """The memory estimate for the current settings, with the free memory measured last
        (never measured here: :class:`FreeMemoryProbe` does that on a worker thread)."""
        from models.classic import ClassicConfig
        from models.device import half_memory, resolve_precision
        from models.memory import SAFETY, budget_text, plan

        size = self.processing_size()
        s = self.settings()
        if size is None:
            self.mem_label.setText("Open a clip to see the memory estimate.")
            self.plot.set_data([], None, None)
            self.mem_warning.hide()
            return
        w, h = size
        if engine_name(s) == "classic":
            window = 2 * ClassicConfig().neighbor_radius + 1
            self.mem_label.setText(f"Classic engine at {w}×{h}: a window of {window} frames in RAM.")
            self.plot.set_data([], None, None)
            self.mem_warning.hide()
            return
        dev = self.estimate_device()
        precision = resolve_precision(dev, s["precision"])  # the device policy; no GPU call
        half = half_memory(dev, precision)
        planned = int(s["subvideo_length"])
        lengths = sorted(set(range(10, max(100, planned) + 1, 10)) | {planned})
        est = [estimate_bytes(w, h, n, half) for n in lengths]
        mine = estimate_bytes(w, h, planned, half)
        known, free = self.memory.cached(dev)
        if not known:
            self.memory.request(dev)
        usable = None if free is None else SAFETY * free
        self.plot.set_data(list(zip(lengths, est)), usable, planned)
        head = f"{w}×{h}, sub-video {planned}, {precision}: about {_gib(mine)}"
        if not known:
            self.mem_label.setText(f"{head} on {dev} (measuring the free memory…).")
        elif free is None:
            self.mem_label.setText(f"{head} on {dev} (free memory unknown).")
        else:
            self.mem_label.setText(f"{head} of {_gib(usable)} usable on {dev}.")
        if free is not None and mine > usable:
            p = plan(w, h, int(free), half, max_subvideo=planned)
            if p.fits:
                text = (f"Sub-videos of {planned} frames will not fit on {dev} ({budget_text(free)}); "
                        f"{p.subvideo_length} frames would (~{_gib(p.estimated_bytes)}).")
            else:
                text = f"This will not fit on {dev}. {p.suggestion}"
            self.mem_warning.setText(text)
            self.mem_warning.show()
        else:
            self.mem_warning.hide()

    # ---- weights ------------------------------------------------------------------------------
    def download_weights(self) -> bool:
        """Show the weights' licence and ask; download in the background when accepted."""
        if not self.accept_licence():
            return False

        def fetch(report, cancelled):
            from models.weights import download_missing

            download_missing(progress=lambda name, done, total: report(done, total or 0, name), cancel=cancelled)
            return True

        return self.window_.start_task("Downloading weights", fetch, lambda _r: self._update_engine_note(),
                                       "Cannot download the weights")

    def accept_licence(self) -> bool:
        """The ProPainter checkpoints are not free for commercial use: say so before fetching."""
        from models.weights import PROPAINTER_CHECKPOINTS, SLAB_LICENCE, get_spec
        from editor.widgets import dialogs

        specs = [get_spec(n) for n in PROPAINTER_CHECKPOINTS]
        size = sum(s.size or 0 for s in specs)
        text = (f"The ProPainter weights ({', '.join(s.file_name for s in specs)}"
                f"{f', about {size / 1e6:.0f} MB' if size else ''}) are published by S-Lab, Nanyang Technological "
                f"University, under the {SLAB_LICENCE.split(',')[0]}: they may be used for non-commercial purposes "
                "only (research, evaluation, personal use). Commercial use needs the authors' permission.\n\n"
                "The classic engine needs no weights and has no such limit.\n\n"
                "Download the weights under these terms?")
        return dialogs.ask_choice(self.window_, "ProPainter weights licence", text, "Accept and Download", "Cancel")

    # ---- run state ----------------------------------------------------------------------------
    def set_running(self, running: bool, has_clip: bool) -> None:
        if self._was_running and not running:
            self.refresh_free_memory()  # the run has freed (or others have taken) memory
        self._was_running = running
        self.run_button.setEnabled(has_clip and not running)
        self.cancel_button.setEnabled(running)
        for w in (self.engine, self.device, self.precision, self.max_side, self.subvideo, self.neighbor, self.ref_stride, self.dilation):
            w.setEnabled(not running)

    def reset_status(self) -> None:
        """Another clip or project: the last run's outcome is not about it."""
        self.progress.setMaximum(100)
        self.progress.setValue(0)
        self.stage.setText("Idle")

    def show_started(self) -> None:
        self.progress.setValue(0)
        self.stage.setText("Starting…")

    def show_progress(self, p) -> None:
        from editor.jobs.runner import format_seconds

        self.progress.setMaximum(max(1, p.total))
        self.progress.setValue(p.done)
        text = f"{p.stage}: {p.done}/{p.total} frames, ETA {format_seconds(p.eta_s)}"
        if p.message:
            from editor.widgets.gui_text import for_window

            text += f"\n{for_window(p.message)}"
        self.stage.setText(text)

    def show_cancelling(self) -> None:
        self.stage.setText("Cancelling after the current chunk…")

    def show_finished(self, cancelled: bool, seconds: float, failed: str | None = None) -> None:
        """The run's outcome: failed (with the reason), cancelled, or done; never "Done" for a
        run that did not finish."""
        if failed:
            self.stage.setText(f"Failed after {seconds:.1f} s: {failed}")
        elif cancelled:
            self.stage.setText(f"Cancelled after {seconds:.1f} s: finished frames are kept")
        else:
            self.stage.setText(f"Done ({seconds:.1f} s)")
