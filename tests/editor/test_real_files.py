"""What real files do that clean test clips do not, each rebuilt here with PyAV (no real clip
is needed): an end that cannot be decoded, a sample the edit list leaves out, odd sizes, a
video stream that starts after its audio, a phone's rotation with masks in either
orientation."""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from editor.errors import MediaError
from editor.media import VideoWriter, open_masks, open_video, write_masks
from tests.editor.test_media_support import psnr, rotated_clip, smooth_frames, write_clip


# -- helpers ----------------------------------------------------------------------------------
def damage_packet(path: Path, which: int) -> int:
    """Overwrite the bytes of video packet ``which`` (in file order; -1 = the last) with
    garbage, length prefix included; returns that packet's pts."""
    with av.open(str(path)) as c:
        packets = sorted((p.pos, p.size, p.pts) for p in c.demux(c.streams.video[0]) if p.size)
    pos, size, pts = packets[which]
    data = bytearray(path.read_bytes())
    data[pos:pos + size] = bytes((i * 97 + 13) % 256 for i in range(size))
    path.write_bytes(bytes(data))
    return pts


def decodable_frames(path: Path) -> list[np.ndarray]:
    """Every frame PyAV decodes, packet by packet, skipping packets the decoder rejects."""
    out = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        for pkt in c.demux(s):
            try:
                out += [f.to_ndarray(format="rgb24") for f in s.decode(pkt)]
            except av.FFmpegError:
                pass
    return out


def best_match(frame: np.ndarray, frames: list[np.ndarray]) -> int:
    return int(np.argmax([psnr(frame, f) for f in frames]))


# -- a. the end of a file that does not decode ------------------------------------------------
def test_a_damaged_last_packet_is_dropped_up_front(tmp_path):
    src = smooth_frames(40)
    path = write_clip(tmp_path / "damaged.mp4", src)
    damage_packet(path, -1)
    decodable = decodable_frames(path)
    assert len(decodable) < 40  # the damage really loses frames

    with open_video(path) as r:
        n = r.info.num_frames
        assert n == len(decodable)
        assert r.info.dropped_frames == 40 - n
        (warning,) = r.warnings
        assert r.info.warnings == (warning,)
        assert "damaged.mp4" in warning and f"the last {40 - n} frame(s) cannot be decoded" in warning
        assert len(r.timestamps) == n
        frames = list(r.iter_frames())
        assert len(frames) == n
        # the frames that come out are the source's first n, in order
        assert [best_match(f, src) for f in frames] == list(range(n))
        last = r.frame(n - 1).copy()
    with open_video(path) as r:  # random access to the last frame, from a fresh reader
        np.testing.assert_array_equal(r.frame(n - 1), last)
        np.testing.assert_array_equal(r.frame(n // 2), frames[n // 2])


def test_a_damaged_packet_in_the_middle_keeps_frames_and_times_together(tmp_path):
    src = smooth_frames(60)
    path = write_clip(tmp_path / "mid.mp4", src)
    damage_packet(path, 30)
    with open_video(path) as r:
        n = r.info.num_frames
        assert n < 60 and r.info.dropped_frames == 60 - n and r.warnings
        frames = list(r.iter_frames())
        assert len(frames) == n == len(r.timestamps)
        matches = [best_match(f, src) for f in frames]
        assert matches == sorted(set(matches))  # no frame twice, none out of order
        # each frame's timestamp is its source frame's time
        np.testing.assert_allclose(r.timestamps, np.array(matches) / 24, atol=1e-3)


def cut_last_sample_by_edit_list(path: Path, frame_ms: int) -> None:
    """Shorten the mp4's (one-entry, version 0) edit list by one frame, as in OpenCV's box.mp4."""
    data = bytearray(path.read_bytes())
    at = data.find(b"elst")
    assert at > 0 and data[at + 4] == 0 and struct.unpack(">I", data[at + 8:at + 12])[0] == 1
    (duration,) = struct.unpack(">I", data[at + 12:at + 16])
    data[at + 12:at + 16] = struct.pack(">I", duration - frame_ms)
    path.write_bytes(bytes(data))


def test_a_sample_the_edit_list_leaves_out_is_not_counted(tmp_path):
    src = smooth_frames(30)
    path = write_clip(tmp_path / "box.mp4", src)  # x264's B-frames give the mp4 an edit list
    cut_last_sample_by_edit_list(path, 42)  # 1000 / 24 ms, rounded up
    with av.open(str(path)) as c:
        assert c.streams.video[0].frames == 30  # the header still says 30
    with open_video(path) as r:
        assert r.info.num_frames == 29 and r.info.dropped_frames == 1
        assert "the last 1 frame(s) are left out by the file's edit list" in r.warnings[0]
        frames = list(r.iter_frames())
        assert len(frames) == 29 == len(r.timestamps)
        assert psnr(frames[-1], src[28]) > 38
        assert psnr(r.frame(28), src[28]) > 38


def test_clean_files_have_no_warnings(tmp_path):
    for name, codec in (("a.mp4", "h264"), ("a.mkv", "ffv1")):
        with open_video(write_clip(tmp_path / name, smooth_frames(12), codec=codec)) as r:
            assert r.info.num_frames == 12 and r.info.dropped_frames == 0 and r.warnings == []


# -- b. odd sizes -----------------------------------------------------------------------------
@pytest.mark.parametrize("name, codec", [("odd.mp4", "h264"), ("odd.webm", "vp9"),
                                         ("odd.mov", "prores"), ("odd.mkv", "ffv1")])
def test_b_an_odd_size_stays_that_size(tmp_path, name, codec):
    frames = smooth_frames(4, w=641, h=359)
    with VideoWriter(tmp_path / name, 641, 359, 24, codec=codec) as w:
        for f in frames:
            w.write(f)
    assert w.encoded_size == (641, 359)
    if codec in ("h264", "prores"):  # a pixel format other than the usual one, said in words
        assert any("641x359" in text for text in w.warnings)
    else:
        assert w.warnings == []
    with open_video(tmp_path / name) as r:
        assert r.info.size == (641, 359)
        assert psnr(r.frame(2), frames[2]) > 40


# -- c. video that starts after its audio -----------------------------------------------------
def late_video_clip(path: Path, lead: float = 0.5, n: int = 24, fps: int = 24, rate: int = 48_000,
                    switch: float = 0.25) -> Path:
    """An mp4 whose video starts ``lead`` s after its audio (which starts at 0). The tone is
    440 Hz before ``switch`` s and 1500 Hz after, so the first part of the audio is known."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=fps)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = c.add_stream("aac", rate=rate)
        a.codec_context.layout = "mono"
        t = np.arange(int(rate * (n / fps + lead)), dtype=np.float32) / rate
        tone = (0.3 * np.sin(2 * np.pi * np.where(t < switch, 440.0, 1500.0) * t))[None]
        frame = av.AudioFrame.from_ndarray(tone.astype(np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=rate, frame_size=1024)
        packets = []
        for chunk in list(resampler.resample(frame)) + list(resampler.resample(None)):
            packets += a.encode(chunk)
        packets += a.encode(None)
        start = round(lead * fps)
        for i, img in enumerate(smooth_frames(n)):
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts, vf.time_base = start + i, Fraction(1, fps)
            packets += v.encode(vf)
        packets += v.encode(None)
        for p in sorted(packets, key=lambda p: float(p.dts * p.time_base)):
            c.mux(p)
    return path


def stream_spans(path: Path) -> dict[str, tuple[float, float]]:
    """Per stream type: (start, end) in seconds from the packets' timestamps."""
    spans = {}
    with av.open(str(path)) as c:
        for s in (c.streams.video[0], c.streams.audio[0]):
            with av.open(str(path)) as c2:
                s2 = c2.streams[s.index]
                pk = [p for p in c2.demux(s2) if p.size and p.pts is not None]
            start = min(float(p.pts * s.time_base) for p in pk)
            end = max(float((p.pts + (p.duration or 0)) * s.time_base) for p in pk)
            spans[s.type] = (start, end)
    return spans


def first_audio(path: Path, seconds: float) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as c:
        rate = c.streams.audio[0].sample_rate
        samples = np.concatenate([f.to_ndarray().reshape(-1, f.samples)[0] for f in c.decode(audio=0)])
    return samples[: int(seconds * rate)], rate


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize("name, codec", [("out.mp4", "h264"), ("out.mkv", "h264"), ("out.webm", "vp9")])
def test_c_audio_before_the_first_frame_is_kept_in_sync(tmp_path, name, codec):
    src = late_video_clip(tmp_path / "late.mp4")
    before = stream_spans(src)
    assert before["video"][0] == pytest.approx(0.5) and before["audio"][0] <= 0.0
    out = tmp_path / name
    with open_video(src) as r, VideoWriter(out, 64, 48, r.info.fps, codec=codec, audio_from=src,
                                           timestamps=r.timestamps) as w:
        assert r.timestamps[0] == 0.0
        for f in r.iter_frames():
            w.write(f)
    assert w.video_start == pytest.approx(0.5, abs=1e-3)
    assert any("starts 0.500 s before its first frame" in text for text in w.warnings)
    after = stream_spans(out)
    audio_frame = 1024 / 48_000
    # all of the audio is there ...
    src_audio = before["audio"][1] - max(before["audio"][0], 0.0)
    out_audio = after["audio"][1] - max(after["audio"][0], 0.0)
    assert out_audio >= src_audio - 2 * audio_frame
    # ... starting with the source's first (440 Hz) part ...
    samples, rate = first_audio(out, 0.2)
    assert abs(dominant_hz(samples[int(0.03 * rate):], rate) - 440) < 40
    # ... and the picture starts as long after the audio as in the source
    offset_src = before["video"][0] - max(before["audio"][0], 0.0)
    offset_out = after["video"][0] - max(after["audio"][0], 0.0)
    assert abs(offset_out - offset_src) <= 1 / 24
    with open_video(out) as r:
        assert r.info.num_frames == 24 and r.timestamps[0] == 0.0


def test_c_audio_that_starts_late_keeps_its_delay_when_reencoded(tmp_path):
    # Video from 0, audio from 0.3 s: the Opus re-encode for WebM keeps the 0.3 s.
    rate = 48_000
    tone = tmp_path / "tone.mka"
    with av.open(str(tone), "w") as c:
        a = c.add_stream("aac", rate=rate)
        a.codec_context.layout = "mono"
        t = np.arange(rate // 2, dtype=np.float32) / rate
        frame = av.AudioFrame.from_ndarray((0.3 * np.sin(2 * np.pi * 440 * t))[None], format="fltp",
                                           layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, int(0.3 * rate), Fraction(1, rate)
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=rate, frame_size=1024)
        for chunk in list(resampler.resample(frame)) + list(resampler.resample(None)):
            for p in a.encode(chunk):
                c.mux(p)
        for p in a.encode(None):
            c.mux(p)
    src = write_clip(tmp_path / "src.mkv", smooth_frames(24), audio_from=tone)
    before = stream_spans(src)
    assert before["audio"][0] == pytest.approx(0.3, abs=0.03)
    out = tmp_path / "out.webm"
    with open_video(src) as r, VideoWriter(out, 64, 48, 24, codec="vp9", audio_from=src) as w:
        for f in r.iter_frames():
            w.write(f)
    assert w.audio_copied == [False] and w.video_start == 0
    after = stream_spans(out)
    assert after["audio"][0] - after["video"][0] == pytest.approx(0.3, abs=0.03)


# -- d. a phone's rotation --------------------------------------------------------------------
def marked_frames(n: int = 3) -> list[np.ndarray]:
    frames = smooth_frames(n)  # 64x48 stored
    for f in frames:
        f[:8, :16] = (255, 0, 0)  # a marker in the stored top-left corner
    return frames


def stored_mask() -> np.ndarray:
    m = np.zeros((48, 64), np.uint8)
    m[:8, :16] = 255  # over the marker, drawn on the stored frames
    return m


def marker_of(frame: np.ndarray) -> np.ndarray:
    r, g, b = (frame[..., i].astype(int) for i in range(3))
    return ((r > 200) & (g < 60) & (b < 60)).astype(np.uint8)


@pytest.mark.parametrize("ccw", [90, -90])
def test_d_a_mask_of_the_stored_orientation_is_turned_like_the_frames(tmp_path, ccw):
    clip = rotated_clip(tmp_path / "phone.mp4", ccw, marked_frames())
    with open_video(clip) as r:
        info = r.info
        assert info.rotation == (-ccw) % 360 and info.size == (48, 64)  # shown portrait
        marker = marker_of(r.frame(1))
    cv2.imwrite(str(tmp_path / "stored.png"), stored_mask())
    with pytest.warns(UserWarning, match="rotated"):
        masks = open_masks(tmp_path / "stored.png", info.num_frames, info.size, rotation=info.rotation)
    m = masks.mask(0)
    assert m.shape == (64, 48)
    assert np.array_equal(m, marker)  # the mask lands on the marker as the frames show it
    (note,) = masks.warnings
    assert "64x48" in note and f"rotated {info.rotation}° clockwise" in note and "48x64" in note

    # a folder and a mask video of the stored size are turned too
    folder = tmp_path / "masks"
    write_masks(folder, [stored_mask()] * info.num_frames)
    video = tmp_path / "masks.mkv"
    write_masks(video, [stored_mask()] * info.num_frames)
    for path in (folder, video):
        with pytest.warns(UserWarning, match="rotated"):
            src = open_masks(path, info.num_frames, info.size, rotation=info.rotation)
        with src:
            assert all(np.array_equal(x, marker) for x in src)
            assert np.array_equal(src.mask(2), marker)


def test_d_a_mask_of_the_displayed_orientation_is_taken_as_it_is(tmp_path, recwarn):
    clip = rotated_clip(tmp_path / "phone.mp4", 90, marked_frames())
    with open_video(clip) as r:
        info = r.info
        marker = marker_of(r.frame(0))
    cv2.imwrite(str(tmp_path / "shown.png"), marker * 255)
    masks = open_masks(tmp_path / "shown.png", info.num_frames, info.size, rotation=info.rotation)
    assert np.array_equal(masks.mask(0), marker) and masks.warnings == []
    assert not [w for w in recwarn if "mask" in str(w.message)]


def test_d_a_mask_of_another_size_is_an_error_naming_the_rotation(tmp_path):
    clip = rotated_clip(tmp_path / "phone.mp4", 90, marked_frames())
    with open_video(clip) as r:
        info = r.info
    cv2.imwrite(str(tmp_path / "other.png"), np.zeros((50, 70), np.uint8))
    with pytest.raises(MediaError, match=r"70x50 but the clip is 48x64 .*stored as 64x48 and shown "
                                         r"rotated 270° clockwise"):
        open_masks(tmp_path / "other.png", info.num_frames, info.size, rotation=info.rotation)
    # a folder whose later mask switches orientation is an error too
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i, m in enumerate([stored_mask()] * 2 + [np.zeros((64, 48), np.uint8)]):
        cv2.imwrite(str(folder / f"{i}.png"), m)
    with pytest.warns(UserWarning):
        src = open_masks(folder, 3, info.size, rotation=info.rotation)
    with pytest.raises(MediaError, match="make every mask 64x48, like the first one"):
        src.mask(2)


def test_d_without_rotation_a_single_image_is_still_resized(tmp_path):
    cv2.imwrite(str(tmp_path / "small.png"), np.full((24, 32), 255, np.uint8))
    with pytest.warns(UserWarning, match="resized"):
        masks = open_masks(tmp_path / "small.png", 3, (64, 48))
    assert masks.mask(0).shape == (48, 64) and masks.mask(0).all()


def test_d_inpaint_and_track_take_a_mask_drawn_on_the_stored_frames_of_a_phone_clip(tmp_path, capsys):
    """End to end: the job runner and ``track`` turn a stored-orientation mask like the frames."""
    from editor import cli

    stored = smooth_frames(4, 128, 96)
    for f in stored:
        f[:16, :32] = (255, 0, 0)
    clip = rotated_clip(tmp_path / "phone.mp4", 90, stored)
    mask = np.zeros((96, 128), np.uint8)
    mask[:16, :32] = 255
    cv2.imwrite(str(tmp_path / "stored.png"), mask)
    out = tmp_path / "out"
    code = cli.main(["inpaint", str(clip), "--mask", str(tmp_path / "stored.png"), "-o", str(out), "--engine", "classic"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "rotated" in err
    with open_video(out) as r:
        assert r.info.size == (96, 128)
        assert not marker_of(r.frame(2)).any()  # the red marker is gone where the frames show it
    code = cli.main(["track", str(clip), "--mask", f"{tmp_path / 'stored.png'}@0", "-o", str(tmp_path / "t"),
                     "--tracker", "flow"])
    err = capsys.readouterr().err
    assert code == 0, err
