"""Real frames with holes whose answer is known: the real pixels under the hole.

The cases follow how the video inpainting literature scores a fill on real footage: a mask is
laid over real frames that were never hidden, and the fill is compared with those frames.

- **panned photograph**: a real photograph (frame 0 of ``clips/vtest.avi``) seen through a
  window that pans 3 px a frame under a static logo a third of the frame wide: every pixel
  under the logo is visible in other frames (44 frames away at most).
- **static logo over a real clip**: the same logo shape over the first frames of each clip in
  ``clips/`` (a static camera with people walking under it, hand-held, a tree in the wind, an
  animated film).
- **moving object masks over another sequence**: the object masks of one DAVIS sequence laid
  over the frames of the other (``davis/``), as the literature's object-removal protocol.

All frames are brought to ``width`` x ``height`` (432x240 by default, ProPainter's size).
The folder is ``../shared/real`` here; a user makes one with DAVIS 2017 (JPEGImages and
Annotations) in ``davis/`` and any videos in ``clips/``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from benchmarks._clips import Clip

CLIPS = ("vtest.avi", "cup.mp4", "tree.avi", "Megamind.avi")


def _read_video(path: Path, count: int, size: tuple[int, int]) -> list[np.ndarray]:
    """The first ``count`` frames of a video as RGB uint8 at ``size`` (w, h)."""
    capture = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    try:
        while len(frames) < count:
            ok, bgr = capture.read()
            if not ok:
                break
            frames.append(cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), size, interpolation=cv2.INTER_AREA))
    finally:
        capture.release()
    return frames


def logo_mask(height: int, width: int) -> np.ndarray:
    """HxW uint8 {0,1}: a rounded box a third of the frame wide with a bar through it."""
    mask = np.zeros((height, width), dtype=np.uint8)
    w, h = width // 3, height // 4
    x0, y0 = (width - w) // 2 + width // 8, height // 2 - h // 3
    r = h // 4
    cv2.rectangle(mask, (x0 + r, y0), (x0 + w - r, y0 + h), 1, -1)
    cv2.rectangle(mask, (x0, y0 + r), (x0 + w, y0 + h - r), 1, -1)
    for cx, cy in ((x0 + r, y0 + r), (x0 + w - r, y0 + r), (x0 + r, y0 + h - r), (x0 + w - r, y0 + h - r)):
        cv2.circle(mask, (cx, cy), r, 1, -1)
    return mask


def _with_logo(frames: list[np.ndarray], mask: np.ndarray) -> list[np.ndarray]:
    """The frames with an opaque logo painted where ``mask`` is set."""
    out = []
    for frame in frames:
        marked = frame.copy()
        marked[mask > 0] = (235, 235, 240)
        out.append(marked)
    return out


def panned_photo(root: Path, count: int, width: int, height: int, speed: int = 3) -> Clip | None:
    """A real photograph panned ``speed`` px a frame under a static logo."""
    photo = _read_video(root / "clips" / "vtest.avi", 1, (768, 576))
    if not photo:
        return None
    # at its own resolution (768x576): a 432x240 window pans 3 px a frame for 113 frames
    big = photo[0] if height <= 576 else cv2.resize(photo[0], (768 * height // 576 + 1, height))
    count = min(count, (big.shape[1] - width) // speed + 1)
    y0 = (big.shape[0] - height) // 2
    clean = [big[y0:y0 + height, t * speed:t * speed + width].copy() for t in range(count)]
    mask = logo_mask(height, width)
    return Clip(f"photo panned {speed} px/frame, logo", _with_logo(clean, mask), [mask.copy() for _ in clean], clean)


def logo_over_clip(root: Path, name: str, count: int, width: int, height: int) -> Clip | None:
    """The first ``count`` frames of ``clips/name`` under a static logo."""
    clean = _read_video(root / "clips" / name, count, (width, height))
    if len(clean) < 2:
        return None
    mask = logo_mask(height, width)
    return Clip(f"{name}, static logo", _with_logo(clean, mask), [mask.copy() for _ in clean], clean)


def _davis(root: Path, sequence: str, count: int, width: int, height: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    images = sorted((root / "davis" / "JPEGImages" / sequence).glob("*.[jp][pn]g"))[:count]
    notes = sorted((root / "davis" / "Annotations" / sequence).glob("*.png"))[:count]
    frames = [cv2.resize(cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB), (width, height), interpolation=cv2.INTER_AREA)
              for p in images]
    masks = [(cv2.resize(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), (width, height), interpolation=cv2.INTER_NEAREST) > 0)
             .astype(np.uint8) for p in notes]
    return frames, masks


def object_over_sequence(root: Path, masks_of: str, frames_of: str, count: int, width: int, height: int) -> Clip | None:
    """The object masks of DAVIS ``masks_of`` over the frames of ``frames_of``."""
    frames, _ = _davis(root, frames_of, count, width, height)
    _, masks = _davis(root, masks_of, count, width, height)
    n = min(len(frames), len(masks))
    if n < 2:
        return None
    marked = []
    for frame, mask in zip(frames[:n], masks[:n]):
        out = frame.copy()
        out[mask > 0] = (20, 200, 40)
        marked.append(out)
    return Clip(f"{masks_of} masks over {frames_of}", marked, masks[:n], frames[:n])


def real_cases(root: Path, count: int, width: int = 432, height: int = 240) -> list[Clip]:
    """Every case whose data is in ``root`` (missing ones are skipped)."""
    cases = [panned_photo(root, max(count, 90), width, height)]
    cases += [logo_over_clip(root, name, count, width, height) for name in CLIPS]
    cases += [object_over_sequence(root, "bmx-trees", "tennis", count, width, height),
              object_over_sequence(root, "tennis", "bmx-trees", count, width, height)]
    return [c for c in cases if c is not None]
