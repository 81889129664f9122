"""File, project and run handling of the main window (a mixin of MainWindow; autosave and
recovery are in :mod:`editor.widgets.recovery`, export in :mod:`editor.widgets.exporting`).

Everything slow runs on a worker thread: decoding (FrameCache), the sample clip, runs, export,
downloads. Errors a user can cause arrive as one sentence and are shown with ``show_error``.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QFileDialog, QMessageBox

from editor.document.job_settings import RunSnapshot, engine_name, make_job, run_key, settings_of, weights_present
from editor.document.results import ResultFolder, RunInfo, new_result_id
from editor.document.model import ClipInfo
from editor.document.project import SUFFIX, load_project, save_project
from editor.jobs.worker import JobWorker, TaskWorker, running_threads, start_thread
from editor.widgets.exporting import ExportMixin
from editor.widgets.recovery import RecoveryMixin, app_home
from models.errors import ProPainterError

VIDEO_FILTER = "Videos (*.mp4 *.mov *.mkv *.webm *.avi *.m4v);;All files (*)"
PROJECT_FILTER = f"Projects (*{SUFFIX})"
MAX_RECENT = 10
Yes, No = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
Save, Discard, CancelBtn = (QMessageBox.StandardButton.Save, QMessageBox.StandardButton.Discard,
                            QMessageBox.StandardButton.Cancel)


class SessionMixin(RecoveryMixin, ExportMixin):
    # ---- setup --------------------------------------------------------------------------------
    def init_session(self) -> None:
        self.worker: JobWorker | None = None
        self.worker_thread = None
        self.task: TaskWorker | None = None
        self.task_thread = None
        self._close_when_idle = False
        self._run_started = 0.0
        self._run_error: str | None = None
        self._export_after_run = None  # export settings to start once the run finishes
        self._result_kept = False  # the result folder is referenced by a saved project
        self.last_run_result = None
        self.autosave_timer = QTimer(self)
        self.autosave_timer.timeout.connect(self.autosave)
        self.autosave_timer.start(int(self.settings.value("autosave_ms", 30000)))
        self.task_cancel.clicked.connect(self.cancel_task)
        self._rebuild_recent()

    def show_error(self, title: str, message: str) -> None:
        from editor.widgets.gui_text import for_window

        message = for_window(message)  # menu items, not the CLI's commands
        QMessageBox.critical(self, title, message[:1].upper() + message[1:])

    # ---- recent files -------------------------------------------------------------------------
    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _add_recent(self, path: str) -> None:
        items = [p for p in self.recent_files() if p != path]
        self.settings.setValue("recent", [path] + items[: MAX_RECENT - 1])
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.recent_files():
            a = self.recent_menu.addAction(Path(p).name)
            a.setToolTip(p)
            a.triggered.connect(lambda _=False, path=p: self.open_path(path))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    # ---- opening ------------------------------------------------------------------------------
    def open_clip_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open Clip", str(self.settings.value("last_dir", "")), VIDEO_FILTER)
        if path:
            self.open_path(path)

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open Project", str(self.settings.value("last_dir", "")), PROJECT_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str) -> bool:
        """Open a clip, a frame folder or a project, after asking about unsaved changes."""
        if not self.confirm_discard():
            return False
        if str(path).endswith(SUFFIX):
            return self.open_project(path)
        return self.open_clip(path)

    def _open_reader_info(self, path: str) -> ClipInfo:
        from editor.media import open_video

        with open_video(path) as reader:
            return ClipInfo.from_video_info(str(path), reader.info)

    def open_clip(self, path: str, masks: dict | None = None) -> bool:
        if self.is_running():
            self.show_error("Open", "a run is in progress: cancel it before opening another clip")
            return False
        try:
            clip = self._open_reader_info(path)
        except ProPainterError as exc:
            self.show_error("Cannot open the clip", str(exc))
            return False
        self._set_cache(clip)
        self.doc.set_clip(clip)
        if masks:
            for f, m in masks.items():
                self.doc.masks.set_mask(f, m)
            self.doc.masksChanged.emit(list(masks))
        self._add_recent(str(path))
        self.settings.setValue("last_dir", str(Path(path).parent))
        return True

    def _set_cache(self, clip: ClipInfo) -> None:
        """Start decoding ``clip`` on threads: frames for the canvas, thumbnails for the timeline."""
        from editor.media import open_video
        from editor.widgets.frame_cache import FrameCache
        from editor.widgets.thumbnails import ThumbnailLoader

        self._close_decoders()
        self.cache = FrameCache(lambda p=clip.path: open_video(p), clip.num_frames, clip.width * clip.height * 3)
        self.cache.frameReady.connect(self._on_frame_ready)
        self.cache.failed.connect(self._on_decode_failed)
        self.thumbs = ThumbnailLoader(lambda p=clip.path: open_video(p), self.timeline.THUMB_HEIGHT)
        self.thumbs.thumbnailReady.connect(self.timeline.set_thumbnail)

    def _close_decoders(self) -> None:
        """Stop the open clip's decoding threads (nothing they made arrives afterwards)."""
        if self.cache is not None:
            self.cache.close()
            self.cache = None
        if self.thumbs is not None:
            self.thumbs.close()
            self.thumbs = None

    def open_sample(self) -> None:
        """Write the sample clip (and its masks) to the data folder in the background, then open it."""
        if not self.confirm_discard():
            return
        folder = app_home() / "sample"

        def make(report, cancelled):
            from editor.media import open_masks
            from editor.sample import make_sample

            report(0, 1, "Writing the sample clip")
            paths = make_sample(folder, overwrite=True)
            from editor.media import open_video

            with open_video(paths.clip) as r:
                n, size = r.info.num_frames, r.info.size
            src = open_masks(paths.masks, n, size)
            masks = {i: src.mask(i) * 255 for i in range(n)}
            return str(paths.clip), masks

        def done(result):
            clip, masks = result
            masks = {f: m.astype("uint8") for f, m in masks.items() if m.any()}
            self.open_clip(clip, masks)

        self.start_task("Opening the sample", make, done, "Cannot write the sample clip")

    def import_masks_dialog(self) -> None:
        """File > Import Masks: a mask video, one image, or a frame of a numbered sequence
        (which asks whether the folder was meant, as the CLI's --mask takes folders)."""
        path, _ = QFileDialog.getOpenFileName(self, "Import Masks", str(self.settings.value("mask_dir", "")),
                                              "Masks (*.png *.jpg *.jpeg *.mp4 *.mkv *.avi);;All files (*)")
        if not path:
            return
        from editor.media import mask_sequence
        from editor.widgets import dialogs

        sequence = mask_sequence(path)
        if sequence:
            name = Path(path).name
            options = [f"Import the Folder ({len(sequence)} Masks)", "Use This Image on Every Frame"]
            choice = dialogs.ask_options(
                self, "Import Masks",
                f"{name} is one of {len(sequence)} numbered masks in {Path(path).parent}.",
                "Import the folder: its masks go to the frames in name order, one per frame. Or put this one "
                f"image on every frame of the clip ({self.doc.num_frames} frames).",
                options)
            if choice is None:
                return
            if choice == 0:
                path = str(Path(path).parent)
        self.import_masks(path)

    def import_mask_folder_dialog(self) -> None:
        """File > Import Mask Folder: a folder of per-frame PNG/JPG masks, as the CLI's --mask."""
        folder = QFileDialog.getExistingDirectory(self, "Import Mask Folder", str(self.settings.value("mask_dir", "")))
        if folder:
            self.import_masks(folder)

    def import_masks(self, path: str) -> None:
        """Replace the masks of every frame with those from a file or folder (one undo step)."""
        from editor.media import open_masks

        clip = self.doc.clip
        try:
            src = open_masks(path, clip.num_frames, (clip.width, clip.height), rotation=clip.rotation)
            new = {i: (src.mask(i) > 0).astype("uint8") * 255 for i in range(clip.num_frames)}
        except ProPainterError as exc:
            self.show_error("Cannot import the masks", str(exc))
            return
        self.doc.set_masks({f: (m if m.any() else None) for f, m in new.items()}, "Import Masks")
        p = Path(path)
        self.settings.setValue("mask_dir", str(p if p.is_dir() else p.parent))
        self.statusBar().showMessage(
            f"Imported the masks of {sum(1 for m in new.values() if m.any())} frames from {p.name}", 8000)

    # ---- drag and drop ------------------------------------------------------------------------
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            event.acceptProposedAction()
            self.open_path(urls[0])

    # ---- projects -----------------------------------------------------------------------------
    def open_project(self, path: str, recovered: bool = False) -> bool:
        try:
            data = load_project(path)
            if not Path(data.clip).exists():
                raise ProPainterError(f"the clip {data.clip} of project {path} is missing: put it back or open the clip")
            clip = self._open_reader_info(data.clip)
            if (clip.width, clip.height, clip.num_frames) != (data.width, data.height, data.num_frames):
                raise ProPainterError(
                    f"the clip {data.clip} has changed since project {path} was saved: open the original clip"
                )
        except ProPainterError as exc:
            self.show_error("Cannot open the project", str(exc))
            return False
        self._set_cache(clip)
        self.doc.load_project(clip, data, None if recovered else str(path))
        self._attach_saved_result(data.result)
        self.panel.load_from(self.doc)
        if not recovered:
            self._add_recent(str(path))
        self._update_title()
        return True

    def save_project(self) -> bool:
        if self.doc.clip is None:
            return False
        if not self.doc.path:
            return self.save_project_as()
        return self.save_project_to(self.doc.path)

    def save_project_as(self) -> bool:
        if self.doc.clip is None:
            return False
        default = str(Path(self.doc.clip.path).with_suffix(SUFFIX))
        path, _ = QFileDialog.getSaveFileName(self, "Save Project", default, PROJECT_FILTER)
        if not path:
            return False
        if not path.endswith(SUFFIX):
            path += SUFFIX
        return self.save_project_to(path)

    def save_project_to(self, path: str) -> bool:
        self.doc.settings = settings_of(self.doc.settings) | self.doc.settings
        try:
            save_project(path, self._project_data())
        except ProPainterError as exc:
            self.show_error("Cannot save the project", str(exc))
            return False
        self.doc.mark_saved(str(path))
        self._result_kept = self._result_kept or self.results.folder is not None
        self._add_recent(str(path))
        self.recovery_path().unlink(missing_ok=True)
        self.recovery_path().with_suffix(".json").unlink(missing_ok=True)
        self._update_title()
        return True

    def confirm_discard(self) -> bool:
        """Ask about unsaved changes; False when the user cancels."""
        if not self.doc.is_modified():
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes", "The project has unsaved changes. Save them first?",
            Save | Discard | CancelBtn, Save,
        )
        if answer == CancelBtn:
            return False
        if answer == Save:
            return self.save_project()
        return True

    # ---- results on disk ------------------------------------------------------------------------
    def results_home(self) -> Path:
        """Where runs keep their frames (one folder per clip or project)."""
        return app_home() / "results"

    def _project_data(self):
        """The document as a project, with the result folder it uses and its fresh runs."""
        data = self.doc.to_project()
        folder = self.results.folder
        if folder is not None:
            data.result = {"folder": folder.folder.name,
                           "fresh_runs": self.results.fresh_runs(self.doc.masks.revision)}
        return data

    def _attach_saved_result(self, saved: dict | None) -> None:
        """Show the frames a saved or recovered project's runs left in the cache."""
        if not saved or self.doc.clip is None:
            return
        folder = ResultFolder.open(self.results_home() / str(saved.get("folder", "")))
        if folder is None or folder.size != (self._result_size()):
            self.statusBar().showMessage("The results of this project's earlier runs are gone; run again.", 8000)
            return
        self.results.attach(folder, list(saved.get("fresh_runs") or []), self.doc.masks.revision)
        self._result_kept = True
        self.timeline.set_results(self.results.status(self.doc.masks.revision))
        self._show_result()

    def _result_size(self) -> tuple[int, int]:
        try:
            canvas = self.doc.canvas()
        except ProPainterError:
            canvas = None
        if canvas is not None:
            return canvas.width, canvas.height
        return self.doc.clip.width, self.doc.clip.height

    def _result_folder(self) -> ResultFolder:
        """The folder this run writes into: the document's, or a new one when the output
        size changed (a new canvas)."""
        folder = self.results.folder
        size = self._result_size()
        if folder is None or folder.size != size:
            self._release_result()
            folder = ResultFolder.create(self.results_home() / new_result_id(), self.doc.clip.path, size)
            self.results.attach(folder)
        return folder

    def _release_result(self) -> None:
        """Forget the current result folder; delete it unless a saved project uses it."""
        folder = self.results.folder
        self.results.clear()
        if folder is not None and not self._result_kept:
            folder.remove()
        self._result_kept = False

    def _resume_point(self, frame_range: tuple[int, int], key: str) -> int | None:
        """The first frame a run of ``frame_range`` still has to make, when the finished frames
        at its start come from runs of the same inputs (same key, masks unchanged); None
        when it must start over."""
        folder = self.results.folder
        if folder is None:
            return None
        owners = folder.owners()
        start, stop = frame_range
        f = start
        while f < stop and f in owners:
            run = folder.run(owners[f])
            if run is None or run.key != key or self.results.is_stale(f, self.doc.masks.revision):
                break
            f += 1
        return f if start < f < stop else None

    def unprocessed_frames(self, start: int, stop: int) -> list[int]:
        """Frames of ``start..stop-1`` that a run should have made and that have no result
        computed from the current masks."""
        if self.doc.clip is None:
            return []
        try:
            canvas = self.doc.canvas()
        except ProPainterError:
            canvas = None
        if canvas is None:
            if not self.doc.masks.frames():
                return []
            start, stop = max(start, self.doc.in_point), min(stop, self.doc.out_point + 1)
        fresh = set(self.results.fresh_frames(self.doc.masks.revision))
        return [f for f in range(start, stop) if f not in fresh]

    # ---- runs ---------------------------------------------------------------------------------
    def is_running(self) -> bool:
        return self.worker is not None

    def start_run(self) -> bool:
        """Snapshot the document and start ONE worker that drives run_job."""
        if self.doc.clip is None or self.is_running():
            return False
        try:
            canvas = self.doc.canvas()
        except ProPainterError as exc:
            self.show_error("Cannot run", str(exc))
            return False
        if canvas is None and not self.doc.masks.frames():
            self.show_error("Nothing to remove", "no frame has a mask: paint over what should be removed, then run")
            return False
        if not self.review_before_run():
            return False
        frame_range = (0, self.doc.num_frames) if canvas is not None else (self.doc.in_point, self.doc.out_point + 1)
        settings = settings_of(self.panel.settings())
        if engine_name(settings) == "propainter" and not weights_present():
            from editor.widgets.gui_text import DOWNLOAD_PROPAINTER

            self.show_error("Cannot run", "the ProPainter engine is chosen and its weights are not downloaded: "
                            f"use {DOWNLOAD_PROPAINTER} (or the Job panel's button), or choose Automatic or "
                            "Classic as the engine to run the classic engine")
            return False
        key = run_key(settings, canvas, frame_range)
        try:
            result = self._result_folder()
        except OSError as exc:
            self.show_error("Cannot run", f"the result folder {self.results_home()} cannot be written ({exc.strerror}): "
                            "free some disk space or check its permissions")
            return False
        run = RunInfo(new_result_id(), frame_range, key)
        resume = self._resume_point(frame_range, key)
        snap = RunSnapshot(
            clip=self.doc.clip.path,
            masks=self.doc.masks.snapshot(range(self.doc.in_point, self.doc.out_point + 1)),
            frame_range=(self.doc.in_point, self.doc.out_point + 1),
            settings=settings,
            canvas=canvas,
            revision=self.doc.masks.revision,
            result=result,
            run=run,
            resume_from=resume,
        )
        self.results.run_started(run.run_id, snap.revision)
        self._run_range = frame_range
        self._run_error = None
        if resume is not None:
            self.statusBar().showMessage(
                f"Continuing the earlier run from frame {resume + 1}: frames {frame_range[0] + 1}-{resume} are done.", 8000)
        self.worker = JobWorker(lambda: make_job(snap), snap.revision)
        self.worker.progress.connect(self.panel.show_progress)
        self.worker.chunk_ready.connect(self._on_chunk)
        # Bound methods of the window, never lambdas: a functor without a receiver would run
        # on the worker's thread.
        self.worker.failed.connect(self._on_run_failed)
        self.worker.finished.connect(self._on_run_finished)
        self._run_started = time.monotonic()
        self.panel.show_started()
        self.worker_thread = start_thread(self.worker, "job")
        self._update_enabled()
        return True

    def cancel_run(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.panel.show_cancelling()

    def _on_chunk(self, start: int, count: int, revision: int) -> None:
        """Frames ``start .. start + count - 1`` are in the result folder: show them."""
        if count <= 0:
            return
        self.results.frames_written(start, count)
        self.timeline.set_results(self.results.status(self.doc.masks.revision))
        if start <= self.current < start + count:
            self._show_result()
        self.chunkShown.emit(start, count)

    def _on_run_finished(self, cancelled: bool) -> None:
        self.last_run_result = self.worker.result if self.worker is not None else None
        if self.worker_thread is not None:
            self.worker_thread.wait()
        self.worker = self.worker_thread = None
        self.panel.show_finished(cancelled, time.monotonic() - self._run_started, failed=self._run_error)
        if not cancelled and self._run_error is None:
            self.set_view_mode("result")  # what the user ran it to see
        self._update_enabled()
        export, self._export_after_run = self._export_after_run, None
        self.runFinished.emit(cancelled)
        if self._close_when_idle:
            self.close()
        elif export is not None and not cancelled and self._run_error is None:
            self.start_export(export)

    # ---- background tasks (sample, export, download) --------------------------------------------
    def start_task(self, title: str, fn, on_done, error_title: str) -> bool:
        if self.task is not None:
            self.show_error(title, "another background task is running: wait for it or cancel it")
            return False
        self.task = TaskWorker(fn)
        self.task_bar.setFormat(f"{title} %p%")
        self.task_bar.setValue(0)
        self.task_bar.show()
        self.task_cancel.show()
        self._task_done, self._task_error_title = on_done, error_title
        self.task.progress.connect(self._on_task_progress)
        self.task.succeeded.connect(self._on_task_succeeded)
        self.task.failed.connect(self._on_task_failed)
        self.task.finished.connect(self._on_task_finished)
        self.task_thread = start_thread(self.task, "task")
        return True

    def _on_task_progress(self, done: int, total: int, text: str) -> None:
        self.task_bar.setMaximum(max(1, total))
        self.task_bar.setValue(done)

    def _on_task_succeeded(self, result) -> None:
        self._task_done(result)

    def _on_task_failed(self, message: str) -> None:
        self.show_error(self._task_error_title, message)

    def _on_run_failed(self, message: str) -> None:
        self._run_error = message
        self.show_error("The run failed", message)

    def _on_decode_failed(self, message: str) -> None:
        self.show_error("Cannot decode the clip", message)

    def cancel_task(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def _on_task_finished(self, cancelled: bool) -> None:
        if self.task_thread is not None:
            self.task_thread.wait()
        self.task = self.task_thread = None
        self.task_bar.hide()
        self.task_cancel.hide()
        if cancelled:
            self.statusBar().showMessage("Cancelled", 3000)
        if self._close_when_idle:
            self.close()

    # ---- dialogs ------------------------------------------------------------------------------
    def expand_dialog(self):
        """Open the canvas expansion dialog (returned, so tests and screenshots can drive it)."""
        from editor.widgets.dialogs import ExpandDialog

        if self.doc.clip is None:
            return None
        frame = self.cache.get(self.current) if self.cache is not None else None
        dlg = ExpandDialog(self, self.doc.clip.width, self.doc.clip.height, frame, self.doc.expansion)
        dlg.finished.connect(lambda code: self._expand_done(dlg, code))
        dlg.open()
        return dlg

    def _expand_done(self, dlg, code: int) -> None:
        if code:
            self.doc.set_expansion(None if dlg.removed else dlg.expansion())

    # ---- closing ------------------------------------------------------------------------------
    def closeEvent(self, event) -> None:
        if self.is_running() or self.task is not None:
            if not self._close_when_idle:
                answer = QMessageBox.question(
                    self, "Quit during a run?", "Work is running in the background. Cancel it and quit?", Yes | No, No
                )
                if answer != Yes:
                    event.ignore()
                    return
                if not self.confirm_discard():
                    event.ignore()
                    return
                self._close_when_idle = True
                self.cancel_run()
                self.cancel_task()
            event.ignore()  # closes when the worker reports finished
            return
        if not self._close_when_idle and not self.confirm_discard():
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Stop timers and threads; remove the recovery file (this is a clean exit)."""
        self.play_timer.stop()
        self.autosave_timer.stop()
        self._close_decoders()
        self.stop_sam()
        for t in running_threads():
            t.wait(5000)
        self._release_result()
        self.results.close()
        self.recovery_path().unlink(missing_ok=True)
        self.recovery_path().with_suffix(".json").unlink(missing_ok=True)
