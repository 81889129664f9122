"""The timeline: a ruler to scrub, the in/out range, ticks for frames with masks, clicked
objects' keyframes and flagged frames, and a band for frames with results (green current,
orange stale). A view: it holds copies of what it draws
and reports ``scrubbed(frame)``."""

from __future__ import annotations

from fractions import Fraction

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QSizePolicy, QWidget


def timecode(frame: int, fps: Fraction) -> str:
    """HH:MM:SS:FF for ``frame`` at ``fps`` (non-drop)."""
    rate = max(1, round(float(fps))) if fps else 25
    secs, ff = divmod(int(frame), rate)
    mins, ss = divmod(secs, 60)
    hh, mm = divmod(mins, 60)
    return f"{hh:02d}:{mm:02d}:{ss:02d}:{ff:02d}"


class TimelineWidget(QWidget):
    scrubbed = Signal(int)

    MARGIN = 10

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("timeline")
        self.setMinimumHeight(72)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.num_frames = 0
        self.fps = Fraction(25)
        self.current = 0
        self.in_point = 0
        self.out_point = 0
        self.mask_frames: set[int] = set()
        self.results: dict[int, bool] = {}  # frame -> fresh
        self.keyframes: list[int] = []  # clicked objects' keyframes
        self.flags: dict[int, str] = {}  # frames where an object's propagation stopped
        self._dragging = False

    def sizeHint(self):
        from PySide6.QtCore import QSize

        return QSize(600, 72)

    def set_clip(self, num_frames: int, fps: Fraction) -> None:
        self.num_frames, self.fps = num_frames, fps
        self.current, self.in_point, self.out_point = 0, 0, max(0, num_frames - 1)
        self.mask_frames, self.results = set(), {}
        self.update()

    def set_current(self, frame: int) -> None:
        if frame != self.current:
            self.current = frame
            self.update()

    def set_range(self, in_point: int, out_point: int) -> None:
        self.in_point, self.out_point = in_point, out_point
        self.update()

    def set_mask_frames(self, frames) -> None:
        self.mask_frames = set(frames)
        self.update()

    def set_objects(self, keyframes, flags: dict[int, str]) -> None:
        """Clicked objects' keyframes (diamonds) and frames where propagation stopped (red)."""
        self.keyframes = list(keyframes)
        self.flags = dict(flags)
        self.setToolTip("\n".join(f"Frame {f + 1}: {r}" for f, r in sorted(self.flags.items())))
        self.update()

    def set_results(self, results: dict[int, bool]) -> None:
        self.results = dict(results)
        self.update()

    # ---- geometry -----------------------------------------------------------------------------
    def _span(self) -> tuple[float, float]:
        return self.MARGIN, max(1.0, self.width() - 2 * self.MARGIN)

    def x_of(self, frame: float) -> float:
        x0, w = self._span()
        return x0 + w * (frame + 0.5) / max(1, self.num_frames)

    def frame_at(self, x: float) -> int:
        x0, w = self._span()
        f = int((x - x0) / w * self.num_frames)
        return max(0, min(self.num_frames - 1, f))

    def _cell(self, frame: int) -> tuple[float, float]:
        x0, w = self._span()
        step = w / max(1, self.num_frames)
        return x0 + frame * step, step

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
        # in/out range
        a, _ = self._cell(self.in_point)
        b, step = self._cell(self.out_point)
        p.fillRect(QRectF(a, 0, b + step - a, h), QColor(60, 80, 120, 110))
        p.setPen(QPen(QColor(110, 160, 255), 2))
        p.drawLine(int(a), 0, int(a), h)
        p.drawLine(int(b + step), 0, int(b + step), h)
        # ruler
        p.setPen(QColor(140, 140, 150))
        rate = max(1, round(float(self.fps)))
        label_every = rate
        while w / max(1, self.num_frames) * label_every < 60:
            label_every *= 2
        for f in range(0, self.num_frames, max(1, label_every // 4 if label_every >= 4 else 1)):
            x = self.x_of(f)
            big = f % label_every == 0
            p.drawLine(int(x), 0, int(x), 10 if big else 5)
            if big:
                p.drawText(int(x) + 3, 20, timecode(f, self.fps) if self.num_frames > rate else str(f))
        # mask ticks
        p.setPen(Qt.PenStyle.NoPen)
        for f in self.mask_frames:
            cx, step = self._cell(f)
            p.fillRect(QRectF(cx, 28, max(1.5, step - 0.5), 14), QColor(255, 40, 90))
        # keyframes (yellow diamonds) and flagged frames (red triangles) of clicked objects
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        for f in self.keyframes:
            cx, step = self._cell(f)
            x = cx + step / 2
            p.setBrush(QColor(255, 210, 60))
            p.drawPolygon(QPolygonF([QPointF(x, 24), QPointF(x + 5, 30), QPointF(x, 36), QPointF(x - 5, 30)]))
        for f in self.flags:
            cx, step = self._cell(f)
            x = cx + step / 2
            p.setBrush(QColor(255, 60, 60))
            p.drawPolygon(QPolygonF([QPointF(x - 5, 42), QPointF(x + 5, 42), QPointF(x, 50)]))
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        # results band
        for f, fresh in self.results.items():
            cx, step = self._cell(f)
            p.fillRect(QRectF(cx, h - 16, max(1.0, step), 10), QColor(60, 200, 110) if fresh else QColor(235, 150, 40))
        # playhead
        x = self.x_of(self.current)
        p.setPen(QPen(QColor(255, 255, 255), 2))
        p.drawLine(int(x), 0, int(x), h)
