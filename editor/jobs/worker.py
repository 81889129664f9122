"""Qt workers on QThreads: the job worker that drives ``run_job`` (the CLI's job code) and a
small generic worker for other background tasks (export, weights download).

Every thread started here is registered, so tests can fail when one is left running and the
main window can wait for all of them on close. Workers never touch widgets: they talk through
signals, which Qt queues to the GUI thread.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from models.errors import Cancelled, ProPainterError
from models.events import FramesReady, Progress

log = logging.getLogger(__name__)

_LIVE: set[QThread] = set()


def running_threads() -> list[QThread]:
    """QThreads started by the editor that have not finished."""
    return [t for t in list(_LIVE) if t.isRunning()]


def start_thread(worker: QObject, name: str) -> QThread:
    """Move ``worker`` (with ``run()`` and a ``finished`` signal) to a new registered QThread."""
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    # Direct: quit() is thread-safe, and a queued quit would wait behind a GUI-thread wait().
    worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    thread.finished.connect(lambda: _LIVE.discard(thread))
    _LIVE.add(thread)
    thread.start()
    return thread


def register_thread(thread: QThread) -> None:
    """Register a QThread subclass started elsewhere (the frame prefetcher)."""
    _LIVE.add(thread)
    thread.finished.connect(lambda: _LIVE.discard(thread))


@dataclass(frozen=True)
class JobProgress:
    """A progress report for the GUI: stage, frames done of total, ETA in seconds (or None)."""

    stage: str
    done: int
    total: int
    message: str
    eta_s: float | None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


class JobWorker(QObject):
    """Runs one job. Signals: ``progress(JobProgress)``, ``chunk_ready(start, count, revision)``
    (frames ``start .. start + count - 1`` are in the job's result folder),
    ``failed(message)``, ``finished(cancelled)``; ``finished`` fires whatever happens.

    ``cancel()`` may be called from any thread; it is checked at every chunk (by the engine,
    through ``run_job``'s cancel callback, and here after each chunk is forwarded).
    """

    progress = Signal(object)
    chunk_ready = Signal(int, int, int)
    failed = Signal(str)
    finished = Signal(bool)

    def __init__(self, make_job: Callable[[], Any], revision: int, run: Callable[..., Any] | None = None):
        """``make_job()`` builds the runner's Job on the worker thread (engines load weights)."""
        super().__init__()
        self.make_job, self.revision = make_job, revision
        self.job: Any = None
        self.result: Any = None
        self._run = run
        self._cancel = threading.Event()
        self._t0 = 0.0
        self._first_done: tuple[float, int] | None = None

    def cancel(self) -> None:
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def _eta(self, done: int, total: int) -> float | None:
        now = time.monotonic()
        if self._first_done is None:
            if done > 0:
                self._first_done = (now, done)
            return None
        t1, d1 = self._first_done
        if done <= d1 or now <= t1:
            return None
        rate = (done - d1) / (now - t1)
        return max(0.0, (total - done) / rate)

    def _on_event(self, event: Any) -> None:
        if isinstance(event, Progress):
            eta = getattr(event, "eta", None)
            if eta is None:
                eta = self._eta(event.done, event.total)
            done, total = event.done, event.total
            stage_total = getattr(event, "stage_total", 0)
            if done == 0 and stage_total and event.stage not in ("starting", "done"):
                # before the first frame is out (the classic engine's survey) the stage's own
                # count is the only progress there is, as on the command line
                done, total = getattr(event, "stage_done", 0), stage_total
            self.progress.emit(JobProgress(event.stage, done, total, event.message, eta))
        elif isinstance(event, FramesReady):
            self.chunk_ready.emit(event.start, len(event.frames), self.revision)
            if self._cancel.is_set():
                raise Cancelled("the run was cancelled; finished frames are kept")

    @Slot()
    def run(self) -> None:
        cancelled = False
        self._t0 = time.monotonic()
        try:
            run = self._run
            if run is None:
                from editor.jobs.runner import run_job as run
            self.job = self.make_job()
            self.result = run(self.job, self._on_event, self._cancel.is_set)
            # A run that returned finished every frame, even if Cancel came after the last chunk.
        except Cancelled:
            cancelled = True
        except ProPainterError as exc:
            self.failed.emit(str(exc))
        except MemoryError:
            self.failed.emit("the job ran out of memory: lower the processing size or the sub-video length")
        except Exception as exc:  # a bug: still report it and finish, never leave the GUI waiting
            log.error("job failed:\n%s", traceback.format_exc())
            self.failed.emit(f"the job stopped on an unexpected error ({type(exc).__name__}: {exc})")
        finally:
            self.finished.emit(cancelled)


class TaskWorker(QObject):
    """Runs ``fn(report, is_cancelled)`` on a thread. ``report(done, total, text)`` emits progress.

    Signals: ``progress(done, total, text)``, ``failed(message)``, ``succeeded(result)``,
    ``finished(cancelled)`` (always last).
    """

    progress = Signal(int, int, str)
    failed = Signal(str)
    succeeded = Signal(object)
    finished = Signal(bool)

    def __init__(self, fn: Callable[[Callable[[int, int, str], None], Callable[[], bool]], Any]):
        super().__init__()
        self._fn = fn
        self._cancel = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    @Slot()
    def run(self) -> None:
        cancelled = False
        try:
            result = self._fn(lambda d, t, s="": self.progress.emit(int(d), int(t), s), self._cancel.is_set)
            if self._cancel.is_set():
                cancelled = True
            else:
                self.succeeded.emit(result)
        except Cancelled:
            cancelled = True
        except ProPainterError as exc:
            self.failed.emit(str(exc))
        except OSError as exc:
            self.failed.emit(f"{exc.filename or 'a file'} could not be written or read: {exc.strerror or exc}")
        except Exception as exc:
            log.error("task failed:\n%s", traceback.format_exc())
            self.failed.emit(f"the task stopped on an unexpected error ({type(exc).__name__}: {exc})")
        finally:
            self.finished.emit(cancelled)
