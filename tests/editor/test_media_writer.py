"""The writer's safety rules: temporary name, abort, overwrite, bad codecs, disk full."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

import editor.media.writer as writer_module
from editor.errors import OutputError
from editor.media import VideoWriter, open_video
from tests.editor.test_media_support import H, W, smooth_frames, write_clip


def test_nothing_under_the_final_name_until_close(tmp_path):
    out = tmp_path / "out.mp4"
    w = VideoWriter(out, W, H, 24)
    for f in smooth_frames(3):
        w.write(f)
    assert not out.exists()
    assert w.temp_path.exists() and w.temp_path.parent == tmp_path
    assert w.temp_path.name == ".out.partial.mp4"
    w.close()
    assert out.exists() and not w.temp_path.exists()
    assert open_video(out).info.num_frames == 3


def test_abort_leaves_nothing(tmp_path):
    for name, codec in (("out.mkv", "ffv1"), ("frames", "png")):
        w = VideoWriter(tmp_path / name, W, H, 24, codec=codec)
        w.write(smooth_frames(1)[0])
        w.abort()
    assert list(tmp_path.iterdir()) == []


def test_with_block_aborts_on_exception(tmp_path):
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "out.mp4", W, H, 24) as w:
            w.write(smooth_frames(1)[0])
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_not_overwritten(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"precious")
    with pytest.raises(OutputError, match="--overwrite"):
        VideoWriter(out, W, H, 24)
    assert out.read_bytes() == b"precious"


def test_overwrite_replaces_only_when_complete(tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")
    w = VideoWriter(out, W, H, 24, overwrite=True)
    w.write(smooth_frames(1)[0])
    assert out.read_bytes() == b"old"  # still the old file while writing
    w.abort()
    assert out.read_bytes() == b"old"  # and after an abort
    write_clip(out, smooth_frames(2), overwrite=True)
    assert open_video(out).info.num_frames == 2


def test_png_folder_overwrite_refuses_a_folder_with_other_files(tmp_path):
    d = tmp_path / "frames"
    d.mkdir()
    (d / "thesis.docx").write_text("x")
    with pytest.raises(OutputError, match="more than image frames"):
        VideoWriter(d, W, H, 24, codec="png", overwrite=True)
    assert (d / "thesis.docx").exists()


def test_png_into_an_existing_empty_folder(tmp_path):
    d = tmp_path / "frames"
    d.mkdir()
    write_clip(d, smooth_frames(2), codec="png")
    assert len(list(d.iterdir())) == 2


def test_output_equal_to_input(tmp_path):
    src = write_clip(tmp_path / "in.mp4", smooth_frames(2))
    with pytest.raises(OutputError, match="is the input"):
        VideoWriter(tmp_path / "." / "in.mp4", W, H, 24, audio_from=src, overwrite=True)


def test_unknown_codec(tmp_path):
    with pytest.raises(OutputError, match="Unknown codec 'divx'"):
        VideoWriter(tmp_path / "o.mp4", W, H, 24, codec="divx")


@pytest.mark.parametrize("name, codec", [("o.webm", "prores"), ("o.webm", "h264"),
                                         ("o.mp4", "ffv1"), ("o.mov", "vp9")])
def test_codec_the_container_cannot_hold(tmp_path, name, codec):
    with pytest.raises(OutputError, match=f"cannot hold {codec}"):
        VideoWriter(tmp_path / name, W, H, 24, codec=codec)
    assert list(tmp_path.iterdir()) == []


def test_missing_extension_and_bad_quality(tmp_path):
    with pytest.raises(OutputError, match="no extension"):
        VideoWriter(tmp_path / "out", W, H, 24)
    with pytest.raises(OutputError, match="outside 0..51"):
        VideoWriter(tmp_path / "o.mp4", W, H, 24, quality=80)


def test_folder_that_cannot_be_created(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(OutputError, match="choose a writable folder"):
        VideoWriter(blocker / "out.mp4", W, H, 24)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder")
def test_unwritable_folder(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="not writable"):
            VideoWriter(d / "out.mp4", W, H, 24)
    finally:
        d.chmod(0o755)


def test_disk_full_while_encoding_leaves_nothing(tmp_path, monkeypatch):
    def full(self, pkt):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(VideoWriter, "_mux", full)
    out = tmp_path / "out.mp4"
    w = VideoWriter(out, W, H, 24)
    with pytest.raises(OutputError, match="disk is full"):
        for f in smooth_frames(40):  # the encoder emits packets after a few frames
            w.write(f)
        w.close()
    assert list(tmp_path.iterdir()) == []


def test_disk_full_while_writing_png_frames(tmp_path, monkeypatch):
    real_open = open

    def full_open(path, mode="r", *a, **k):
        if "w" in mode:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, mode, *a, **k)

    monkeypatch.setattr(writer_module, "open", full_open, raising=False)
    w = VideoWriter(tmp_path / "frames", W, H, 24, codec="png")
    with pytest.raises(OutputError, match="disk is full"):
        w.write(smooth_frames(1)[0])
    assert list(tmp_path.iterdir()) == []


def test_closing_without_frames_is_an_error(tmp_path):
    w = VideoWriter(tmp_path / "o.mkv", W, H, 24, codec="ffv1")
    with pytest.raises(OutputError, match="No frames"):
        w.close()
    assert list(tmp_path.iterdir()) == []


def test_wrong_frame_shape_is_a_programming_error(tmp_path):
    with VideoWriter(tmp_path / "o.mkv", W, H, 24, codec="ffv1") as w:
        with pytest.raises(ValueError, match=r"\(48, 64, 3\)"):
            w.write(np.zeros((H, W + 1, 3), np.uint8))
        w.write(np.zeros((H, W), np.uint8))  # grey is accepted
