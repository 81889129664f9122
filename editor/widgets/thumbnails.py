"""Small frame pictures for the timeline, decoded on a thread so the GUI never waits.

:meth:`ThumbnailLoader.request` names the frames wanted (a newer request replaces an older
one); the thread decodes them with its own reader (readers are not thread-safe), scales them
to ``height`` pixels and hands each one back as ``thumbnailReady(frame, QImage)`` on the GUI
thread. Nothing arrives after :meth:`ThumbnailLoader.close`, so a replaced clip never shows
the old clip's pictures.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

import cv2
import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from editor.jobs.worker import register_thread
from editor.widgets.frame_cache import ReaderThread

log = logging.getLogger(__name__)


def thumbnail(frame: np.ndarray, height: int) -> QImage:
    """HxWx3 uint8 RGB -> a QImage ``height`` pixels high (aspect kept) that owns its pixels."""
    h, w = frame.shape[:2]
    width = max(1, round(w * height / h))
    small = np.ascontiguousarray(cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA))
    return QImage(small.data, width, height, small.strides[0], QImage.Format.Format_RGB888).copy()


class _Decoder(ReaderThread):
    def __init__(self, loader: "ThumbnailLoader"):
        super().__init__(loader._opener, "thumbnails")
        self.loader = loader

    def work(self, reader: Any) -> None:
        lo = self.loader
        while True:
            with lo._cond:
                while not lo._wanted and not lo._stop:
                    lo._cond.wait()
                if lo._stop:
                    return
                frame = lo._wanted.pop(0)
            lo._decoded.emit(frame, thumbnail(np.asarray(reader.frame(frame)), lo.height))

    def failed(self, message: str) -> None:  # the frame cache reports decoding errors to the user
        log.warning("timeline thumbnails stopped: %s", message)


class ThumbnailLoader(QObject):
    """Thumbnails (QImage, ``height`` px high) of one clip's frames, decoded on a thread."""

    thumbnailReady = Signal(int, QImage)
    _decoded = Signal(int, QImage)  # from the thread; passed on by the GUI thread unless closed

    def __init__(self, opener: Callable[[], Any], height: int = 40):
        super().__init__()
        self._opener = opener
        self.height = height
        self._cond = threading.Condition()
        self._wanted: list[int] = []
        self._stop = False
        self._closed = False
        self._decoded.connect(self._deliver)
        self._thread = _Decoder(self)
        register_thread(self._thread)
        self._thread.start()

    def request(self, frames: list[int]) -> None:
        """Decode ``frames`` in this order, instead of what an earlier request still wanted."""
        with self._cond:
            self._wanted = list(frames)
            self._cond.notify()

    def _deliver(self, frame: int, image: QImage) -> None:
        if not self._closed:
            self.thumbnailReady.emit(frame, image)

    def close(self) -> None:
        """Stop the thread and wait for it (a frame being decoded finishes first)."""
        self._closed = True
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.wait()
