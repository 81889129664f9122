"""Tiny clips for the media tests (64x48, a few frames), built in tmp_path."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from editor.media import VideoWriter
from editor.media.audio import write_audio

W, H = 64, 48


def smooth_frames(n: int = 10, w: int = W, h: int = H) -> list[np.ndarray]:
    """Gradients that move per frame: codecs keep them well, so PSNR bounds are tight."""
    y, x = np.mgrid[0:h, 0:w]
    return [
        np.stack([x * 3 + 5 * i, y * 4 + 2 * i, (x + y) * 2 + 3 * i], -1).clip(0, 255).astype(np.uint8)
        for i in range(n)
    ]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def tone_file(path: Path, seconds: float = 0.5, rate: int = 48_000) -> Path:
    t = np.arange(int(rate * seconds), dtype=np.float32) / rate
    write_audio(path, (0.3 * np.sin(2 * np.pi * 440 * t))[None], rate)
    return path


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 24, codec: str = "h264",
               **kw) -> Path:
    h, w = frames[0].shape[:2]
    with VideoWriter(path, w, h, fps, codec=codec, **kw) as wr:
        for f in frames:
            wr.write(f)
    return path


def clip_with_audio(tmp: Path, n: int = 10) -> Path:
    """An mp4 with H.264 video and an AAC tone as long as the video."""
    tone = tone_file(tmp / "tone.m4a", seconds=n / 24)
    return write_clip(tmp / "src.mp4", smooth_frames(n), audio_from=tone)


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def rotated_clip(path: Path, degrees_ccw: int, frames: list[np.ndarray]) -> Path:
    """An H.264 mp4 whose display matrix says: turn ``degrees_ccw`` counter-clockwise."""
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=Fraction(24))
        s.width, s.height, s.pix_fmt = w, h, "yuv444p"
        s.options = {"crf": "0"}
        s.set_display_rotation(degrees_ccw)
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return path
