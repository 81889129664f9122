"""Media: the only code that opens video and mask files (PyAV for video, OpenCV for images).

- :func:`open_video` -> :class:`VideoReader` (``.info``, ``.frame(i)``, ``.iter_frames``,
  ``.timestamps``) for a video file or a folder of PNG/JPG frames.
- :class:`VideoWriter` encodes H.264/HEVC/VP9/ProRes/FFV1 or a PNG folder, copies the
  source audio, writes under a temporary name and renames when complete.
- :func:`open_masks` -> :class:`MaskSource` and :func:`write_masks` for mask io.
"""

from editor.media.masks import MaskSource, open_masks, write_masks
from editor.media.reader import AudioStreamInfo, VideoInfo, VideoReader, open_video
from editor.media.writer import CODECS, VideoWriter, available_codecs

__all__ = [
    "AudioStreamInfo",
    "CODECS",
    "MaskSource",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "available_codecs",
    "open_masks",
    "open_video",
    "write_masks",
]
