"""Job settings of a document and how they become a runnable Job (no Qt).

The engine is built by :func:`make_job` on the worker thread, never on the GUI thread:
building ProPainter loads weights with torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from editor.engine_settings import EngineSettings, build_engine, migrate_settings, resolve_engine
from models.canvas import Canvas

__all__ = ["DEFAULTS", "RunSnapshot", "build_engine", "engine_name", "engine_settings_of", "make_job", "run_key",
           "settings_of", "weights_present"]

#: A document's settings and their defaults: the engine's (:class:`EngineSettings`, the same
#: object the CLI's flags read their defaults from) plus the processing size.
DEFAULTS: dict[str, Any] = {
    **EngineSettings().to_dict(),
    "max_side": 0,  # 0 = process at the clip's size
}


def settings_of(doc_settings: dict[str, Any]) -> dict[str, Any]:
    """The document's settings with defaults for what it does not set (an older project's
    ``fp16`` read as the ``precision`` it meant)."""
    out = dict(DEFAULTS)
    out.update({k: v for k, v in migrate_settings(doc_settings).items() if k in DEFAULTS})
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
    #: where the run writes its frames (an ``editor.document.results.ResultFolder``) and
    #: what it records there (a ``RunInfo``)
    result: Any = None
    run: Any = None
    #: continue an earlier run of the same inputs from this frame (its earlier frames are done)
    resume_from: int | None = None


def run_key(settings: dict[str, Any], canvas: Canvas | None, frame_range: tuple[int, int] | None) -> str:
    """What decides a run's frames apart from the masks, as a short key: two runs with the
    same key and the same masks give the same frames (so one may continue the other)."""
    import hashlib
    import json

    what = {
        "settings": {k: settings_of(settings)[k] for k in sorted(settings_of(settings))},
        "engine": engine_name(settings),
        "canvas": None if canvas is None else [canvas.width, canvas.height, canvas.left, canvas.top],
        "range": list(frame_range) if frame_range else None,
    }
    return hashlib.sha1(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


def make_job(snap: RunSnapshot):
    """The runner's Job for a snapshot (builds the engine: worker thread only).

    The run writes its frames into the snapshot's result folder (the editor's cache), from
    which the window previews them and Export encodes them.
    """
    from editor.jobs.runner import Job, JobSettings

    max_side = int(snap.settings.get("max_side") or 0) or None
    settings = JobSettings(max_side=max_side, overwrite=True, audio=False)
    return Job(
        clip=snap.clip,
        out=snap.result,
        masks=None if snap.canvas is not None else snap.masks,
        engine=build_engine(snap.settings),
        frame_range=None if snap.canvas is not None else snap.frame_range,
        settings=settings,
        canvas=snap.canvas,
        resume_from=snap.resume_from,
        run=snap.run,
    )
