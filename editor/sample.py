"""The bundled sample: a generated clip with a moving ball and a static logo, plus masks.

Everything is computed by pure, deterministic functions of the frame index
(:class:`SampleScene`), so benchmarks can rebuild the clip and compare a result with the
clean background that the ball and the logo hide. :func:`make_sample` writes it to disk:

    out_dir/clip.mp4        H.264 320x240 at 24 fps, 72 frames (3 s), with an AAC tone
    out_dir/masks/          000000.png ... one mask per frame: ball (grown) + logo
    out_dir/logo_mask.png   the logo alone, one mask for all frames
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from editor.errors import OutputError
from editor.media.audio import write_audio
from editor.media.masks import write_masks
from editor.media.writer import VideoWriter


@dataclass(frozen=True)
class SamplePaths:
    """Where :func:`make_sample` put things."""

    root: Path
    clip: Path
    masks: Path
    logo_mask: Path


@dataclass(frozen=True)
class SampleScene:
    """A textured background panning left, a ball crossing it, a logo in a corner.

    All arrays are uint8: frames RGB (height, width, 3) in [0, 255], masks (height, width)
    in {0, 1}. ``pan`` is the background shift in pixels per frame.
    """

    width: int = 320
    height: int = 240
    num_frames: int = 72
    fps: Fraction = Fraction(24)
    pan: int = 2
    ball_radius: int = 18
    mask_growth: int = 4
    logo_alpha: float = 0.6
    seed: int = 7

    # -- the background ----------------------------------------------------------------
    def _texture(self) -> np.ndarray:
        """The whole panorama the camera pans over: (height, width + pan * frames, 3)."""
        h, w = self.height, self.width + self.pan * self.num_frames
        rng = np.random.default_rng(self.seed)
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        img = np.zeros((h, w, 3), np.float32)
        # Smooth colour waves give large-scale structure...
        for c, (fx, fy, ph) in enumerate([(0.021, 0.013, 0.0), (0.017, 0.025, 1.3), (0.011, 0.019, 2.1)]):
            img[:, :, c] = 120 + 60 * np.sin(fx * x + ph) * np.cos(fy * y - ph)
        # ...and blurred noise gives texture that optical flow can lock on to.
        noise = rng.normal(0, 1, (h, w, 3)).astype(np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), 3.0)
        img += 18 * noise / (noise.std() + 1e-6)
        # A few soft-edged stripes: straight edges make holes hard to fake.
        for k in range(0, w, 97):
            img[:, k : k + 6] = img[:, k : k + 6] * 0.5 + 30
        return np.clip(img, 0, 255).astype(np.uint8)

    def background(self, i: int) -> np.ndarray:
        """The clean background of frame ``i`` (what an ideal inpainting restores)."""
        tex = _texture_cache(self)
        x0 = self.pan * i
        return tex[:, x0 : x0 + self.width].copy()

    # -- the ball ------------------------------------------------------------------------
    def ball_center(self, i: int) -> tuple[float, float]:
        """(x, y) of the ball in frame ``i``: left to right along a gentle arc."""
        t = i / max(1, self.num_frames - 1)
        x = 0.15 * self.width + 0.6 * self.width * t
        y = 0.45 * self.height + 0.15 * self.height * np.sin(2 * np.pi * t)
        return float(x), float(y)

    def _ball_alpha(self, i: int, grow: int = 0) -> np.ndarray:
        """Anti-aliased coverage of the ball in [0, 1], radius grown by ``grow`` px."""
        cx, cy = self.ball_center(i)
        y, x = np.mgrid[0 : self.height, 0 : self.width].astype(np.float32)
        d = np.sqrt((x - cx) ** 2 + (y - cy) ** 2)
        return np.clip(self.ball_radius + grow + 0.5 - d, 0.0, 1.0)

    def object_mask(self, i: int) -> np.ndarray:
        """The ball's footprint in frame ``i`` grown by ``mask_growth`` px, (H, W) in {0, 1}."""
        return (self._ball_alpha(i, self.mask_growth) > 0).astype(np.uint8)

    # -- the logo ------------------------------------------------------------------------
    def _logo_alpha(self) -> np.ndarray:
        """Opacity of the logo, (H, W) float32 in [0, logo_alpha], bottom-right corner."""
        h, w = self.height, self.width
        lw, lh = max(24, w // 5), max(12, h // 10)
        x1, y1 = w - 8, h - 8
        x0, y0 = x1 - lw, y1 - lh
        canvas = np.zeros((h, w), np.uint8)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), 255, thickness=2, lineType=cv2.LINE_AA)
        scale = lh / 30.0
        cv2.putText(canvas, "LOGO", (x0 + 4, y1 - max(3, lh // 4)), cv2.FONT_HERSHEY_SIMPLEX,
                    scale, 255, max(1, int(round(2 * scale))), cv2.LINE_AA)
        return canvas.astype(np.float32) / 255.0 * self.logo_alpha

    def logo_mask(self) -> np.ndarray:
        """Where the logo shows (grown by 3 px), (H, W) uint8 in {0, 1}."""
        m = (_logo_cache(self) > 0).astype(np.uint8)
        return cv2.dilate(m, np.ones((7, 7), np.uint8))

    # -- frames and masks -----------------------------------------------------------------
    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` as shown: background, then the ball, then the logo on top."""
        img = self.background(i).astype(np.float32)
        a = self._ball_alpha(i)[:, :, None]
        cx, _ = self.ball_center(i)
        colour = np.array([230.0, 60.0 + 100.0 * cx / self.width, 40.0], np.float32)
        y, x = np.mgrid[0 : self.height, 0 : self.width].astype(np.float32)
        bx, by = self.ball_center(i)
        shade = np.clip(1.15 - 0.5 * np.sqrt((x - bx + 6) ** 2 + (y - by + 6) ** 2) / self.ball_radius, 0.4, 1.15)
        img = img * (1 - a) + (colour * shade[:, :, None]) * a
        la = _logo_cache(self)[:, :, None]
        img = img * (1 - la) + 255.0 * la
        return np.clip(np.round(img), 0, 255).astype(np.uint8)

    def mask(self, i: int) -> np.ndarray:
        """The mask to remove both: ball footprint (grown) union logo, (H, W) in {0, 1}."""
        return np.maximum(self.object_mask(i), self.logo_mask())

    def tone(self, rate: int = 48_000) -> np.ndarray:
        """A 440 Hz tone with a slow 2 Hz beat for the clip's length, (1, n) float32."""
        n = int(round(rate * self.num_frames / float(self.fps)))
        t = np.arange(n, dtype=np.float32) / rate
        env = 0.5 + 0.5 * np.sin(2 * np.pi * 2.0 * t)
        return (0.3 * env * np.sin(2 * np.pi * 440.0 * t))[None, :].astype(np.float32)


_TEXTURES: dict[SampleScene, np.ndarray] = {}
_LOGOS: dict[SampleScene, np.ndarray] = {}


def _texture_cache(scene: SampleScene) -> np.ndarray:
    if scene not in _TEXTURES:
        _TEXTURES.clear()  # one scene at a time is all anyone needs
        _TEXTURES[scene] = scene._texture()
    return _TEXTURES[scene]


def _logo_cache(scene: SampleScene) -> np.ndarray:
    if scene not in _LOGOS:
        _LOGOS.clear()
        _LOGOS[scene] = scene._logo_alpha()
    return _LOGOS[scene]


def make_sample(out_dir: str | Path, scene: SampleScene | None = None,
                overwrite: bool = False) -> SamplePaths:
    """Write the sample clip (with audio), its per-frame masks and the logo mask.

    Raises:
        OutputError: the files exist already (without ``overwrite``) or cannot be written.
    """
    scene = scene or SampleScene()
    root = Path(out_dir).expanduser()
    paths = SamplePaths(root, root / "clip.mp4", root / "masks", root / "logo_mask.png")
    if not overwrite:
        for p in (paths.clip, paths.masks, paths.logo_mask):
            if p.exists():
                raise OutputError(
                    f"The sample file {p} already exists; choose another folder or "
                    "pass --overwrite."
                )
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"Cannot create the folder {root} ({exc.strerror}); choose a writable folder."
        ) from None
    tone = root / ".sample_tone.partial.m4a"
    try:
        write_audio(tone, scene.tone(), 48_000)
        with VideoWriter(paths.clip, scene.width, scene.height, scene.fps, codec="h264",
                         quality=16, audio_from=tone, overwrite=overwrite) as w:
            for i in range(scene.num_frames):
                w.write(scene.frame(i))
    except OSError as exc:
        raise OutputError(
            f"Cannot write the sample into {root} ({exc.strerror}); choose a writable folder."
        ) from None
    finally:
        tone.unlink(missing_ok=True)
    write_masks(paths.masks, (scene.mask(i) for i in range(scene.num_frames)),
                overwrite=overwrite)
    write_masks(paths.logo_mask, [scene.logo_mask()], overwrite=overwrite)
    return paths
