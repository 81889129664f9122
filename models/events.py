"""Events yielded by every engine while it processes a clip.

An engine is anything with ``process(frames, masks, num_frames, cancel=None)`` that yields
:class:`Progress` and :class:`FramesReady` events (see :class:`Engine`). Frames come out in
order, chunk by chunk, so a caller can write or preview them while the rest runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Protocol, Union

import numpy as np


@dataclass(frozen=True)
class Progress:
    """How far a stage has got.

    ``stage`` is a short human name ("flow", "flow completion", "propagation",
    "transformer", "inpaint", ...); ``done``/``total`` count frames of the whole clip.
    ``message`` carries notes a user should see (e.g. an out-of-memory back-off).
    """

    stage: str
    done: int
    total: int
    message: str = ""


@dataclass(frozen=True)
class FramesReady:
    """Finished frames ``start .. start + len(frames) - 1``: each HxWx3 uint8 RGB."""

    start: int
    frames: list[np.ndarray] = field(repr=False)

    @property
    def stop(self) -> int:
        return self.start + len(self.frames)


Event = Union[Progress, FramesReady]
CancelCheck = Callable[[], bool]


class Engine(Protocol):
    """What the job runner drives.

    ``frames``: HxWx3 uint8 RGB arrays; ``masks``: HxW arrays, nonzero = remove/fill.
    Both iterators are consumed lazily; ``num_frames`` is their length. ``cancel`` is
    polled between chunks; when it returns True the engine raises ``models.errors.Cancelled``
    after the frames already yielded. Output frames have the input size, and outside the
    (dilated) mask they equal the input exactly.
    """

    name: str

    def process(
        self,
        frames: Iterable[np.ndarray],
        masks: Iterable[np.ndarray],
        num_frames: int,
        cancel: CancelCheck | None = None,
    ) -> Iterator[Event]: ...
