"""Export from the main window (a mixin): the export dialog, the background export, and the
question about frames a run did not make."""

from __future__ import annotations

import numpy as np
from PySide6.QtWidgets import QMessageBox

from editor.document.results import ResultFolder, describe_spans, spans
from models.errors import ProPainterError


class ExportMixin:
    """Needs ``doc``, ``results``, ``cache``, ``statusBar``, ``show_error``, ``start_task``,
    ``start_run``, ``is_running`` and ``unprocessed_frames`` from the window."""

    def export_dialog(self):
        from editor.widgets.dialogs import ExportDialog

        if self.doc.clip is None:
            return None
        from editor.media import open_video

        try:
            with open_video(self.doc.clip.path) as r:
                has_audio = bool(r.info.audio)
        except ProPainterError as exc:
            self.show_error("Cannot export", str(exc))
            return None
        dlg = ExportDialog(self, self.doc.clip.path, (self.doc.in_point, self.doc.out_point), self.doc.num_frames, has_audio)
        dlg.finished.connect(lambda code: code and self.start_export(dlg.export_settings()))
        dlg.open()
        return dlg

    def start_export(self, settings) -> bool:
        """Export in the background: results where they exist, the source elsewhere. Frames a
        run should have made and did not (a cancelled or failed run, masks changed since) are
        named first, with the choice to finish the run, export only the processed frames, or
        export as it is."""
        from editor.export import export_video

        if not settings.out:
            self.show_error("Cannot export", "no output file was given: choose where to write the video")
            return False
        try:
            canvas = self.doc.canvas()
        except ProPainterError as exc:
            self.show_error("Cannot export", str(exc))
            return False
        start, stop = settings.frame_range or (0, self.doc.num_frames)
        missing = self.unprocessed_frames(start, stop)
        if missing:
            settings = self._ask_unprocessed(settings, missing, start, stop)
            if settings is None:
                return False
        folder = self.results.folder
        masks = self.doc.masks.raw()
        zeros = np.zeros((self.doc.clip.height, self.doc.clip.width), np.uint8)
        clip = self.doc.clip.path

        def work(report, cancelled):
            reader = ResultFolder.open(folder.folder) if folder is not None else None
            result = reader.read if reader is not None else (lambda i: None)
            return export_video(clip, settings, result, lambda i: masks.get(i, zeros), canvas, report, cancelled,
                                notes)

        notes: list[str] = []

        def done(path):
            self.statusBar().showMessage(f"Exported {path}", 8000)
            self.last_export = path
            if notes:
                QMessageBox.information(self, "Exported", f"Exported {path}.\n\n" + "\n".join(notes))

        return self.start_task("Exporting", work, done, "Cannot export")

    def _ask_unprocessed(self, settings, missing: list[int], start: int, stop: int):
        """Ask what to do about frames without a result; the export settings to use, or None."""
        from dataclasses import replace

        done_spans = spans(set(range(start, stop)) - set(missing))
        longest = max(done_spans, key=lambda ab: ab[1] - ab[0]) if done_spans else None
        from editor.widgets import dialogs

        options = ["Finish the Run First"]
        if longest is not None:
            options.append(f"Export Frames {longest[0] + 1}-{longest[1]} Only")
        options.append("Export As It Is")
        choice = dialogs.ask_options(
            self, "Frames not processed",
            f"{len(missing)} of the {stop - start} frames to export are not processed (frames "
            f"{describe_spans(missing)}): they still show what was to be removed.",
            "Finish the run first (it continues after the finished frames when nothing changed), export only "
            "the processed frames, or export as it is: unprocessed frames are then written as they are in the source.",
            options,
        )
        picked = None if choice is None else options[choice]
        if picked == "Finish the Run First":
            self._export_after_run = settings
            if not self.is_running():
                self.start_run()
            if self.is_running():
                self.statusBar().showMessage("The export starts when the run has finished.", 8000)
            else:
                self._export_after_run = None
            return None
        if picked is not None and picked.endswith(" Only"):
            return replace(settings, frame_range=longest)
        if picked == "Export As It Is":
            return settings
        return None
