"""Hard clips for mask tracking, with the object's true visible mask on every frame.

Each clip is a panning, noisy, textured scene (sensor noise on every frame) and one object
whose motion differs from the camera's; ``truth[t]`` is the object's *visible* footprint
(empty where it is hidden or outside the picture). The cases:

- ``flat``: an ellipse of four flat-coloured quadrants (no texture of its own) moving 4 px/frame
  across a panning background (the clip of issue 16);
- ``against``: a smooth, nearly flat disc moving one way while the camera pans the other
  (about 7 px/frame relative motion);
- ``scaling``: a flat-coloured polygon growing 1.0x -> 1.9x while it turns 30 degrees;
- ``occlusion``: a weakly textured box passing behind a thin pole (partial) and then a wide
  wall (hidden for several frames), re-appearing on the other side;
- ``exit``: a flat two-tone object that leaves the picture at the right edge and, tracked
  backwards from the keyframe, enters it from the left;
- ``textured``: a richly textured blob moving and turning (the easy case, for reference).

Used by ``benchmarks/tracking.py`` and the tracking tests.
"""

from __future__ import annotations

import cv2
import numpy as np

CASES = ("flat", "against", "scaling", "occlusion", "exit", "textured")


def _noise_texture(height: int, width: int, seed: int) -> np.ndarray:
    """Multi-scale coloured noise with a few hard-edged shapes (uint8 RGB)."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), np.float32)
    for cell, amplitude in ((48, 60.0), (12, 40.0), (3, 30.0)):
        small = rng.standard_normal((height // cell + 2, width // cell + 2, 3)).astype(np.float32)
        image += amplitude * cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)[:height, :width]
    image += 128.0
    for _ in range(height * width // 5000):
        colour = tuple(float(c) for c in rng.integers(0, 256, 3))
        x, y, s = int(rng.integers(0, width)), int(rng.integers(0, height)), int(rng.integers(4, 20))
        cv2.rectangle(image, (x, y), (x + s, y + s // 2), colour, -1)
    return np.clip(image, 0, 255).astype(np.uint8)


def _view(scene: np.ndarray, height: int, width: int, x: float, y: float) -> np.ndarray:
    matrix = np.array([[1.0, 0.0, -x], [0.0, 1.0, -y]])
    return cv2.warpAffine(scene, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _quadrants(height: int, width: int, rx: int, ry: int) -> tuple[np.ndarray, np.ndarray]:
    """A (2ry+1)x(2rx+1) four-colour ellipse sprite and its mask."""
    h, w = 2 * ry + 1, 2 * rx + 1
    sprite = np.zeros((h, w, 3), np.uint8)
    sprite[:ry + 1, :rx + 1] = (220, 40, 40)
    sprite[:ry + 1, rx:] = (40, 200, 60)
    sprite[ry:, :rx + 1] = (40, 60, 220)
    sprite[ry:, rx:] = (230, 210, 40)
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (rx, ry), (rx, ry), 0, 0, 360, 1, -1)
    return sprite, mask


def _place(frame: np.ndarray, sprite: np.ndarray, mask: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Draw ``sprite`` (its mask) moved by the 2x3 ``matrix`` onto ``frame``; returns the HxW footprint."""
    height, width = frame.shape[:2]
    moved = cv2.warpAffine(sprite, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.warpAffine(mask.astype(np.float32), matrix, (width, height), flags=cv2.INTER_LINEAR)
    frame[:] = np.clip(frame * (1 - alpha[..., None]) + moved * alpha[..., None], 0, 255).astype(np.uint8)
    return alpha >= 0.5


def _pose(cx: float, cy: float, sprite_shape, scale: float = 1.0, angle: float = 0.0) -> np.ndarray:
    h, w = sprite_shape[:2]
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, scale)
    matrix[:, 2] += (cx - (w - 1) / 2, cy - (h - 1) / 2)
    return matrix


def make_clip(kind: str, num_frames: int = 50, height: int = 240, width: int = 320, seed: int = 0):
    """(frames, truth): HxWx3 uint8 RGB frames and the object's HxW bool visible mask per frame."""
    if kind not in CASES:
        raise ValueError(f"unknown clip {kind!r}; choose one of {', '.join(CASES)}")
    rng = np.random.default_rng(seed + 1)
    scene = _noise_texture(height * 2, width * 3, seed)
    size = min(height, width)
    if kind in ("flat", "exit"):
        sprite, smask = _quadrants(height, width, size // 9, size // 13)
        if kind == "exit":
            sprite[:, : sprite.shape[1] // 2] = (200, 60, 160)
            sprite[:, sprite.shape[1] // 2:] = (60, 190, 190)
    elif kind == "against":
        r = size // 10
        yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
        smask = (xx * xx + yy * yy <= r * r).astype(np.uint8)
        shade = 150 + 40 * (xx / r) - 20 * (yy / r)  # a gentle shading gradient, no texture
        sprite = np.stack([shade, shade * 0.6, shade * 0.3], axis=2).clip(0, 255).astype(np.uint8)
    elif kind == "scaling":
        r = size // 12
        pts = np.array([[0, -1], [0.95, -0.3], [0.6, 0.9], [-0.6, 0.9], [-0.95, -0.3]]) * r + [r * 1.1, r * 1.1]
        smask = np.zeros((int(r * 2.2) + 1, int(r * 2.2) + 1), np.uint8)
        cv2.fillPoly(smask, [np.round(pts).astype(np.int32)], 1)
        sprite = np.zeros(smask.shape + (3,), np.uint8)
        sprite[:] = (230, 120, 30)
        sprite[smask.shape[0] // 2:] = (250, 240, 200)
    elif kind == "occlusion":
        h, w = size // 5, size // 4
        tex = _noise_texture(h * 4, w * 4, seed + 7)
        sprite = (cv2.resize(tex, (w, h), interpolation=cv2.INTER_AREA) // 3 + np.array([150, 40, 40])).clip(0, 255)
        sprite = sprite.astype(np.uint8)
        smask = np.ones((h, w), np.uint8)
    else:  # textured
        r = size // 9
        sprite = _noise_texture(2 * r + 1, 2 * r + 1, seed + 5)
        yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
        smask = ((xx / r) ** 2 + (yy / (0.75 * r)) ** 2 <= 1).astype(np.uint8)

    frames, truth = [], []
    pan_x, pan_y = (3.5 if kind == "against" else 2.5), 0.8  # the scene moves left in the picture
    for t in range(num_frames):
        u = t / max(1, num_frames - 1)
        view = _view(scene, height, width, width * 0.8 + pan_x * t, height * 0.5 + pan_y * t)
        if kind == "flat":
            pose = _pose(width * 0.15 + 4.0 * t, height * (0.5 + 0.1 * np.sin(5 * u)), sprite.shape)
        elif kind == "against":
            pose = _pose(width * 0.1 + 3.5 * t * width / 320 * 50 / num_frames, height * 0.45, sprite.shape)
        elif kind == "scaling":
            pose = _pose(width * (0.4 + 0.15 * u), height * 0.5, sprite.shape, 1.0 + 0.9 * u, 30 * u)
        elif kind == "occlusion":
            pose = _pose(width * (0.08 + 0.84 * u), height * 0.55, sprite.shape)
        elif kind == "exit":
            pose = _pose(width * (-0.2 + 1.4 * u), height * 0.4, sprite.shape)
        else:
            pose = _pose(width * (0.2 + 0.6 * u), height * (0.5 + 0.2 * np.sin(4 * u)), sprite.shape, 1.0, 25 * u)
        frame = view.astype(np.float32)
        mask = _place(frame, sprite, smask, pose)
        if kind == "occlusion":  # a thin pole and a wide wall, standing in the scene
            shift = pan_x * (t - num_frames // 2)
            for x0, x1, colour in ((0.22, 0.25, (90, 90, 95)), (0.62, 0.92, (70, 120, 60))):
                a, b = max(0, int(width * x0 - shift)), max(0, int(width * x1 - shift))
                frame[:, a:b] = colour
                mask[:, a:b] = False
        frame += rng.normal(0, 3.0, frame.shape).astype(np.float32)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
        truth.append(mask)
    return frames, truth
