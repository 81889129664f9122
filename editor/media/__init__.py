"""Media: the only code that opens video and mask files (PyAV for video, OpenCV for images).

- :func:`open_video` -> :class:`VideoReader` (``.info``, ``.frame(i)``, ``.iter_frames``,
  ``.timestamps``, ``.warnings``) for a video file or a folder of PNG/JPG frames; frames in
  display orientation, ``info.num_frames`` the frames that really decode.
- :class:`VideoWriter` encodes H.264/HEVC/VP9/ProRes/FFV1 or a PNG folder at the exact frame
  size, copies the source audio in sync (all of it, also before the first frame), writes
  under a temporary name and renames when complete; ``.warnings`` says what it changed.
- :func:`open_masks` -> :class:`MaskSource` (``.warnings``) and :func:`write_masks` for mask
  io; ``rotation=info.rotation`` accepts masks drawn on a rotated clip's stored frames.

Every ``warnings`` list holds sentences meant for the user (the CLI prints them, the editor
shows them).
"""

from editor.media.masks import MaskSource, mask_sequence, open_masks, write_masks
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
    "mask_sequence",
    "open_masks",
    "open_video",
    "write_masks",
]
