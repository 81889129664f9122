"""Undo commands. Each changes only the document model (never a widget), one user action each."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from PySide6.QtGui import QUndoCommand

from .masks import Box, apply_stamp

# Ids let QUndoStack merge consecutive commands of one kind (mergeWith).
_RANGE_ID = 1001


class StampCommand(QUndoCommand):
    """Paint or erase one brush/rectangle stamp on one or many frames.

    Stores only the changed bounding box: the stamp once, plus each frame's old pixels in the box.
    """

    def __init__(self, doc, text: str, frames: Sequence[int], box: Box, stamp: np.ndarray, op: str):
        super().__init__(text)
        self.doc, self.frames, self.box, self.stamp, self.op = doc, list(frames), box, stamp, op
        self.before: dict[int, np.ndarray | None] | None = None

    def redo(self) -> None:
        masks = self.doc.masks
        if self.before is None:
            self.before = {f: masks.region(f, self.box) for f in self.frames}
        y0, y1, x0, x1 = self.box
        zeros = None
        for f in self.frames:
            old = self.before[f]
            if old is None:
                if zeros is None:
                    zeros = np.zeros((y1 - y0, x1 - x0), np.uint8)
                old = zeros
            masks.set_region(f, self.box, apply_stamp(old, self.stamp, self.op))
        self.doc.emit_masks_changed(self.frames)

    def undo(self) -> None:
        for f in self.frames:
            self.doc.masks.set_region(f, self.box, self.before[f])
        self.doc.emit_masks_changed(self.frames)


class SetMasksCommand(QUndoCommand):
    """Replace whole-frame masks (clear, copy a frame's mask to a range)."""

    def __init__(self, doc, text: str, new: dict[int, np.ndarray | None]):
        super().__init__(text)
        self.doc, self.new = doc, new
        self.old = {f: (doc.masks.get(f).copy() if doc.masks.has_mask(f) else None) for f in new}

    def _apply(self, values: dict[int, np.ndarray | None]) -> None:
        for f, m in values.items():
            self.doc.masks.set_mask(f, m)
        self.doc.emit_masks_changed(list(values))

    def redo(self) -> None:
        self._apply(self.new)

    def undo(self) -> None:
        self._apply(self.old)


class SetRangeCommand(QUndoCommand):
    """Move the in and/or out point; consecutive moves merge into one step."""

    def __init__(self, doc, text: str, in_point: int, out_point: int):
        super().__init__(text)
        self.doc = doc
        self.old = (doc.in_point, doc.out_point)
        self.new = (in_point, out_point)

    def id(self) -> int:
        return _RANGE_ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not isinstance(other, SetRangeCommand) or other.text() != self.text():
            return False
        self.new = other.new
        return True

    def redo(self) -> None:
        self.doc.set_range_direct(*self.new)

    def undo(self) -> None:
        self.doc.set_range_direct(*self.old)


class SetExpansionCommand(QUndoCommand):
    """Set or remove the outpainting canvas (a plan_canvas keyword dict, or None)."""

    def __init__(self, doc, expansion: dict[str, Any] | None):
        super().__init__("Expand Canvas" if expansion else "Remove Canvas Expansion")
        self.doc, self.old, self.new = doc, doc.expansion, expansion

    def redo(self) -> None:
        self.doc.set_expansion_direct(self.new)

    def undo(self) -> None:
        self.doc.set_expansion_direct(self.old)
