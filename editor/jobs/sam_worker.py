"""SAM on its own thread for the click tool: loads the model once, encodes frames near the
playhead while idle, and decodes clicks against the cached embeddings.

Requests go through a queue; a newer click request replaces an older one still waiting, so
fast clicking never queues up stale work. Results come back as Qt signals (queued to the GUI
thread). The predictor is shared with propagation tasks (it has its own lock).
"""

from __future__ import annotations

import logging
import queue
import threading
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from models.errors import Cancelled, ProPainterError

log = logging.getLogger(__name__)

NO_SAM = ("Clicking objects needs the SAM or SAM 2 weights: download them with "
          "`python main.py weights download sam_vit_b` (about 375 MB) or `sam2.1_hiera_tiny` (about 156 MB), "
          "or paint the mask with the brush.")


@dataclass(frozen=True)
class ClickRequest:
    """Decode a mask on frame ``index`` (``frame``: HxWx3 uint8) from clicks and/or a box."""

    serial: int
    clip_id: Any
    index: int
    frame: np.ndarray
    points: np.ndarray | None  # Nx2 (x, y)
    labels: np.ndarray | None  # N, 1 include / 0 exclude
    box: np.ndarray | None  # x0, y0, x1, y1
    mask_input: np.ndarray | None  # low-res logits of the previous answer, to refine it


@dataclass(frozen=True)
class EmbedRequest:
    """Encode frames ahead of a click: ``frames`` = [(index, HxWx3 uint8)], nearest first."""

    clip_id: Any
    frames: list


class SamWorker(QObject):
    """Signals: ``predicted(serial, Prediction)``, ``failed(message)``, ``missing(message)`` (no
    SAM weights), ``busy(text)``, ``finished(cancelled)`` (after :meth:`stop`)."""

    predicted = Signal(int, object)
    missing = Signal(str)
    failed = Signal(str)
    busy = Signal(str)
    finished = Signal(bool)

    def __init__(self, factory: Callable[[], Any]):
        """``factory()`` builds the :class:`SamClickPredictor`, or returns None without weights."""
        super().__init__()
        self._factory = factory
        self._queue: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self._predictor: Any = None
        self._loaded = False
        self._stop = threading.Event()

    # ---- any thread --------------------------------------------------------------------------
    def submit(self, request: ClickRequest | EmbedRequest) -> None:
        self._queue.put(request)

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(None)

    def reload(self) -> None:
        """Build the predictor again on next use (after the weights were downloaded)."""
        with self._lock:
            self._predictor, self._loaded = None, False

    def loaded_kind(self) -> str | None:
        """"sam" or "sam2": which network the loaded predictor runs (None before it is loaded)."""
        with self._lock:
            if not self._loaded or self._predictor is None:
                return None
            return getattr(self._predictor, "kind", "sam")

    def predictor(self) -> Any:
        """The predictor, loading it on first use (None when there are no SAM weights)."""
        with self._lock:
            if not self._loaded:
                self._predictor = self._factory()
                self._loaded = True
            return self._predictor

    # ---- the worker thread -------------------------------------------------------------------
    def _next(self) -> Any:
        """The next request; of several waiting click requests only the newest is kept."""
        item = self._queue.get()
        pending = [item]
        while True:
            try:
                pending.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if any(p is None for p in pending):
            return None
        clicks = [p for p in pending if isinstance(p, ClickRequest)]
        embeds = [p for p in pending if isinstance(p, EmbedRequest)]
        # only the newest prefetch counts: the playhead has moved on from the older ones
        if clicks:
            if embeds:
                self._queue.put(embeds[-1])
            return clicks[-1]
        return embeds[-1] if embeds else None

    @Slot()
    def run(self) -> None:
        try:
            while not self._stop.is_set():
                request = self._next()
                if request is None or self._stop.is_set():
                    break
                try:
                    if isinstance(request, ClickRequest):
                        self._click(request)
                    else:
                        self._embed(request)
                except ProPainterError as exc:
                    self.failed.emit(str(exc))
                except MemoryError:
                    self.failed.emit("SAM ran out of memory on this frame; close other programs or use vit_b")
                except Exception as exc:  # a bug: report it, keep the worker alive
                    log.error("SAM request failed:\n%s", traceback.format_exc())
                    self.failed.emit(f"SAM stopped on an unexpected error ({type(exc).__name__}: {exc})")
        finally:
            self.finished.emit(False)

    def _click(self, r: ClickRequest) -> None:
        if not self._loaded:
            self.busy.emit("Loading SAM…")
        predictor = self.predictor()
        if predictor is None:
            self.missing.emit(NO_SAM)
            return
        if not predictor.is_cached(r.clip_id, r.index):
            self.busy.emit(f"Encoding frame {r.index + 1} for SAM…")
        predictor.set_frame(r.clip_id, r.index, r.frame)
        single = r.box is None and r.points is not None and len(r.points) == 1
        prediction = predictor.predict(r.points, r.labels, box=r.box, mask_input=r.mask_input, multimask=single)
        self.predicted.emit(r.serial, prediction)

    def _embed(self, r: EmbedRequest) -> None:
        predictor = self.predictor() if self._loaded else None
        if predictor is None:  # never load SAM just to prefetch: the first click does
            return
        frames = dict(r.frames)
        try:
            # a waiting click (or a newer playhead) stops the prefetch between frames
            predictor.prefetch(r.clip_id, list(frames), frames.__getitem__,
                               cancel=lambda: not self._queue.empty() or self._stop.is_set())
        except Cancelled:
            pass
