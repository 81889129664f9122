"""Composition root of the desktop editor: QApplication, settings, theme, main window."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

RESOURCES = Path(__file__).resolve().parent.parent / "resources"

#: Qt platform plugins that draw without a window system (``QT_QPA_PLATFORM``).
HEADLESS_PLATFORMS = frozenset({"offscreen", "minimal", "minimalegl", "vnc", "eglfs", "linuxfb", "vkkhrdisplay"})


def display_problem(env: Mapping[str, str] | None = None, platform: str | None = None) -> str | None:
    """Why the editor window cannot open here, as one sentence, or None when it can.

    On Linux and the BSDs Qt needs an X11 (``DISPLAY``) or Wayland (``WAYLAND_DISPLAY``)
    session unless ``QT_QPA_PLATFORM`` names a plugin that needs none; without one it aborts
    the process (exit 134) instead of raising, so this is checked before QApplication exists.
    macOS and Windows always have a window system.
    """
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if platform.startswith(("win", "cygwin", "darwin")):
        return None
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return None
    # "offscreen", "vnc:size=800x600" or a fallback list "wayland;offscreen".
    wanted = [p.split(":", 1)[0].strip().lower() for p in env.get("QT_QPA_PLATFORM", "").split(";")]
    if any(p in HEADLESS_PLATFORMS for p in wanted):
        return None
    return ("the editor window needs a display, and DISPLAY and WAYLAND_DISPLAY are not set: run it on a "
            "desktop session, use the headless commands (`python main.py inpaint ...` or `outpaint ...`, "
            "see --help), or set QT_QPA_PLATFORM=offscreen to run it without a screen.")


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
    paths = [a for a in argv if not a.startswith("-")]
    restored = window.offer_recovery(paths[0] if paths else None)  # never silently instead of paths[0]
    if paths and not restored:
        window.open_path(paths[0])
    return int(app.exec())


if __name__ == "__main__":
    if (_problem := display_problem()) is not None:
        print(f"error: {_problem}", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(run())
