"""Carrying the source audio into a written video.

Audio packets are copied without re-encoding (remuxed, bit-exact) when the output container
can hold the codec; otherwise they are decoded and re-encoded (Opus for WebM, AAC elsewhere).
Packets are muxed interleaved with the video as it is written, and stop at the written
video's duration, so a clip cut to a range keeps only the matching audio.

Source audio that starts before the first video frame (a clip whose video stream starts
0.5 s after its audio) is kept whole when writing from the first frame: the output's audio
starts at 0 and its video :attr:`AudioMux.lead` seconds later, as in the source, so nothing is
cut and the picture stays in sync. Audio that starts after the video keeps its delay too.

A range that starts later (``start`` seconds into the source) seeks the audio there and
shifts its timestamps so that ``start`` becomes 0 in the output. Re-encoded audio is cut at
the exact sample. Copied audio can only be cut between packets: the packet that straddles
``start`` is kept with a negative timestamp (like an AAC priming packet at a file's start), so
players that honour the container's edit list start exactly there and others up to one audio
frame early (1024 samples, about 21 ms, for AAC at 48 kHz); audio and video stay in sync.
Used by :class:`editor.media.writer.VideoWriter`; nothing else needs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from editor.errors import MediaError

#: Encoder used when a codec cannot be copied into a container, by output format name.
_REENCODE = {"webm": "libopus", "ogg": "libopus"}
_DEFAULT_REENCODE = "aac"
#: Seconds before a later audio start that the source is seeked to.
_SEEK_MARGIN = 1.0


class _Track:
    """One source audio stream and the output stream it goes to."""

    def __init__(self, src: av.audio.stream.AudioStream, out: av.stream.Stream, copy: bool):
        self.src = src
        self.out = out
        self.copy = copy
        self.resampler: av.AudioResampler | None = None
        self.samples = 0  # output sample position of the next encoded sample (re-encode only)
        self.started = False  # the first decoded frame set ``samples`` from its time
        if not copy:
            ctx = out.codec_context
            self.resampler = av.AudioResampler(
                format=ctx.format.name,
                layout=ctx.layout.name,
                rate=ctx.sample_rate,
                frame_size=ctx.frame_size or None,
            )


class AudioMux:
    """Adds the audio streams of ``source`` to ``output`` and muxes their packets over time.

    Call :meth:`feed_until` as video is written and :meth:`finish` before closing
    ``output``. ``copied`` says, per source stream, whether it is remuxed bit-exact.
    ``start``: seconds into the source (from its first video frame) that become 0 in the
    output (see the module docstring for the precision). ``lead``: seconds the output's
    first video frame comes after the output's 0, when the source's audio starts that much
    before its video (``start`` = 0 only; else 0). The times given to :meth:`feed_until`
    and :meth:`finish` are output times, ``lead`` included.
    """

    def __init__(self, source: Path, output: av.container.OutputContainer, start: float = 0.0) -> None:
        try:
            self._src = av.open(str(source), metadata_errors="ignore")
        except av.FFmpegError:
            raise MediaError(
                f"Cannot read the audio of {source}: it is not a media file or is corrupt; "
                "choose the original clip or write without audio."
            ) from None
        self._out = output
        self._tracks: dict[int, _Track] = {}
        fmt = output.format.name.split(",")[0]
        for s in self._src.streams.audio:
            self._tracks[s.index] = self._add_track(s, fmt)
        self.copied = [t.copy for t in self._tracks.values()]
        # Keep audio aligned with the first video frame, which the writer puts at t=lead.
        video0 = _video_start(source)
        self._start = float(start)
        self._offset = video0 + self._start  # source time of the output's 0
        self.lead = 0.0
        audio0 = self._audio_start()
        if self._start == 0 and audio0 is not None and audio0 < video0 - 1e-3:
            self._offset = audio0
            self.lead = video0 - audio0
        if self._start > 0 and self._tracks:
            # Seek a margin before the start: demuxers land on a nearby packet, not an exact one.
            self._src.seek(max(0, int((self._offset - _SEEK_MARGIN) * av.time_base)))
        self._packets: Iterator[av.Packet] | None = None
        self._pending: av.Packet | None = None
        self._done = not self._tracks

    def _add_track(self, s: av.audio.stream.AudioStream, fmt: str) -> _Track:
        try:
            out = self._out.add_stream_from_template(s)
            return _Track(s, out, copy=True)
        except (ValueError, av.FFmpegError):
            pass  # the container cannot hold this codec: re-encode below
        name = _REENCODE.get(fmt, _DEFAULT_REENCODE)
        ctx = s.codec_context
        rate = ctx.sample_rate or 48000
        if name == "libopus" and rate not in (48000, 24000, 16000, 12000, 8000):
            rate = 48000
        out = self._out.add_stream(name, rate=rate)
        out.codec_context.layout = "stereo" if (ctx.channels or 2) >= 2 else "mono"
        out.codec_context.format = av.Codec(name, "w").audio_formats[0].name
        out.codec_context.time_base = Fraction(1, rate)
        return _Track(s, out, copy=False)

    def _audio_start(self) -> float | None:
        """Source time where the first audio stream that is carried starts; the negative
        times of encoder priming (an AAC stream at -21 ms) count as 0."""
        times = [
            float(t.src.start_time * t.src.time_base)
            for t in self._tracks.values()
            if t.src.start_time is not None and t.src.time_base is not None
        ]
        return max(0.0, min(times)) if times else None

    @property
    def has_audio(self) -> bool:
        return bool(self._tracks)

    def _time(self, pkt: av.Packet) -> float:
        t = pkt.pts if pkt.pts is not None else pkt.dts
        if t is None or pkt.time_base is None:
            return 0.0
        return float(t * pkt.time_base) - self._offset

    @staticmethod
    def _duration(pkt: av.Packet) -> float:
        return float(pkt.duration * pkt.time_base) if pkt.duration and pkt.time_base is not None else 0.0

    def _next_packet(self) -> av.Packet | None:
        if self._pending is not None:
            pkt, self._pending = self._pending, None
            return pkt
        if self._packets is None:
            self._packets = self._src.demux([t.src for t in self._tracks.values()])
        for pkt in self._packets:
            if pkt.size == 0 and pkt.pts is None:
                continue  # demuxer flush marker
            return pkt
        return None

    def feed_until(self, t: float) -> None:
        """Mux every source audio packet that starts before ``t`` seconds of output."""
        while not self._done:
            pkt = self._next_packet()
            if pkt is None:
                self._done = True
                break
            time = self._time(pkt)
            if time >= t:
                self._pending = pkt
                break
            if self._start > 0 and time + self._duration(pkt) <= 0 and self._tracks[pkt.stream.index].copy:
                continue  # before the range (re-encoded audio decodes it for pre-roll, then cuts it)
            self._mux(pkt)

    def finish(self, end: float) -> None:
        """Mux the audio up to ``end`` seconds (the written video's duration), then flush."""
        self.feed_until(end)
        self._done = True
        for track in self._tracks.values():
            if not track.copy:
                self._encode(track, None)

    def _mux(self, pkt: av.Packet) -> None:
        track = self._tracks[pkt.stream.index]
        if track.copy:
            if self._offset:
                shift = round(self._offset / pkt.time_base)
                if pkt.pts is not None:
                    pkt.pts -= shift
                if pkt.dts is not None:
                    pkt.dts -= shift
            pkt.stream = track.out
            self._out.mux(pkt)
            return
        try:
            frames = pkt.decode()
        except av.FFmpegError:
            return  # a damaged audio packet is dropped rather than failing the export
        for frame in frames:
            if self._start > 0:
                frame = self._cut_before_start(frame)
                if frame is None:
                    continue
            if not track.started:
                # Audio that starts after the output's 0 keeps its delay (as copying does).
                track.started = True
                if frame.pts is not None and frame.time_base is not None:
                    at = float(frame.pts * frame.time_base) - self._offset
                    track.samples = max(0, round(at * track.out.codec_context.sample_rate))
            self._encode(track, frame)

    def _cut_before_start(self, frame: av.AudioFrame) -> av.AudioFrame | None:
        """``frame`` without its samples before the output's 0 (None when all are before it)."""
        if frame.pts is None or frame.time_base is None:
            return frame
        skip = round((self._offset - float(frame.pts * frame.time_base)) * frame.sample_rate)
        if skip <= 0:
            return frame
        if skip >= frame.samples:
            return None
        data = frame.to_ndarray()
        per_sample = 1 if frame.format.is_planar else len(frame.layout.channels)
        cut = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[:, skip * per_sample:]),
                                         format=frame.format.name, layout=frame.layout.name)
        cut.sample_rate = frame.sample_rate
        return cut

    def _encode(self, track: _Track, frame: av.AudioFrame | None) -> None:
        assert track.resampler is not None
        frame_list = track.resampler.resample(frame)
        out_frames: list[av.AudioFrame | None] = list(frame_list)
        if frame is None:
            out_frames.append(None)
        for f in out_frames:
            if f is not None:
                f.pts = track.samples
                f.time_base = Fraction(1, track.out.codec_context.sample_rate)
                track.samples += f.samples
            for p in track.out.encode(f):
                self._out.mux(p)

    def close(self) -> None:
        self._src.close()


def _video_start(source: Path) -> float:
    """Source time of the first video frame (the reader's frame 0): the smallest timestamp
    among the first video packets, which the stream's start time does not always give (AVI
    with packed B-frames starts at pts 1). Read with a second demuxer, so that the one the
    audio comes from is never seeked (a seek to 0 in an mp4 whose video starts late lands
    its audio late)."""
    try:
        with av.open(str(source), metadata_errors="ignore") as src:
            vids = src.streams.video
            if not vids or vids[0].time_base is None:
                return 0.0
            vs = vids[0]
            first: list[int] = []
            try:
                for k, pkt in enumerate(src.demux(vs)):
                    if k >= 16:
                        break
                    t = pkt.pts if pkt.pts is not None else pkt.dts
                    if t is not None and pkt.size and not pkt.is_discard:
                        first.append(t)
            except av.FFmpegError:
                pass
            if not first and vs.start_time is not None:
                first.append(vs.start_time)
            return float(min(first) * vs.time_base) if first else 0.0
    except av.FFmpegError:
        return 0.0


def write_audio(path: str | Path, samples: np.ndarray, rate: int, codec: str = "aac") -> None:
    """Write float samples in [-1, 1], shape (channels, n), to an audio file (e.g. .m4a).

    Used to build the sample clip and test inputs; no temporary name, the caller owns ``path``.
    """
    data = np.ascontiguousarray(np.clip(samples, -1.0, 1.0), dtype=np.float32)
    if data.ndim != 2 or data.shape[0] not in (1, 2):
        raise ValueError(f"samples must be (1 or 2, n) float32, got {data.shape}")
    layout = "mono" if data.shape[0] == 1 else "stereo"
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.codec_context.layout = layout
        fmt = av.Codec(s.codec_context.name, "w").audio_formats[0].name
        s.codec_context.format = fmt
        resampler = av.AudioResampler(format=fmt, layout=layout, rate=rate,
                                      frame_size=s.codec_context.frame_size or 1024)
        frame = av.AudioFrame.from_ndarray(data, format="fltp", layout=layout)
        frame.sample_rate = rate
        frame.pts = 0
        frame.time_base = Fraction(1, rate)
        for chunk in list(resampler.resample(frame)) + list(resampler.resample(None)):
            for p in s.encode(chunk):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
