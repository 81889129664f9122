"""Fixtures for the editor tests: settings and app data in tmp_path, no blocking dialogs,
and a check that no test leaves a thread running."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """QSettings and the recovery folder go to tmp_path, never to the user's home."""
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "settings"))
    monkeypatch.setenv("PROPAINTER_EDITOR_HOME", str(tmp_path / "home"))
    yield tmp_path


class DialogLog:
    """Every QMessageBox a test triggers, with the answer the fake user gives."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, str, str]] = []  # (kind, title, text)
        self.answers: list[QMessageBox.StandardButton] = []
        self.choices: list[bool] = []  # answers to ask_choice (default: the safe answer, False)
        self.options: list[int | None] = []  # answers to ask_options (default: Cancel, None)

    def kinds(self) -> list[str]:
        return [k for k, _, _ in self.shown]

    def texts(self, kind: str | None = None) -> list[str]:
        return [t for k, _, t in self.shown if kind is None or k == kind]


@pytest.fixture(autouse=True)
def dialogs(monkeypatch) -> DialogLog:
    """Replace the blocking QMessageBox helpers; ``dialogs.answers`` queues replies to questions."""
    log = DialogLog()

    def make(kind, default):
        def fake(parent, title, text, *args, **kwargs):
            log.shown.append((kind, title, text))
            if kind == "question" and log.answers:
                return log.answers.pop(0)
            return default

        return staticmethod(fake)

    monkeypatch.setattr(QMessageBox, "critical", make("critical", QMessageBox.StandardButton.Ok))
    monkeypatch.setattr(QMessageBox, "warning", make("warning", QMessageBox.StandardButton.Ok))
    monkeypatch.setattr(QMessageBox, "information", make("information", QMessageBox.StandardButton.Ok))
    monkeypatch.setattr(QMessageBox, "question", make("question", QMessageBox.StandardButton.No))

    def choice(parent, title, text, accept, reject):
        log.shown.append(("choice", title, text))
        return log.choices.pop(0) if log.choices else False

    def options(parent, title, text, detail, names):
        log.shown.append(("options", title, text + "\n" + detail + "\n" + " | ".join(names)))
        return log.options.pop(0) if log.options else None

    import editor.widgets.dialogs

    monkeypatch.setattr(editor.widgets.dialogs, "ask_choice", choice)
    monkeypatch.setattr(editor.widgets.dialogs, "ask_options", options)
    return log


@pytest.fixture(autouse=True)
def no_thread_left_running():
    """Fail a test that leaves a QThread (from our registry) or a Python thread running."""
    before = set(threading.enumerate())
    yield
    from editor.jobs.worker import running_threads

    left = running_threads()
    extra = [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
    for t in extra:
        t.join(timeout=2.0)
    extra = [t for t in extra if t.is_alive()]
    assert not left, f"test left QThreads running: {left}"
    assert not extra, f"test left Python threads running: {extra}"


@pytest.fixture(scope="session")
def tiny_sample(tmp_path_factory):
    """A real sample clip (96x64, 12 frames, with audio) and its masks, written once."""
    from editor.sample import SampleScene, make_sample

    return make_sample(tmp_path_factory.mktemp("sample"), SampleScene(width=96, height=64, num_frames=12, ball_radius=8))


def close_window(window, qtbot) -> None:
    """Cancel whatever runs, wait for the threads, and close without prompts."""
    from editor.jobs.worker import running_threads

    window.cancel_run()
    window.cancel_task()
    qtbot.waitUntil(lambda: window.worker is None and window.task is None, timeout=30000)
    window.doc.mark_saved()
    window.shutdown()
    window.hide()
    for t in running_threads():
        t.wait(5000)


@pytest.fixture
def make_window(qtbot):
    """Factory of real main windows, shown offscreen and closed cleanly after the test."""
    from editor.app import create_window

    made = []

    def make():
        _, w = create_window()
        w.settings.setValue("autosave_ms", 3600_000)
        qtbot.addWidget(w)
        w.resize(1100, 700)
        w.show()
        made.append(w)
        return w

    yield make
    for w in made:
        close_window(w, qtbot)


@pytest.fixture
def window(make_window):
    return make_window()


@pytest.fixture
def opened(window, qtbot, tiny_sample):
    """A window with the tiny sample clip open and frame 0 on the canvas."""
    with qtbot.waitSignal(window.frameShown, timeout=10000):
        assert window.open_clip(str(tiny_sample.clip))
    return window
