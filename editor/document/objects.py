"""Objects the user clicked (SAM) and their masks over the clip, inside the document.

Each object is a :class:`models.segmentation.MaskTrack` (keyframes the user set, frames
propagated from them, frames where propagation stopped). The removal mask the engine uses
stays the document's :class:`MaskStore`: an object's change on a frame removes the object's
old pixels from that frame's mask and adds its new ones, so brush work elsewhere on the
frame is kept. Every change is one undo step (:class:`ObjectCommand`). No widgets here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtGui import QUndoCommand

from models.segmentation import MaskTrack, TrackSet, TrackUpdate

from .project import SavedObject


class ObjectLayer:
    """The clicked objects of one clip and which one new clicks go to (``current``)."""

    def __init__(self, num_frames: int = 0, height: int = 0, width: int = 0) -> None:
        self.tracks = TrackSet(max(1, num_frames), (max(1, height), max(1, width)))
        self.current: int | None = None

    def __len__(self) -> int:
        return len(self.tracks)

    def ids(self) -> list[int]:
        return sorted(self.tracks.tracks)

    def track(self, track_id: int):
        return self.tracks.tracks.get(track_id)

    def new_id(self) -> int:
        ids = self.ids()
        return ids[-1] + 1 if ids else 1

    def keyframes(self) -> list[int]:
        """Frames that are a keyframe of any object (timeline ticks)."""
        return sorted({k for t in self.tracks.tracks.values() for k in t.keyframes})

    def flags(self) -> dict[int, str]:
        """Frame -> why propagation stopped there, over every object (timeline ticks)."""
        return {f: "; ".join(reasons) for f, reasons in self.tracks.flags().items()}

    def confidence(self) -> dict[int, float]:
        """Frame -> how far the tracker trusts the masks there, lowest over every object, in
        [0, 1] (the timeline's confidence strip; frames tracked in this session)."""
        return self.tracks.confidence()

    def to_saved(self) -> list[SavedObject]:
        out = []
        for tid in self.ids():
            t = self.tracks.tracks[tid]
            out.append(SavedObject(tid, {f: t.mask(f) for f in t.frames_with_masks()}, t.keyframes, t.flags, t.trust))
        return out

    def load_saved(self, saved: list[SavedObject]) -> None:
        for obj in saved:
            track = self.tracks.add(obj.track_id)
            track.apply(TrackUpdate(obj.track_id, -1, {}, {f: m > 0 for f, m in obj.masks.items()},
                                    {}, dict(obj.flags), trust_after=dict(obj.trust)))
            for k in obj.keyframes:
                if track.mask(k) is not None:
                    track.mark_keyframe(k)
        ids = self.ids()
        self.current = ids[-1] if ids else None


def merge_into(removal: np.ndarray | None, old: np.ndarray | None, new: np.ndarray | None,
               shape: tuple[int, int], others: np.ndarray | None = None) -> np.ndarray | None:
    """A frame's removal mask after its object mask went from ``old`` to ``new`` (bool or None);
    ``others``: the other objects' pixels on that frame, which stay masked."""
    out = np.zeros(shape, np.uint8) if removal is None else removal.copy()
    if old is not None:
        out[old] = 0
    if others is not None:
        out[others > 0] = 255
    if new is not None:
        out[new] = 255
    return out if out.any() else None


class ObjectCommand(QUndoCommand):
    """One change of one object (a keyframe set, or a propagation run): the object's masks,
    keyframes and flags, and the removal masks of the frames it touched, as one undo step.

    ``update``: the object's :class:`TrackUpdate` (not yet applied); ``keyframe``: the frame
    that becomes a keyframe, or None; ``create``: the object is new and is removed on undo.
    """

    def __init__(self, doc: Any, text: str, update: TrackUpdate, keyframe: int | None = None, create: bool = False):
        super().__init__(text)
        self.doc, self.update, self.keyframe, self.create = doc, update, keyframe, create
        layer, store = doc.objects, doc.masks
        shape = (store.height, store.width)
        track = layer.track(update.track_id)
        self.was_keyframe = track is not None and keyframe in track.keyframes
        self.previous_current = layer.current
        self.masks_before = {f: (store.get(f).copy() if store.has_mask(f) else None) for f in update.after}
        self.masks_after = {f: merge_into(store.get(f), update.before.get(f), update.after[f], shape,
                                          layer.tracks.merged(f, exclude=update.track_id))
                            for f in update.after}

    def redo(self) -> None:
        layer = self.doc.objects
        track = layer.track(self.update.track_id)
        if track is None:
            track = layer.tracks.add(self.update.track_id)
        track.apply(self.update)
        if self.keyframe is not None:
            track.mark_keyframe(self.keyframe)
        layer.current = self.update.track_id
        for f, m in self.masks_after.items():
            self.doc.masks.set_mask(f, m)
        self.doc.emit_objects_changed()
        self.doc.emit_masks_changed(self.update.changed_frames)

    def undo(self) -> None:
        layer = self.doc.objects
        track = layer.track(self.update.track_id)
        track.revert(self.update)
        if self.keyframe is not None and not self.was_keyframe:
            track.remove_keyframe(self.keyframe)
        if self.create:
            layer.tracks.remove(self.update.track_id)
        layer.current = self.previous_current
        for f, m in self.masks_before.items():
            self.doc.masks.set_mask(f, m)
        self.doc.emit_objects_changed()
        self.doc.emit_masks_changed(self.update.changed_frames)


def keyframe_update(layer: ObjectLayer, track_id: int, frame: int, mask: np.ndarray) -> TrackUpdate:
    """The change that makes ``mask`` (HxW, nonzero = object) object ``track_id``'s keyframe on
    ``frame`` (not applied: push it with :class:`ObjectCommand`); the object may be new."""
    track = layer.track(track_id) or MaskTrack(layer.tracks.num_frames, layer.tracks.size, track_id)
    return track.keyframe_update(frame, mask)


class RemoveObjectCommand(QUndoCommand):
    """Delete object ``track_id``: its pixels leave the removal masks (other objects' stay)."""

    def __init__(self, doc: Any, track_id: int):
        super().__init__(f"Delete Object {track_id}")
        self.doc, self.track_id = doc, track_id
        layer, store = doc.objects, doc.masks
        self.track = layer.track(track_id)
        self.previous_current = layer.current
        shape = (store.height, store.width)
        frames = self.track.frames_with_masks()
        self.masks_before = {f: (store.get(f).copy() if store.has_mask(f) else None) for f in frames}
        self.masks_after = {f: merge_into(store.get(f), self.track.mask(f), None, shape,
                                          layer.tracks.merged(f, exclude=track_id)) for f in frames}

    def _apply(self, masks: dict[int, np.ndarray | None]) -> None:
        for f, m in masks.items():
            self.doc.masks.set_mask(f, m)
        self.doc.emit_objects_changed()
        self.doc.emit_masks_changed(sorted(masks))

    def redo(self) -> None:
        layer = self.doc.objects
        layer.tracks.remove(self.track_id)
        layer.current = None if layer.current == self.track_id else layer.current
        self._apply(self.masks_after)

    def undo(self) -> None:
        layer = self.doc.objects
        layer.tracks.tracks[self.track_id] = self.track
        layer.current = self.previous_current
        self._apply(self.masks_before)
