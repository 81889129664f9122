"""Job settings of a document and how they become a runnable Job (no Qt).

The engine is built by :func:`make_job` on the worker thread, never on the GUI thread:
building ProPainter loads weights with torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from editor.engine_settings import EngineSettings, build_engine, resolve_engine
from models.canvas import Canvas

__all__ = ["DEFAULTS", "RunSnapshot", "build_engine", "engine_name", "engine_settings_of", "make_job", "settings_of",
           "weights_present"]

#: A document's settings and their defaults: the engine's (:class:`EngineSettings`, the same
#: object the CLI's flags read their defaults from) plus the processing size.
DEFAULTS: dict[str, Any] = {
    **EngineSettings().to_dict(),
    "max_side": 0,  # 0 = process at the clip's size
}


def settings_of(doc_settings: dict[str, Any]) -> dict[str, Any]:
    """The document's settings with defaults for what it does not set."""
    out = dict(DEFAULTS)
    out.update({k: v for k, v in doc_settings.items() if k in DEFAULTS})
    return out


def engine_settings_of(doc_settings: dict[str, Any]) -> EngineSettings:
    """The engine part of a document's settings (defaults for what it does not set)."""
    return EngineSettings.from_dict(doc_settings)


def weights_present() -> bool:
    """Whether the ProPainter weights are in the weights cache."""
    return resolve_engine("auto") == "propainter"


def engine_name(settings: dict[str, Any]) -> str:
    """'propainter' or 'classic' for a document's settings."""
    return resolve_engine(settings.get("engine", "auto"))


@dataclass(frozen=True)
class RunSnapshot:
    """What a run needs, copied from the document so the user can keep editing."""

    clip: str
    masks: dict[int, np.ndarray]
    frame_range: tuple[int, int] | None
    settings: dict[str, Any]
    canvas: Canvas | None
    revision: int


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
