"""Reading video: any file PyAV (FFmpeg) reads, or a folder of PNG/JPG frames.

Frames come out as RGB uint8 arrays of shape (H, W, 3), values in [0, 255], in display
orientation: the container's rotation (display matrix, the ``rotate`` tag of phones) is
already applied, as players show it, so ``info.width``/``info.height`` are the displayed
size and ``info.rotation`` says how the stored frames were turned (masks drawn on the stored
frames are turned the same way by :func:`editor.media.open_masks` given that rotation).

``info.num_frames`` counts the frames that really come out: samples an mp4/mov edit list
leaves out are not counted (FFmpeg never shows them), and when the last frames of a file
cannot be decoded (a damaged or cut final packet) they are dropped; ``info.dropped_frames``
says how many frames the file announces beyond ``num_frames`` and ``info.warnings`` (also
:attr:`VideoReader.warnings`) says why in a sentence for the user. To find this out when the
clip is opened, only its tail (from the keyframe before its last 32 packets) is decoded.

Nothing loads the whole clip: :meth:`VideoReader.iter_frames` decodes in order and
:meth:`VideoReader.frame` seeks to the keyframe before the wanted frame and
decodes forward, keeping a small LRU cache for scrubbing.

A reader is not thread-safe: give each thread (the GUI, a job worker) its own reader.
"""

from __future__ import annotations

import bisect
import math
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import Interpolation

from editor.errors import MediaError
from editor.media._files import list_images, read_image

#: Containers whose sample tables give an exact frame count without demuxing.
_EXACT_COUNT_FORMATS = ("mov", "mp4", "m4a", "3gp", "3g2", "mj2")

#: The tail check (which frames at the end really decode) starts from the keyframe before
#: this many packets from the end ...
_TAIL_LEAD = 32
#: ... and gives up when that is more than this many pixels to decode (250 frames at 1080p,
#: about a second): a long final GOP at a large size is not decoded on open.
_TAIL_MAX_PIXELS = 250 * 1920 * 1080
#: Tail checks already done in this process, by (path, size, mtime): readers of the same
#: clip (the GUI opens several) pay once.
_TAIL_CACHE: OrderedDict[tuple[str, int, int], tuple[list[int], bool, bool]] = OrderedDict()
_TAIL_CACHE_SIZE = 64

DEFAULT_FOLDER_FPS = Fraction(24)

#: swscale flags for exact colour: full chroma interpolation and accurate rounding (the
#: default flags shift colours by a few levels on a round trip).
COLOR_FLAGS = Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


@dataclass(frozen=True)
class AudioStreamInfo:
    """One audio stream of a file: container stream ``index``, ``codec`` name (e.g. "aac"),
    ``sample_rate`` in Hz and number of ``channels``."""

    index: int
    codec: str
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class VideoInfo:
    """What a clip is, read once when it is opened.

    ``width``/``height`` are the displayed size (after rotation). ``fps`` is the nominal
    (average) rate as a Fraction; for variable frame rate clips use
    :attr:`VideoReader.timestamps`. ``duration`` is in seconds. ``rotation`` is the
    clockwise rotation in degrees (0, 90, 180, 270) that was applied to the coded frames
    to display them, as in the ``rotate`` tag phones write. ``codec`` is the video codec
    name ("h264", "png" for a frame folder, ...).

    ``num_frames`` counts the frames that decode; ``dropped_frames`` is how many more the
    file announces (packets at its end that cannot be decoded, dropped as FFmpeg drops
    them). ``warnings`` holds a sentence for each such adjustment, to show the user.
    """

    path: Path
    width: int
    height: int
    fps: Fraction
    num_frames: int
    duration: float
    rotation: int = 0
    audio: list[AudioStreamInfo] = field(default_factory=list)
    codec: str = ""
    is_folder: bool = False
    dropped_frames: int = 0
    warnings: tuple[str, ...] = ()

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), the order OpenCV and :func:`open_masks` use."""
        return (self.width, self.height)


class VideoReader:
    """Random and sequential access to the frames of one clip. Use :func:`open_video`.

    ``frame(i)`` returns a read-only (H, W, 3) uint8 RGB array (it may be shared with the
    cache: copy it before editing); ``iter_frames`` yields fresh writable arrays.
    """

    info: VideoInfo

    def __init__(self, cache_size: int = 16) -> None:
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = max(1, cache_size)
        self._closed = False

    # -- public API -------------------------------------------------------------------
    def __len__(self) -> int:
        return self.info.num_frames

    @property
    def warnings(self) -> list[str]:
        """Sentences about what the reader adjusted (e.g. undecodable last frames dropped),
        for the user; the same as ``info.warnings``."""
        return list(self.info.warnings)

    @property
    def timestamps(self) -> list[float]:
        """Presentation time of each frame in seconds, the first frame at 0.0."""
        raise NotImplementedError  # overridden by both concrete readers

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (0-based, negative counts from the end) as read-only RGB HxWx3."""
        index = self._check_index(index)
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        img = self._read(index)
        img.flags.writeable = False
        self._cache[index] = img
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return img

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Frames ``start`` .. ``stop - 1`` in order as writable RGB HxWx3 uint8 arrays."""
        n = self.info.num_frames
        stop = n if stop is None else min(stop, n)
        if start < 0 or start > n:
            raise MediaError(
                f"Frame {start} is outside {self.info.path}, which has {n} frames; "
                f"choose a start between 0 and {n - 1}."
            )
        for i in range(start, stop):
            cached = self._cache.get(i)
            yield cached.copy() if cached is not None else self._read(i)

    def close(self) -> None:
        """Release the file; safe to call twice."""
        self._closed = True
        self._cache.clear()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers ----------------------------------------------------------------------
    def _check_index(self, index: int) -> int:
        n = self.info.num_frames
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"frame {index} out of range for a clip of {n} frames")
        if self._closed:
            raise ValueError("the reader is closed")
        return index

    def _read(self, index: int) -> np.ndarray:
        raise NotImplementedError


class FolderReader(VideoReader):
    """A folder of PNG/JPG frames in natural name order, all of the same size."""

    def __init__(self, folder: Path, fps: Fraction = DEFAULT_FOLDER_FPS, cache_size: int = 16):
        super().__init__(cache_size)
        self._files = list_images(folder)
        if not self._files:
            raise MediaError(
                f"The folder {folder} contains no PNG or JPG frames; "
                "point to a folder of images or to a video file."
            )
        first = read_image(self._files[0])
        h, w = first.shape[:2]
        self._fps = Fraction(fps)
        n = len(self._files)
        suffix = self._files[0].suffix.lower().lstrip(".")
        self.info = VideoInfo(
            path=folder,
            width=w,
            height=h,
            fps=self._fps,
            num_frames=n,
            duration=float(n / self._fps),
            codec="jpeg" if suffix in ("jpg", "jpeg") else suffix,
            is_folder=True,
        )
        self._first = first

    @property
    def files(self) -> list[Path]:
        """The frame files in the order they are read."""
        return list(self._files)

    @property
    def timestamps(self) -> list[float]:
        return [float(i / self._fps) for i in range(self.info.num_frames)]

    def _read(self, index: int) -> np.ndarray:
        if index == 0 and self._first is not None:
            img, self._first = self._first, None
            return img
        img = read_image(self._files[index])
        if img.shape[:2] != (self.info.height, self.info.width):
            raise MediaError(
                f"The frame {self._files[index]} is {img.shape[1]}x{img.shape[0]} but the first "
                f"frame is {self.info.width}x{self.info.height}; make all frames the same size."
            )
        return img


class FileReader(VideoReader):
    """A video file read with PyAV: seek to the keyframe before, decode forward."""

    def __init__(self, path: Path, cache_size: int = 16) -> None:
        super().__init__(cache_size)
        self._path = path
        try:
            self._container = av.open(str(path), metadata_errors="ignore")
        except av.error.EOFError:
            raise MediaError(
                f"{path} has zero frames: it ends before its first frame (empty or "
                "truncated); choose another file."
            ) from None
        except (av.FFmpegError, UnicodeDecodeError) as exc:
            raise MediaError(
                f"Cannot read {path}: it is not a video or is corrupt ({_short(exc)}); "
                "choose a video file PyAV/FFmpeg can play."
            ) from None
        try:
            self._open_stream()
        except BaseException:
            self._container.close()
            raise

    def _open_stream(self) -> None:
        path, c = self._path, self._container
        if not c.streams.video:
            if c.streams.audio:
                raise MediaError(
                    f"{path} is an audio-only file with no video stream; choose a video file."
                )
            raise MediaError(f"{path} has no video stream; choose a video file.")
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        self._stream = vs
        self._gen: Iterator[av.VideoFrame] | None = None
        self._pos = 0  # index of the next frame the running decoder yields
        self._index_pts: list[int] | None = None
        self._pts_to_index: dict[int, int] = {}
        self._keyframes: list[int] = []
        self._undecodable: set[int] = set()  # packet pts the tail check found undecodable
        # The tail check saw decoded frames with increasing timestamps (not so in files muxed
        # without their B-frame order, e.g. box.mp4, Megamind.avi): only then may the
        # sequential count be corrected from a frame's timestamp.
        self._pts_reliable = False

        first = self._next_decoded()
        if first is None:
            raise MediaError(
                f"{path} has a video stream with zero decodable frames; choose another file."
            )
        ccw = int(round((first.rotation or 0) / 90.0)) % 4
        self._rot_k = ccw  # np.rot90 turns counter-clockwise
        self._first_time = _frame_time(first, vs)
        img0 = self._to_rgb(first)
        self._cache[0] = img0
        img0.flags.writeable = False
        self._pos = 1

        fmt_names = set(c.format.name.split(","))
        exact = bool(fmt_names.intersection(_EXACT_COUNT_FORMATS)) and vs.frames > 0
        warnings: list[str] = []
        cut = 0  # samples the file's edit list leaves out (mp4/mov): never shown, not counted
        if exact:
            n = int(vs.frames)
            cut, where = _edit_list_cut(vs)
            if cut and n - cut >= 1:
                n -= cut
                where = f"{where} {cut}" if where else str(cut)
                warnings.append(
                    f"{path.name}: {where} frame(s) are left out by the file's edit list "
                    f"and are dropped (as ffmpeg does); the clip has {n} frames."
                )
            else:
                cut = 0
        else:
            n = len(self._build_index())
        dropped, trailing = self._check_tail()
        if dropped and n - dropped >= 1:
            n -= dropped
            if trailing:
                why = f"the last {dropped} frame(s) cannot be decoded (the end of the file is damaged or cut)"
            else:
                why = f"{dropped} frame(s) cannot be decoded (damaged packets)"
            warnings.append(f"{path.name}: {why} and are dropped; the clip has {n} frames.")
        else:
            dropped = 0
        dropped += cut
        fps = _nominal_fps(vs)
        if self._index_pts is not None and len(self._index_pts) > 1 and fps is None:
            span = (self._index_pts[-1] - self._index_pts[0]) * vs.time_base
            fps = Fraction(len(self._index_pts) - 1) / span if span > 0 else None
        fps = fps or Fraction(24)
        if vs.duration is not None and vs.time_base is not None and vs.duration > 0:
            duration = float(vs.duration * vs.time_base)
        elif c.duration:
            duration = c.duration / 1_000_000
        else:
            duration = float(n / fps)
        audio = [
            AudioStreamInfo(
                index=a.index,
                codec=a.codec_context.name,
                sample_rate=int(a.codec_context.sample_rate or 0),
                channels=int(a.codec_context.channels or 0),
            )
            for a in c.streams.audio
        ]
        h, w = img0.shape[:2]
        self.info = VideoInfo(
            path=path,
            width=w,
            height=h,
            fps=fps,
            num_frames=n,
            duration=duration,
            rotation=(-90 * ccw) % 360,
            audio=audio,
            codec=vs.codec_context.name,
            is_folder=False,
            dropped_frames=dropped,
            warnings=tuple(warnings),
        )

    # -- the tail: which of the last packets really decode ---------------------------------
    def _check_tail(self) -> tuple[int, bool]:
        """Decode the end of the clip (in a second demuxer) and compare the frames that come
        out with the packets that went in. Returns (number of packets that gave no frame,
        whether they are all after the last frame that did). The undecodable packets'
        timestamps are left out of the index, so ``timestamps`` and random access agree with
        ``num_frames``. A check that cannot run (no seeking, a final GOP too long to decode
        cheaply, see :data:`_TAIL_MAX_PIXELS`) changes nothing."""
        key = _file_key(self._path)
        result = _TAIL_CACHE.get(key) if key is not None else None
        if result is None:
            try:
                result = self._undecodable_tail()
            except (av.FFmpegError, OSError, ValueError):
                result = ([], True, False)
            if key is not None:
                _TAIL_CACHE[key] = result
                while len(_TAIL_CACHE) > _TAIL_CACHE_SIZE:
                    try:
                        _TAIL_CACHE.popitem(last=False)
                    except KeyError:  # another thread's reader emptied it first
                        break
        missing, trailing, self._pts_reliable = result
        if not missing:
            return 0, True
        self._undecodable = set(missing)
        if self._index_pts is not None:  # built already: drop the undecodable timestamps
            self._index_pts = None
            self._build_index()
        return len(missing), trailing

    def _undecodable_tail(self) -> tuple[list[int], bool, bool]:
        """(timestamps of the packets near the end that give no frame, whether they all come
        after the last frame that does, whether the decoded frames' timestamps increase)."""
        vs = self._stream
        nothing: tuple[list[int], bool, bool] = ([], True, False)
        with av.open(str(self._path), metadata_errors="ignore") as c:
            s = c.streams[vs.index]
            s.thread_type = "AUTO"  # as the reader decodes: a threaded decoder loses the
            # frames in flight behind a damaged last packet, and those must be counted too
            pixels = max(1, (s.codec_context.width or 1920) * (s.codec_context.height or 1080))
            max_packets = max(2 * _TAIL_LEAD, _TAIL_MAX_PIXELS // pixels)
            # Start from the keyframe before the last few packets.
            entries = _index_entry_times(s)
            if entries:
                target = entries[max(0, len(entries) - _TAIL_LEAD)]
            elif self._index_pts:
                target = self._index_pts[max(0, len(self._index_pts) - _TAIL_LEAD)]
            elif s.duration and s.time_base:
                rate = _nominal_fps(s) or Fraction(24)
                back = int(_TAIL_LEAD / rate / s.time_base)
                target = max((s.start_time or 0), (s.start_time or 0) + s.duration - back)
            else:
                return nothing
            c.seek(int(target), stream=s, backward=True, any_frame=False)
            key: int | None = None  # pts of the first keyframe after the seek
            packets: list[int | None] = []
            frames: list[int | None] = []

            def decode(pkt: av.Packet | None) -> None:
                try:
                    out = s.decode(pkt)
                except av.FFmpegError:
                    return  # a damaged packet: it gives no frame, which is what is counted
                for f in out:
                    if key is None or f.pts is None or f.pts >= key:
                        frames.append(f.pts)

            for pkt in c.demux(s):
                if pkt.size == 0 or pkt.is_discard:
                    continue
                t = pkt.pts if pkt.pts is not None else pkt.dts
                if key is None:
                    if not pkt.is_keyframe:
                        continue  # a demuxer that lands before the keyframe
                    key = t
                if len(packets) >= max_packets:
                    return nothing
                if key is None or t is None or t >= key:  # not a leading picture of an open GOP
                    packets.append(t)
                decode(pkt)
            decode(None)
        got = [f for f in frames if f is not None]
        reliable = len(got) == len(frames) > 1 and all(b > a for a, b in zip(got, got[1:]))
        dropped = len(packets) - len(frames)
        if dropped <= 0 or key is None:
            return [], True, reliable
        sent = [p for p in packets if p is not None]
        if len(got) == len(frames) and len(sent) == len(packets) and set(got) <= set(sent):
            missing = sorted(set(sent) - set(got))
            if len(missing) == dropped:
                return missing, min(missing) > max(got, default=key - 1), reliable
        # Timestamps that do not match: assume the last ones (in time) are the missing ones.
        return sorted(sent)[len(sent) - dropped:], True, False

    # -- index: packet timestamps, found by demuxing only (no decoding) ------------------
    def _build_index(self) -> list[int]:
        if self._index_pts is not None:
            return self._index_pts
        pts_list: list[int] = []
        keys: list[int] = []
        with av.open(str(self._path), metadata_errors="ignore") as c:
            vs = c.streams[self._stream.index]
            try:
                for pkt in c.demux(vs):
                    if pkt.size == 0 or pkt.is_discard:
                        continue
                    t = pkt.pts if pkt.pts is not None else pkt.dts
                    if t is None:
                        t = (pts_list[-1] + 1) if pts_list else 0
                    pts_list.append(int(t))
                    if pkt.is_keyframe:
                        keys.append(int(t))
            except av.FFmpegError:
                pass  # a truncated tail: index what could be read
        order = sorted(pts_list)
        if self._undecodable:
            order = [p for p in order if p not in self._undecodable]
            keys = [k for k in keys if k not in self._undecodable]
        self._index_pts = order
        self._pts_to_index = {p: i for i, p in enumerate(order)}
        self._keyframes = sorted(self._pts_to_index[k] for k in keys if k in self._pts_to_index)
        return order

    @property
    def timestamps(self) -> list[float]:
        pts = self._build_index()
        tb = self._stream.time_base
        base = pts[0] if pts else 0
        times = [float((p - base) * tb) for p in pts]
        n = self.info.num_frames
        if len(times) < n:  # the demuxer saw fewer packets than the header announced
            step = 1.0 / float(self.info.fps)
            last = times[-1] if times else -step
            times += [last + step * (k + 1) for k in range(n - len(times))]
        return times[:n]

    # -- decoding ---------------------------------------------------------------------
    def _decode_packets(self) -> Iterator[av.VideoFrame]:
        """Frames in order from the current demuxer position. A packet the decoder rejects
        gives no frame instead of ending the clip (the tail check on open counts the frames
        this way, so ``num_frames`` matches what comes out)."""
        for pkt in self._container.demux(self._stream):
            try:
                frames = self._stream.decode(pkt)
            except av.FFmpegError:
                if pkt.size == 0:
                    return  # the flush at the end failed: nothing more comes out
                continue
            yield from frames

    def _next_decoded(self) -> av.VideoFrame | None:
        if self._gen is None:
            self._gen = self._decode_packets()
        try:
            return next(self._gen)
        except StopIteration:
            return None
        except av.FFmpegError as exc:
            raise MediaError(
                f"Cannot decode {self._path}: the file is corrupt ({_short(exc)}); "
                "re-encode or re-download it."
            ) from None

    def _to_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        if frame.format.name in ("rgb24",):
            img = frame.to_ndarray()
        else:
            cs = int(frame.colorspace)
            if cs in (0, 2):  # RGB-coded or unspecified: guess as players do, by height
                cs = 1 if frame.height >= 720 else 6
            full = int(frame.color_range) == 2
            img = frame.reformat(
                format="rgb24",
                interpolation=COLOR_FLAGS,
                src_colorspace=cs,
                src_color_range=2 if full else 1,
            ).to_ndarray()
        if self._rot_k:
            img = np.ascontiguousarray(np.rot90(img, k=self._rot_k))
        return img

    def _seek_needed(self, index: int) -> bool:
        if self._gen is None or index < self._pos:
            return True
        if index == self._pos:
            return False
        # Decoding forward is cheaper than seeking unless a keyframe lies in between.
        self._build_index()
        k = bisect.bisect_right(self._keyframes, index) - 1  # last keyframe <= index
        return k >= 0 and self._keyframes[k] > self._pos

    def _read(self, index: int, from_start: bool = False) -> np.ndarray:
        if self._closed:
            raise ValueError("the reader is closed")
        if from_start or self._seek_needed(index):
            pts = self._build_index()
            if index >= len(pts):
                raise MediaError(
                    f"Frame {index} of {self._path} cannot be found; the file may be truncated."
                )
            target = pts[0] if from_start else pts[index]
            self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
            self._stream.codec_context.flush_buffers()
            self._gen = self._decode_packets()
            self._pos = -1  # unknown until the first frame's pts is seen
        while True:
            frame = self._next_decoded()
            if frame is None:
                raise MediaError(
                    f"Frame {index} of {self._path} could not be decoded; "
                    "the file may be truncated or corrupt."
                )
            if self._pos < 0:
                self._build_index()
                got = self._pts_to_index.get(frame.pts) if frame.pts is not None else None
                if got is None:
                    continue
                self._pos = got
            elif (self._pts_reliable and self._index_pts is not None and frame.pts is not None
                  and len(self._pts_to_index) == len(self._index_pts)):
                # Counting is right unless a damaged packet gave no frame: trust the timestamp.
                at = self._pts_to_index.get(frame.pts)
                if at is not None and at != self._pos:
                    self._pos = at
            got, self._pos = self._pos, self._pos + 1
            if got == index:
                return self._to_rgb(frame)
            if got > index:
                if from_start:
                    raise MediaError(
                        f"Frame {index} of {self._path} could not be decoded; "
                        "the file may be corrupt."
                    )
                # The seek landed past the frame (a keyframe the index did not know about
                # or odd timestamps): decode from the very start, slow but always right.
                return self._read(index, from_start=True)

    def close(self) -> None:
        if not self._closed:
            self._gen = None
            self._container.close()
        super().close()


def _file_key(path: Path) -> tuple[str, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def _index_entry_times(vs: av.video.stream.VideoStream) -> list[int]:
    """The timestamps of the demuxer's index (mp4/mov/mkv with cues), [] when it has none."""
    try:
        return [int(e.timestamp) for e in vs.index_entries]
    except (AttributeError, av.FFmpegError, ValueError):  # an older PyAV
        return []


def _edit_list_cut(vs: av.video.stream.VideoStream) -> tuple[int, str]:
    """(how many samples the demuxer marks as discarded by the edit list, where: "the
    first", "the last" or "") from the stream's index, without reading the file."""
    try:
        entries = list(vs.index_entries)
    except (AttributeError, av.FFmpegError, ValueError):  # an older PyAV: nothing to subtract
        return 0, ""
    flags = [bool(e.is_discard) for e in entries]
    cut = sum(flags)
    if not cut:
        return 0, ""
    kept = [i for i, f in enumerate(flags) if not f]
    gone = [i for i, f in enumerate(flags) if f]
    if not kept or min(gone) > max(kept):
        return cut, "the last"
    if max(gone) < min(kept):
        return cut, "the first"
    return cut, ""


def _frame_time(frame: av.VideoFrame, vs: av.video.stream.VideoStream) -> float:
    if frame.pts is None or vs.time_base is None:
        return 0.0
    return float(frame.pts * vs.time_base)


def _nominal_fps(vs: av.video.stream.VideoStream) -> Fraction | None:
    for rate in (vs.average_rate, vs.guessed_rate, vs.base_rate):
        if rate is not None and rate > 0 and math.isfinite(float(rate)):
            return Fraction(rate.numerator, rate.denominator)
    return None


def _short(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(":")[0].strip() or type(exc).__name__


def open_video(path: str | Path, fps: Fraction | float | None = None, cache_size: int = 16) -> VideoReader:
    """Open a video file or a folder of PNG/JPG frames.

    Args:
        path: a file FFmpeg reads (mp4, mov, mkv, webm, avi, ...) or a folder of images
            read in natural name order.
        fps: frame rate of a frame folder (default 24); ignored for video files.
        cache_size: how many decoded frames :meth:`VideoReader.frame` keeps.

    Raises:
        MediaError: missing path, folder without images, not a video or corrupt,
            audio-only file, zero frames.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise MediaError(f"The video {p} does not exist; check the path.")
    if p.is_dir():
        rate = Fraction(fps).limit_denominator(100_000) if fps else DEFAULT_FOLDER_FPS
        return FolderReader(p, rate, cache_size)
    return FileReader(p, cache_size)
