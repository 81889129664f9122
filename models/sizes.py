"""The one rule for the processing size: the size the networks run at.

RAFT, flow completion and the generator need sides that are multiples of 8. Like the authors'
``inference_propainter.py``, the requested size (the frame's own, an explicit size, a scale,
or a cap on the longer side) is rounded *down* to multiples of 8; the fill is resized back to
the requested size afterwards. Every caller that needs the processing size (the engine's
:meth:`models.config.ProPainterConfig.processing_size`, the job runner, the editor's memory
estimate) goes through :func:`processing_size`, so they cannot disagree.
"""

from __future__ import annotations

from .errors import InputError

#: The networks' stride: processing sides are multiples of this.
GRID = 8


def to_grid(width: int, height: int) -> tuple[int, int]:
    """(width, height) rounded down to multiples of :data:`GRID`.

    Raises:
        InputError: a side would be under :data:`GRID` pixels.
    """
    pw, ph = int(width) - int(width) % GRID, int(height) - int(height) % GRID
    if pw < GRID or ph < GRID:
        raise InputError(
            f"processing size {width}x{height} is too small: frames need at least {GRID}x{GRID} pixels after resizing"
        )
    return pw, ph


def requested_size(
    width: int,
    height: int,
    *,
    size: tuple[int, int] | None = None,
    scale: float | None = None,
    max_side: int | None = None,
) -> tuple[int, int]:
    """The size asked for a ``width`` x ``height`` frame, before rounding to the grid.

    ``size`` (w, h) replaces the frame's size; ``scale`` then multiplies both sides
    (truncated, as the authors' ``--resize_ratio``); ``max_side`` finally shrinks both sides
    in proportion so that the longer one is at most ``max_side`` (it never enlarges).
    """
    w, h = (int(size[0]), int(size[1])) if size is not None else (int(width), int(height))
    if scale is not None and scale != 1.0:
        w, h = int(scale * w), int(scale * h)
    if max_side is not None and max(w, h) > max_side:
        longest = max(w, h)
        w, h = w * int(max_side) // longest, h * int(max_side) // longest
    return w, h


def processing_size(
    width: int,
    height: int,
    *,
    size: tuple[int, int] | None = None,
    scale: float | None = None,
    max_side: int | None = None,
) -> tuple[int, int]:
    """The (w, h) the networks run at for a ``width`` x ``height`` frame: :func:`requested_size`
    rounded down to multiples of 8. With no option it is the frame's own size on the grid
    (1366x768 -> 1360x768).

    Raises:
        InputError: a side would be under 8 pixels.
    """
    return to_grid(*requested_size(width, height, size=size, scale=scale, max_side=max_side))
