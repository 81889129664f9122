"""The writer's safety rules: temporary name, abort, overwrite, bad codecs, disk full; the
audio of an exported range."""

from __future__ import annotations

import errno
import os

import av
import numpy as np
import pytest

import editor.media.writer as writer_module
from editor.errors import OutputError
from editor.media import VideoWriter, open_video
from editor.media.audio import write_audio
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


def two_tone_clip(tmp_path, n: int = 48, fps: int = 24, rate: int = 48_000, switch: float = 0.5):
    """An mp4 (or its audio) whose tone is 440 Hz before ``switch`` seconds and 1500 Hz after."""
    t = np.arange(int(rate * n / fps), dtype=np.float32) / rate
    tone = 0.3 * np.sin(2 * np.pi * np.where(t < switch, 440.0, 1500.0) * t)
    write_audio(tmp_path / "tone.m4a", tone[None].astype(np.float32), rate)
    return write_clip(tmp_path / "src.mp4", smooth_frames(n), fps=fps, audio_from=tmp_path / "tone.m4a")


def audio_span(path) -> tuple[float, float, np.ndarray, int]:
    """(first packet start, last packet end) in seconds, the decoded mono samples and their rate."""
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        packets = [p for p in c.demux(a) if p.size]
        first = float(packets[0].pts * a.time_base)
        last = float((packets[-1].pts + packets[-1].duration) * a.time_base)
    with av.open(str(path)) as c:
        samples = np.concatenate([f.to_ndarray().reshape(-1, f.samples)[0] for f in c.decode(audio=0)])
        rate = c.streams.audio[0].sample_rate
    return first, last, samples, rate


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize("name,codec,copied", [("range.mp4", "h264", True), ("range.webm", "vp9", False)])
def test_a_range_export_keeps_the_audio_of_that_range(tmp_path, name, codec, copied):
    from editor.export import ExportSettings, export_video

    src = two_tone_clip(tmp_path)
    out = tmp_path / name
    settings = ExportSettings(out=str(out), codec=codec, frame_range=(12, 32), audio=True)
    export_video(str(src), settings, lambda i: None, lambda i: None, None, lambda *a: None, lambda: False)
    first, last, samples, rate = audio_span(out)
    audio_frame = 1024 / 48_000 if copied else 960 / 48_000  # AAC copied, Opus re-encoded
    assert -audio_frame - 1e-3 <= first <= audio_frame + 1e-3
    assert abs(last - 20 / 24) <= 2 * audio_frame
    # the audio is the 1500 Hz part (source time 0.5 s on), not the 440 Hz start of the clip
    skip = int(0.05 * rate)
    assert abs(dominant_hz(samples[skip:skip + rate // 4], rate) - 1500) < 40
    with open_video(out) as r:
        assert r.info.num_frames == 20 and len(r.info.audio) == 1


def test_audio_start_must_not_be_negative(tmp_path):
    src = two_tone_clip(tmp_path, n=12)
    with pytest.raises(ValueError, match="0 seconds or more"):
        VideoWriter(tmp_path / "o.mp4", W, H, 24, audio_from=src, audio_start=-1.0)
