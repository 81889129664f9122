"""Small file helpers shared by the reader, the writer and the mask io (no PyAV here)."""

from __future__ import annotations

import os

import re
from pathlib import Path

import cv2
import numpy as np

from editor.errors import MediaError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> list:
    """Sort key so that ``frame2.png`` comes before ``frame10.png``."""
    return [int(p) if p.isdigit() else p.lower() for p in _DIGITS.split(name)]


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder`` in natural name order (hidden files skipped)."""
    files = [
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    ]
    return sorted(files, key=lambda p: natural_key(p.name))


def read_image(path: Path, gray: bool = False) -> np.ndarray:
    """Read one image file as RGB uint8 HxWx3 (or HxW uint8 when ``gray``).

    16-bit images are scaled to 8 bits; an alpha channel is dropped.
    """
    data = np.fromfile(str(path), dtype=np.uint8)  # np.fromfile: non-ASCII paths work
    flag = cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR
    img = cv2.imdecode(data, flag | cv2.IMREAD_ANYDEPTH) if data.size else None
    if img is None:
        raise MediaError(f"Cannot read the image {path}: it is not an image or is corrupt; replace it.")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if gray:
        return img
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def partial_path(final: Path) -> Path:
    """The temporary name an output is written under: ``dir/.name.partial.ext``."""
    if final.suffix:
        return final.with_name(f".{final.stem}.partial{final.suffix}")
    return final.with_name(f".{final.name}.partial")


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` under its :func:`partial_path` and rename it into place, so a
    crash or a full disk never leaves a half-written file under the final name. Raises
    OSError (the partial file removed); callers say what it means to the user."""
    tmp = partial_path(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise
