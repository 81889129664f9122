"""The timeline: a ruler to scrub, a strip of frame thumbnails, the in/out range, ticks for
frames with masks, clicked objects' keyframes (diamonds) and frames that need review (amber
ticks and triangles), and a band
for frames with results (green current, orange stale). A view: it holds copies of what it
draws, reports ``scrubbed(frame)`` and asks for the thumbnails it lacks with
``thumbnailsWanted(frames)`` (decoded elsewhere, handed back by
:meth:`TimelineWidget.set_thumbnail`)."""

from __future__ import annotations

import re
from fractions import Fraction

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget


def confidence_colour(value: float) -> QColor:
    """The confidence strip's colour for a confidence in [0, 1]: red, amber at 0.5, green."""
    v = min(1.0, max(0.0, float(value)))
    return QColor.fromHsvF(v / 3.0, 0.85, 0.95)


def review_tooltip(flags: dict[int, str]) -> str:
    """Frames to review as spans per reason ("Frames 3-9, 12: ..."), not one line a frame.
    A reason's figures (an IoU, a score) differ frame to frame; they are left out here so that
    one kind of doubt is one line."""
    from editor.document.results import describe_spans

    if not flags:
        return ""
    groups: dict[str, list[int]] = {}
    for f, reason in sorted(flags.items()):
        general = re.sub(r" ?\([^)]*\d[^)]*\)| ?\b\d+\.\d+\b", "", reason)
        groups.setdefault(general, []).append(f)
    lines = [f"{len(flags)} frame{'s' if len(flags) > 1 else ''} to review (Ctrl+Shift+Right: next):"]
    for reason, frames in sorted(groups.items(), key=lambda kv: kv[1][0]):
        word = "Frame" if len(frames) == 1 else "Frames"
        lines.append(f"{word} {describe_spans(frames, limit=8)}: {reason}")
    return "\n".join(lines)


def timecode(frame: int, fps: Fraction) -> str:
    """HH:MM:SS:FF for ``frame`` at ``fps`` (non-drop)."""
    rate = max(1, round(float(fps))) if fps else 25
    secs, ff = divmod(int(frame), rate)
    mins, ss = divmod(secs, 60)
    hh, mm = divmod(mins, 60)
    return f"{hh:02d}:{mm:02d}:{ss:02d}:{ff:02d}"


def parse_position(text: str, fps: Fraction, current: int = 0) -> int | None:
    """The 0-based frame a "go to" entry names, or None when it names none.

    "42" is frame 42 as the status bar counts (1-based); "+10" / "-10" move from ``current``;
    "00:00:01:05", "01:05" (seconds:frames) or "1:00:05" are non-drop timecodes, as
    :func:`timecode` writes them ("." and ";" also separate)."""
    t = text.strip().replace(";", ":").replace(".", ":")
    if not t:
        return None
    if re.fullmatch(r"[+-]\d+", t):
        return current + int(t)
    if re.fullmatch(r"\d+", t):
        return int(t) - 1
    if re.fullmatch(r"\d+(:\d+){1,3}", t):
        rate = max(1, round(float(fps))) if fps else 25
        parts = [int(x) for x in t.split(":")]
        hh, mm, ss, ff = [0] * (4 - len(parts)) + parts
        return ((hh * 60 + mm) * 60 + ss) * rate + ff
    return None


class TimelineWidget(QWidget):
    scrubbed = Signal(int)
    thumbnailsWanted = Signal(list)  # frames whose thumbnails the strip lacks

    MARGIN = 10
    THUMB_TOP = 24
    THUMB_HEIGHT = 40
    #: One thumbnail per this many pixels of track, about.
    THUMB_SLOT = 72
    HEIGHT = 100
    CONFIDENCE_GAP = 11  # the confidence strip: this far under the top of the mask ticks
    CONFIDENCE_HEIGHT = 4

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("timeline")
        self.setMinimumHeight(self.HEIGHT)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.num_frames = 0
        self.fps = Fraction(25)
        self.current = 0
        self.in_point = 0
        self.out_point = 0
        self.mask_frames: set[int] = set()
        self.results: dict[int, bool] = {}  # frame -> fresh
        self.keyframes: list[int] = []  # clicked objects' keyframes
        self.flags: dict[int, str] = {}  # frame -> why its mask needs review
        self.confidence: dict[int, float] = {}  # frame -> the tracker's confidence in its mask
        self.thumbnails: dict[int, QImage] = {}
        self._asked: list[int] = []
        self._dragging = False
        # the frames in view: view_frames of them from view_start (zoom with Ctrl+wheel)
        self.view_start = 0.0
        self.view_frames = 1.0

    def sizeHint(self) -> QSize:
        return QSize(600, self.HEIGHT)

    def set_clip(self, num_frames: int, fps: Fraction) -> None:
        self.num_frames, self.fps = num_frames, fps
        self.current, self.in_point, self.out_point = 0, 0, max(0, num_frames - 1)
        self.mask_frames, self.results = set(), {}
        self.thumbnails, self._asked = {}, []
        self.view_start, self.view_frames = 0.0, float(max(1, num_frames))
        self._ask_thumbnails()
        self.update()

    # ---- thumbnails ---------------------------------------------------------------------------
    def _slots(self) -> tuple[int, float]:
        """(count, width) of the thumbnail slots tiling the track."""
        _, w = self._span()
        count = max(1, round(w / self.THUMB_SLOT))
        return count, w / count

    def thumbnail_frames(self) -> list[int]:
        """The frames the strip shows at this width, one per slot (sorted, no repeats)."""
        if not self.num_frames:
            return []
        x0, _ = self._span()
        count, slot = self._slots()
        return sorted({self.frame_at(x0 + (k + 0.5) * slot) for k in range(count)})

    def _ask_thumbnails(self) -> None:
        frames = self.thumbnail_frames()
        if frames != self._asked:
            self._asked = frames
            missing = [f for f in frames if f not in self.thumbnails]
            if missing:
                self.thumbnailsWanted.emit(missing)

    def set_thumbnail(self, frame: int, image: QImage) -> None:
        """Store the thumbnail of ``frame``; ones of other widths are dropped when many pile up."""
        self.thumbnails[frame] = image
        if len(self.thumbnails) > 4 * len(self._asked):
            keep = set(self._asked)
            self.thumbnails = {f: im for f, im in self.thumbnails.items() if f in keep}
        self.update()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._ask_thumbnails()

    def set_current(self, frame: int) -> None:
        if frame != self.current:
            self.current = frame
            if not self.view_start <= frame < self.view_start + self.view_frames:  # page to the playhead
                self._set_view(frame - 0.1 * self.view_frames, self.view_frames)
            self.update()

    def set_range(self, in_point: int, out_point: int) -> None:
        self.in_point, self.out_point = in_point, out_point
        self.update()

    def set_mask_frames(self, frames) -> None:
        self.mask_frames = set(frames)
        self.update()

    def set_objects(self, keyframes, flags: dict[int, str], confidence: dict[int, float] | None = None) -> None:
        """Clicked objects' keyframes (diamonds), frames whose masks need review (amber) and
        the tracker's confidence in each tracked frame's mask (a strip under the ticks, red to
        green)."""
        self.keyframes = list(keyframes)
        self.flags = dict(flags)
        self.confidence = dict(confidence or {})
        self.setToolTip(review_tooltip(self.flags))
        self.update()

    def set_results(self, results: dict[int, bool]) -> None:
        self.results = dict(results)
        self.update()

    # ---- zoom ---------------------------------------------------------------------------------
    MAX_FRAME_PX = 160  # zoomed in all the way, one frame is this wide

    def zoom(self, factor: float, at_x: float | None = None) -> None:
        """Show ``factor`` times fewer frames (factor > 1 zooms in), keeping the frame under
        ``at_x`` (default: the playhead) where it is."""
        if not self.num_frames:
            return
        x0, w = self._span()
        at_x = self.x_of(self.current) if at_x is None else at_x
        anchor = self.view_start + (at_x - x0) / w * self.view_frames
        least = min(float(self.num_frames), max(1.0, w / self.MAX_FRAME_PX))
        frames = min(float(self.num_frames), max(least, self.view_frames / factor))
        self._set_view(anchor - (at_x - x0) / w * frames, frames)

    def zoom_fit(self) -> None:
        self._set_view(0.0, float(max(1, self.num_frames)))

    def _set_view(self, start: float, frames: float) -> None:
        self.view_frames = frames
        self.view_start = min(max(0.0, start), max(0.0, self.num_frames - frames))
        self._ask_thumbnails()
        self.update()

    def wheelEvent(self, event) -> None:
        """Ctrl+wheel zooms around the pointer; the wheel scrolls a zoomed timeline."""
        steps = event.angleDelta().y() / 120 or event.angleDelta().x() / 120
        if not steps or not self.num_frames:
            return super().wheelEvent(event)
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom(1.25 ** steps, event.position().x())
        elif self.view_frames < self.num_frames:
            self._set_view(self.view_start - steps * 0.1 * self.view_frames, self.view_frames)
        else:
            return super().wheelEvent(event)
        event.accept()

    # ---- geometry -----------------------------------------------------------------------------
    def _span(self) -> tuple[float, float]:
        return self.MARGIN, max(1.0, self.width() - 2 * self.MARGIN)

    def x_of(self, frame: float) -> float:
        x0, w = self._span()
        return x0 + w * (frame + 0.5 - self.view_start) / self.view_frames

    def frame_at(self, x: float) -> int:
        x0, w = self._span()
        f = int(self.view_start + (x - x0) / w * self.view_frames)
        return max(0, min(self.num_frames - 1, f))

    def _cell(self, frame: int) -> tuple[float, float]:
        x0, w = self._span()
        step = w / self.view_frames
        return x0 + (frame - self.view_start) * step, step

    # ---- input --------------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.num_frames:
            self._dragging = True
            self.scrubbed.emit(self.frame_at(event.position().x()))

    def mouseMoveEvent(self, event) -> None:
        if self._dragging:
            self.scrubbed.emit(self.frame_at(event.position().x()))

    def mouseReleaseEvent(self, event) -> None:
        self._dragging = False

    # ---- drawing ------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(32, 32, 36))
        if not self.num_frames:
            p.setPen(QColor(120, 120, 130))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No clip")
            return
        h = self.height()
        x0, w = self._span()
        p.setClipRect(QRectF(x0 - 2, 0, w + 4, h))  # a zoomed timeline draws only its frames in view
        # in/out range; thumbnails outside it are dimmed
        a, _ = self._cell(self.in_point)
        b, step = self._cell(self.out_point)
        p.fillRect(QRectF(a, 0, b + step - a, h), QColor(60, 80, 120, 110))
        self._draw_thumbnails(p)
        dim = QColor(20, 20, 24, 150)
        p.fillRect(QRectF(x0, self.THUMB_TOP, a - x0, self.THUMB_HEIGHT), dim)
        p.fillRect(QRectF(b + step, self.THUMB_TOP, x0 + w - b - step, self.THUMB_HEIGHT), dim)
        p.setPen(QPen(QColor(110, 160, 255), 2))
        p.drawLine(int(a), 0, int(a), h)
        p.drawLine(int(b + step), 0, int(b + step), h)
        # ruler
        p.setPen(QColor(140, 140, 150))
        rate = max(1, round(float(self.fps)))
        label_every = rate
        while w / self.view_frames * label_every < 60:
            label_every *= 2
        while label_every > 1 and w / self.view_frames * label_every > 240:  # zoomed in: finer labels
            label_every //= 2
        tick = max(1, label_every // 4 if label_every >= 4 else 1)
        first = int(self.view_start) // tick * tick
        last = min(self.num_frames, int(self.view_start + self.view_frames) + 1)
        for f in range(first, last, tick):
            x = self.x_of(f)
            big = f % label_every == 0
            p.drawLine(int(x), 0, int(x), 10 if big else 5)
            if big:
                p.drawText(int(x) + 3, 20, timecode(f, self.fps) if self.num_frames > rate else str(f))
        # mask ticks, under the thumbnails
        p.setPen(Qt.PenStyle.NoPen)
        ticks = self.THUMB_TOP + self.THUMB_HEIGHT + 4
        for f in self.mask_frames:
            cx, step = self._cell(f)
            p.fillRect(QRectF(cx, ticks, max(1.5, step - 0.5), 10), QColor(255, 40, 90))
        for f in self.flags:  # frames to review: amber, whether or not they have a mask
            cx, step = self._cell(f)
            p.fillRect(QRectF(cx, ticks, max(1.5, step - 0.5), 10), QColor(255, 176, 0))
        # the tracker's confidence in each tracked frame's mask: red (none) through amber to green
        for f, value in self.confidence.items():
            cx, step = self._cell(f)
            p.fillRect(QRectF(cx, ticks + self.CONFIDENCE_GAP, max(1.5, step - 0.5), self.CONFIDENCE_HEIGHT),
                       confidence_colour(value))
        # keyframes (yellow diamonds) and frames to review (amber triangles) of clicked objects
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setPen(QPen(QColor(20, 20, 20), 1))
        y = ticks + 5
        for f in self.keyframes:
            cx, step = self._cell(f)
            x = cx + step / 2
            p.setBrush(QColor(255, 210, 60))
            p.drawPolygon(QPolygonF([QPointF(x, y - 7), QPointF(x + 6, y), QPointF(x, y + 7), QPointF(x - 6, y)]))
        for f in self.flags:
            cx, step = self._cell(f)
            x = cx + step / 2
            p.setBrush(QColor(255, 176, 0))
            p.drawPolygon(QPolygonF([QPointF(x - 6, y - 12), QPointF(x + 6, y - 12), QPointF(x, y)]))
        p.setPen(Qt.PenStyle.NoPen)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        # results band
        for f, fresh in self.results.items():
            cx, step = self._cell(f)
            p.fillRect(QRectF(cx, h - 16, max(1.0, step), 10), QColor(60, 200, 110) if fresh else QColor(235, 150, 40))
        # playhead
        x = self.x_of(self.current)
        p.setPen(QPen(QColor(255, 255, 255), 2))
        p.drawLine(int(x), 0, int(x), h)

    def _draw_thumbnails(self, p: QPainter) -> None:
        """Each slot shows its frame's thumbnail scaled to cover it (centre kept), or a blank."""
        x0, _ = self._span()
        count, slot = self._slots()
        top, th = self.THUMB_TOP, self.THUMB_HEIGHT
        for k in range(count):
            target = QRectF(x0 + k * slot, top, slot, th)
            image = self.thumbnails.get(self.frame_at(target.center().x()))
            if image is None:
                p.fillRect(target, QColor(44, 44, 50))
                continue
            iw, ih = image.width(), image.height()
            scale = max(target.width() / iw, target.height() / ih)
            sw, sh = target.width() / scale, target.height() / scale
            p.drawImage(target, image, QRectF((iw - sw) / 2, (ih - sh) / 2, sw, sh))
        p.setPen(QPen(QColor(20, 20, 24), 1))
        for k in range(1, count):
            x = x0 + k * slot
            p.drawLine(QPointF(x, top), QPointF(x, top + th))
