"""Job settings of a document and how they become a runnable Job (no Qt).

The engine is built by :func:`make_job` on the worker thread, never on the GUI thread:
building ProPainter loads weights with torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from models.canvas import Canvas

DEFAULTS: dict[str, Any] = {
    "engine": "auto",  # "auto" (ProPainter when weights are present), "propainter", "classic"
    "device": "auto",
    "fp16": False,
    "max_side": 0,  # 0 = process at the clip's size
    "subvideo_length": 80,
    "neighbor_length": 10,
    "ref_stride": 10,
    "mask_dilation": 4,
}

#: The classic engine emits a chunk (a preview) every this many frames at most.
CLASSIC_MAX_CHUNK = 10


def settings_of(doc_settings: dict[str, Any]) -> dict[str, Any]:
    """The document's settings with defaults for what it does not set."""
    out = dict(DEFAULTS)
    out.update({k: v for k, v in doc_settings.items() if k in DEFAULTS})
    return out


def weights_present() -> bool:
    try:
        from models.weights import weights_available
    except ImportError:
        return False
    return bool(weights_available())


def engine_name(settings: dict[str, Any]) -> str:
    """'propainter' or 'classic' for these settings."""
    choice = settings.get("engine", "auto")
    if choice == "auto":
        return "propainter" if weights_present() else "classic"
    return choice


@dataclass(frozen=True)
class RunSnapshot:
    """What a run needs, copied from the document so the user can keep editing."""

    clip: str
    masks: dict[int, np.ndarray]
    frame_range: tuple[int, int] | None
    settings: dict[str, Any]
    canvas: Canvas | None
    revision: int


def build_engine(settings: dict[str, Any]):
    """The engine for ``settings`` (may load weights: call it on a worker thread)."""
    s = settings_of(settings)
    if engine_name(s) == "classic":
        from models.classic import ClassicConfig, ClassicEngine

        return ClassicEngine(
            ClassicConfig(
                mask_dilation=int(s["mask_dilation"]),
                neighbor_radius=max(1, int(s["neighbor_length"])),
                chunk_size=max(1, min(CLASSIC_MAX_CHUNK, int(s["subvideo_length"]))),
            )
        )
    from models.config import ProPainterConfig
    from models.pipeline import ProPainterEngine

    config = ProPainterConfig(
        mask_dilation=int(s["mask_dilation"]),
        ref_stride=int(s["ref_stride"]),
        neighbor_length=int(s["neighbor_length"]),
        subvideo_length=int(s["subvideo_length"]),
        fp16=bool(s["fp16"]),
        device=str(s["device"]),
    )
    return ProPainterEngine(config)


def make_job(snap: RunSnapshot):
    """The runner's Job for a snapshot (builds the engine: worker thread only).

    A preview run: it writes no file (``out=None``); its frames reach the worker as chunks and
    the window keeps them in its result store, which is what export reads.
    """
    from editor.jobs.runner import Job, JobSettings

    max_side = int(snap.settings.get("max_side") or 0) or None
    settings = JobSettings(codec="h264", max_side=max_side, overwrite=True, audio=False)
    return Job(
        clip=snap.clip,
        out=None,
        masks=None if snap.canvas is not None else snap.masks,
        engine=build_engine(snap.settings),
        frame_range=None if snap.canvas is not None else snap.frame_range,
        settings=settings,
        canvas=snap.canvas,
    )
