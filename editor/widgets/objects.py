"""Removing objects by clicking (a mixin of MainWindow): the click tool, SAM's candidates,
keyframes, and propagation of an object's mask through the clip in the background.

- Click tool (C): left click = include, right click or Alt+click = exclude, left drag = box.
  Each click asks SAM (on its own thread) for a mask; the candidate shows in cyan. Tab cycles
  SAM's candidates, Enter accepts the shown one as the current object's keyframe on this
  frame, Escape drops the clicks. N starts a new object; Shift+K makes the painted mask of this
  frame the current object's keyframe (corrections with the brush).
- Propagate ←/→/both (Ctrl+Left, Ctrl+Right, Ctrl+P) runs from the current keyframe to the
  neighbouring keyframes (within the in/out range) on a worker thread with progress and
  Cancel; the whole run is one undo step. The tracker (Objects > Tracker: automatic, SAM 2,
  SAM + motion, motion only) never stops on a hard frame: it carries its best estimate on and
  flags the frame "needs review" (amber on the timeline; Ctrl+Shift+Right / Ctrl+Shift+Left go
  to the next / previous one). A keyframe set on a flagged frame propagates again from there
  at once. Before a run, frames of the range that need review or have no mask are named
  (Run Anyway / Review First).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtGui import QActionGroup

from editor.document.objects import ObjectCommand, RemoveObjectCommand, keyframe_update
from editor.tracking import TRACKERS, frame_spans
from editor.jobs.sam_worker import ClickRequest, EmbedRequest, SamWorker
from editor.jobs.worker import start_thread
from models.events import Progress

DIRECTIONS = {"forward": "Forward", "backward": "Backward", "both": "Both Ways"}
#: Objects > Tracker, by the ``--tracker`` names of the command line.
TRACKER_LABELS = {
    "auto": "Automatic (best weights found)",
    "sam2": "SAM 2 Video Tracking",
    "sam": "Motion Tracker Refined by SAM",
    "flow": "Motion Tracker Only (no SAM)",
}
PREFETCH = 2  # frames each side of the playhead SAM encodes while idle


def sam1_only(predictor: Any) -> Any:
    """The click predictor as the motion tracker's refiner only when it is SAM: with SAM 2's
    image mode the choice "SAM + motion" would not be what it says (SAM 2 tracks by itself)."""
    return predictor if getattr(predictor, "kind", "sam") == "sam" else None


@dataclass
class ClickState:
    """The click tool's work on one frame, before Enter accepts it."""

    index: int = -1
    points: list = field(default_factory=list)  # [(x, y)]
    labels: list = field(default_factory=list)
    box: tuple | None = None
    prediction: Any = None
    candidate: int = 0
    serial: int = 0  # of the request whose answer is awaited

    def mask(self) -> np.ndarray | None:
        if self.prediction is None:
            return None
        return self.prediction.masks[self.candidate]


class ObjectsMixin:
    # ---- setup --------------------------------------------------------------------------------
    def init_objects(self) -> None:
        self.sam_factory = self._default_sam_factory
        self.sam: SamWorker | None = None
        self.sam_thread = None
        self.clicks = ClickState()
        self._serial = 0
        self._propagating = False
        self._tracker_parts: dict = {}  # loaded SAM 2 / RAFT networks, reused by later runs
        self.canvas.clicked.connect(self.add_click)
        self.canvas.boxDrawn.connect(self.set_box)
        self.canvas.escapePressed.connect(self.clear_clicks)
        self.doc.objectsChanged.connect(self._on_objects_changed)
        self.doc.clipChanged.connect(self.clear_clicks)
        self._on_objects_changed()
        self.frameShown.connect(self._on_object_frame_shown)

    def _default_sam_factory(self):
        """What the click tool decodes with, from the settings (``sam/model``, ``sam/checkpoint``,
        ``sam2/model``, ``sam2/checkpoint``) or the downloaded weights: SAM, or SAM 2's image
        mode when only SAM 2 is there (first when SAM 2 tracks); its network is the tracker's."""
        from editor.tracking import load_click_predictor

        return load_click_predictor(
            prefer=self._click_kind(),
            sam_checkpoint=self.settings.value("sam/checkpoint") or None,
            sam_model=str(self.settings.value("sam/model", "vit_b")),
            sam2_model=str(self.settings.value("sam2/model", "sam2.1_hiera_tiny")),
            sam2_checkpoint=self.settings.value("sam2/checkpoint") or None,
            device=str(self.settings.value("sam/device", "auto")), cache=self._tracker_parts)

    def ensure_sam(self) -> SamWorker:
        if self.sam is None:
            self.sam = SamWorker(self.sam_factory)
            self.sam.predicted.connect(self._on_predicted)
            self.sam.failed.connect(self._on_sam_failed)
            self.sam.missing.connect(self._on_sam_missing)
            self.sam.busy.connect(lambda text: self.statusBar().showMessage(text))
            self.sam_thread = start_thread(self.sam, "sam")
        return self.sam

    def stop_sam(self) -> None:
        if self.sam is not None:
            self.sam.stop()
            self.sam_thread.wait(30000)
            self.sam = self.sam_thread = None

    # ---- clicks -------------------------------------------------------------------------------
    def _clip_id(self) -> str:
        return self.doc.clip.path

    def _frame_for_sam(self) -> np.ndarray | None:
        if self.cache is None or self._shown != self.current:
            return None
        return self.cache.get(self.current)

    def add_click(self, x: float, y: float, label: int) -> None:
        """A click of the click tool at source pixel (x, y); label 1 = include, 0 = exclude."""
        if self.clicks.index != self.current:
            self.clicks = ClickState(index=self.current)
        self.clicks.points.append((float(x), float(y)))
        self.clicks.labels.append(int(label))
        self._request_mask()

    def set_box(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """A box drawn with the click tool: SAM segments the object inside it."""
        if self.clicks.index != self.current:
            self.clicks = ClickState(index=self.current)
        self.clicks.box = (float(x0), float(y0), float(x1), float(y1))
        self._request_mask()

    def _request_mask(self) -> None:
        c = self.clicks
        self.canvas.set_prompts(c.points, c.labels, c.box)
        if self._propagating:
            self.statusBar().showMessage("Wait for the propagation to finish (or cancel it) before clicking.", 5000)
            return
        frame = self._frame_for_sam()
        if frame is None:
            self.statusBar().showMessage("The frame is still decoding; click again in a moment.", 3000)
            return
        self._serial += 1
        c.serial = self._serial
        # several clicks refine the previous answer (SAM's iterative prompting)
        refine = c.prediction.low_res_logits[c.candidate][None] if c.prediction is not None and len(c.points) > 1 else None
        self.ensure_sam().submit(ClickRequest(
            c.serial, self._clip_id(), self.current, frame,
            np.array(c.points, np.float64).reshape(-1, 2) if c.points else None,
            np.array(c.labels, np.int64) if c.points else None,
            None if c.box is None else np.array(c.box, np.float64), refine,
        ))
        self.statusBar().showMessage("Segmenting…")

    def _on_predicted(self, serial: int, prediction) -> None:
        c = self.clicks
        if serial != c.serial or c.index != self.current:
            return  # an answer to clicks the user has since replaced
        c.prediction, c.candidate = prediction, int(prediction.best)
        self._show_candidate()

    def _show_candidate(self) -> None:
        c = self.clicks
        mask = c.mask()
        self.canvas.set_preview(mask)
        if mask is None:
            return
        if not mask.any():
            self.statusBar().showMessage("SAM found nothing there: click on the object itself, or drag a box around it.")
            return
        n = len(c.prediction)
        which = f"candidate {c.candidate + 1}/{n}, " if n > 1 else ""
        more = "Tab: next candidate, " if n > 1 else ""
        self.statusBar().showMessage(
            f"Object {self._target_object()}: {which}score {c.prediction.scores[c.candidate]:.2f} — "
            f"Enter: accept as keyframe, {more}Esc: clear, right click: exclude")

    def next_candidate(self) -> None:
        c = self.clicks
        if c.prediction is not None and len(c.prediction) > 1:
            c.candidate = (c.candidate + 1) % len(c.prediction)
            self._show_candidate()

    def clear_clicks(self) -> bool:
        """Drop the pending clicks; False when there were none."""
        had = bool(self.clicks.points or self.clicks.box is not None or self.clicks.prediction is not None)
        self.clicks = ClickState()
        self.canvas.set_preview(None)
        self.canvas.set_prompts([], [], None)
        return had

    def _on_sam_failed(self, message: str) -> None:
        self.statusBar().clearMessage()
        self.show_error("Click to mask", message)

    def _on_sam_missing(self, message: str) -> None:
        """No SAM or SAM 2 weights: offer to download them (the click is kept; click again after).
        SAM's when SAM tracks or the tracker is automatic, SAM 2's when SAM 2 tracks."""
        from PySide6.QtWidgets import QMessageBox

        self.statusBar().clearMessage()
        if self._click_kind() == "sam2":
            from models.segmentation.sam2_weights import sam2_release

            name = str(self.settings.value("sam2/model", "sam2.1_hiera_tiny"))
            what = (f"the SAM 2 {name} weights (SAM 2.1, Apache-2.0; about "
                    f"{sam2_release(name).size / 1e6:.0f} MB), which also track the object")
        else:
            model = str(self.settings.value("sam/model", "vit_b"))
            name = f"sam_{model}"
            what = f"the SAM {model} weights (Segment Anything, Apache-2.0; vit_b is about 375 MB)"
        answer = QMessageBox.question(
            self, "Click to mask",
            f"Clicking objects needs {what}. Download them now?\n\nWithout them, paint the mask with "
            f"the brush: painted keyframes still propagate by optical flow.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes)
        if answer == QMessageBox.StandardButton.Yes:
            self.download_weights(name)

    def download_sam(self, model: str = "vit_b") -> bool:
        """Download the SAM checkpoint ``model`` in the background; the next click loads it."""
        return self.download_weights(f"sam_{model}")

    def download_weights(self, name: str) -> bool:
        """Download the registered checkpoint ``name`` (SAM's ``sam_vit_b``, SAM 2's
        ``sam2.1_hiera_tiny``, ...) in the background; the next click or run loads it."""
        label = "SAM 2" if name.startswith("sam2") else "SAM"

        def fetch(report, cancelled):
            import models.segmentation  # noqa: F401 - registers the SAM and SAM 2 checkpoints
            from models.weights import download_missing

            download_missing(names=[name], cancel=cancelled,
                             progress=lambda item, done, total: report(done, total or 0, item))
            return True

        def done(_result) -> None:
            if self.sam is not None:
                self.sam.reload()
            self.statusBar().showMessage(f"{label} weights downloaded: click the object again.", 8000)

        return self.start_task(f"Downloading {label}", fetch, done, f"Cannot download the {label} weights")

    def _on_object_frame_shown(self, frame: int) -> None:
        if self.clicks.index not in (-1, frame):
            self.clear_clicks()
        if self.canvas.tool == "click" and self.sam is not None and self.cache is not None:
            near = [frame + d for d in (1, -1, 2, -2)[: 2 * PREFETCH] if 0 <= frame + d < self.doc.num_frames]
            frames = [(i, self.cache.get(i)) for i in [frame] + near]
            frames = [(i, f) for i, f in frames if f is not None]
            if frames:
                self.sam.submit(EmbedRequest(self._clip_id(), frames))

    # ---- objects and keyframes ----------------------------------------------------------------
    def _target_object(self) -> int:
        layer = self.doc.objects
        return layer.current if layer.current is not None else layer.new_id()

    def new_object(self) -> None:
        """The next accepted mask starts a new object."""
        if self.doc.clip is not None:
            self.doc.objects.current = None
            self.clear_clicks()
            self._on_objects_changed()
            self.statusBar().showMessage(f"New object {self.doc.objects.new_id()}: click it and press Enter.", 5000)

    def select_object(self, track_id: int | None) -> None:
        """New clicks, K and propagation go to object ``track_id`` (None: a new object)."""
        if track_id is not None and self.doc.objects.track(track_id) is None:
            return
        self.doc.objects.current = track_id
        self.clear_clicks()
        self._on_objects_changed()

    def delete_object(self) -> bool:
        """Delete the current object and its pixels from the masks (one undo step)."""
        tid = self.doc.objects.current
        if tid is None or self.doc.objects.track(tid) is None or self._propagating:
            self.statusBar().showMessage("Pick an object to delete first (Objects > Current Object).", 4000)
            return False
        self.doc.undo_stack.push(RemoveObjectCommand(self.doc, tid))
        return True

    def accept_candidate(self) -> bool:
        """Enter: the shown candidate becomes the current object's keyframe on this frame."""
        mask = self.clicks.mask()
        if mask is None or not mask.any() or self.clicks.index != self.current:
            self.statusBar().showMessage("Nothing to accept: click the object first (click tool, C).", 4000)
            return False
        ok = self._set_keyframe(mask)
        if ok:
            self.clear_clicks()
        return ok

    def keyframe_from_mask(self) -> bool:
        """K: the painted mask of this frame becomes the current object's keyframe."""
        if self.doc.clip is None:
            return False
        mask = self.doc.masks.get(self.current)
        if mask is None:
            self.show_error("Make keyframe", f"frame {self.current + 1} has no mask: paint or click the object first")
            return False
        return self._set_keyframe(mask > 0)

    def _set_keyframe(self, mask: np.ndarray, then: bool = True) -> bool:
        """``mask`` becomes the current (or a new) object's keyframe here, one undo step.
        ``then``: say what comes next, and track a corrected review frame again."""
        if self._propagating:
            self.statusBar().showMessage("Wait for the propagation to finish (or cancel it).", 4000)
            return False
        layer, tid = self.doc.objects, self._target_object()
        update = keyframe_update(layer, tid, self.current, mask)
        create = layer.track(tid) is None
        flagged = not create and self.current in layer.track(tid).flags
        self.doc.undo_stack.push(ObjectCommand(self.doc, f"Object {tid} Keyframe on Frame {self.current + 1}",
                                               update, keyframe=self.current, create=create))
        if not then:
            return True
        if flagged:
            # A correction of a frame that needed review: the frames around it were estimated
            # from the same wrong track, so they are tracked again from the correction.
            self.propagate("both")
            return True
        self.statusBar().showMessage(
            f"Object {tid} has a keyframe on frame {self.current + 1}: propagate it with Ctrl+P "
            f"(both ways), Ctrl+Right or Ctrl+Left.", 8000)
        return True

    def _on_objects_changed(self) -> None:
        layer = self.doc.objects
        self.timeline.set_objects(layer.keyframes(), layer.flags(), layer.confidence())
        cur = layer.current
        self.lbl_object.setText(f"Object {cur} of {len(layer)}" if cur is not None else
                                (f"New object ({len(layer)} so far)" if len(layer) else "No objects"))
        menu = self.object_menu
        menu.clear()
        group = QActionGroup(menu)
        for tid in layer.ids() + [None]:
            if tid is None:
                text = "New Object"
            else:
                keys = ", ".join(str(k + 1) for k in layer.track(tid).keyframes)
                text = f"Object {tid}" + (f" (keyframes {keys})" if keys else "")
            a = menu.addAction(text)
            a.setCheckable(True)
            a.setChecked(tid == cur)
            group.addAction(a)
            a.triggered.connect(lambda _=False, t=tid: self.select_object(t))
        self.act_delete_object.setEnabled(cur is not None)

    # ---- tracker and frames to review ----------------------------------------------------------
    def tracker_name(self) -> str:
        """The chosen tracker (setting ``tracking/tracker``): one of ``TRACKERS``."""
        name = str(self.settings.value("tracking/tracker", "auto"))
        return name if name in TRACKERS else "auto"

    def _click_kind(self) -> str:
        """Which network answers clicks first: SAM 2 when it tracks, SAM otherwise."""
        return "sam2" if self.tracker_name() == "sam2" else "sam"

    def set_tracker(self, name: str) -> None:
        if name not in TRACKERS:
            raise ValueError(f"unknown tracker {name!r}")
        self.settings.setValue("tracking/tracker", name)
        if self.sam is not None and self.sam.loaded_kind() not in (None, self._click_kind()):
            self.sam.reload()  # the click tool follows the tracker
        for key, action in self.tracker_actions.items():
            action.setChecked(key == name)
        self.statusBar().showMessage(f"Propagation uses: {TRACKER_LABELS[name]}.", 5000)

    def build_tracker_menu(self, menu) -> None:
        """Objects > Tracker: one checkable entry per tracker."""
        group = QActionGroup(menu)
        self.tracker_actions = {}
        for name, text in TRACKER_LABELS.items():
            a = menu.addAction(text)
            a.setCheckable(True)
            a.setChecked(name == self.tracker_name())
            a.triggered.connect(lambda _=False, n=name: self.set_tracker(n))
            group.addAction(a)
            self.tracker_actions[name] = a

    def _resolve_tracker(self, sam: SamWorker):
        """The chosen tracker with its networks (on the propagation's worker thread); SAM 2 and
        RAFT are loaded once and kept for the next runs. A missing SAM 2 checkpoint for a SAM 2
        choice is a :class:`WeightsError` naming the download."""
        from editor.tracking import load_tracker

        return load_tracker(
            self.tracker_name(), device=str(self.settings.value("sam/device", "auto")),
            sam2_model=str(self.settings.value("sam2/model", "sam2.1_hiera_tiny")),
            sam2_checkpoint=self.settings.value("sam2/checkpoint") or None,
            sam_predictor=lambda: sam1_only(sam.predictor()), cache=self._tracker_parts)

    def flagged_frames(self) -> list[int]:
        """Frames where some object's mask needs review, in order."""
        return sorted(self.doc.objects.flags())

    def goto_flagged(self, step: int) -> bool:
        """Go to the next (``step`` 1) or previous (-1) frame that needs review."""
        if self.doc.clip is None:
            return False
        frames = self.flagged_frames()
        ahead = [f for f in frames if f > self.current] if step > 0 else [f for f in frames if f < self.current][::-1]
        if not ahead:
            where = "after" if step > 0 else "before"
            self.statusBar().showMessage(
                f"No frame {where} this one needs review ({len(frames)} in the clip)." if frames else
                "No frame needs review.", 4000)
            return False
        self.seek(ahead[0])
        reason = self.doc.objects.flags()[ahead[0]]
        self.statusBar().showMessage(
            f"Frame {ahead[0] + 1} needs review ({frames.index(ahead[0]) + 1} of {len(frames)}): {reason}. "
            f"Correct the mask and press Shift+K (or click and Enter) to track again from here.", 15000)
        return True

    def review_before_run(self) -> bool:
        """Before a run: name the frames of the in/out range that need review or (with clicked
        objects) have no mask; True to run. "Review First" goes to the first of them."""
        from editor.widgets import dialogs

        lo, hi = self.doc.in_point, self.doc.out_point
        flagged = [f for f in self.flagged_frames() if lo <= f <= hi]
        unmasked = []
        if len(self.doc.objects) and self.doc.expansion is None:
            unmasked = [f for f in range(lo, hi + 1) if not self.doc.masks.has_mask(f)]
        if not flagged and not unmasked:
            return True
        lines = []
        if flagged:
            lines.append(f"• {len(flagged)} frame(s) need review: the tracker's masks there are estimates "
                         f"(frames {frame_spans([f + 1 for f in flagged])}).")
        if unmasked:
            lines.append(f"• {len(unmasked)} frame(s) have no mask, so nothing is removed there "
                         f"(frames {frame_spans([f + 1 for f in unmasked])}).")
        text = (f"Before inpainting frames {lo + 1}-{hi + 1}:\n\n" + "\n".join(lines) +
                "\n\nRun anyway, or review these frames first?")
        if dialogs.ask_choice(self, "Frames to review", text, "Run Anyway", "Review First"):
            return True
        first = min(flagged + unmasked)
        self.seek(first)
        hint = " Ctrl+Shift+Right goes to the next frame that needs review." if flagged else ""
        self.statusBar().showMessage(f"Frame {first + 1}: check its mask, then run again.{hint}", 15000)
        return False

    # ---- propagation --------------------------------------------------------------------------
    def propagate(self, directions: str = "both") -> bool:
        """Propagate the current object from the keyframe on this frame, in the background."""
        if self.doc.clip is None:
            return False
        layer = self.doc.objects
        tid = layer.current
        track = layer.track(tid) if tid is not None else None
        frame = self.current
        painted = self.doc.masks.get(frame)
        painted = painted if painted is not None and painted.any() else None
        # A painted frame is a keyframe (no SAM needed): of a new object when there is none, of
        # the object when it is the only one (with several, which one is the user's to say).
        alone = len(layer) == 0 if track is None else (len(layer) == 1 and frame not in track.keyframes)
        if painted is not None and alone:
            if not self._set_keyframe(painted > 0, then=False):
                return False
            tid = layer.current
            track = layer.track(tid)
            self.statusBar().showMessage(f"Frame {frame + 1}'s mask is object {tid}'s keyframe: propagating it.", 8000)
        if track is None:
            self.show_error("Propagate", "there is no object to propagate: paint its mask on this frame (brush, B) "
                                         "or click it (C, then Enter), then press Ctrl+P")
            return False
        if frame not in track.keyframes:
            keys = ", ".join(str(k + 1) for k in track.keyframes)
            self.show_error("Propagate", f"frame {frame + 1} is not a keyframe of object {tid}: go to one of its "
                                         f"keyframes ({keys}; Alt+Left/Right), or paint this frame's mask and press "
                                         "Shift+K (or click and Enter) to make it one")
            return False
        path, frame_range = self.doc.clip.path, (self.doc.in_point, self.doc.out_point + 1)
        sam = self.ensure_sam()
        track = track.copy()  # the worker reads a snapshot; the document changes only through undo

        def work(report, cancelled):
            from editor.media import open_video
            from editor.tracking import propagate

            report(0, 0, "Loading the tracker…")
            choice = self._resolve_tracker(sam)
            with open_video(path) as reader:
                update = None
                events = propagate(track, frame, reader, tracker=choice, directions=directions,
                                   frame_range=frame_range, cancel=cancelled, clip_id=path)
                for event in events:
                    if isinstance(event, Progress):
                        report(event.done, event.total, event.message)
                    update = event
            return update, choice.name

        def done(result) -> None:
            update, tracker = result
            self._propagating = False
            text = f"Propagate Object {tid} {DIRECTIONS[directions]} from Frame {frame + 1}"
            if update.after or update.flags_after:
                self.doc.undo_stack.push(ObjectCommand(self.doc, text, update))
            msg = f"Object {tid}: {len(update.after)} frames propagated"
            msg += " with SAM 2." if tracker == "sam2" else "."
            flagged = sorted(update.flagged)
            if flagged:
                msg += (f" {len(flagged)} frame(s) need review (frames {frame_spans([f + 1 for f in flagged])}): "
                        f"their masks are estimates — Ctrl+Shift+Right goes to the next one; a keyframe there "
                        f"tracks again from it.")
            else:
                msg += " No frame needs review."
            if update.flow_only:
                from models.segmentation import FLOW_ONLY_NOTE

                msg += " " + FLOW_ONLY_NOTE
            self.statusBar().showMessage(msg, 20000)

        self.clear_clicks()
        if not self.start_task("Propagating", work, done, "Propagation failed"):
            return False
        self._propagating = True
        self.task.finished.connect(self._on_propagation_finished)
        return True

    def _on_propagation_finished(self, cancelled: bool) -> None:
        self._propagating = False
        if cancelled:
            self.statusBar().showMessage("Propagation cancelled: the masks were not changed.", 5000)
