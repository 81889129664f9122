"""Events yielded by every engine while it processes a clip.

An engine takes one stream of :class:`Sample` (frame, mask, flow mask) with ``run(samples,
num_frames, cancel=None)`` and yields :class:`Progress` and :class:`FramesReady` events (see
:class:`Engine`). Frames come out in order, chunk by chunk, so a caller can write or preview
them while the rest runs. ``process(frames, masks, ...)`` is the same over separate iterables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, NamedTuple, Protocol, Union

import numpy as np


class Sample(NamedTuple):
    """One frame of the stream an engine reads.

    ``frame``: HxWx3 uint8 RGB; ``mask``: HxW, nonzero = remove/fill (None when outpainting
    through the pipeline's own canvas); ``flow_mask``: HxW, where the flow is completed, used
    as given and not dilated (an outpainting canvas border); None = derived from ``mask``.
    """

    frame: np.ndarray
    mask: np.ndarray | None
    flow_mask: np.ndarray | None = None


def samples_of(
    frames: Iterable[np.ndarray], masks: Iterable[np.ndarray] | None, flow_masks: Iterable[np.ndarray] | None = None
) -> Iterator[Sample]:
    """Zip separate iterables into one lazy stream of samples; the engines check the count
    against ``num_frames``. Raises InputError when masks or flow masks run out first."""
    from .errors import InputError

    mask_it = iter(masks) if masks is not None else None
    flow_it = iter(flow_masks) if flow_masks is not None else None
    for index, frame in enumerate(frames):
        mask = next(mask_it, None) if mask_it is not None else None
        if mask_it is not None and mask is None:
            raise InputError(f"there are only {index} masks for more frames: give one mask per frame")
        flow = next(flow_it, None) if flow_it is not None else None
        if flow_it is not None and flow is None:
            raise InputError(f"there are only {index} flow masks for more frames: give one per frame")
        yield Sample(frame, mask, flow)


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

    ``run`` reads one lazy stream of :class:`Sample` (frame HxWx3 uint8 RGB, mask HxW with
    nonzero = remove/fill, optional flow mask); ``num_frames`` is its length. ``cancel`` is
    polled between chunks; when it returns True the engine raises ``models.errors.Cancelled``
    after the frames already yielded. Output frames have the input size, and outside the
    (dilated) mask they equal the input exactly. ``process`` is ``run`` over separate
    iterables of frames and masks.
    """

    name: str

    def run(self, samples: Iterable[Sample], num_frames: int, cancel: CancelCheck | None = None) -> Iterator[Event]: ...

    def process(
        self,
        frames: Iterable[np.ndarray],
        masks: Iterable[np.ndarray],
        num_frames: int,
        cancel: CancelCheck | None = None,
    ) -> Iterator[Event]: ...
