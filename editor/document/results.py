"""A run's finished frames on disk, and the window's view of them. No Qt.

The editor's runs write what they compute into a :class:`ResultFolder` in the editor's cache:
one lossless PNG per frame (``000123.png``), each written under a temporary name and renamed,
so a crash leaves every finished frame readable, plus ``result.json``: which run wrote which
frames and with which settings. Previews and Export read the frames back from there, so the
memory a result takes does not grow with the clip, and a result survives a crash and a reopen.

:class:`ResultStore` is the window's view: frame -> the mask revision its run started from.
A result whose revision is older than the document's current one is *stale*: the masks
changed after the run took its snapshot. Stale results stay visible (marked) until a new run
replaces them. Revisions live only in memory; across a save and a reopen a project records
which runs were fresh (:meth:`ResultStore.fresh_runs`).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from editor.media._files import write_atomically
from models.spans import describe, spans

MANIFEST = "result.json"
FORMAT = "propainter-editor-result"


def new_result_id() -> str:
    return uuid.uuid4().hex[:16]


def describe_spans(frames: list[int], limit: int = 4) -> str:
    """'12-40, 55, 60-99' (1-based like the timeline's labels), '... and N more' past ``limit``."""
    return describe(frames, offset=1, limit=limit)


@dataclass(frozen=True)
class RunInfo:
    """One run recorded in a result folder: its id, the frames it was asked to process
    (``frame_range``, stop exclusive) and a key of everything that decides its frames apart
    from the masks (engine settings, canvas), to tell whether a new run may continue it."""

    run_id: str
    frame_range: tuple[int, int]
    key: str


class ResultFolder:
    """Frames of runs over one clip, on disk (thread-safe: a run writes while the GUI reads).

    Also the sink :func:`editor.jobs.run_job` writes an editor run into: ``begin(run)``,
    ``put(index, frame)`` for every processed frame, ``flush()`` after each chunk,
    ``close()``/``abort()`` at the end (both keep what was written: finished frames are the
    point of a result).
    """

    #: run_job gives this sink only the frames it processed, not the ones it copies.
    wants_untouched = False
    audio_copied: tuple[bool, ...] = ()

    def __init__(self, folder: str | os.PathLike, clip: str, size: tuple[int, int]) -> None:
        self.folder = Path(folder)
        self.clip = str(clip)
        self.size = (int(size[0]), int(size[1]))
        self._lock = threading.Lock()
        self._runs: dict[str, RunInfo] = {}
        self._owner: dict[int, str] = {}  # frame -> run id that wrote its file
        self._current: RunInfo | None = None

    # ---- opening -----------------------------------------------------------------------------
    @classmethod
    def create(cls, folder: str | os.PathLike, clip: str, size: tuple[int, int]) -> "ResultFolder":
        res = cls(folder, clip, size)
        res.folder.mkdir(parents=True, exist_ok=True)
        res._save_manifest()
        return res

    @classmethod
    def open(cls, folder: str | os.PathLike) -> "ResultFolder | None":
        """The result in ``folder``, or None when there is none (or it cannot be read).
        Frames listed in the manifest whose file is missing are dropped; frames a crash wrote
        after the last manifest update are not listed and are not used."""
        folder = Path(folder)
        try:
            meta = json.loads((folder / MANIFEST).read_text())
            if meta.get("format") != FORMAT:
                return None
            res = cls(folder, str(meta["clip"]), (int(meta["width"]), int(meta["height"])))
            for run_id, r in meta.get("runs", {}).items():
                res._runs[run_id] = RunInfo(run_id, (int(r["range"][0]), int(r["range"][1])), str(r["key"]))
            for a, b, run_id in meta.get("frames", []):
                if run_id in res._runs:
                    for f in range(int(a), int(b)):
                        res._owner[f] = run_id
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            return None
        present = {int(p.stem) for p in folder.glob("[0-9]*.png") if p.stem.isdigit()}
        res._owner = {f: r for f, r in res._owner.items() if f in present}
        return res

    # ---- the sink a run writes into ------------------------------------------------------------
    def begin(self, run: RunInfo) -> None:
        with self._lock:
            self._runs[run.run_id] = run
            self._current = run
        self._save_manifest()

    def put(self, index: int, frame: np.ndarray) -> None:
        """Write frame ``index`` (HxWx3 uint8 RGB) losslessly, atomically."""
        assert self._current is not None, "begin() a run first"
        frame = np.asarray(frame)
        h, w = frame.shape[:2]
        if (w, h) != self.size:
            raise ValueError(f"result frame {index} is {w}x{h}, the result is {self.size[0]}x{self.size[1]}")
        ok, data = cv2.imencode(".png", np.ascontiguousarray(frame[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:
            raise OSError(f"cannot encode result frame {index}")
        try:
            write_atomically(self.path(index), data.tobytes())
        except OSError as exc:
            from editor.errors import OutputError

            raise OutputError(
                f"The run's frame {index} could not be written to {self.folder} ({exc.strerror or exc}); free some "
                "disk space there (finished frames are kept) and run again to continue."
            ) from None
        with self._lock:
            self._owner[index] = self._current.run_id

    def flush(self) -> None:
        self._save_manifest()

    def close(self) -> None:
        self._save_manifest()
        self._current = None

    def abort(self) -> None:
        self.close()

    # ---- reading ----------------------------------------------------------------------------
    def path(self, index: int) -> Path:
        return self.folder / f"{index:06d}.png"

    def read(self, index: int) -> np.ndarray | None:
        """Frame ``index`` as HxWx3 uint8 RGB, or None when no run wrote it."""
        with self._lock:
            if index not in self._owner:
                return None
        img = cv2.imread(str(self.path(index)), cv2.IMREAD_COLOR)
        if img is None:
            return None
        return np.ascontiguousarray(img[..., ::-1])

    def owners(self) -> dict[int, str]:
        """frame -> id of the run that wrote it."""
        with self._lock:
            return dict(self._owner)

    def run(self, run_id: str) -> RunInfo | None:
        with self._lock:
            return self._runs.get(run_id)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    # ---- internals --------------------------------------------------------------------------
    def _save_manifest(self) -> None:
        with self._lock:
            by_run: dict[str, list[int]] = {}
            for f, r in self._owner.items():
                by_run.setdefault(r, []).append(f)
            used = set(by_run) | ({self._current.run_id} if self._current else set())
            meta: dict[str, Any] = {
                "format": FORMAT,
                "clip": self.clip,
                "width": self.size[0],
                "height": self.size[1],
                "runs": {r.run_id: {"range": list(r.frame_range), "key": r.key}
                         for r in self._runs.values() if r.run_id in used},
                "frames": [[a, b, r] for r, fs in by_run.items() for a, b in spans(fs)],
            }
        write_atomically(self.folder / MANIFEST, json.dumps(meta).encode())


class ResultStore:
    """The window's view of its result folder: frame -> (HxWx3 uint8 RGB, revision), read from
    disk on demand with a few frames kept decoded for stepping back and forth, and the next
    ones read ahead on a background thread (:meth:`prefetch`; a 1080p PNG takes ~60 ms)."""

    CACHED = 8

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.folder: ResultFolder | None = None
        self._run_revision: dict[str, int] = {}
        self._decoded: OrderedDict[int, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._reading: set[int] = set()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="result-prefetch")

    # ---- binding ------------------------------------------------------------------------------
    def attach(self, folder: ResultFolder | None, fresh_runs: list[str] = (), revision: int = 0) -> None:
        """Show ``folder``'s frames: those of ``fresh_runs`` as computed from ``revision``, the
        rest stale."""
        with self._lock:
            self.folder = folder
            self._decoded.clear()
        self._run_revision = {r: revision for r in fresh_runs}

    def run_started(self, run_id: str, revision: int) -> None:
        self._run_revision[run_id] = revision

    def frames_written(self, start: int, count: int) -> None:
        """A run wrote frames ``start .. start + count - 1`` (drop what was decoded of them)."""
        with self._lock:
            for f in range(start, start + count):
                self._decoded.pop(f, None)

    # ---- reading --------------------------------------------------------------------------------
    def revision_of(self, frame: int) -> int | None:
        if self.folder is None:
            return None
        run = self.folder.owners().get(frame)
        return None if run is None else self._run_revision.get(run, -1)

    def get(self, frame: int) -> tuple[np.ndarray, int] | None:
        rev = self.revision_of(frame)
        if rev is None:
            return None
        img = self.frame(frame)
        return None if img is None else (img, rev)

    def frame(self, frame: int) -> np.ndarray | None:
        folder = self.folder
        if folder is None:
            return None
        with self._lock:
            img = self._decoded.get(frame)
            if img is not None:
                self._decoded.move_to_end(frame)
                return img
        return self._load(folder, frame)

    def prefetch(self, frames: list[int]) -> None:
        """Read these frames into the decoded cache in the background (ones without a result
        or already decoded are skipped)."""
        folder = self.folder
        if folder is None:
            return
        owners = folder.owners()
        with self._lock:
            todo = [f for f in frames if f in owners and f not in self._decoded and f not in self._reading]
            self._reading.update(todo)
        for f in todo:
            try:
                self._pool.submit(self._load, folder, f)
            except RuntimeError:  # closed: the window is going
                return

    def _load(self, folder: ResultFolder, frame: int) -> np.ndarray | None:
        try:
            img = folder.read(frame)
        finally:
            with self._lock:
                self._reading.discard(frame)
        if img is None:
            return None
        img.setflags(write=False)
        with self._lock:
            if folder is self.folder:
                self._decoded[frame] = img
                self._decoded.move_to_end(frame)
                while len(self._decoded) > self.CACHED:
                    self._decoded.popitem(last=False)
        return img

    def close(self) -> None:
        """Stop reading ahead (waits for a read in flight)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def is_stale(self, frame: int, revision: int) -> bool:
        rev = self.revision_of(frame)
        return rev is not None and rev != revision

    def status(self, revision: int) -> dict[int, bool]:
        """frame -> True when fresh (computed from ``revision``), False when stale."""
        if self.folder is None:
            return {}
        return {f: self._run_revision.get(r, -1) == revision for f, r in self.folder.owners().items()}

    def fresh_runs(self, revision: int) -> list[str]:
        """Ids of the runs computed from ``revision`` (what a saved project records)."""
        return sorted(r for r, rev in self._run_revision.items() if rev == revision)

    def fresh_frames(self, revision: int) -> list[int]:
        return sorted(f for f, fresh in self.status(revision).items() if fresh)

    def frames(self) -> list[int]:
        return sorted(self.folder.owners()) if self.folder is not None else []

    def clear(self) -> None:
        self.attach(None)

    def __len__(self) -> int:
        return len(self.folder.owners()) if self.folder is not None else 0
