"""Export: the clip with results where there are results, written in the background by a
TaskWorker (no Qt here). The writer uses a temporary name renamed only when complete."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from models.canvas import Canvas
from models.errors import Cancelled


@dataclass(frozen=True)
class ExportSettings:
    """``frame_range``: (start, stop), stop exclusive. ``masks_path``: also write the masks
    there (PNG folder, or a video by suffix); None = do not."""

    out: str
    codec: str = "h264"
    quality: int | None = None
    frame_range: tuple[int, int] | None = None
    audio: bool = True
    masks_path: str | None = None


def export_video(
    clip: str,
    settings: ExportSettings,
    result: Callable[[int], np.ndarray | None],
    mask: Callable[[int], np.ndarray],
    canvas: Canvas | None,
    report: Callable[[int, int, str], None],
    cancelled: Callable[[], bool],
    notes: list[str] | None = None,
) -> Path:
    """Write frames ``frame_range`` of ``clip``: ``result(i)`` where it has one, else the source
    (placed on ``canvas`` when expanded). Returns the output path; what the writer had to
    change (an odd size in 4:4:4, audio that starts before the picture) is appended to ``notes``.

    The audio of the range is copied: from the source time of frame ``start`` on, cut to the
    range's duration (see :mod:`editor.media.audio` for the precision). Raises
    MediaError/OutputError, or Cancelled (nothing left behind).
    """
    from editor.media import VideoWriter, open_video
    from editor.media.masks import write_masks

    with open_video(clip) as reader:
        info = reader.info
        start, stop = settings.frame_range or (0, info.num_frames)
        w, h = (canvas.width, canvas.height) if canvas is not None else (info.width, info.height)
        audio = clip if settings.audio and info.audio and not info.is_folder else None
        audio_start = reader.timestamps[start] if audio is not None else 0.0
        total = stop - start
        with VideoWriter(settings.out, w, h, info.fps, codec=settings.codec, quality=settings.quality,
                         audio_from=audio, audio_start=audio_start, overwrite=True) as writer:
            if notes is not None:
                notes.extend(str(t) for t in getattr(writer, "warnings", []))
            for k, frame in enumerate(reader.iter_frames(start, stop)):
                i = start + k
                if cancelled():
                    raise Cancelled("the export was cancelled; nothing was written")
                out = result(i)
                if out is None:
                    out = canvas.place(frame) if canvas is not None else frame
                writer.write(out)
                report(k + 1, total, "Exporting")
    if settings.masks_path:
        write_masks(settings.masks_path, ((mask(i) > 0).astype(np.uint8) for i in range(start, stop)),
                    fps=float(info.fps), overwrite=True)
    return Path(settings.out)
