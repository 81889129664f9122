"""A small plot of the estimated memory against sub-video length, with the device's free
memory as a line and the planned value marked."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget


class MemoryPlot(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("memory-plot")
        self.setMinimumHeight(90)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.points: list[tuple[int, float]] = []  # (sub-video length, bytes)
        self.free: float | None = None
        self.marked: int | None = None

    def set_data(self, points: list[tuple[int, float]], free: float | None, marked: int | None) -> None:
        self.points, self.free, self.marked = points, free, marked
        self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(30, 30, 34))
        if not self.points:
            p.setPen(QColor(130, 130, 140))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No estimate")
            return
        xs = [x for x, _ in self.points]
        top = max([y for _, y in self.points] + ([self.free] if self.free else [])) * 1.1 or 1.0
        x0, x1 = min(xs), max(xs)
        label = f"{top / 2**30:.1f}G"
        margin = p.fontMetrics().horizontalAdvance(label) + 6  # the axis label is never cut ("124.7G")
        r = QRectF(self.rect()).adjusted(margin, 6, -6, -16)

        def pt(x: float, y: float) -> QPointF:
            fx = 0.0 if x1 == x0 else (x - x0) / (x1 - x0)
            return QPointF(r.left() + fx * r.width(), r.bottom() - y / top * r.height())

        p.setPen(QPen(QColor(80, 80, 90), 1))
        p.drawRect(r)
        p.setPen(QColor(150, 150, 160))
        p.drawText(QRectF(0, r.top() - 4, margin - 2, 14), Qt.AlignmentFlag.AlignRight, label)
        p.drawText(QRectF(r.left(), r.bottom() + 2, 40, 14), Qt.AlignmentFlag.AlignLeft, str(x0))
        p.drawText(QRectF(r.right() - 40, r.bottom() + 2, 40, 14), Qt.AlignmentFlag.AlignRight, str(x1))
        if self.free:
            p.setPen(QPen(QColor(235, 150, 40), 1, Qt.PenStyle.DashLine))
            y = pt(x0, self.free).y()
            p.drawLine(QPointF(r.left(), y), QPointF(r.right(), y))
        path = QPainterPath(pt(*self.points[0]))
        for x, y in self.points[1:]:
            path.lineTo(pt(x, y))
        p.setPen(QPen(QColor(110, 160, 255), 2))
        p.drawPath(path)
        if self.marked is not None:
            ys = dict(self.points)
            near = min(xs, key=lambda x: abs(x - self.marked))
            c = pt(self.marked, ys.get(self.marked, ys[near]))
            p.setPen(Qt.PenStyle.NoPen)
            fits = self.free is None or ys.get(self.marked, ys[near]) <= self.free
            p.setBrush(QColor(60, 200, 110) if fits else QColor(230, 60, 60))
            p.drawEllipse(c, 4.5, 4.5)
