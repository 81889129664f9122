"""Background plates: what the background looks like everywhere the camera has seen it.

A shot's frames are registered to its first frame by homographies chained frame to frame (the
background's motion, fitted to optical flow outside the hole). A plate is an image in that
reference frame's coordinates, on a canvas twice the frame's size each way, holding for every
point a colour that some frame showed as background there, and when. A hole pixel of any
frame can then be filled from a frame far away in time — where a local flow chain would have
to pass through dozens of frames — by mapping it onto the plate.

Only background goes on a plate: a pixel whose flow does not follow the fitted background
motion (a person walking, a car) is left off, so it is never pasted into a hole as a ghost.

A new shot (and plate) starts where the motion cannot be fitted (a cut, a whip pan) or where
the frame would leave the canvas. Memory: two canvases per open shot; a closed shot keeps only
the box that the holes of its frames cover.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .synthesis import synthesize

#: A flow vector follows the background when it is within this many flow pixels of the
#: fitted motion (plus this fraction of its length).
BACKGROUND_TOLERANCE = (1.0, 0.1)
#: Fewer RANSAC inliers than this fraction of the points means the motion is not one
#: homography: a cut, or a frame filled by something moving.
MIN_INLIERS = 0.35


#: Context kept around the holes' box when a shot closes (and given to the synthesis).
CONTEXT = 24
#: The "time" of a synthesised point: farther than any real sighting.
MADE = np.iinfo(np.int32).max // 2

#: Plate times that are not sightings: nothing known, and a colour known only as context.
UNSEEN, CONTEXT_ONLY = -1, -2

#: Frames whose registered grey levels differ by more than this (median, on the points the
#: motion was fitted to) are different shots: a cut, a flash.
CUT_DIFFERENCE = 30.0


@dataclass(frozen=True)
class HomographyFit:
    """A homography fitted (RANSAC, 1 flow pixel) to a regular sample of about 3000 of a flow's
    vectors: ``matrix`` (3x3, flow resolution; None when none fits), the share of RANSAC
    ``inliers``, the sampled points ``ys``/``xs``, and ``field`` (hxwx2 float32, the flow the
    homography gives every pixel; None without a usable matrix). Fitted once, it serves both the
    flow completion and the background's motion (:func:`fit_motion`)."""

    matrix: np.ndarray | None
    inliers: float
    ys: np.ndarray
    xs: np.ndarray
    field: np.ndarray | None


def fit_homography(flow: np.ndarray, known: np.ndarray, min_points: int = 16) -> HomographyFit:
    """:class:`HomographyFit` of ``flow`` (hxwx2 float32) on the pixels of ``known`` (hxw bool);
    fewer than ``min_points`` sampled points fit nothing."""
    h, w = known.shape
    step = max(1, int(np.sqrt(max(1, known.sum()) / 3000.0)))
    ys, xs = np.nonzero(known[::step, ::step])
    ys, xs = ys * step, xs * step
    if len(xs) < min_points:
        return HomographyFit(None, 0.0, ys, xs, None)
    src = np.stack([xs, ys], axis=1).astype(np.float32)
    matrix, inliers = cv2.findHomography(src, src + flow[ys, xs], cv2.RANSAC, 1.0)
    if matrix is None or not np.isfinite(matrix).all() or inliers is None:
        return HomographyFit(None, 0.0, ys, xs, None)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    grid = np.stack([gx, gy], axis=-1)
    field = cv2.perspectiveTransform(grid.reshape(1, -1, 2), matrix).reshape(h, w, 2) - grid
    return HomographyFit(matrix, float(inliers.mean()), ys, xs, field if np.isfinite(field).all() else None)


def fit_motion(
    flow: np.ndarray,
    known: np.ndarray,
    scale: tuple[float, float],
    grey: tuple[np.ndarray, np.ndarray] | None = None,
    judge: np.ndarray | None = None,
    fit: HomographyFit | None = None,
) -> tuple[np.ndarray | None, np.ndarray]:
    """The background's motion from frame a to frame b, and where the flow follows it.

    Args:
        flow: hxwx2 float32 flow a -> b at the flow resolution.
        known: hxw bool, where the flow may be used (off the hole and its surroundings).
        scale: (flow width / frame width, flow height / frame height).
        grey: the two hxw grey images; when given, a motion that does not bring a onto b
            (median difference over ``CUT_DIFFERENCE``) counts as a cut.
        judge: hxw bool, where to say whether the flow follows the motion (default
            ``known``; may be wider than the points the motion is fitted to).
        fit: :func:`fit_homography` of ``flow`` on ``known``, when the caller has it already.
    Returns:
        (3x3 homography taking full-resolution points of a to b, or None when the motion is not
        one homography; hxw bool, True where the flow follows that motion).
    """
    h, w = known.shape
    follows = np.zeros((h, w), dtype=bool)
    fit = fit if fit is not None else fit_homography(flow, known)
    ys, xs, matrix, model = fit.ys, fit.xs, fit.matrix, fit.field
    if len(xs) < 24 or matrix is None or fit.inliers < MIN_INLIERS or model is None:
        return None, follows
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    grid = np.stack([gx, gy], axis=-1)
    if grey is not None:
        a, b = (g.astype(np.float32) for g in grey)
        moved = cv2.remap(b, grid[..., 0] + model[..., 0], grid[..., 1] + model[..., 1], cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
        if float(np.median(np.abs(moved - a)[ys, xs])) > CUT_DIFFERENCE:
            return None, follows
    err = np.linalg.norm(flow - model, axis=2)
    follows = (known if judge is None else judge) & (err <= BACKGROUND_TOLERANCE[0] + BACKGROUND_TOLERANCE[1] * np.linalg.norm(model, axis=2))
    s = np.diag([scale[0], scale[1], 1.0])
    full = np.linalg.inv(s) @ matrix @ s
    return full / full[2, 2], follows


@dataclass
class _Shot:
    first: int
    offset: tuple[int, int]  # canvas position of the reference frame's (0, 0): (x, y)
    canvas: tuple[int, int]  # (H, W)
    colour: np.ndarray | None = None  # HxWx3 uint8
    time: np.ndarray | None = None  # HxW int32, frame index, -1 = never seen
    box: tuple[int, int, int, int] | None = None  # kept part after closing: x0, y0, x1, y1
    holes: np.ndarray | None = None  # HxW bool, union of the holes mapped on the canvas
    last: int = -1


@dataclass
class Plates:
    """Shots, per-frame registrations and, per shot, a plate.

    ``keep="first"`` keeps the earliest sighting of each point (made by a survey of the whole
    clip: for a hole pixel never seen before, the nearest frame after it); ``keep="latest"``
    keeps the most recent sighting (updated as the clip streams: the nearest frame before).
    ``make=True`` (with "first"): when a shot closes, the points under its holes that no
    frame showed are synthesised once on the plate (:func:`models.synthesis.synthesize`), so
    every frame that needs them gets the same pixels carried along the motion.
    """

    size: tuple[int, int]  # frame (H, W)
    keep: str = "latest"
    make: bool = False
    shots: list[_Shot] = field(default_factory=list)
    shot_of: dict[int, int] = field(default_factory=dict)
    matrix: dict[int, np.ndarray] = field(default_factory=dict)  # frame -> canvas of its shot

    def share_registration(self, other: "Plates") -> None:
        """Use ``other``'s shots and registrations (the survey's), with plates of our own."""
        if self.shots:
            return
        self.shots = [_Shot(s.first, s.offset, s.canvas, last=s.last) for s in other.shots]
        self.shot_of = other.shot_of
        self.matrix = other.matrix

    def register(self, index: int, motion_from_previous: np.ndarray | None) -> None:
        """Place frame ``index`` (after ``index - 1``, moved by the given homography)."""
        h, w = self.size
        if index - 1 in self.matrix and motion_from_previous is not None:
            m = self.matrix[index - 1] @ np.linalg.inv(motion_from_previous)
            m = m / m[2, 2]
            shot = self.shots[self.shot_of[index - 1]]
            if self._fits(m, shot):
                self.matrix[index] = m
                self.shot_of[index] = len(self.shots) - 1
                shot.last = index
                return
        self._close_last()
        offset = (w // 2, h // 2)
        self.shots.append(_Shot(index, offset, (2 * h, 2 * w), last=index))
        self.matrix[index] = np.array([[1, 0, offset[0]], [0, 1, offset[1]], [0, 0, 1]], dtype=np.float64)
        self.shot_of[index] = len(self.shots) - 1

    def _fits(self, m: np.ndarray, shot: _Shot) -> bool:
        h, w = self.size
        corners = np.array([[[0, 0], [w, 0], [0, h], [w, h]]], dtype=np.float64)
        mapped = cv2.perspectiveTransform(corners, m)[0]
        ch, cw = shot.canvas
        area = cv2.contourArea(mapped[[0, 1, 3, 2]].astype(np.float32))
        return bool((mapped[:, 0] >= 0).all() and (mapped[:, 0] <= cw).all() and (mapped[:, 1] >= 0).all()
                    and (mapped[:, 1] <= ch).all() and 0.5 * w * h <= area <= 2.0 * w * h)

    def add(self, index: int, frame: np.ndarray, background: np.ndarray, hole: np.ndarray, erode: bool = True) -> None:
        """Put frame ``index``'s background pixels (HxW bool) on its shot's plate.

        ``hole`` (HxW bool) is remembered so a closed shot keeps the part the holes cover;
        ``erode`` leaves off the background's outermost pixels (their colour may blend in
        the neighbour's).
        """
        shot = self.shots[self.shot_of[index]]
        ch, cw = shot.canvas
        if shot.colour is None:
            shot.colour = np.zeros((ch, cw, 3), dtype=np.uint8)
            shot.time = np.full((ch, cw), -1, dtype=np.int32)
            shot.holes = np.zeros((ch, cw), dtype=bool)
        # everything happens inside the box the frame covers on the canvas
        (x0, y0, x1, y1), m = self._footprint(index)
        size = (x1 - x0, y1 - y0)
        if size[0] <= 0 or size[1] <= 0:
            return
        colour, time = shot.colour[y0:y1, x0:x1], shot.time[y0:y1, x0:x1]
        warped = cv2.warpPerspective(frame, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        # a canvas point is written only where all the frame pixels it blends are background
        usable = background.astype(np.uint8)
        if erode:
            usable = cv2.erode(usable, np.ones((3, 3), np.uint8), borderValue=0)
        seen = cv2.warpPerspective(usable, m, size, flags=cv2.INTER_NEAREST, borderValue=0) > 0
        if self.keep == "first":
            seen &= time < 0
        # pixels off the hole that are not background are still context for a synthesis
        # (time -2: known colour, never a sighting)
        off_hole = cv2.erode((~hole).astype(np.uint8), np.ones((3, 3), np.uint8), borderValue=0)
        context = (cv2.warpPerspective(off_hole, m, size, flags=cv2.INTER_NEAREST, borderValue=0) > 0) & ~seen
        context &= time == UNSEEN
        np.copyto(colour, warped, where=(context | seen)[..., None])  # (copyto: 3x faster than [mask])
        np.copyto(time, CONTEXT_ONLY, where=context)
        np.copyto(time, index, where=seen)
        if hole.any():
            shot.holes[y0:y1, x0:x1] |= cv2.warpPerspective(hole.astype(np.uint8), m, size, flags=cv2.INTER_NEAREST) > 0

    def _footprint(self, index: int) -> tuple[tuple[int, int, int, int], np.ndarray]:
        """The canvas box frame ``index`` covers (x0, y0, x1, y1) and the frame -> box matrix."""
        h, w = self.size
        shot = self.shots[self.shot_of[index]]
        ch, cw = shot.canvas
        m = self.matrix[index]
        corners = cv2.perspectiveTransform(np.array([[[0, 0], [w, 0], [0, h], [w, h]]], np.float64), m)[0]
        x0, y0 = max(0, int(np.floor(corners[:, 0].min())) - 1), max(0, int(np.floor(corners[:, 1].min())) - 1)
        x1, y1 = min(cw, int(np.ceil(corners[:, 0].max())) + 2), min(ch, int(np.ceil(corners[:, 1].max())) + 2)
        shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
        return (x0, y0, x1, y1), shift @ m

    def clear(self, index: int, where: np.ndarray) -> None:
        """Forget what the plate holds under frame ``index``'s pixels ``where`` (HxW bool)."""
        shot = self.shots[self.shot_of[index]]
        if shot.time is None or shot.box is not None or not where.any():
            return
        (x0, y0, x1, y1), m = self._footprint(index)
        if x1 > x0 and y1 > y0:
            gone = cv2.warpPerspective(where.astype(np.uint8), m, (x1 - x0, y1 - y0), flags=cv2.INTER_NEAREST) > 0
            shot.time[y0:y1, x0:x1][gone] = UNSEEN

    def _close_last(self) -> None:
        """Keep only the part of the last shot's plate that its holes cover."""
        if not self.shots or self.shots[-1].colour is None:
            return
        shot = self.shots[-1]
        ys, xs = np.nonzero(shot.holes)
        if len(xs) == 0:
            shot.colour = shot.time = shot.holes = None
            return
        ch, cw = shot.canvas
        x0, y0 = max(0, xs.min() - CONTEXT), max(0, ys.min() - CONTEXT)
        x1, y1 = min(cw, xs.max() + 1 + CONTEXT), min(ch, ys.max() + 1 + CONTEXT)
        shot.box = (x0, y0, x1, y1)
        shot.colour = shot.colour[y0:y1, x0:x1].copy()
        shot.time = shot.time[y0:y1, x0:x1].copy()
        if self.make:
            wanted = (shot.time < 0) & shot.holes[y0:y1, x0:x1]
            nothing = (shot.time == UNSEEN) & ~wanted
            if wanted.any() and not (wanted | nothing).all():
                shot.colour = synthesize(shot.colour, wanted, avoid=nothing, seed=shot.first)
                shot.time[wanted] = MADE
        shot.holes = None

    def finish(self) -> None:
        """Close the last shot (after the survey's last frame)."""
        self._close_last()

    def forget_before(self, index: int) -> None:
        """Drop the plates of shots that end before frame ``index``."""
        for shot in self.shots:
            if shot.last < index and shot.colour is not None:
                shot.colour = shot.time = shot.holes = None

    def lookup(self, index: int, points: np.ndarray, matrix: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Colours and sighting times for full-resolution points (Nx2 x, y) of frame ``index``.

        ``matrix`` (frame -> canvas) defaults to this object's own registration of the frame.
        Returns (Nx3 float32 colours, N int32 times with -1 = not on the plate, N bool found).
        """
        n = len(points)
        colours = np.zeros((n, 3), np.float32)
        times = np.full(n, -1, np.int32)
        if index not in self.shot_of or n == 0:
            return colours, times, times >= 0
        shot = self.shots[self.shot_of[index]]
        if shot.colour is None:
            return colours, times, times >= 0
        m = self.matrix[index] if matrix is None else matrix
        at = cv2.perspectiveTransform(points.reshape(1, -1, 2).astype(np.float64), m)[0]
        if shot.box is not None:
            at -= np.array(shot.box[:2], dtype=np.float64)
        ph, pw = shot.time.shape
        ix, iy = np.rint(at[:, 0]).astype(np.intp), np.rint(at[:, 1]).astype(np.intp)
        inside = (ix >= 0) & (ix < pw) & (iy >= 0) & (iy < ph)
        times[inside] = shot.time[iy[inside], ix[inside]]
        found = times >= 0
        if found.any():
            colours[found] = _sample_seen(shot.colour, shot.time, at[found])
        return colours, times, found


def _sample_seen(colour: np.ndarray, time: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Bilinear samples where all four neighbours were seen, the nearest one elsewhere."""
    ph, pw = time.shape
    x = np.clip(at[:, 0], 0, pw - 1)
    y = np.clip(at[:, 1], 0, ph - 1)
    x0, y0 = np.floor(x).astype(np.intp), np.floor(y).astype(np.intp)
    x1, y1 = np.minimum(x0 + 1, pw - 1), np.minimum(y0 + 1, ph - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    c = colour.astype(np.float32)
    blend = ((1 - fx) * (1 - fy) * c[y0, x0] + fx * (1 - fy) * c[y0, x1]
             + (1 - fx) * fy * c[y1, x0] + fx * fy * c[y1, x1])
    whole = (time[y0, x0] >= 0) & (time[y0, x1] >= 0) & (time[y1, x0] >= 0) & (time[y1, x1] >= 0)
    nearest = c[np.rint(y).astype(np.intp), np.rint(x).astype(np.intp)]
    return np.where(whole[:, None], blend, nearest).astype(np.float32)
