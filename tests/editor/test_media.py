"""Video reading and writing: round trips per codec, audio copy, VFR, rotation, access."""

from __future__ import annotations

from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from editor.errors import MediaError
from editor.media import VideoWriter, open_video
from tests.editor.test_media_support import (
    H,
    W,
    audio_packets,
    clip_with_audio,
    psnr,
    rotated_clip,
    smooth_frames,
    tone_file,
    write_clip,
)


@pytest.mark.parametrize(
    "codec, name, bound",
    [("h264", "o.mp4", 38), ("hevc", "o.mkv", 36), ("vp9", "o.webm", 36),
     ("prores", "o.mov", 45), ("ffv1", "o.mkv", None), ("png", "frames", None)],
)
def test_round_trip_per_codec(tmp_path, codec, name, bound):
    frames = smooth_frames(8)
    out = write_clip(tmp_path / name, frames, fps=25, codec=codec)
    with open_video(out) as r:
        assert (r.info.width, r.info.height, r.info.num_frames) == (W, H, 8)
        assert r.info.codec == codec
        assert r.info.is_folder == (codec == "png")
        got = list(r.iter_frames())
        if codec != "png":
            assert r.info.fps == 25
    assert len(got) == 8
    for a, b in zip(frames, got):
        assert b.dtype == np.uint8 and b.shape == (H, W, 3)
        if bound is None:
            np.testing.assert_array_equal(a, b)
        else:
            assert psnr(a, b) > bound


def test_png_folder_names_frames_by_index(tmp_path):
    out = write_clip(tmp_path / "frames", smooth_frames(3), codec="png")
    assert sorted(p.name for p in out.iterdir()) == ["000000.png", "000001.png", "000002.png"]


@pytest.mark.parametrize("codec, name", [("h264", "odd.mp4"), ("hevc", "odd.mkv")])
def test_odd_size_keeps_its_size_in_444(tmp_path, codec, name):
    frames = smooth_frames(4, w=63, h=47)
    with VideoWriter(tmp_path / name, 63, 47, 24, codec=codec) as w:
        assert w.encoded_size == (63, 47) and w.pix_fmt == "yuv444p"
        assert any("63x47" in text and "4:4:4" in text for text in w.warnings)
        for f in frames:
            w.write(f)
    with open_video(tmp_path / name) as r:
        assert (r.info.width, r.info.height) == (63, 47)
        assert psnr(r.frame(2), frames[2]) > 38


def test_odd_size_h264_padded_on_request_and_crops_back(tmp_path):
    frames = smooth_frames(4, w=63, h=47)
    with VideoWriter(tmp_path / "odd.mp4", 63, 47, 24, odd_size="pad") as w:
        assert w.encoded_size == (64, 48) and w.pix_fmt == "yuv420p"
        assert any("63x47 is written as 64x48" in text for text in w.warnings)
        for f in frames:
            w.write(f)
    with open_video(tmp_path / "odd.mp4") as r:
        assert (r.info.width, r.info.height) == (64, 48)
        assert psnr(r.frame(2)[:47, :63], frames[2]) > 38


def test_even_size_has_no_warning(tmp_path):
    with VideoWriter(tmp_path / "even.mp4", W, H, 24) as w:
        w.write(smooth_frames(1)[0])
    assert w.warnings == [] and w.pix_fmt == "yuv420p" and w.video_start == 0


def test_random_access_equals_sequential_decode(tmp_path):
    frames = smooth_frames(12)
    # exact count from the header / counted by demuxing / every frame a keyframe
    for name, codec in (("a.mp4", "h264"), ("a.mkv", "h264"), ("b.mkv", "ffv1")):
        path = write_clip(tmp_path / name, frames, codec=codec)
        with open_video(path) as r:
            seq = list(r.iter_frames())
        with open_video(path, cache_size=2) as r:
            assert r.info.num_frames == 12
            for i in [11, 3, 0, 7, 8, 2, 11, 5, -1]:
                np.testing.assert_array_equal(r.frame(i), seq[i])
            assert list(r.iter_frames(5, 8))[1].tolist() == seq[6].tolist()


def test_frame_is_read_only_and_out_of_range_raises(tmp_path):
    path = write_clip(tmp_path / "a.mp4", smooth_frames(3))
    with open_video(path) as r:
        with pytest.raises(ValueError):
            r.frame(1)[0, 0, 0] = 1
        with pytest.raises(IndexError):
            r.frame(3)
        next(r.iter_frames())[0, 0, 0] = 1  # iteration yields writable arrays


def test_folder_of_frames_in_natural_order(tmp_path):
    frames = smooth_frames(11)
    d = tmp_path / "seq"
    d.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(d / f"frame{i}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    (d / "notes.txt").write_text("not a frame")
    with open_video(d, fps=30) as r:
        assert r.info.num_frames == 11 and r.info.fps == 30 and r.info.is_folder
        np.testing.assert_array_equal(r.frame(10), frames[10])  # frame10 after frame9
        np.testing.assert_array_equal(r.frame(2), frames[2])
        assert r.timestamps[3] == pytest.approx(0.1)


def test_vfr_timestamps_are_kept(tmp_path):
    stamps = [0.0, 0.04, 0.1, 0.3, 0.31, 0.5, 0.9, 1.0]
    for name in ("v.mp4", "v.mkv"):
        path = write_clip(tmp_path / name, smooth_frames(8), timestamps=stamps)
        with open_video(path) as r:
            assert r.info.num_frames == 8
            np.testing.assert_allclose(r.timestamps, stamps, atol=1.5e-3)
            assert psnr(r.frame(6), smooth_frames(8)[6]) > 38


def test_cfr_timestamps_follow_fps(tmp_path):
    path = write_clip(tmp_path / "c.mp4", smooth_frames(5), fps=Fraction(30000, 1001))
    with open_video(path) as r:
        assert r.info.fps == Fraction(30000, 1001)
        np.testing.assert_allclose(r.timestamps, np.arange(5) * 1001 / 30000, atol=1e-3)


@pytest.mark.parametrize("ccw, k", [(90, 1), (-90, -1), (180, 2)])
def test_rotation_metadata_is_applied(tmp_path, ccw, k):
    frames = smooth_frames(3)
    for f in frames:
        f[:8, :16] = (255, 0, 0)  # a marker in the coded top-left corner
    path = rotated_clip(tmp_path / "rot.mp4", ccw, frames)
    with open_video(path) as r:
        assert r.info.rotation == (-ccw) % 360  # reported clockwise, like the rotate tag
        want = np.rot90(frames[1], k=k)
        assert (r.info.height, r.info.width) == want.shape[:2]
        assert psnr(r.frame(1), want) > 40


def test_audio_is_copied_bit_exact(tmp_path):
    src = clip_with_audio(tmp_path, n=12)
    src_packets = audio_packets(src)
    for name in ("out.mp4", "out.mkv", "out.mov"):
        with open_video(src) as r, VideoWriter(tmp_path / name, W, H, r.info.fps,
                                               audio_from=src) as w:
            for f in r.iter_frames():
                w.write(f)
        assert w.audio_copied == [True]
        out_packets = audio_packets(tmp_path / name)
        # Every packet that starts inside the video is kept, byte for byte.
        assert len(out_packets) >= len(src_packets) - 1
        assert out_packets == src_packets[: len(out_packets)]


def test_audio_is_cut_to_the_written_duration(tmp_path):
    src = clip_with_audio(tmp_path, n=24)  # 1 s of video and audio
    with open_video(src) as r, VideoWriter(tmp_path / "half.mkv", W, H, 24, audio_from=src) as w:
        for f in r.iter_frames(0, 12):
            w.write(f)
    with av.open(str(tmp_path / "half.mkv")) as c:
        a = c.streams.audio[0]
        last = max(p.pts for p in c.demux(a) if p.pts is not None) * a.time_base
    assert 0.4 < float(last) < 0.5 + 1024 / 48_000


def test_audio_is_reencoded_when_the_container_cannot_hold_it(tmp_path):
    src = clip_with_audio(tmp_path)
    with VideoWriter(tmp_path / "o.webm", W, H, 24, codec="vp9", audio_from=src) as w:
        for f in smooth_frames(10):
            w.write(f)
    assert w.audio_copied == [False]
    with open_video(tmp_path / "o.webm") as r:
        assert [a.codec for a in r.info.audio] == ["opus"]
        assert r.info.num_frames == 10


def test_info_lists_audio_streams(tmp_path):
    with open_video(clip_with_audio(tmp_path)) as r:
        (a,) = r.info.audio
        assert (a.codec, a.sample_rate, a.channels) == ("aac", 48_000, 1)
        assert r.info.duration == pytest.approx(10 / 24, abs=0.02)


# -- bad input ----------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(MediaError, match="does not exist"):
        open_video(tmp_path / "nope.mp4")


def test_folder_without_images(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(MediaError, match="no PNG or JPG"):
        open_video(tmp_path)


def test_not_a_video(tmp_path):
    p = tmp_path / "notes.mp4"
    p.write_text("this is text, not a video\n" * 50)
    with pytest.raises(MediaError, match="not a video or is corrupt"):
        open_video(p)


def test_corrupt_video(tmp_path):
    good = write_clip(tmp_path / "a.mkv", smooth_frames(6))
    data = bytearray(good.read_bytes())
    rng = np.random.default_rng(1)
    data[200:] = rng.integers(0, 256, len(data) - 200, dtype=np.uint8).tobytes()
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(bytes(data))
    with pytest.raises(MediaError, match=str(bad.name)):
        with open_video(bad) as r:
            list(r.iter_frames())


def test_audio_only_file(tmp_path):
    with pytest.raises(MediaError, match="audio-only"):
        open_video(tone_file(tmp_path / "t.m4a"))


def test_zero_frames(tmp_path):
    # A Matroska file cut right before its first cluster: tracks declared, no frames.
    good = write_clip(tmp_path / "a.mkv", smooth_frames(3), codec="ffv1")
    data = good.read_bytes()
    cut = data.find(bytes.fromhex("1F43B675"))  # EBML id of the first Cluster
    assert cut > 0
    p = tmp_path / "empty.mkv"
    p.write_bytes(data[:cut])
    with pytest.raises(MediaError, match="zero frames"):
        open_video(p)
