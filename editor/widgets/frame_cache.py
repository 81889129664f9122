"""Frames for the GUI without blocking it: an LRU cache filled by a prefetch thread.

The GUI asks :meth:`FrameCache.get`; a hit returns at once, a miss returns None and asks the
thread, which decodes the frame with its own reader (readers are not thread-safe), emits
``frameReady(i)``, then decodes a few frames ahead of (and one behind) the playhead.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal

from editor.jobs.worker import register_thread


class ReaderThread(QThread):
    """A QThread that opens its own video reader with ``opener()``, hands it to :meth:`work`,
    and closes it however ``work`` ends; errors go to :meth:`failed` (one message each)."""

    def __init__(self, opener: Callable[[], Any], name: str):
        super().__init__()
        self.setObjectName(name)
        self._opener = opener

    def run(self) -> None:
        reader = None
        try:
            reader = self._opener()
            self.work(reader)
        except Exception as exc:  # decoding errors reach the GUI as one message
            self.failed(str(exc) or type(exc).__name__)
        finally:
            if reader is not None:
                try:
                    reader.close()
                except Exception:
                    pass

    def work(self, reader: Any) -> None:
        raise NotImplementedError

    def failed(self, message: str) -> None:
        raise NotImplementedError


class _Prefetcher(ReaderThread):
    def __init__(self, cache: "FrameCache"):
        super().__init__(cache._opener, "frame-prefetch")
        self.cache = cache

    def work(self, reader: Any) -> None:
        c = self.cache
        while True:
            with c._cond:
                while c._target is None and not c._stop:
                    c._cond.wait()
                if c._stop:
                    return
                target, c._target = c._target, None
            order = [target] + [target + k for k in range(1, c.ahead + 1)] + [target - 1]
            for i in order:
                if c._stop or (c._target is not None and i != target):
                    break  # a newer request wins
                if not 0 <= i < c.num_frames or c.contains(i):
                    if i == target:
                        c.frameReady.emit(i)
                    continue
                frame = np.asarray(reader.frame(i))
                c._put(i, frame)
                c.frameReady.emit(i)

    def failed(self, message: str) -> None:
        self.cache.failed.emit(message)


class FrameCache(QObject):
    """Decoded source frames (HxWx3 uint8 RGB) of one clip, at most ``capacity`` kept."""

    frameReady = Signal(int)
    failed = Signal(str)

    def __init__(self, opener: Callable[[], Any], num_frames: int, frame_bytes: int, budget_bytes: int = 512 << 20, ahead: int = 12):
        super().__init__()
        self._opener = opener
        self.num_frames = num_frames
        self.capacity = max(8, min(num_frames, budget_bytes // max(1, frame_bytes)))
        self.ahead = ahead
        self._frames: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._cond = threading.Condition()
        self._target: int | None = None
        self._stop = False
        self._thread = _Prefetcher(self)
        register_thread(self._thread)
        self._thread.start()

    def contains(self, i: int) -> bool:
        with self._lock:
            return i in self._frames

    def _put(self, i: int, frame: np.ndarray) -> None:
        frame.setflags(write=False)
        with self._lock:
            self._frames[i] = frame
            self._frames.move_to_end(i)
            while len(self._frames) > self.capacity:
                self._frames.popitem(last=False)

    def get(self, i: int) -> np.ndarray | None:
        """The frame if cached (read-only array), else None after asking the thread for it."""
        with self._lock:
            frame = self._frames.get(i)
            if frame is not None:
                self._frames.move_to_end(i)
        if frame is None:
            self.request(i)
        return frame

    def request(self, i: int) -> None:
        """Decode ``i`` (and the frames after it) soon; a later request replaces this one."""
        with self._cond:
            self._target = i
            self._cond.notify()

    def close(self) -> None:
        """Stop the thread and wait for it (a frame being decoded finishes first)."""
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.wait()
