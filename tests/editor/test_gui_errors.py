"""Every error dialog a user can trigger shows one clear sentence (and nothing crashes)."""

from __future__ import annotations

import pytest

from editor.export import ExportSettings
from models.errors import WeightsError

from .test_gui import paint_watermark


def test_opening_a_file_that_is_not_a_video_shows_an_error(window, tmp_path, dialogs):
    bad = tmp_path / "notes.mp4"
    bad.write_text("hello")
    assert not window.open_path(str(bad))
    assert dialogs.kinds() == ["critical"]
    assert "notes.mp4" in dialogs.texts()[0]
    assert window.doc.clip is None


def test_opening_a_missing_clip_shows_an_error(window, tmp_path, dialogs):
    assert not window.open_path(str(tmp_path / "missing.mp4"))
    assert "missing.mp4" in dialogs.texts("critical")[0]


def test_opening_a_broken_project_shows_an_error(window, tmp_path, dialogs):
    bad = tmp_path / "broken.ppproj"
    bad.write_bytes(b"PK\x03\x04 not really")
    assert not window.open_path(str(bad))
    assert "not a readable project" in dialogs.texts("critical")[0]


def test_project_whose_clip_is_gone_shows_an_error(opened, qtbot, tmp_path, dialogs, tiny_sample):
    import shutil

    clip = tmp_path / "moved.mp4"
    shutil.copy(tiny_sample.clip, clip)
    assert opened.open_clip(str(clip))
    path = tmp_path / "p.ppproj"
    assert opened.save_project_to(str(path))
    clip.unlink()
    assert not opened.open_path(str(path))
    assert "is missing" in dialogs.texts("critical")[-1]


def test_saving_a_project_into_a_file_path_shows_an_error(opened, tmp_path, dialogs):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    assert not opened.save_project_to(str(blocker / "p.ppproj"))
    assert "cannot write the project" in dialogs.texts("critical")[0].lower()
    assert opened.doc.path is None


def test_running_without_masks_shows_an_error(opened, dialogs):
    assert not opened.start_run()
    assert "No frame has a mask" in dialogs.texts("critical")[0]
    assert opened.worker is None


def test_a_run_that_fails_shows_an_error_and_finishes(opened, qtbot, tmp_path, dialogs, tiny_sample):
    import shutil

    clip = tmp_path / "vanishing.mp4"
    shutil.copy(tiny_sample.clip, clip)
    w = opened
    with qtbot.waitSignal(w.frameShown, timeout=10000):
        assert w.open_clip(str(clip))
    paint_watermark(w, qtbot)
    w.cache.close()  # the clip disappears under the editor
    w.cache = None
    clip.unlink()
    assert w.start_run()
    qtbot.waitUntil(lambda: w.worker is None, timeout=30000)
    assert dialogs.texts("critical") and "vanishing.mp4" in dialogs.texts("critical")[0]
    assert w.act_run.isEnabled()


def test_export_to_an_unknown_container_shows_an_error(opened, qtbot, tmp_path, dialogs):
    s = ExportSettings(out=str(tmp_path / "out.xyz"), codec="h264")
    assert opened.start_export(s)
    qtbot.waitUntil(lambda: opened.task is None, timeout=30000)
    assert dialogs.kinds() == ["critical"] and "out.xyz" in dialogs.texts()[0]
    assert not list(tmp_path.glob("*out*"))


def test_export_without_a_file_name_shows_an_error(opened, dialogs):
    assert not opened.start_export(ExportSettings(out=""))
    assert "No output file" in dialogs.texts("critical")[0]


def test_cancelling_an_export_leaves_nothing(opened, qtbot, tmp_path, dialogs):
    out = tmp_path / "cancel.mp4"
    opened.start_export(ExportSettings(out=str(out)))
    opened.cancel_task()
    qtbot.waitUntil(lambda: opened.task is None, timeout=30000)
    assert not out.exists() and not dialogs.shown


def test_sample_that_cannot_be_written_shows_an_error(window, qtbot, tmp_path, monkeypatch, dialogs):
    home = tmp_path / "home2"
    home.mkdir()
    (home / "sample").write_text("a file where the folder should be")
    monkeypatch.setenv("PROPAINTER_EDITOR_HOME", str(home))
    window.open_sample()
    qtbot.waitUntil(lambda: window.task is None, timeout=30000)
    assert dialogs.kinds() == ["critical"] and window.doc.clip is None


def test_failed_weights_download_shows_an_error(window, qtbot, monkeypatch, dialogs):
    import models.weights as weights

    def fail(**kwargs):
        raise WeightsError("The download of ProPainter.pth was interrupted: run it again to resume.")

    monkeypatch.setattr(weights, "download_missing", fail)
    dialogs.choices.append(True)  # accept the licence
    window.panel.download.click()
    qtbot.waitUntil(lambda: window.task is None, timeout=10000)
    assert dialogs.texts("critical") == ["The download of ProPainter.pth was interrupted: run it again to resume."]
    assert dialogs.kinds()[0] == "choice"  # the licence came first


def test_weights_download_reports_progress(window, qtbot, monkeypatch, dialogs):
    import models.weights as weights

    seen = []

    def fake(progress=None, cancel=None, **kwargs):
        for done in (0, 50, 100):
            progress("propainter", done, 100)
        return []

    monkeypatch.setattr(weights, "download_missing", fake)
    window.task_bar.valueChanged.connect(seen.append)
    dialogs.choices.append(True)  # accept the licence
    window.panel.download.click()
    qtbot.waitUntil(lambda: window.task is None, timeout=10000)
    assert 100 in seen


def test_memory_warning_when_the_job_does_not_fit(opened, qtbot, monkeypatch):
    import editor.widgets.job_panel as jp

    monkeypatch.setattr(jp, "free_memory", lambda device: 0.5 * 2**30)
    panel = opened.panel
    panel.refresh_free_memory()
    panel.engine.setCurrentIndex(panel.engine.findData("propainter"))
    assert panel.plot.points and panel.plot.marked == 80
    qtbot.waitUntil(lambda: panel.mem_warning.isVisibleTo(panel), timeout=10000)
    assert "will not fit" in panel.mem_warning.text()
    assert "15 % of it in reserve" in panel.mem_warning.text()
    monkeypatch.setattr(jp, "free_memory", lambda device: 64 * 2**30)
    panel.refresh_free_memory()  # after a run, or on opening a clip
    qtbot.waitUntil(lambda: "GiB usable" in panel.mem_label.text(), timeout=10000)
    assert not panel.mem_warning.isVisibleTo(panel)
    qtbot.waitUntil(lambda: not panel.memory.busy(), timeout=10000)


def test_settings_changes_never_ask_torch_for_free_memory_on_the_gui_thread(opened, qtbot, monkeypatch):
    """The free memory is measured once, on a worker thread; every settings change reuses it."""
    import threading

    import editor.widgets.job_panel as jp
    import models.device

    calls = []

    def query(device):
        calls.append((device, threading.current_thread() is threading.main_thread()))
        return 0.5 * 2**30

    monkeypatch.setattr(jp, "free_memory", query)
    monkeypatch.setattr(models.device, "free_memory_bytes",
                        lambda device: pytest.fail("free_memory_bytes called outside the probe"))
    panel = opened.panel
    panel.refresh_free_memory()
    panel.engine.setCurrentIndex(panel.engine.findData("propainter"))
    qtbot.waitUntil(lambda: panel.mem_warning.isVisibleTo(panel), timeout=10000)
    assert calls and not any(on_gui for _, on_gui in calls)
    measured = len(calls)
    for value in (40, 60, 80):
        panel.subvideo.setValue(value)
    panel.max_side.setCurrentIndex(panel.max_side.findData(640))
    panel.precision.setCurrentIndex(panel.precision.findData("fp32"))
    panel.dilation.setValue(6)
    assert len(calls) == measured  # answered from the cache
    assert "GiB usable" in panel.mem_label.text()
    qtbot.waitUntil(lambda: not panel.memory.busy(), timeout=10000)


def test_precision_is_automatic_by_default_and_kept_in_the_document(opened):
    panel = opened.panel
    assert panel.precision.currentData() == "auto" and panel.settings()["precision"] == "auto"
    panel.precision.setCurrentIndex(panel.precision.findData("fp32"))
    assert opened.doc.settings["precision"] == "fp32"
    panel.load_from(opened.doc)
    assert panel.precision.currentData() == "fp32"
