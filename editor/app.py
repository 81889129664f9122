"""Composition root of the desktop editor: QApplication, settings, theme, main window."""

from __future__ import annotations

import sys
from pathlib import Path

RESOURCES = Path(__file__).resolve().parent.parent / "resources"


def load_stylesheet() -> str:
    """The dark theme, or '' when the resources folder is missing."""
    try:
        return (RESOURCES / "dark.qss").read_text(encoding="utf-8")
    except OSError:
        return ""


def create_window(argv: list[str] | None = None):
    """The QApplication (created once) and a themed main window (not shown)."""
    from PySide6.QtWidgets import QApplication

    from editor.widgets.main_window import MainWindow

    app = QApplication.instance() or QApplication(list(argv or sys.argv[:1]))
    app.setOrganizationName("ProPainterEditor")
    app.setApplicationName("ProPainter Editor")
    app.setStyle("Fusion")
    app.setStyleSheet(load_stylesheet())
    return app, MainWindow()


def run(argv: list[str] | None = None) -> int:
    """Open the editor; ``argv`` may name a clip or project to open. Returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    app, window = create_window([sys.argv[0]] + argv)
    window.show()
    restored = window.offer_recovery()
    paths = [a for a in argv if not a.startswith("-")]
    if paths and not restored:
        window.open_path(paths[0])
    return int(app.exec())


if __name__ == "__main__":
    raise SystemExit(run())
