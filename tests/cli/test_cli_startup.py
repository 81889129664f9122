"""Starting the program wrongly is one clear line and exit code 2, never a crash: no display
for the editor window, a mistyped clip path, and the memory budget ``estimate`` reports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from editor import app, cli

ROOT = Path(__file__).resolve().parents[2]
GiB = 2**30


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error:") and "Traceback" not in err, err
    return lines[0]


def headless_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["PYTHONPATH"] = str(ROOT)
    return env


# -- no display -------------------------------------------------------------------------------
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland displays are a Linux matter")
@pytest.mark.parametrize("args", [[], ["clip"]], ids=["no-arguments", "a-clip"])
def test_the_editor_without_a_display_says_what_to_do_and_exits_2(tmp_path, args):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")  # exists: the editor would open it
    argv = [str(clip) if a == "clip" else a for a in args]
    res = subprocess.run([sys.executable, str(ROOT / "main.py"), *argv], capture_output=True, text=True,
                         cwd=tmp_path, env=headless_env(), timeout=120)
    assert res.returncode == 2, res.stderr
    line = one_error_line(res.stderr)
    for words in ("display", "desktop", "inpaint", "QT_QPA_PLATFORM=offscreen"):
        assert words in line, line


@pytest.mark.parametrize(
    ("env", "platform", "ok"),
    [
        ({}, "linux", False),
        ({"DISPLAY": ":0"}, "linux", True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True),
        ({"QT_QPA_PLATFORM": "offscreen"}, "linux", True),
        ({"QT_QPA_PLATFORM": "vnc:size=800x600"}, "linux", True),
        ({"QT_QPA_PLATFORM": "wayland;minimal"}, "linux", True),
        ({"QT_QPA_PLATFORM": "xcb"}, "linux", False),  # xcb needs DISPLAY
        ({"DISPLAY": ""}, "freebsd14", False),
        ({}, "darwin", True),
        ({}, "win32", True),
    ],
)
def test_display_problem_knows_when_qt_can_open_a_window(env, platform, ok):
    assert (app.display_problem(env, platform) is None) is ok


def test_open_editor_checks_the_display_before_qt(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(app, "display_problem", lambda: "no display here")
    monkeypatch.setattr(app, "run", lambda argv: calls.append(argv) or 0)
    code, _, err = run(capsys)
    assert code == 2 and calls == []
    assert one_error_line(err) == "error: no display here"


# -- a clip path that is not there ------------------------------------------------------------
@pytest.mark.parametrize("name", ["nonexistent.mp4", "clips/holiday", "Holiday.MOV"])
def test_a_mistyped_clip_path_is_named_not_taken_for_a_command(capsys, monkeypatch, tmp_path, name):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(app, "run", lambda argv: pytest.fail("the editor must not open"))
    code, _, err = run(capsys, name)
    assert code == 2
    assert one_error_line(err) == f"error: The video {name} does not exist; check the path."


def test_a_mistyped_project_path_says_project(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "work.ppproj")
    assert code == 2
    assert one_error_line(err) == "error: The project work.ppproj does not exist; check the path."


def test_an_existing_path_opens_the_editor_on_it(monkeypatch, tmp_path):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")
    calls = []
    monkeypatch.setattr(app, "display_problem", lambda: None)
    monkeypatch.setattr(app, "run", lambda argv: calls.append(list(argv)) or 0)
    assert cli.main([str(clip)]) == 0
    assert calls == [[str(clip)]]


def test_a_mistyped_command_still_gets_the_list_of_commands(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "inpant")
    assert code == 2
    line = one_error_line(err)
    assert "invalid choice: 'inpant'" in line and "'inpaint'" in line


def test_main_py_with_a_missing_clip_as_a_subprocess(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "main.py"), "nonexistent.mp4"], capture_output=True,
                         text=True, cwd=tmp_path, env=headless_env(), timeout=120)
    assert res.returncode == 2
    assert one_error_line(res.stderr) == "error: The video nonexistent.mp4 does not exist; check the path."


# -- the memory budget ------------------------------------------------------------------------
def test_estimate_says_how_much_of_the_free_memory_a_run_uses(capsys, monkeypatch):
    import models.device as devices

    monkeypatch.setattr(devices, "free_memory_bytes", lambda device: int(20.2 * GiB))
    code, out, err = run(capsys, "estimate", "--width", 3840, "--height", 2160, "--frames", 80, "--device", "cpu")
    assert code == 0, err
    assert "Device cpu: 20.2 GiB free, 17.2 GiB usable (15 % kept in reserve)." in out
    plan = next(line for line in out.splitlines() if line.startswith("Plan:"))
    assert "does not fit" in plan
    assert "20.2 GiB is free and a run keeps 15 % of it in reserve, so 17.2 GiB is usable" in plan
    assert "but only" not in plan


def test_a_shortened_plan_states_the_reserve_too():
    from models import memory

    free = int(memory.estimate(1280, 720, 40, fp16=True) / memory.SAFETY) + 1
    p = memory.plan(1280, 720, free, fp16=True)
    assert p.fits and 40 <= p.subvideo_length < 80
    assert "15 % of it in reserve" in p.suggestion and "usable" in p.suggestion
