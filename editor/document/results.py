"""Finished frames from runs, each tagged with the mask revision it was computed from. No Qt.

A result whose revision is older than the document's current one is *stale*: the masks
changed after the job took its snapshot. Stale results stay visible (marked) until a new
run replaces them.
"""

from __future__ import annotations

import numpy as np


class ResultStore:
    """frame -> (HxWx3 uint8 RGB result, revision)."""

    def __init__(self) -> None:
        self._frames: dict[int, tuple[np.ndarray, int]] = {}

    def put(self, start: int, frames: list[np.ndarray], revision: int) -> None:
        for k, frame in enumerate(frames):
            frame = np.asarray(frame)
            frame.setflags(write=False)
            self._frames[start + k] = (frame, revision)

    def get(self, frame: int) -> tuple[np.ndarray, int] | None:
        return self._frames.get(frame)

    def frame(self, frame: int) -> np.ndarray | None:
        item = self._frames.get(frame)
        return None if item is None else item[0]

    def is_stale(self, frame: int, revision: int) -> bool:
        item = self._frames.get(frame)
        return item is not None and item[1] != revision

    def status(self, revision: int) -> dict[int, bool]:
        """frame -> True when fresh (computed from ``revision``), False when stale."""
        return {f: r == revision for f, (_, r) in self._frames.items()}

    def frames(self) -> list[int]:
        return sorted(self._frames)

    def clear(self) -> None:
        self._frames.clear()

    def __len__(self) -> int:
        return len(self._frames)
