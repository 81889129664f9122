"""The command line, run in-process through ``editor.cli.main`` (and once as a subprocess).

Every bad input of issue 4 item 6 is triggered here: each prints one line on stderr, exits
with code 2, shows no traceback and leaves existing files alone.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from editor import cli
from editor.media import open_video, write_masks
from editor.sample import SampleScene, make_sample

ROOT = Path(__file__).resolve().parents[2]
N = 8


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("sample")
    return make_sample(root / "s", SampleScene(width=128, height=96, num_frames=N))


@pytest.fixture(autouse=True)
def no_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("PROPAINTER_WEIGHTS_DIR", str(tmp_path / "no-weights"))


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(code, err, *words):
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for w in words:
        assert w.lower() in lines[0].lower(), lines[0]


def write_frames(folder: Path, n: int, w: int, h: int) -> list[np.ndarray]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:03d}.png"), f[:, :, ::-1])
    return frames


def read_all(path: Path) -> list[np.ndarray]:
    with open_video(path) as r:
        return list(r.iter_frames())


# -- working runs -------------------------------------------------------------------------
def test_main_py_help_runs_as_a_subprocess():
    res = subprocess.run([sys.executable, str(ROOT / "main.py"), "--help"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert res.returncode == 0
    for command in ("inpaint", "outpaint", "estimate", "weights", "sample"):
        assert command in res.stdout


@pytest.mark.parametrize("command", ["inpaint", "outpaint", "estimate", "weights", "sample"])
def test_every_command_has_help(capsys, command):
    with pytest.raises(SystemExit) as exc:
        cli.main([command, "--help"])
    assert exc.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_inpaint_the_sample_keeps_frames_and_audio_and_says_which_engine(capsys, sample, tmp_path):
    out = tmp_path / "out.mp4"
    code, _, err = run(capsys, "inpaint", sample.clip, "--mask", sample.masks, "-o", out)
    assert code == 0, err
    assert "classic engine" in err and "weights" in err
    with open_video(out) as r:
        assert r.info.num_frames == N and len(r.info.audio) == 1
    assert "audio copied" in err


def test_frame_folder_in_png_folder_out_with_a_range(capsys, tmp_path):
    src = write_frames(tmp_path / "frames", 6, 96, 64)
    mask = np.zeros((64, 96), np.uint8)
    mask[20:40, 30:60] = 255
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    code, _, err = run(capsys, "inpaint", tmp_path / "frames", "--mask", tmp_path / "mask.png",
                       "-o", str(tmp_path / "out") + "/", "--range", "2:4", "--engine", "classic")
    assert code == 0, err
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == [f"{i:06d}.png" for i in range(6)]
    out = read_all(tmp_path / "out")
    for i in (0, 1, 4, 5):
        assert np.array_equal(out[i], src[i])
    assert not np.array_equal(out[2][20:40, 30:60], src[2][20:40, 30:60])


def test_outpaint_to_an_aspect_ratio(capsys, sample, tmp_path):
    out = tmp_path / "wide"
    code, _, err = run(capsys, "outpaint", sample.clip, "--aspect", "16:9", "-o", out, "--engine", "classic",
                       "--no-audio")
    assert code == 0, err
    frames = read_all(out)
    assert len(frames) == N and frames[0].shape == (96, 176, 3)


def test_sample_command_writes_the_clip_and_masks(capsys, tmp_path):
    code, out, err = run(capsys, "sample", "-o", tmp_path / "s")
    assert code == 0, err
    assert (tmp_path / "s" / "clip.mp4").is_file() and (tmp_path / "s" / "masks").is_dir()
    code, _, err = run(capsys, "sample", "-o", tmp_path / "s")
    assert_user_error(code, err, "already exists")


def test_weights_where_and_verify_without_weights(capsys, tmp_path):
    code, out, _ = run(capsys, "weights", "where", "--weights-dir", tmp_path / "w")
    assert code == 0 and out.strip() == str(tmp_path / "w")
    code, out, err = run(capsys, "weights", "verify", "--weights-dir", tmp_path / "w")
    assert "missing" in out
    assert_user_error(code, err, "weights download")


def test_engine_propainter_without_weights_is_one_clear_error(capsys, sample, tmp_path):
    code, _, err = run(capsys, "inpaint", sample.clip, "--mask", sample.masks, "-o", tmp_path / "o.mp4",
                       "--engine", "propainter", "--weights-dir", tmp_path / "w")
    assert_user_error(code, err)
    assert not (tmp_path / "o.mp4").exists()


def test_progress_bar_on_a_terminal_shows_eta():
    import io

    stream = io.StringIO()
    printer = cli.ProgressPrinter(stream, tty=True)
    printer.update("propagation", 5, 10, 12.0)
    printer.message("a note")
    printer.message("a note")
    printer.close()
    text = stream.getvalue()
    assert "\r" in text and "50%" in text and "ETA 0:12" in text
    assert text.count("a note") == 1


def test_a_module_can_register_a_command_and_a_mask_option(capsys, sample, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_COMMANDS", list(cli._COMMANDS))
    monkeypatch.setattr(cli, "_MASK_OPTIONS", list(cli._MASK_OPTIONS))
    seen = []

    def register(sub):
        p = sub.add_parser("hello", help="say hello")
        p.set_defaults(func=lambda args: seen.append("hello") or 0)

    cli.register_command(register)

    def add(parser):
        parser.add_argument("--rect", default=None)

    def build(args, clip):
        if args.rect is None:
            return None
        x0, y0, x1, y1 = map(int, args.rect.split(","))
        m = np.zeros((clip.info.height, clip.info.width), np.uint8)
        m[y0:y1, x0:x1] = 1
        return m

    cli.register_mask_option(cli.MaskOption("--rect", add, build))
    assert cli.main(["hello"]) == 0 and seen == ["hello"]
    code, _, err = run(capsys, "inpaint", sample.clip, "--rect", "10,10,30,30", "-o", tmp_path / "b.mp4",
                       "--engine", "classic")
    assert code == 0, err
    code, _, err = run(capsys, "inpaint", sample.clip, "-o", tmp_path / "c.mp4")
    assert_user_error(code, err, "--mask or", "--rect")


# -- bad input: one line, exit 2, nothing lost ----------------------------------------------
def test_missing_file(capsys, sample, tmp_path):
    code, _, err = run(capsys, "inpaint", tmp_path / "nope.mp4", "--mask", sample.masks, "-o", tmp_path / "o.mp4")
    assert_user_error(code, err, "does not exist")


def test_not_a_video(capsys, sample, tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("these are not frames\n" * 50)
    code, _, err = run(capsys, "inpaint", bad, "--mask", sample.masks, "-o", tmp_path / "o.mp4")
    assert_user_error(code, err, str(bad))


def test_corrupt_file(capsys, sample, tmp_path):
    data = bytearray(sample.clip.read_bytes())
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(bytes(data[: len(data) // 3]))  # the header survives, the frames do not
    code, _, err = run(capsys, "inpaint", bad, "--mask", sample.masks, "-o", tmp_path / "o.mp4")
    assert_user_error(code, err)
    assert not (tmp_path / "o.mp4").exists()


def test_audio_only_file(capsys, sample, tmp_path):
    from editor.media.audio import write_audio

    tone = tmp_path / "tone.m4a"
    write_audio(tone, np.zeros((1, 4800), np.float32), 48000)
    code, _, err = run(capsys, "inpaint", tone, "--mask", sample.masks, "-o", tmp_path / "o.mp4")
    assert_user_error(code, err, "audio-only")


def test_zero_frames(capsys, sample, tmp_path):
    empty = tmp_path / "empty.mkv"
    with av.open(str(empty), "w") as c:
        s = c.add_stream("ffv1", rate=24)
        s.width, s.height, s.pix_fmt = 128, 96, "bgr0"
    code, _, err = run(capsys, "inpaint", empty, "--mask", sample.masks, "-o", tmp_path / "o.mp4")
    assert_user_error(code, err)
    (tmp_path / "noframes").mkdir()
    code, _, err = run(capsys, "inpaint", tmp_path / "noframes", "--mask", sample.masks, "-o", tmp_path / "o.mp4")
    assert_user_error(code, err, "no png or jpg frames")


def test_mask_count_that_does_not_match(capsys, sample, tmp_path):
    write_masks(tmp_path / "few", [np.ones((96, 128), np.uint8)] * 3)
    code, _, err = run(capsys, "inpaint", sample.clip, "--mask", tmp_path / "few", "-o", tmp_path / "o.mp4")
    assert_user_error(code, err, "3 masks", f"{N} frames")


def test_mask_size_that_does_not_match(capsys, sample, tmp_path):
    write_masks(tmp_path / "big", [np.ones((48, 64), np.uint8)] * N)
    code, _, err = run(capsys, "inpaint", sample.clip, "--mask", tmp_path / "big", "-o", tmp_path / "o.mp4")
    assert_user_error(code, err, "64x48", "128x96")


def test_a_single_mask_of_another_size_is_resized_with_a_warning(capsys, sample, tmp_path):
    m = np.zeros((48, 64), np.uint8)
    m[10:20, 10:20] = 255
    cv2.imwrite(str(tmp_path / "small.png"), m)
    code, _, err = run(capsys, "inpaint", sample.clip, "--mask", tmp_path / "small.png", "-o", tmp_path / "o.mp4",
                       "--engine", "classic")
    assert code == 0, err
    assert "resized" in err


def test_empty_mask_passes_frames_through_and_says_so_once(capsys, tmp_path):
    src = write_frames(tmp_path / "frames", 4, 96, 64)
    cv2.imwrite(str(tmp_path / "empty.png"), np.zeros((64, 96), np.uint8))
    code, _, err = run(capsys, "inpaint", tmp_path / "frames", "--mask", tmp_path / "empty.png", "-o",
                       tmp_path / "out", "--engine", "classic")
    assert code == 0, err
    assert err.count("pass through untouched") == 1
    assert all(np.array_equal(a, b) for a, b in zip(read_all(tmp_path / "out"), src))


def test_full_mask(capsys, sample, tmp_path):
    cv2.imwrite(str(tmp_path / "full.png"), np.full((96, 128), 255, np.uint8))
    code, _, err = run(capsys, "inpaint", sample.clip, "--mask", tmp_path / "full.png", "-o", tmp_path / "o.mp4")
    assert_user_error(code, err, "every pixel")


def test_frames_smaller_than_64_pixels(capsys, tmp_path):
    write_frames(tmp_path / "tiny", 3, 60, 40)
    cv2.imwrite(str(tmp_path / "m.png"), np.full((40, 60), 255, np.uint8))
    code, _, err = run(capsys, "inpaint", tmp_path / "tiny", "--mask", tmp_path / "m.png", "-o", tmp_path / "o")
    assert_user_error(code, err, "60x40", "64")


def test_output_equal_to_input(capsys, sample):
    before = sample.clip.read_bytes()
    code, _, err = run(capsys, "inpaint", sample.clip, "--mask", sample.masks, "-o", sample.clip, "--overwrite")
    assert_user_error(code, err, "is the input")
    assert sample.clip.read_bytes() == before


def test_output_folder_not_writable(capsys, sample, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file, not a folder")
    code, _, err = run(capsys, "inpaint", sample.clip, "--mask", sample.masks, "-o", blocker / "o.mp4",
                       "--engine", "classic")
    assert_user_error(code, err, "writable")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_output_folder(capsys, sample, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        code, _, err = run(capsys, "inpaint", sample.clip, "--mask", sample.masks, "-o", ro / "o.mp4",
                           "--engine", "classic")
    finally:
        ro.chmod(0o700)
    assert_user_error(code, err, "not writable")


def test_existing_output_without_overwrite(capsys, sample, tmp_path):
    out = tmp_path / "o.mp4"
    out.write_bytes(b"keep me")
    code, _, err = run(capsys, "inpaint", sample.clip, "--mask", sample.masks, "-o", out)
    assert_user_error(code, err, "already exists", "--overwrite")
    assert out.read_bytes() == b"keep me"


def test_disk_full_during_export(capsys, sample, tmp_path, monkeypatch):
    import editor.media.writer as writer

    calls = []

    def full_disk(path, mode="r", *args, **kwargs):
        if "w" in mode and str(path).endswith(".png") and ".partial" in str(path):
            calls.append(path)
            if len(calls) > 3:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return open(path, mode, *args, **kwargs)

    monkeypatch.setattr(writer, "open", full_disk, raising=False)
    out = tmp_path / "frames_out"
    code, _, err = run(capsys, "inpaint", sample.clip, "--mask", sample.masks, "-o", out, "--engine", "classic")
    assert_user_error(code, err, "disk is full")
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_unknown_codec_for_the_container(capsys, sample, tmp_path):
    code, _, err = run(capsys, "inpaint", sample.clip, "--mask", sample.masks, "-o", tmp_path / "o.avi",
                       "--codec", "vp9", "--engine", "classic")
    assert_user_error(code, err, ".avi", "vp9")
    code, _, err = run(capsys, "inpaint", sample.clip, "--mask", sample.masks, "-o", tmp_path / "o.xyz",
                       "--engine", "classic")
    assert_user_error(code, err, ".xyz")


def test_bad_options_are_one_line_too(capsys, sample, tmp_path):
    code, _, err = run(capsys, "inpaint", sample.clip, "--mask", sample.masks, "-o", tmp_path / "o.mp4",
                       "--range", "5:2")
    assert_user_error(code, err, "--range")
    code, _, err = run(capsys, "inpaint", sample.clip, "--mask", sample.masks, "-o", tmp_path / "o.mp4",
                       "--range", f"2:{N + 5}", "--engine", "classic")
    assert_user_error(code, err, "range")
    code, _, err = run(capsys, "inpaint", sample.clip, "--mask", sample.masks)
    assert_user_error(code, err, "-o/--output")
    code, _, err = run(capsys, "outpaint", sample.clip, "-o", tmp_path / "w.mp4", "--size", "big")
    assert_user_error(code, err, "--size")
    code, _, err = run(capsys, "outpaint", sample.clip, "-o", tmp_path / "w.mp4", "--size", "64x64")
    assert_user_error(code, err, "smaller")


def test_no_command_or_a_clip_opens_the_editor(monkeypatch, sample):
    import editor.app

    calls = []
    monkeypatch.setattr(editor.app, "run", lambda argv: calls.append(list(argv)) or 0)
    assert cli.main([]) == 0
    assert cli.main([str(sample.clip)]) == 0
    assert calls == [[], [str(sample.clip)]]


def test_too_large_for_the_device_suggests_a_smaller_processing_size(capsys, sample, tmp_path, monkeypatch):
    class OutOfMemory:
        name = "oom"

        def run(self, samples, num_frames, cancel=None):
            next(iter(samples))
            raise MemoryError()
            yield  # a generator, like every engine

    monkeypatch.setattr(cli, "build_engine", lambda args, say=None: OutOfMemory())
    code, _, err = run(capsys, "inpaint", sample.clip, "--mask", sample.masks, "-o", tmp_path / "o.mp4")
    assert_user_error(code, err, "memory", "--max-side", "--resize-ratio")
    assert not (tmp_path / "o.mp4").exists()


def test_estimate_prints_the_estimate_and_the_plan(capsys):
    pytest.importorskip("models.memory")
    pytest.importorskip("models.device")
    code, out, err = run(capsys, "estimate", "--width", 640, "--height", 480, "--frames", 50, "--device", "cpu")
    assert code == 0, err
    assert "fp32" in out and "fp16" in out and "GiB" in out
    assert "Plan:" in out or "no plan" in out
    code, _, err = run(capsys, "estimate", "--width", 10, "--height", 480)
    assert_user_error(code, err, "64")


def test_propainter_engine_runs_through_the_cli_on_seeded_weights(capsys, tmp_path, seeded_weights_dir):
    pytest.importorskip("models.device")
    src = write_frames(tmp_path / "frames", 4, 96, 64)
    mask = np.zeros((64, 96), np.uint8)
    mask[24:40, 40:56] = 255
    cv2.imwrite(str(tmp_path / "m.png"), mask)
    code, _, err = run(capsys, "inpaint", tmp_path / "frames", "--mask", tmp_path / "m.png", "-o", tmp_path / "out",
                       "--weights-dir", seeded_weights_dir, "--device", "cpu", "--raft-iter", 2, "--no-crop")
    assert code == 0, err
    assert "ProPainter engine" in err
    out = read_all(tmp_path / "out")
    grown = cv2.dilate((mask > 0).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3)), iterations=5)
    assert len(out) == 4
    for s, o in zip(src, out):
        assert np.array_equal(o[grown == 0], s[grown == 0])
