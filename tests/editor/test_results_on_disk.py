"""A run's result lives on disk: previews read back from it, Export encodes from it, it comes
back with a reopened or recovered project, and frames a run did not make are named before
anything is exported."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from editor.document.results import ResultFolder
from editor.export import ExportSettings
from editor.media import open_video

from tests.editor.test_gui import paint_watermark, run_and_record


def _export(w, qtbot, out: Path, frame_range=(0, 12)):
    s = ExportSettings(out=str(out), codec="png", frame_range=frame_range, audio=False)
    started = w.start_export(s)
    if started:
        qtbot.waitUntil(lambda: w.task is None, timeout=30000)
    return started


def _frames(path: Path) -> list[np.ndarray]:
    with open_video(path) as r:
        return list(r.iter_frames(0, r.info.num_frames))


def test_a_run_writes_its_frames_into_the_cache_and_previews_read_them_back(opened, qtbot):
    w = opened
    paint_watermark(w, qtbot)
    run_and_record(w, qtbot)
    folder = w.results.folder.folder
    assert folder.parent == w.results_home()
    assert sorted(p.name for p in folder.glob("*.png")) == [f"{i:06d}.png" for i in range(12)]
    # what the window shows is what is on disk, and it keeps only a few frames decoded
    on_disk = ResultFolder.open(folder)
    for i in range(12):
        assert np.array_equal(w.results.frame(i), on_disk.read(i))
    assert len(w.results._decoded) <= w.results.CACHED
    assert w.last_run_result.out == folder


def test_results_come_back_when_the_project_is_reopened(opened, qtbot, tmp_path, make_window):
    w = opened
    paint_watermark(w, qtbot)
    run_and_record(w, qtbot)
    before = [w.results.frame(i).copy() for i in range(12)]
    project = tmp_path / "p.ppproj"
    assert w.save_project_to(str(project))
    w2 = make_window()
    assert w2.open_path(str(project))
    assert w2.results.frames() == list(range(12))
    assert all(w2.results.status(w2.doc.masks.revision).values())  # fresh: the masks are those of the run
    assert all(np.array_equal(w2.results.frame(i), before[i]) for i in range(12))
    assert all(w2.timeline.results.values())


def test_results_come_back_after_a_crash_through_the_recovery_file(opened, qtbot, make_window):
    w = opened
    paint_watermark(w, qtbot)
    run_and_record(w, qtbot)
    w.autosave()
    assert w.recovery_path().exists()
    # a crash: the window is gone without shutdown(); a new one offers the recovery
    folder = w.results.folder.folder
    w._result_kept = True  # what a crash leaves behind (nothing cleans up)
    w2 = make_window()
    assert w2.open_project(str(w.recovery_path()), recovered=True)
    assert w2.results.folder.folder == folder
    assert w2.results.fresh_frames(w2.doc.masks.revision) == list(range(12))


def test_an_unsaved_result_is_deleted_on_a_clean_exit_and_a_saved_one_is_kept(opened, qtbot, tmp_path, tiny_sample):
    w = opened
    paint_watermark(w, qtbot)
    run_and_record(w, qtbot)
    unsaved = w.results.folder.folder
    w.doc.mark_saved()  # the user chose Discard
    assert w.open_clip(str(tiny_sample.clip))  # another clip: the unsaved result goes
    assert not unsaved.exists()
    paint_watermark(w, qtbot)
    run_and_record(w, qtbot)
    saved = w.results.folder.folder
    w.save_project_to(str(tmp_path / "p.ppproj"))
    w.shutdown()
    assert saved.exists()


def test_export_after_a_cancelled_run_names_the_unprocessed_frames_and_can_export_the_processed_range(
        opened, qtbot, tmp_path, dialogs):
    w = opened
    paint_watermark(w, qtbot)
    log = run_and_record(w, qtbot, cancel_after_first=True)
    assert log[-1] == ("finished", True)
    done = w.results.fresh_frames(w.doc.masks.revision)
    assert done and len(done) < 12
    # Cancel: nothing is written
    assert not _export(w, qtbot, tmp_path / "none")
    assert not (tmp_path / "none").exists()
    text = dialogs.texts("options")[-1]
    assert f"{12 - len(done)} of the 12 frames to export are not processed" in text
    assert f"frames {len(done) + 1}-12" in text
    assert "Finish the Run First" in text and "Export As It Is" in text
    # export only the processed range
    dialogs.options.append(1)
    assert _export(w, qtbot, tmp_path / "part")
    part = _frames(tmp_path / "part")
    assert len(part) == len(done)
    assert all(np.array_equal(part[i], w.results.frame(i)) for i in range(len(done)))


def test_export_as_it_is_writes_every_frame_with_the_source_where_not_processed(opened, qtbot, tmp_path, dialogs):
    w = opened
    paint_watermark(w, qtbot)
    run_and_record(w, qtbot, cancel_after_first=True)
    done = w.results.fresh_frames(w.doc.masks.revision)
    dialogs.options.append(2)
    assert _export(w, qtbot, tmp_path / "all")
    out = _frames(tmp_path / "all")
    src = _frames(Path(w.doc.clip.path))
    assert len(out) == 12
    assert np.array_equal(out[done[0]], w.results.frame(done[0]))
    assert np.array_equal(out[11], src[11])


def test_finish_the_run_first_continues_after_the_finished_frames_then_exports(opened, qtbot, tmp_path, dialogs):
    w = opened
    paint_watermark(w, qtbot)
    run_and_record(w, qtbot, cancel_after_first=True)
    done = w.results.fresh_frames(w.doc.masks.revision)
    first = {i: w.results.frame(i).copy() for i in done}
    dialogs.options.append(0)
    out = tmp_path / "finished"
    assert not w.start_export(ExportSettings(out=str(out), codec="png", frame_range=(0, 12), audio=False))
    assert w.is_running()
    qtbot.waitUntil(lambda: w.worker is None, timeout=60000)
    assert w.last_run_result.frame_range == (len(done), 12)  # continued, did not start over
    qtbot.waitUntil(lambda: w.task is None and out.exists(), timeout=30000)
    assert w.results.fresh_frames(w.doc.masks.revision) == list(range(12))
    frames = _frames(out)
    assert len(frames) == 12
    assert all(np.array_equal(frames[i], first[i]) for i in done)  # finished frames kept as they were


def test_a_failed_run_never_reads_done(opened, qtbot, monkeypatch, dialogs):
    import editor.document.job_settings as js

    def broken(settings):
        from models.errors import DeviceError

        raise DeviceError("the device is gone")

    monkeypatch.setattr(js, "build_engine", broken)
    w = opened
    paint_watermark(w, qtbot)
    run_and_record(w, qtbot)
    assert "device is gone" in dialogs.texts("critical")[-1]
    assert w.panel.stage.text().startswith("Failed") and "Done" not in w.panel.stage.text()


def test_a_full_disk_during_a_run_is_one_clear_error_and_keeps_the_finished_frames(tmp_path, monkeypatch):
    import builtins
    import errno

    import pytest

    from editor.document.results import RunInfo
    from editor.errors import OutputError

    folder = ResultFolder.create(tmp_path / "r", "clip.mp4", (8, 8))
    folder.begin(RunInfo("a", (0, 4), "k"))
    frame = np.zeros((8, 8, 3), np.uint8)
    folder.put(0, frame)
    real_open = builtins.open

    def full(path, *args, **kwargs):
        if ".partial" in str(path) and "000001" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", full)
    with pytest.raises(OutputError, match="No space left on device.*free some disk space"):
        folder.put(1, frame)
    monkeypatch.undo()
    folder.close()
    again = ResultFolder.open(folder.folder)
    assert sorted(again.owners()) == [0] and not list(folder.folder.glob(".*partial*"))
