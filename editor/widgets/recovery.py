"""Autosave and recovery after a crash (a mixin of the main window): the recovery file, the
offer to restore it that names the project or clip it is of, and never instead of a file the
user asked to open."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QMessageBox

from editor.document.project import SUFFIX, load_project, save_project
from models.errors import ProPainterError

Yes, No = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No


def app_home() -> Path:
    """The editor's data folder (recovery file, sample)."""
    env = os.environ.get("PROPAINTER_EDITOR_HOME")
    base = Path(env) if env else Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))
    base.mkdir(parents=True, exist_ok=True)
    return base


class RecoveryMixin:
    """Needs ``doc``, ``statusBar``, ``open_project``, ``_project_data`` and ``_update_title``."""

    def recovery_path(self) -> Path:
        return app_home() / f"recovery{SUFFIX}"

    def autosave(self) -> None:
        """Write the recovery file when there are unsaved changes (with a note of the project
        and clip it is of, so that the restore offer can name them)."""
        if self.doc.clip is None or not self.doc.is_modified():
            return
        try:
            save_project(self.recovery_path(), self._project_data())
        except ProPainterError as exc:
            self.statusBar().showMessage(f"Autosave failed: {exc}", 5000)
            return
        try:
            self.recovery_path().with_suffix(".json").write_text(
                json.dumps({"project": self.doc.path, "clip": self.doc.clip.path}), encoding="utf-8")
        except OSError:
            pass  # the offer then names the clip from the recovery file itself

    def _recovered_of(self, path: Path) -> tuple[str | None, str | None]:
        """(project, clip) the recovery file ``path`` holds unsaved work of."""
        try:
            note = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            return note.get("project"), note.get("clip")
        except (OSError, ValueError, AttributeError):
            pass
        try:
            return None, load_project(path).clip
        except ProPainterError:
            return None, None

    def offer_recovery(self, requested: str | None = None) -> bool:
        """After a crash: offer to restore the recovery file, naming the project or clip it is of.
        True when restored. ``requested``: a file the user asked to open; when the recovery is
        of something else, the choice is between the two, and the one not restored is never
        lost (an unrestored recovery is kept aside, and said where)."""
        path = self.recovery_path()
        if not path.exists():
            return False
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime))
        project, clip = self._recovered_of(path)
        what = (f"project {Path(project).name}" if project else
                f"clip {Path(clip).name}" if clip else "an unsaved clip")
        same = requested is not None and any(
            p is not None and Path(p).resolve() == Path(requested).resolve() for p in (project, clip))
        if requested is not None and not same:
            from editor.widgets import dialogs

            options = [f"Restore {what.split(' ', 1)[-1]}", f"Open {Path(requested).name}"]
            choice = dialogs.ask_options(
                self, "Restore unsaved work?",
                f"The editor did not close normally: unsaved work on {what} was autosaved at {when}.",
                f"You asked to open {requested}. Restore the unsaved work instead, or open what you asked for "
                "(the unsaved work is then kept aside, to open later).", options)
            restore = choice == 0
            if not restore:
                self._keep_recovery_aside(path)
                return False
        else:
            restore = QMessageBox.question(
                self, "Restore unsaved work?",
                f"The editor did not close normally. Restore the unsaved work on {what}, autosaved at {when}?",
                Yes | No, Yes,
            ) == Yes
        if restore:
            ok = self.open_project(str(path), recovered=True)
            if ok:
                if project and Path(project).exists():
                    self.doc.path = project  # Save goes back to the project it came from
                self.doc.mark_dirty()
                self._update_title()
            return ok
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)
        return False

    def _keep_recovery_aside(self, path: Path) -> None:
        """Move an unrestored recovery file where the next autosave does not overwrite it."""
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(path.stat().st_mtime))
        aside = path.with_name(f"unsaved-{stamp}{SUFFIX}")
        try:
            path.replace(aside)
            path.with_suffix(".json").unlink(missing_ok=True)
        except OSError:
            return
        self.statusBar().showMessage(f"The unsaved work is kept in {aside}: open it with File > Open Project.", 15000)
        self.kept_recovery = str(aside)
