"""Synthetic clips whose clean background is known, for measuring inpainting quality.

Every clip is a list of HxWx3 uint8 RGB frames, HxW uint8 0/1 masks (1 = the thing to
remove) and the clean frames (the same video without it), so a fill can be scored exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class Clip:
    """A clip to inpaint with its ground truth; lists have one entry per frame."""

    name: str
    frames: list[np.ndarray]  # HxWx3 uint8 RGB, with the object / logo
    masks: list[np.ndarray]  # HxW uint8 in {0, 1}, 1 = remove
    clean: list[np.ndarray]  # HxWx3 uint8 RGB, the known background


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """HxWx3 uint8 RGB scene: multi-scale coloured noise plus shapes with hard edges."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), dtype=np.float32)
    for cell, amplitude in ((64, 70.0), (16, 40.0), (4, 25.0)):
        small = rng.standard_normal((height // cell + 2, width // cell + 2, 3)).astype(np.float32)
        image += amplitude * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)[:height, :width]
    image += 128.0
    area = height * width
    for _ in range(max(4, area // 4000)):
        colour = tuple(float(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(6, max(8, min(height, width) // 8)))
        kind = rng.integers(0, 3)
        if kind == 0:
            cv2.rectangle(image, (x, y), (x + size, y + size // 2), colour, -1)
        elif kind == 1:
            cv2.circle(image, (x, y), size // 2, colour, -1)
        else:
            x2, y2 = x + int(rng.integers(-3, 4)) * size, y + int(rng.integers(-3, 4)) * size
            cv2.line(image, (x, y), (x2, y2), colour, int(rng.integers(1, 4)))
    return np.clip(image, 0, 255).astype(np.uint8)


def _camera(scene: np.ndarray, height: int, width: int, cx: float, cy: float, zoom: float) -> np.ndarray:
    """The HxW view of ``scene`` centred at (cx, cy) with magnification ``zoom``."""
    matrix = np.array(
        [[zoom, 0.0, width / 2 - zoom * cx], [0.0, zoom, height / 2 - zoom * cy]], dtype=np.float64
    )
    return cv2.warpAffine(scene, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def moving_camera(num_frames: int = 40, height: int = 240, width: int = 320, seed: int = 0) -> Clip:
    """A textured scene under a pan with a slight zoom, and a textured blob moving across it.

    The mask is the blob's footprint in each frame.
    """
    scene = texture(height * 2, width * 3, seed)
    blob_tex = texture(height, width, seed + 7)
    frames, masks, clean = [], [], []
    radius_x, radius_y = width // 9, height // 6
    for t in range(num_frames):
        u = t / max(1, num_frames - 1)
        view = _camera(scene, height, width, width * 0.9 + 2.3 * t, height * 0.9 + 0.6 * t, 1.0 + 0.08 * u)
        centre = (int(width * (0.25 + 0.5 * u)), int(height * (0.5 + 0.15 * np.sin(3 * u))))
        mask = np.zeros((height, width), dtype=np.uint8)
        cv2.ellipse(mask, centre, (radius_x, radius_y), 30 * u, 0, 360, 1, -1)
        frame = view.copy()
        frame[mask > 0] = blob_tex[mask > 0]
        frames.append(frame)
        masks.append(mask)
        clean.append(view)
    return Clip("moving camera + moving object", frames, masks, clean)


def static_logo(num_frames: int = 40, height: int = 240, width: int = 320, seed: int = 0) -> Clip:
    """Moving video (a slow diagonal pan) under a fixed opaque logo in one corner.

    The mask is the logo's footprint, the same in every frame.
    """
    scene = texture(height * 2, width * 2, seed + 3)
    mask = np.zeros((height, width), dtype=np.uint8)
    logo = np.zeros((height, width, 3), dtype=np.uint8)
    x0, y0 = width - width // 3 - 8, height // 8
    box = (x0, y0, width // 3, height // 6)
    cv2.rectangle(mask, (box[0], box[1]), (box[0] + box[2], box[1] + box[3]), 1, -1)
    cv2.rectangle(logo, (box[0], box[1]), (box[0] + box[2], box[1] + box[3]), (30, 30, 160), -1)
    scale = box[3] / 40.0
    cv2.putText(logo, "LOGO", (box[0] + 4, box[1] + box[3] - 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2)
    frames, masks, clean = [], [], []
    for t in range(num_frames):
        view = _camera(scene, height, width, width * 0.7 + 1.5 * t, height * 0.7 + 0.9 * t, 1.0)
        frame = view.copy()
        frame[mask > 0] = logo[mask > 0]
        frames.append(frame)
        masks.append(mask.copy())
        clean.append(view)
    return Clip("static logo over moving video", frames, masks, clean)


def parallax(num_frames: int = 40, height: int = 240, width: int = 320, seed: int = 0) -> Clip:
    """Two layers panning at different speeds (near shapes move 2.5x the far texture) and a
    textured blob crossing them: the background motion is no single homography.

    The mask is the blob's footprint in each frame.
    """
    rng = np.random.default_rng(seed + 11)
    far = texture(height * 2, width * 3, seed + 5)
    near = np.zeros((height * 2, width * 4, 3), dtype=np.uint8)
    alpha = np.zeros((height * 2, width * 4), dtype=np.uint8)
    pieces = texture(height * 2, width * 4, seed + 9)
    for _ in range(24):
        x, y = int(rng.integers(0, width * 4)), int(rng.integers(height // 2, height * 3 // 2))
        w, h = int(rng.integers(width // 16, width // 6)), int(rng.integers(height // 10, height // 3))
        cv2.rectangle(alpha, (x, y), (x + w, y + h), 1, -1)
    near[alpha > 0] = pieces[alpha > 0]
    blob_tex = texture(height, width, seed + 13)
    frames, masks, clean = [], [], []
    for t in range(num_frames):
        u = t / max(1, num_frames - 1)
        back = _camera(far, height, width, width * 0.9 + 1.6 * t, height, 1.0)
        front = _camera(near, height, width, width * 0.9 + 4.0 * t, height, 1.0)
        front_alpha = _camera(alpha, height, width, width * 0.9 + 4.0 * t, height, 1.0) > 0
        view = back.copy()
        view[front_alpha] = front[front_alpha]
        mask = np.zeros((height, width), dtype=np.uint8)
        cv2.circle(mask, (int(width * (0.3 + 0.4 * u)), int(height * 0.55)), height // 6, 1, -1)
        frame = view.copy()
        frame[mask > 0] = blob_tex[mask > 0]
        frames.append(frame)
        masks.append(mask)
        clean.append(view)
    return Clip("parallax + moving object", frames, masks, clean)
