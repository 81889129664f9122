"""Writing video: H.264, HEVC, VP9, ProRes, FFV1 or a folder of PNG frames.

Frames go in as RGB uint8 arrays (H, W, 3) (or (H, W) grey) of the size given to the
writer. The output is written under a temporary name in the same folder
(``.name.partial.ext``) and renamed to its final name only by :meth:`VideoWriter.close`;
:meth:`VideoWriter.abort` (and a ``with`` block that raises) deletes the temporary file, so
nothing half-written ever appears under the final name and nothing existing is replaced
unless ``overwrite=True``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from editor.errors import OutputError
from editor.media._files import IMAGE_SUFFIXES, partial_path
from editor.media.audio import AudioMux
from editor.media.reader import COLOR_FLAGS

# Fine time base for variable-frame-rate output (90 kHz, the MPEG convention).
_VFR_TIME_BASE = Fraction(1, 90_000)


@dataclass(frozen=True)
class CodecSpec:
    """How one user-facing codec name is encoded.

    ``quality`` means: CRF (lower is better) for h264/hevc/vp9, the ProRes profile
    (0 proxy, 1 LT, 2 standard, 3 HQ) for prores; lossless codecs ignore it.
    """

    name: str
    encoder: str
    pix_fmt: str
    suffixes: tuple[str, ...]
    even_size: bool = False
    lossless: bool = False
    default_quality: int | None = None
    quality_range: tuple[int, int] | None = None
    #: For ``even_size`` codecs: the pixel format that holds an odd width or height exactly
    #: (4:4:4 has no chroma subsampling), and the profile that it means for players.
    odd_pix_fmt: str | None = None
    odd_profile: str = ""


CODECS: dict[str, CodecSpec] = {
    "h264": CodecSpec("h264", "libx264", "yuv420p", (".mp4", ".mov", ".mkv", ".m4v", ".avi"),
                      even_size=True, default_quality=18, quality_range=(0, 51),
                      odd_pix_fmt="yuv444p", odd_profile="High 4:4:4 Predictive"),
    "hevc": CodecSpec("hevc", "libx265", "yuv420p", (".mp4", ".mov", ".mkv", ".m4v"),
                      even_size=True, default_quality=22, quality_range=(0, 51),
                      odd_pix_fmt="yuv444p", odd_profile="Main 4:4:4 (RExt)"),
    "vp9": CodecSpec("vp9", "libvpx-vp9", "yuv420p", (".webm", ".mkv", ".mp4"),
                     default_quality=30, quality_range=(0, 63)),
    "prores": CodecSpec("prores", "prores_ks", "yuv422p10le", (".mov", ".mkv"),
                        default_quality=3, quality_range=(0, 3)),
    "ffv1": CodecSpec("ffv1", "ffv1", "bgr0", (".mkv", ".avi"), lossless=True),
    "png": CodecSpec("png", "png", "rgb24", ("",), lossless=True),
}

#: The codec used when only a file name is known, by suffix.
DEFAULT_CODEC_FOR_SUFFIX = {".webm": "vp9", ".mov": "h264", ".mkv": "h264", ".mp4": "h264",
                            ".m4v": "h264", ".avi": "h264", "": "png"}


def available_codecs() -> list[str]:
    """The codec names of :data:`CODECS` whose encoder this PyAV build has."""
    return [name for name, spec in CODECS.items() if _has_encoder(spec.encoder)]


def _has_encoder(name: str) -> bool:
    try:
        av.Codec(name, "w")
    except (av.FFmpegError, ValueError):
        return False
    return True


def _disk_error(exc: BaseException) -> bool:
    return getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT)


class VideoWriter:
    """Encode frames to ``path`` (a video file, or a folder when ``codec="png"``).

    Args:
        path: final output path. Its suffix picks the container (.mp4, .mov, .mkv, .webm,
            .avi); with ``codec="png"`` it is a folder that receives ``000000.png``, ...
        width, height: frame size in pixels. The output has exactly this size: H.264/HEVC
            in their usual 4:2:0 form need even sizes, so an odd size is encoded in 4:4:4
            (``pix_fmt`` tells) unless ``odd_size="pad"``; :attr:`warnings` says so.
        fps: frame rate (Fraction, int or float).
        codec: one of :data:`CODECS` ("h264", "hevc", "vp9", "prores", "ffv1", "png").
        quality: see :class:`CodecSpec`; ``None`` picks a visually lossless default.
        audio_from: a media file whose audio streams are copied (re-encoded only when the
            container cannot hold them), cut to the written duration.
        audio_start: seconds into ``audio_from`` (from its first video frame) where the
            audio starts, for a range that does not start at the first frame; within one
            audio frame when the audio is copied (see :mod:`editor.media.audio`).
        timestamps: presentation time in seconds of each frame, for variable frame rate;
            frames past the list continue at ``1/fps``.
        overwrite: replace an existing output when the new one is complete.
        odd_size: for H.264/HEVC at an odd width or height: "keep" (default) encodes 4:4:4
            to keep the size exactly (High 4:4:4 / RExt profiles, which some players such
            as QuickTime, Safari and many phones cannot play); "pad" keeps 4:2:0 and pads
            to even by repeating the last row/column (``encoded_size`` tells).

    Attributes:
        warnings: sentences for the user about what the output changes (its size, a pixel
            format few players read, where its video starts), filled in by the constructor.
        encoded_size: (width, height) actually encoded.
        pix_fmt: the pixel format encoded.
        video_start: seconds the first frame is shown after the start of the output's audio
            (the source's audio that came before its first frame is kept; 0 without audio).

    Raises:
        OutputError: unknown codec, codec the container cannot hold, existing output,
            output equal to ``audio_from``, unwritable folder, disk full.
    """

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        fps: Fraction | float | int,
        codec: str = "h264",
        quality: int | None = None,
        audio_from: str | Path | None = None,
        timestamps: list[float] | None = None,
        overwrite: bool = False,
        audio_start: float = 0.0,
        odd_size: str = "keep",
    ) -> None:
        self.path = Path(path).expanduser()
        spec = CODECS.get(codec)
        if spec is None:
            raise OutputError(
                f"Unknown codec {codec!r} for {self.path}; choose one of {', '.join(CODECS)}."
            )
        if not _has_encoder(spec.encoder):
            raise OutputError(
                f"This PyAV/FFmpeg build has no {spec.encoder} encoder for codec {codec!r}; "
                f"choose one of {', '.join(available_codecs())}."
            )
        suffix = self.path.suffix.lower()
        if spec.name == "png":
            if suffix in spec_suffixes_of_video():
                raise OutputError(
                    f"Codec 'png' writes a folder of frames but {self.path} looks like a video "
                    "file; give a folder name or choose a video codec."
                )
        elif not suffix:
            raise OutputError(
                f"The output {self.path} has no extension; add one (.mp4, .mkv, .mov, .webm) "
                "or use codec 'png' to write a folder of frames."
            )
        elif suffix not in spec.suffixes:
            raise OutputError(
                f"The {suffix} container cannot hold {codec}; for {codec} use "
                f"{' or '.join(spec.suffixes)}, or pick another codec for {self.path.name}."
            )
        if audio_start < 0:
            raise ValueError(f"the audio start must be 0 seconds or more, got {audio_start}")
        if odd_size not in ("keep", "pad"):
            raise ValueError(f"odd_size must be 'keep' or 'pad', got {odd_size!r}")
        if width <= 0 or height <= 0:
            raise OutputError(f"The output size {width}x{height} for {self.path} is empty.")
        if quality is not None and spec.quality_range is not None:
            lo, hi = spec.quality_range
            if not lo <= quality <= hi:
                raise OutputError(
                    f"Quality {quality} is outside {lo}..{hi} for codec {codec}; "
                    f"choose a value in that range for {self.path.name}."
                )
        if audio_from is not None and _same_file(Path(audio_from), self.path):
            raise OutputError(
                f"The output {self.path} is the input clip; choose another output name."
            )
        empty_folder = (
            spec.name == "png" and self.path.is_dir() and not any(self.path.iterdir())
        )
        if (self.path.exists() or self.path.is_symlink()) and not empty_folder:
            if not overwrite:
                raise OutputError(
                    f"The output {self.path} already exists; choose another name or "
                    "pass --overwrite."
                )
            _check_replaceable(self.path, folder=spec.name == "png")
        parent = self.path.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"Cannot create the folder {parent} for {self.path.name} ({exc.strerror}); "
                "choose a writable folder."
            ) from None
        if not os.access(parent, os.W_OK | os.X_OK):
            raise OutputError(
                f"The folder {parent} is not writable; choose another output folder."
            )

        self.spec = spec
        self.width, self.height = int(width), int(height)
        self.warnings: list[str] = []
        self.pix_fmt = spec.pix_fmt
        odd = spec.even_size and (self.width % 2 or self.height % 2)
        size = f"{self.width}x{self.height}"
        if odd and odd_size == "keep" and spec.odd_pix_fmt:
            self.pix_fmt = spec.odd_pix_fmt
            self.warnings.append(
                f"{self.path.name}: {size} has an odd side, which {codec} in its usual 4:2:0 form "
                f"cannot hold, so it is encoded in 4:4:4 ({self.pix_fmt}, {spec.odd_profile} "
                f"profile) to keep {size} exactly; some players (QuickTime, Safari, many "
                "phones and TVs) cannot play that: for them, choose the vp9 codec (.webm or .mkv) "
                "or crop the clip to an even size."
            )
            odd = False
        self._prores_4444 = spec.name == "prores" and self.width % 16 == 1
        if self._prores_4444:
            self.pix_fmt = "yuv444p10le"
            self.warnings.append(
                f"{self.path.name}: FFmpeg's ProRes 422 encoder damages the right edge of frames "
                f"{self.width} pixels wide (16k+1), so {size} is written as ProRes 4444 "
                f"({self.pix_fmt}) instead of the chosen 422 profile."
            )
        pad_w = self.width % 2 if odd else 0
        pad_h = self.height % 2 if odd else 0
        self._pad = (pad_h, pad_w)
        #: (width, height) actually encoded: the frame size plus any padding.
        self.encoded_size = (self.width + pad_w, self.height + pad_h)
        if odd:
            self.warnings.append(
                f"{self.path.name}: {codec} in 4:2:0 needs even sizes, so {size} is written as "
                f"{self.encoded_size[0]}x{self.encoded_size[1]} (the last "
                f"{'column' if pad_w else 'row'}{' and row' if pad_w and pad_h else ''} repeated)."
            )
        self.fps = Fraction(fps).limit_denominator(100_000)
        if self.fps <= 0:
            raise OutputError(f"The frame rate {fps} for {self.path} must be positive.")
        self.timestamps = list(timestamps) if timestamps is not None else None
        self.frames_written = 0
        self.audio_copied: list[bool] = []  # per source audio stream: remuxed bit-exact?
        self.temp_path = partial_path(self.path)
        self._closed = False
        self._last_pts = -1
        self.video_start = 0.0
        self._audio: AudioMux | None = None
        self._container: av.container.OutputContainer | None = None
        self._remove_temp()
        try:
            if spec.name == "png":
                self.temp_path.mkdir()
            else:
                self._open_container(quality, audio_from, audio_start)
        except OutputError:
            self.abort()
            raise
        except (OSError, av.FFmpegError, ValueError) as exc:
            self.abort()
            raise OutputError(
                f"Cannot start writing {self.path} with codec {codec} ({exc}); "
                "choose another codec or folder."
            ) from None

    # -- setup ------------------------------------------------------------------------
    def _open_container(self, quality: int | None, audio_from: str | Path | None, audio_start: float) -> None:
        spec = self.spec
        c = av.open(str(self.temp_path), "w")
        self._container = c
        s = c.add_stream(spec.encoder, rate=self.fps)
        s.width, s.height = self.encoded_size
        s.pix_fmt = self.pix_fmt
        q = spec.default_quality if quality is None else quality
        opts: dict[str, str] = {}
        if spec.name == "h264":
            opts = {"crf": str(q), "preset": "medium"}
        elif spec.name == "hevc":
            opts = {"crf": str(q), "preset": "medium", "x265-params": "log-level=error"}
            if self.path.suffix.lower() in (".mp4", ".mov", ".m4v"):
                s.codec_tag = "hvc1"  # the tag Apple players require
        elif spec.name == "vp9":
            opts = {"crf": str(q), "b": "0", "row-mt": "1", "deadline": "good", "cpu-used": "4"}
        elif spec.name == "prores":
            opts = {"profile": "4" if self._prores_4444 else str(q)}
        elif spec.name == "ffv1":
            opts = {"level": "3", "slicecrc": "1"}
        s.options = opts
        if self.pix_fmt.startswith("yuv"):
            ctx = s.codec_context
            ctx.colorspace = 1
            ctx.color_range = 1
            ctx.color_primaries = 1
            ctx.color_trc = 1
        self._stream = s
        if audio_from is not None:
            self._audio = AudioMux(Path(audio_from), c, start=audio_start)
            self.audio_copied = list(self._audio.copied)
            if not self._audio.has_audio:
                self._audio.close()
                self._audio = None
            else:
                self.video_start = self._audio.lead
        if self.video_start >= 0.1:  # a frame or two of lead (AVI's pts 1) is not worth a note
            self.warnings.append(
                f"{self.path.name}: the audio of {Path(audio_from).name} starts "
                f"{self.video_start:.3f} s before its first frame; all of it is kept and the "
                "video starts that much later, in sync, as in the source."
            )
        if self.timestamps is not None or self.video_start > 0:
            s.codec_context.time_base = _VFR_TIME_BASE
            s.time_base = _VFR_TIME_BASE
        c.start_encoding()

    # -- writing ----------------------------------------------------------------------
    def _time_of(self, i: int) -> float:
        ts = self.timestamps
        if ts is not None and i < len(ts):
            return float(ts[i])
        if ts:
            return float(ts[-1]) + (i - len(ts) + 1) / float(self.fps)
        return i / float(self.fps)

    def write(self, frame: np.ndarray) -> None:
        """Append one frame: RGB uint8 (H, W, 3) or grey (H, W), H, W = height, width."""
        if self._closed:
            raise ValueError(f"the writer for {self.path} is closed")
        if frame.dtype != np.uint8 or frame.shape[:2] != (self.height, self.width) or (
            frame.ndim == 3 and frame.shape[2] != 3
        ) or frame.ndim not in (2, 3):
            raise ValueError(
                f"frame must be uint8 ({self.height}, {self.width}, 3) or ({self.height}, "
                f"{self.width}), got {frame.dtype} {frame.shape}"
            )
        with self._aborting_on_error():
            if self.spec.name == "png":
                self._write_png(frame)
            else:
                self._write_video(frame)
        self.frames_written += 1

    def _write_png(self, frame: np.ndarray) -> None:
        img = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, 3])
        if not ok:
            raise OutputError(f"Cannot encode frame {self.frames_written} as PNG for {self.path}.")
        with open(self.temp_path / f"{self.frames_written:06d}.png", "wb") as fh:
            fh.write(buf.tobytes())

    def _write_video(self, frame: np.ndarray) -> None:
        if frame.ndim == 2:
            frame = np.repeat(frame[:, :, None], 3, axis=2)
        if any(self._pad):
            frame = np.pad(frame, ((0, self._pad[0]), (0, self._pad[1]), (0, 0)), mode="edge")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        if self.pix_fmt.startswith("yuv"):
            vf = vf.reformat(
                format=self.pix_fmt,
                interpolation=COLOR_FLAGS,
                dst_colorspace=1,  # BT.709, tagged on the stream below
                dst_color_range=1,  # limited ("TV") range, what players expect
            )
        t = self._time_of(self.frames_written) + self.video_start
        if self.timestamps is not None or self.video_start > 0:
            pts = round(t / _VFR_TIME_BASE)
            vf.time_base = _VFR_TIME_BASE
        else:
            pts = self.frames_written
            vf.time_base = 1 / self.fps
        pts = max(pts, self._last_pts + 1)  # timestamps must strictly increase
        vf.pts = self._last_pts = pts
        for pkt in self._stream.encode(vf):
            self._mux(pkt)
        if self._audio is not None:
            self._audio.feed_until(t)

    def _mux(self, pkt: av.Packet) -> None:
        assert self._container is not None
        self._container.mux(pkt)

    @contextlib.contextmanager
    def _aborting_on_error(self) -> Iterator[None]:
        """Any failure inside drops the partial output (nothing under the final name) and
        arrives as an :class:`OutputError` a user can act on."""
        try:
            yield
        except OutputError:
            self.abort()
            raise
        except (OSError, av.FFmpegError) as exc:
            self.abort()
            raise self._as_output_error(exc) from None

    def _as_output_error(self, exc: BaseException) -> OutputError:
        if _disk_error(exc):
            return OutputError(
                f"The disk is full while writing {self.path}; free some space or choose "
                "another folder (nothing was written under that name)."
            )
        return OutputError(
            f"Writing {self.path} failed ({getattr(exc, 'strerror', None) or exc}); "
            "check the folder and try again (nothing was written under that name)."
        )

    # -- finishing --------------------------------------------------------------------
    def close(self) -> None:
        """Finish the file and rename it to its final name. Safe to call twice."""
        if self._closed:
            return
        with self._aborting_on_error():
            if self.frames_written == 0:
                raise OutputError(
                    f"No frames were written to {self.path}; nothing was saved."
                )
            if self._container is not None:
                for pkt in self._stream.encode(None):
                    self._mux(pkt)
                if self._audio is not None:
                    end = self._time_of(self.frames_written - 1) + self._frame_duration()
                    self._audio.finish(end + self.video_start)
                    self._audio.close()
                    self._audio = None
                self._container.close()
                self._container = None
            if self.path.exists() or self.path.is_symlink():
                _check_replaceable(self.path, folder=self.spec.name == "png")
                if self.path.is_dir():
                    shutil.rmtree(self.path)
            os.replace(self.temp_path, self.path)
        self._closed = True

    def _frame_duration(self) -> float:
        ts = self.timestamps
        if ts and len(ts) >= 2 and self.frames_written <= len(ts):
            n = min(self.frames_written, len(ts))
            if n >= 2:
                return (ts[n - 1] - ts[0]) / (n - 1)
        return 1.0 / float(self.fps)

    def abort(self) -> None:
        """Stop and delete the temporary output; the final name is left untouched."""
        if self._closed:
            return
        self._closed = True
        if self._audio is not None:
            try:
                self._audio.close()
            except av.FFmpegError:
                pass
            self._audio = None
        if self._container is not None:
            try:
                self._container.close()
            except (OSError, av.FFmpegError, ValueError):
                pass  # the file is deleted below anyway
            self._container = None
        self._remove_temp()

    def _remove_temp(self) -> None:
        t = self.temp_path
        if t.is_dir() and not t.is_symlink():
            shutil.rmtree(t, ignore_errors=True)
        elif t.exists() or t.is_symlink():
            try:
                t.unlink()
            except OSError:
                pass

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def spec_suffixes_of_video() -> set[str]:
    """Every suffix a video codec of :data:`CODECS` can be written to."""
    return {s for spec in CODECS.values() for s in spec.suffixes if s}


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.expanduser().resolve() == b.expanduser().resolve()


def _check_replaceable(path: Path, folder: bool) -> None:
    """Refuse to replace anything but a file with a file, or a frame folder with one."""
    if folder:
        if not path.is_dir():
            raise OutputError(
                f"The output {path} exists and is not a folder; choose another name."
            )
        for child in path.iterdir():
            if child.is_dir() or child.suffix.lower() not in IMAGE_SUFFIXES:
                raise OutputError(
                    f"The folder {path} holds more than image frames ({child.name}); "
                    "choose an empty or new folder for the PNG frames."
                )
    elif path.is_dir():
        raise OutputError(f"The output {path} is a folder; give a file name instead.")
