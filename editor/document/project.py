"""Project files: JSON settings plus compressed masks in one zip (``.ppproj``). No Qt.

Layout of the zip: ``project.json`` (format version, clip path, range, expansion, job
settings, clicked objects' keyframes and flags), ``masks.npz`` (one uint8 HxW array per frame
that has a mask, named ``f<frame>``) and, from version 2, ``objects.npz`` (each clicked
object's masks, bit-packed rows, named ``o<object>_f<frame>``). Saving writes a temporary file next to the target and renames it only when
complete, so an existing project is never left half-written.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.errors import InputError

FORMAT = "propainter-editor-project"
VERSION = 2
SUFFIX = ".ppproj"


@dataclass
class SavedObject:
    """One clicked object: its masks (frame -> HxW bool), keyframes, flagged frames and the
    tracker's trust in each tracked frame (frame -> (keyframe whose track wrote it, confidence))."""

    track_id: int
    masks: dict[int, np.ndarray] = field(default_factory=dict)
    keyframes: list[int] = field(default_factory=list)
    flags: dict[int, str] = field(default_factory=dict)
    trust: dict[int, tuple[int, float]] = field(default_factory=dict)


@dataclass
class ProjectData:
    """Everything a project file holds. ``masks``: frame -> HxW uint8 coverage."""

    clip: str
    num_frames: int
    width: int
    height: int
    in_point: int = 0
    out_point: int | None = None
    masks: dict[int, np.ndarray] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    expansion: dict[str, Any] | None = None
    objects: list[SavedObject] = field(default_factory=list)
    #: the runs' frames in the editor's cache: {"folder": name, "fresh_runs": [run ids whose
    #: frames were computed from these masks]}; None = no result
    result: dict[str, Any] | None = None


def save_project(path: str | os.PathLike, data: ProjectData) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + rename)."""
    path = Path(path)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "clip": str(data.clip),
        "num_frames": data.num_frames,
        "width": data.width,
        "height": data.height,
        "in_point": data.in_point,
        "out_point": data.out_point,
        "settings": data.settings,
        "expansion": data.expansion,
        "result": data.result,
        "objects": [{"id": o.track_id, "keyframes": list(o.keyframes), "flags": {str(f): r for f, r in o.flags.items()},
                     "trust": {str(f): [int(k), float(c)] for f, (k, c) in o.trust.items()}}
                    for o in data.objects],
    }
    buf = io.BytesIO()
    np.savez_compressed(buf, **{f"f{k}": v for k, v in sorted(data.masks.items())})
    obj_buf = io.BytesIO()
    np.savez_compressed(obj_buf, **{f"o{o.track_id}_f{f}": np.packbits(m, axis=1)
                                    for o in data.objects for f, m in sorted(o.masks.items())})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise InputError(f"cannot write the project {path}: {exc.strerror}; choose another folder") from None
    try:
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("project.json", json.dumps(meta, indent=2))
            zf.writestr("masks.npz", buf.getvalue(), compress_type=zipfile.ZIP_STORED)
            zf.writestr("objects.npz", obj_buf.getvalue(), compress_type=zipfile.ZIP_STORED)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write the project {path}: {exc.strerror}; choose another folder") from None


def load_project(path: str | os.PathLike) -> ProjectData:
    """Read a project written by :func:`save_project`; raises ``InputError`` for anything else."""
    path = Path(path)
    bad = f"{path} is not a readable project file: open a {SUFFIX} file saved by this editor"
    try:
        with zipfile.ZipFile(path) as zf:
            meta = json.loads(zf.read("project.json"))
            masks_raw = zf.read("masks.npz")
            objects_raw = zf.read("objects.npz") if "objects.npz" in zf.namelist() else None
    except FileNotFoundError:
        raise InputError(f"project {path} does not exist: check the path") from None
    except (OSError, KeyError, zipfile.BadZipFile, ValueError):
        raise InputError(bad) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InputError(bad)
    if int(meta.get("version", 0)) > VERSION:
        raise InputError(f"project {path} was saved by a newer version of the editor: update the editor")
    try:
        with np.load(io.BytesIO(masks_raw)) as npz:
            masks = {int(k[1:]): np.asarray(npz[k], dtype=np.uint8) for k in npz.files}
        data = ProjectData(
            clip=str(meta["clip"]),
            num_frames=int(meta["num_frames"]),
            width=int(meta["width"]),
            height=int(meta["height"]),
            in_point=int(meta.get("in_point", 0)),
            out_point=None if meta.get("out_point") is None else int(meta["out_point"]),
            masks=masks,
            settings=dict(meta.get("settings") or {}),
            expansion=meta.get("expansion"),
            result=meta.get("result") if isinstance(meta.get("result"), dict) else None,
            objects=_load_objects(meta.get("objects") or [], objects_raw, int(meta["height"]), int(meta["width"])),
        )
    except (KeyError, TypeError, ValueError, OSError):
        raise InputError(bad) from None
    for f, m in data.masks.items():
        if m.shape != (data.height, data.width) or not 0 <= f < data.num_frames:
            raise InputError(bad)
    for o in data.objects:
        if any(not 0 <= f < data.num_frames for f in list(o.masks) + o.keyframes + list(o.flags) + list(o.trust)):
            raise InputError(bad)
    return data


def _load_objects(entries: list, raw: bytes | None, height: int, width: int) -> list[SavedObject]:
    masks: dict[str, np.ndarray] = {}
    if raw is not None:
        with np.load(io.BytesIO(raw)) as npz:
            masks = {k: np.unpackbits(npz[k], axis=1, count=width).astype(bool) for k in npz.files}
    out = []
    for e in entries:
        tid = int(e["id"])
        prefix = f"o{tid}_f"
        own = {int(k[len(prefix):]): m for k, m in masks.items() if k.startswith(prefix)}
        if any(m.shape != (height, width) for m in own.values()):
            raise ValueError("object mask of the wrong size")
        # projects saved before the trust was kept have none: the timeline's strip starts empty
        trust = {int(f): (int(k), float(c)) for f, (k, c) in (e.get("trust") or {}).items()}
        if any(not 0.0 <= c <= 1.0 for _, c in trust.values()):
            raise ValueError("a confidence outside 0..1")
        out.append(SavedObject(tid, own, [int(k) for k in e.get("keyframes", [])],
                               {int(f): str(r) for f, r in (e.get("flags") or {}).items()}, trust))
    return out
