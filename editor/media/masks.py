"""Mask io: a PNG folder (one per frame), one image for all frames, or a mask video.

Masks come out as (H, W) uint8 arrays with values in {0, 1} (1 = the hole to fill) at the
clip's size. A grey value counts as "hole" above 127, or above 0 when the whole image only
uses 0 and 1 (masks saved as 0/1 PNGs).

Size and count rules: a single image of another size is resized (nearest) and a warning is
given (``warnings.warn`` and :attr:`MaskSource.warnings`); a per-frame set (folder or video)
whose count or size does not match the clip is a :class:`MediaError` naming both.

Rotated clips (a phone's rotation metadata; ``rotation`` = the reader's ``info.rotation``,
clockwise degrees): the reader gives frames in display orientation, and masks come out in
that orientation too. Masks may be given in either orientation: a mask the size of the
stored frames (width and height swapped, for 90 and 270 degrees) is turned the way the
reader turns the frames, with a note naming the rotation; any other size is an error naming
both sizes and the rotation (nothing is stretched). Where both orientations have the same
size (180 degrees, or a square clip), masks are taken as drawn on the displayed frames.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np

from editor.errors import MediaError, OutputError
from editor.media._files import IMAGE_SUFFIXES, list_images, read_image, write_atomically
from editor.media.reader import VideoReader, open_video
from editor.media.writer import DEFAULT_CODEC_FOR_SUFFIX, VideoWriter


def binarize(gray: np.ndarray, threshold: int = 127) -> np.ndarray:
    """(H, W) uint8 grey -> (H, W) uint8 in {0, 1}; 0/1-valued images keep their ones."""
    if gray.size and int(gray.max()) <= 1:
        return (gray > 0).astype(np.uint8)
    return (gray > threshold).astype(np.uint8)


class MaskSource:
    """Per-frame masks for a clip of ``num_frames`` frames of ``size`` = (width, height).

    Use :func:`open_masks`. ``kind`` is "folder", "image" or "video"; ``warnings`` lists
    what was adjusted (a resized single image, masks turned to a rotated clip's display
    orientation), each also sent through ``warnings.warn``. ``rotation`` is the clip's
    (clockwise degrees, as ``VideoInfo.rotation``); ``size`` is its displayed size.
    """

    def __init__(self, path: Path, num_frames: int, size: tuple[int, int], rotation: int = 0) -> None:
        self.path = path
        self.num_frames = int(num_frames)
        self.size = (int(size[0]), int(size[1]))
        self.rotation = int(rotation) % 360
        if self.rotation % 90:
            raise ValueError(f"rotation must be a multiple of 90 degrees, got {rotation}")
        self.warnings: list[str] = []
        self._k = 0  # np.rot90 turns applied to each mask (stored -> display orientation)
        self._files: list[Path] = []
        self._single: np.ndarray | None = None
        self._video: VideoReader | None = None
        self._empty: dict[int, bool] = {}
        w, h = self.size
        if not path.exists():
            raise MediaError(f"The mask {path} does not exist; check the path.")
        if path.is_dir():
            self.kind = "folder"
            self._files = list_images(path)
            if not self._files:
                raise MediaError(
                    f"The mask folder {path} contains no PNG or JPG images; "
                    "point to a folder of masks, one per frame, or to a single mask image."
                )
            if len(self._files) != self.num_frames:
                raise MediaError(
                    f"The mask folder {path} has {len(self._files)} masks but the clip has "
                    f"{self.num_frames} frames; give one mask per frame or a single image."
                )
            first = read_image(self._files[0], gray=True)
            self._orient(first.shape[1], first.shape[0], self._files[0], "mask folder")
            self._check_size(first, self._files[0])
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            self.kind = "image"
            img = read_image(path, gray=True)
            if img.shape[:2] != (h, w) and self.rotation == 0:
                msg = (
                    f"The mask {path} is {img.shape[1]}x{img.shape[0]} but the clip is "
                    f"{w}x{h}; it was resized to fit (nearest neighbour)."
                )
                self._warn(msg)
                img = cv2.resize(img, (w, h), interpolation=cv2.INTER_NEAREST)
            else:
                self._orient(img.shape[1], img.shape[0], path, "mask")
                img = self._turn(img)
            self._single = binarize(img)
            self._single.flags.writeable = False
        else:
            self.kind = "video"
            try:
                self._video = open_video(path, cache_size=2)
            except MediaError as exc:
                raise MediaError(
                    f"The mask {path} is not a mask image, folder or video ({exc})"
                ) from None
            info = self._video.info
            if info.num_frames != self.num_frames:
                self._video.close()
                raise MediaError(
                    f"The mask video {path} has {info.num_frames} frames but the clip has "
                    f"{self.num_frames}; give one mask per frame or a single image."
                )
            try:
                self._orient(info.width, info.height, path, "mask video")
            except MediaError:
                self._video.close()
                raise

    # -- orientation ------------------------------------------------------------------
    def _stored_size(self) -> tuple[int, int]:
        w, h = self.size
        return (h, w) if self.rotation in (90, 270) else (w, h)

    def _rotation_words(self) -> str:
        sw, sh = self._stored_size()
        return f"stored as {sw}x{sh} and shown rotated {self.rotation}° clockwise"

    def _orient(self, mw: int, mh: int, where: Path, what: str) -> None:
        """Accept a mask of the displayed size, or (rotated clips) of the stored size, which
        is then turned like the frames; anything else is a MediaError naming both sizes."""
        w, h = self.size
        if (mw, mh) == (w, h):
            return
        if self.rotation in (90, 270) and (mw, mh) == self._stored_size():
            self._k = (-self.rotation // 90) % 4  # the reader's turn: stored -> display
            self._warn(
                f"The {what} {where} is {mw}x{mh}, the size of the clip's stored frames; the "
                f"clip is shown rotated {self.rotation}° clockwise (its rotation metadata), so "
                f"the masks were rotated the same way to {w}x{h}."
            )
            return
        if self.rotation:
            raise MediaError(
                f"The {what} {where} is {mw}x{mh} but the clip is {w}x{h} as shown "
                f"({self._rotation_words()}); give masks of {w}x{h} (or {self._stored_size()[0]}x"
                f"{self._stored_size()[1]}, drawn on the stored frames)."
            )
        if what == "mask video":
            raise MediaError(
                f"The mask video {where} is {mw}x{mh} but the clip is {w}x{h}; "
                "export the masks at the clip's size."
            )
        # a folder: _check_size says it with the per-file wording

    def _turn(self, img: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.rot90(img, k=self._k)) if self._k else img

    def _warn(self, msg: str) -> None:
        self.warnings.append(msg)
        warnings.warn(msg, stacklevel=4)

    def _check_size(self, img: np.ndarray, where: Path) -> None:
        w, h = self.size
        want_w, want_h = self._stored_size() if self._k else (w, h)
        if img.shape[:2] == (want_h, want_w):
            return
        if self.rotation:
            raise MediaError(
                f"The mask {where} is {img.shape[1]}x{img.shape[0]} but the clip is {w}x{h} as "
                f"shown ({self._rotation_words()}); make every mask {want_w}x{want_h}, like the "
                "first one."
            )
        raise MediaError(
            f"The mask {where} is {img.shape[1]}x{img.shape[0]} but the clip is {w}x{h}; "
            "make every mask the clip's size (or use a single image, which is resized)."
        )

    def __len__(self) -> int:
        return self.num_frames

    def mask(self, i: int) -> np.ndarray:
        """Mask of frame ``i``: (H, W) uint8 in {0, 1}, read-only for a single image."""
        if i < 0:
            i += self.num_frames
        if not 0 <= i < self.num_frames:
            raise IndexError(f"mask {i} out of range for {self.num_frames} frames")
        if self._single is not None:
            return self._single
        if self._video is not None:
            rgb = self._video.frame(i)
            m = self._turn(binarize(rgb.max(axis=2)))
        else:
            gray = read_image(self._files[i], gray=True)
            self._check_size(gray, self._files[i])
            m = self._turn(binarize(gray))
        self._empty[i] = not m.any()
        return m

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._video is not None:
            for i, rgb in enumerate(self._video.iter_frames()):
                m = self._turn(binarize(rgb.max(axis=2)))
                self._empty[i] = not m.any()
                yield m
            return
        for i in range(self.num_frames):
            yield self.mask(i)

    @property
    def is_empty(self) -> bool:
        """True when no frame has any hole. Reads each mask once; the answer is cached."""
        if self._single is not None:
            return not self._single.any()
        for i in range(self.num_frames):
            if i not in self._empty:
                if self._video is not None:
                    for _ in self:  # sequential decode fills self._empty for every frame
                        pass
                    break
                self.mask(i)
        return not any(not e for e in self._empty.values())

    def close(self) -> None:
        if self._video is not None:
            self._video.close()

    def __enter__(self) -> MaskSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_masks(path: str | Path, num_frames: int, size: tuple[int, int], rotation: int = 0) -> MaskSource:
    """Open masks for a clip of ``num_frames`` frames of ``size`` = (width, height).

    ``path`` is a folder of PNG/JPG masks (one per frame, matched by natural name order),
    one image used for every frame, or a mask video (white = hole). ``size`` and
    ``rotation`` are the clip's ``info.size`` and ``info.rotation``: masks come out at the
    displayed size, and masks drawn on a rotated clip's stored frames are turned to match
    (see the module docstring).

    Raises:
        MediaError: missing path, empty folder, count or size that does not match.
    """
    return MaskSource(Path(path).expanduser(), num_frames, size, rotation)


def mask_sequence(path: str | Path) -> list[Path]:
    """The numbered images ``path`` belongs to (``mask_0007.png`` -> every ``mask_NNNN.png`` in
    its folder, in order), or [] when ``path`` is not an image numbered like its neighbours.

    A frame picked from a folder of per-frame masks is most likely meant as the folder: the
    editor asks before using one image for every frame."""
    import re

    p = Path(path).expanduser()
    m = re.fullmatch(r"(.*?)(\d+)", p.stem)
    if m is None or p.suffix.lower() not in IMAGE_SUFFIXES or not p.parent.is_dir():
        return []
    prefix = m.group(1)
    same = [q for q in list_images(p.parent)
            if q.suffix.lower() == p.suffix.lower() and re.fullmatch(re.escape(prefix) + r"\d+", q.stem)]
    return same if len(same) > 1 else []


def write_masks(
    path: str | Path,
    masks: Iterable[np.ndarray],
    fps: float | None = None,
    overwrite: bool = False,
) -> int:
    """Export masks ((H, W) arrays, nonzero = hole) as 0/255 images; returns the count.

    ``path`` is a folder (PNG per frame, ``000000.png`` ...), a single ``.png`` (exactly one
    mask, used for all frames), or a video: ``.mkv``/``.avi`` lossless FFV1, other suffixes
    with the container's default codec at its best quality. ``fps`` defaults to 24.

    Raises:
        OutputError: existing output without ``overwrite``, unwritable folder, disk full,
            or several masks for a single image.
    """
    p = Path(path).expanduser()
    suffix = p.suffix.lower()
    it = iter(masks)
    if suffix in IMAGE_SUFFIXES:
        items = [m for _, m in zip(range(2), it)]
        if len(items) != 1:
            raise OutputError(
                f"A single mask image {p} holds exactly one mask, not {len(items)}+; "
                "give a folder or a video name to export per-frame masks."
            )
        return _write_single(p, items[0], overwrite)
    first = next(it, None)
    if first is None:
        raise OutputError(f"There are no masks to write to {p}.")
    h, w = first.shape[:2]
    if not suffix:
        codec, quality = "png", None
    elif suffix in (".mkv", ".avi"):
        codec, quality = "ffv1", None
    else:
        codec = DEFAULT_CODEC_FOR_SUFFIX.get(suffix, "h264")
        quality = 0
    count = 0
    with VideoWriter(p, w, h, fps or 24, codec=codec, quality=quality, overwrite=overwrite) as wr:
        for m in _chain(first, it):
            wr.write(_to_255(m, p, (h, w)))
            count += 1
    return count


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def _to_255(m: np.ndarray, path: Path, hw: tuple[int, int]) -> np.ndarray:
    if m.ndim == 3:
        m = m.max(axis=2)
    if m.shape != hw:
        raise ValueError(f"mask for {path} must be {hw}, got {m.shape}")
    return np.where(m > 0, 255, 0).astype(np.uint8)


def _write_single(p: Path, mask: np.ndarray, overwrite: bool) -> int:
    if p.exists() and not overwrite:
        raise OutputError(f"The mask {p} already exists; choose another name or pass --overwrite.")
    if p.is_dir():
        raise OutputError(f"The mask {p} is a folder; give a file name instead.")
    img = _to_255(mask, p, mask.shape[:2])
    ok, buf = cv2.imencode(p.suffix.lower() if p.suffix.lower() != ".jpeg" else ".jpg", img)
    if not ok:
        raise OutputError(f"Cannot encode the mask as {p.suffix} for {p}; use .png.")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(p, buf.tobytes())
    except OSError as exc:
        raise OutputError(
            f"Cannot write the mask {p} ({exc.strerror}); free some space or choose "
            "a writable folder."
        ) from None
    return 1
