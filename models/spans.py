"""Frame numbers as spans, for messages and manifests: [1, 2, 3, 7] -> (1, 4), (7, 8) ->
"2-4, 8" as a person reads them. No Qt, no files."""

from __future__ import annotations

from collections.abc import Iterable


def spans(frames: Iterable[int]) -> list[tuple[int, int]]:
    """Frame numbers as sorted (start, stop) spans, stop exclusive: [1, 2, 3, 7] -> [(1, 4), (7, 8)]."""
    out: list[tuple[int, int]] = []
    for f in sorted(frames):
        if out and out[-1][1] == f:
            out[-1] = (out[-1][0], f + 1)
        elif not out or f >= out[-1][1]:
            out.append((f, f + 1))
    return out


def describe(frames: Iterable[int], *, offset: int = 0, limit: int | None = None) -> str:
    """'3-7, 12, 20-21'; ``offset`` is added to every number (1 for 0-based indices shown as
    the timeline labels them); past ``limit`` spans, '... and N more'."""
    parts = [f"{a + offset}" if b - a == 1 else f"{a + offset}-{b - 1 + offset}" for a, b in spans(frames)]
    if limit is not None and len(parts) > limit:
        return ", ".join(parts[:limit]) + f" and {len(parts) - limit} more"
    return ", ".join(parts)
