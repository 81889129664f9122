"""The document: one clip, its processed range, per-frame masks, canvas expansion and job
settings. Widgets are views on it; it changes only through undo commands (or loading)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Sequence

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoStack

from models.canvas import Canvas, plan_canvas

from .commands import SetExpansionCommand, SetMasksCommand, SetRangeCommand, StampCommand
from .masks import Box, MaskStore
from .objects import ObjectLayer
from .project import ProjectData

SCOPES = ("frame", "range", "all")


@dataclass(frozen=True)
class ClipInfo:
    """What the editor needs to know about a clip (a subset of the reader's VideoInfo)."""

    path: str
    width: int
    height: int
    num_frames: int
    fps: Fraction
    #: degrees the stored frames are turned to be shown (frames are given as shown)
    rotation: int = 0

    @classmethod
    def from_video_info(cls, path: str, info: Any) -> "ClipInfo":
        fps = info.fps if info.fps else Fraction(25)
        return cls(str(path), int(info.width), int(info.height), int(info.num_frames), Fraction(fps),
                   int(getattr(info, "rotation", 0) or 0))


class Document(QObject):
    """The editor's model. Every mask change bumps ``masks.revision``."""

    clipChanged = Signal()
    masksChanged = Signal(object)  # list[int] of frames that changed
    rangeChanged = Signal(int, int)
    expansionChanged = Signal()
    modifiedChanged = Signal(bool)
    objectsChanged = Signal()  # clicked objects: keyframes, flags, current object

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        self.clip: ClipInfo | None = None
        self.masks = MaskStore(0, 0, 0)
        self.objects = ObjectLayer()
        self.in_point = 0
        self.out_point = 0
        self.expansion: dict[str, Any] | None = None
        self.settings: dict[str, Any] = {}
        self.path: str | None = None  # where the project was last saved
        self._dirty = False
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)

    # ---- clip -------------------------------------------------------------------------------
    def set_clip(self, clip: ClipInfo) -> None:
        """A new clip: fresh masks, full range, empty undo history."""
        self.undo_stack.clear()
        self.clip = clip
        self.masks = MaskStore(clip.num_frames, clip.height, clip.width)
        self.objects = ObjectLayer(clip.num_frames, clip.height, clip.width)
        self.in_point, self.out_point = 0, max(0, clip.num_frames - 1)
        self.expansion = None
        self.path = None
        self._dirty = False
        self.undo_stack.setClean()
        self.clipChanged.emit()
        self.rangeChanged.emit(self.in_point, self.out_point)
        self.objectsChanged.emit()
        self.modifiedChanged.emit(False)

    @property
    def num_frames(self) -> int:
        return self.clip.num_frames if self.clip else 0

    def _on_clean_changed(self, _clean: bool) -> None:
        try:
            self.modifiedChanged.emit(self.is_modified())
        except RuntimeError:  # the undo stack is being destroyed with the window
            pass

    # ---- modified state -----------------------------------------------------------------------
    def is_modified(self) -> bool:
        return self.clip is not None and (self._dirty or not self.undo_stack.isClean())

    def mark_dirty(self) -> None:
        if not self._dirty:
            self._dirty = True
            self.modifiedChanged.emit(True)

    def mark_saved(self, path: str | None = None) -> None:
        if path is not None:
            self.path = path
        self._dirty = False
        self.undo_stack.setClean()
        self.modifiedChanged.emit(False)

    # ---- masks --------------------------------------------------------------------------------
    def emit_objects_changed(self) -> None:
        self.objectsChanged.emit()

    def emit_masks_changed(self, frames: Sequence[int]) -> None:
        self.masksChanged.emit(list(frames))

    def scope_frames(self, scope: str, current: int) -> list[int]:
        """Frames a mask edit reaches: the current frame, the in/out range, or all frames."""
        if scope == "frame":
            return [current]
        if scope == "range":
            return list(range(self.in_point, self.out_point + 1))
        if scope == "all":
            return list(range(self.num_frames))
        raise ValueError(f"unknown paint scope {scope!r}: use one of {SCOPES}")

    def paint(self, frames: Sequence[int], box: Box, stamp: np.ndarray, op: str, text: str) -> None:
        self.undo_stack.push(StampCommand(self, text, frames, box, stamp, op))

    def clear_masks(self, frames: Sequence[int], text: str = "Clear Mask") -> None:
        frames = [f for f in frames if self.masks.has_mask(f)]
        if frames:
            self.undo_stack.push(SetMasksCommand(self, text, {f: None for f in frames}))

    def copy_mask(self, source: int, frames: Sequence[int]) -> None:
        """Copy frame ``source``'s mask (or its emptiness) onto ``frames``."""
        m = self.masks.get(source)
        new = {f: (None if m is None else m.copy()) for f in frames if f != source}
        if new:
            self.undo_stack.push(SetMasksCommand(self, f"Copy Mask of Frame {source}", new))

    def set_masks(self, masks: dict[int, np.ndarray | None], text: str) -> None:
        self.undo_stack.push(SetMasksCommand(self, text, masks))

    # ---- range --------------------------------------------------------------------------------
    def set_in(self, frame: int) -> None:
        frame = int(np.clip(frame, 0, self.num_frames - 1))
        out = max(frame, self.out_point)
        if (frame, out) != (self.in_point, self.out_point):
            self.undo_stack.push(SetRangeCommand(self, "Set In Point", frame, out))

    def set_out(self, frame: int) -> None:
        frame = int(np.clip(frame, 0, self.num_frames - 1))
        inp = min(frame, self.in_point)
        if (inp, frame) != (self.in_point, self.out_point):
            self.undo_stack.push(SetRangeCommand(self, "Set Out Point", inp, frame))

    def reset_range(self) -> None:
        if (self.in_point, self.out_point) != (0, self.num_frames - 1):
            self.undo_stack.push(SetRangeCommand(self, "Clear In/Out", 0, self.num_frames - 1))

    def set_range_direct(self, in_point: int, out_point: int) -> None:
        """For undo commands only."""
        self.in_point, self.out_point = in_point, out_point
        self.rangeChanged.emit(in_point, out_point)

    # ---- canvas expansion --------------------------------------------------------------------
    def set_expansion(self, expansion: dict[str, Any] | None) -> None:
        if expansion != self.expansion:
            self.undo_stack.push(SetExpansionCommand(self, expansion))

    def set_expansion_direct(self, expansion: dict[str, Any] | None) -> None:
        self.expansion = expansion
        self.expansionChanged.emit()

    def canvas(self) -> Canvas | None:
        """The outpainting canvas, or None when the frame is not expanded."""
        if not self.expansion or self.clip is None:
            return None
        kw = dict(self.expansion)
        if "size" in kw:
            kw["size"] = tuple(kw["size"])
        return plan_canvas(self.clip.height, self.clip.width, **kw)

    # ---- settings -----------------------------------------------------------------------------
    def set_setting(self, key: str, value: Any) -> None:
        if self.settings.get(key) != value:
            self.settings[key] = value
            self.mark_dirty()

    # ---- project ------------------------------------------------------------------------------
    def to_project(self) -> ProjectData:
        assert self.clip is not None
        return ProjectData(
            clip=self.clip.path,
            num_frames=self.clip.num_frames,
            width=self.clip.width,
            height=self.clip.height,
            in_point=self.in_point,
            out_point=self.out_point,
            masks=self.masks.raw(),
            settings=dict(self.settings),
            expansion=self.expansion,
            objects=self.objects.to_saved(),
        )

    def load_project(self, clip: ClipInfo, data: ProjectData, path: str | None) -> None:
        """Replace the document with a loaded project (``clip`` opened from ``data.clip``)."""
        self.set_clip(clip)
        for f, m in data.masks.items():
            self.masks.set_mask(f, m)
        self.objects.load_saved(data.objects)
        last = clip.num_frames - 1
        self.in_point = int(np.clip(data.in_point, 0, last))
        self.out_point = int(np.clip(last if data.out_point is None else data.out_point, self.in_point, last))
        self.expansion = data.expansion
        from editor.engine_settings import migrate_settings

        self.settings = migrate_settings(data.settings)  # an older project's fp16 -> precision
        self.path = path
        self._dirty = path is None  # a recovered project has not been saved by the user
        self.masksChanged.emit(list(data.masks))
        self.rangeChanged.emit(self.in_point, self.out_point)
        self.expansionChanged.emit()
        self.objectsChanged.emit()
        self.modifiedChanged.emit(self.is_modified())
