"""The frame canvas: a frame at any zoom with pan, the mask as a coloured overlay, view modes
(source, mask, result, before/after split) and the brush, eraser, rectangle and polygon tools.

The canvas owns no document state: it shows what the main window gives it and reports a
finished stroke with ``strokeFinished(box, stamp, op, name)``; the window turns that into an
undo command. During a drag only the touched box of the overlay is recomputed.

The polygon tool collects vertices click by click (drawn live); a double-click, Enter or a
click on the first vertex closes it (Alt held: it erases), Escape drops it.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

from editor.document.masks import Stroke, apply_stamp, polygon_stamp

VIEW_MODES = ("source", "mask", "result", "split")
TOOLS = ("brush", "eraser", "rect", "polygon", "click")
TOOL_NAMES = {"brush": "Brush Stroke", "eraser": "Eraser Stroke", "rect": "Rectangle", "polygon": "Polygon"}
#: A polygon click this close (widget pixels) to the first vertex closes it; to the last, is ignored.
CLOSE_DISTANCE = 8.0


def to_qimage(rgb: np.ndarray) -> QImage:
    """HxWx3 (RGB) or HxWx4 (RGBA) uint8 array -> QImage sharing the array's memory.

    The caller keeps the array alive as long as the image (we store both together).
    """
    rgb = np.ascontiguousarray(rgb)
    h, w = rgb.shape[:2]
    fmt = QImage.Format.Format_RGB888 if rgb.shape[2] == 3 else QImage.Format.Format_RGBA8888
    img = QImage(rgb.data, w, h, rgb.strides[0], fmt)
    img._keep = rgb  # noqa: SLF001 - keep the buffer alive with the image
    return img


class CanvasView(QWidget):
    strokeFinished = Signal(object, object, str, str)  # box, uint8 stamp, op, undo text
    zoomChanged = Signal(float)
    cursorMoved = Signal(int, int)  # source pixel under the cursor
    splitChanged = Signal(float)
    clicked = Signal(float, float, int)  # click tool: source x, y, label (1 include, 0 exclude)
    boxDrawn = Signal(float, float, float, float)  # click tool: x0, y0, x1, y1 in source pixels
    escapePressed = Signal()  # Escape while no run is there to cancel

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumSize(320, 200)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setObjectName("canvas")
        self.mode = "source"
        self.tool = "brush"
        self.radius = 12.0
        self.hardness = 0.8
        self.opacity = 0.5
        self.mask_color = QColor(255, 40, 90)
        self.split = 0.5
        self.painting_enabled = True
        self.zoom = 1.0
        self.offset = QPointF(0, 0)  # widget position of the image's top-left corner
        self._fit_pending = True
        self._source: np.ndarray | None = None
        self._source_img: QImage | None = None
        self._result_img: QImage | None = None
        self._result_stale = False
        self._mask: np.ndarray | None = None  # HxW uint8, the document's mask of this frame
        self._overlay: np.ndarray | None = None  # HxWx4 RGBA
        self._overlay_img: QImage | None = None
        self._mask_img: QImage | None = None
        self._canvas = None  # models.canvas.Canvas when the frame is expanded
        self._border_img: QImage | None = None
        self._stroke: Stroke | None = None
        self._stroke_op = "paint"
        self._rect_start: QPointF | None = None
        self._poly: list[QPointF] = []  # vertices (source pixels) of the polygon in progress
        self._pan_from: QPointF | None = None
        self._drag_split = False
        self._mouse: QPointF | None = None
        self._click_from: QPointF | None = None  # click tool: where the left button went down
        self._click_label = 1
        self._click_drag = False
        self._preview_img: QImage | None = None  # click tool: SAM's candidate mask
        self._prompts: tuple[list, list, tuple | None] = ([], [], None)  # points, labels, box
        self.message = ""  # shown when there is nothing to draw

    # ---- content ------------------------------------------------------------------------------
    @property
    def source_size(self) -> tuple[int, int] | None:
        """(width, height) of the source frame."""
        return None if self._source is None else (self._source.shape[1], self._source.shape[0])

    def image_size(self) -> tuple[int, int] | None:
        """(width, height) of what is shown: the canvas when expanded, else the source."""
        if self._canvas is not None:
            return (self._canvas.width, self._canvas.height)
        return self.source_size

    def _source_origin(self) -> tuple[int, int]:
        return (0, 0) if self._canvas is None else (self._canvas.left, self._canvas.top)

    def set_expansion(self, canvas) -> None:
        """Show the frame on an outpainting canvas (``models.canvas.Canvas``) or not (None)."""
        self._canvas = canvas
        self._border_img = None
        if canvas is not None:
            _, border = canvas.masks()
            rgba = np.zeros(border.shape + (4,), np.uint8)
            c = self.mask_color
            rgba[border > 0] = (c.red(), c.green(), c.blue(), 90)
            self._border_img = to_qimage(rgba)
        self._fit_pending = True
        self.update()

    def set_frame(self, frame: np.ndarray | None, mask: np.ndarray | None) -> None:
        """Show a source frame (HxWx3 uint8) and its mask (HxW uint8 or None)."""
        old = self.source_size
        self._source = frame
        self._source_img = None if frame is None else to_qimage(frame)
        if frame is not None and old != self.source_size:
            self._fit_pending = True
            self._poly = []
        self.set_mask(mask)

    def set_result(self, frame: np.ndarray | None, stale: bool = False) -> None:
        self._result_img = None if frame is None else to_qimage(frame)
        self._result_stale = stale
        self.update()

    def set_mask(self, mask: np.ndarray | None) -> None:
        if self._source is None:
            self._mask = None
        else:
            h, w = self._source.shape[:2]
            self._mask = np.zeros((h, w), np.uint8) if mask is None else np.array(mask, np.uint8)
        self._rebuild_overlay()

    def _rebuild_overlay(self) -> None:
        if self._mask is None:
            self._overlay = self._overlay_img = self._mask_img = None
        else:
            h, w = self._mask.shape
            self._overlay = np.zeros((h, w, 4), np.uint8)
            self._paint_overlay((0, h, 0, w), self._mask)
            self._overlay_img = to_qimage(self._overlay)
            self._mask_img = None
        self.update()

    def _paint_overlay(self, box, values: np.ndarray) -> None:
        y0, y1, x0, x1 = box
        o = self._overlay[y0:y1, x0:x1]
        c = self.mask_color
        o[..., 0], o[..., 1], o[..., 2] = c.red(), c.green(), c.blue()
        o[..., 3] = (values.astype(np.uint16) * int(round(self.opacity * 255)) // 255).astype(np.uint8)

    def set_preview(self, mask: np.ndarray | None) -> None:
        """Show SAM's candidate mask (HxW bool) over the frame, or nothing."""
        if mask is None:
            self._preview_img = None
        else:
            rgba = np.zeros((*mask.shape, 4), np.uint8)
            rgba[mask] = (40, 220, 255, 130)
            self._preview_img = to_qimage(rgba)
        self.update()

    def set_prompts(self, points: list, labels: list, box: tuple | None) -> None:
        """The click tool's pending clicks (source (x, y), label) and box (x0, y0, x1, y1)."""
        self._prompts = (list(points), list(labels), box)
        self.update()

    def _draw_prompts(self, p: QPainter) -> None:
        points, labels, box = self._prompts
        if self._preview_img is not None and self._source_img is not None:
            ox, oy = self._source_origin()
            sw, sh = self.source_size
            p.drawImage(QRectF(self.offset.x() + ox * self.zoom, self.offset.y() + oy * self.zoom,
                               sw * self.zoom, sh * self.zoom), self._preview_img)
        p.setBrush(Qt.BrushStyle.NoBrush)
        if box is not None:
            p.setPen(QPen(QColor(40, 220, 255), 2, Qt.PenStyle.DashLine))
            p.drawRect(QRectF(self.source_to_widget(box[0], box[1]), self.source_to_widget(box[2], box[3])))
        if self._click_from is not None and self._click_drag and self._mouse is not None:
            p.setPen(QPen(QColor(255, 255, 255), 1, Qt.PenStyle.DashLine))
            p.drawRect(QRectF(self._click_from, self._mouse).normalized())
        for (x, y), label in zip(points, labels):
            c = self.source_to_widget(x, y)
            p.setPen(QPen(QColor(0, 0, 0), 1))
            p.setBrush(QColor(60, 220, 90) if label else QColor(235, 60, 60))
            p.drawEllipse(c, 6, 6)
            p.setPen(QPen(QColor(255, 255, 255), 2))
            p.drawLine(QPointF(c.x() - 3, c.y()), QPointF(c.x() + 3, c.y()))
            if label:
                p.drawLine(QPointF(c.x(), c.y() - 3), QPointF(c.x(), c.y() + 3))

    def set_opacity(self, value: float) -> None:
        self.opacity = float(np.clip(value, 0.0, 1.0))
        self._rebuild_overlay()

    def set_tool(self, tool: str) -> None:
        """Pick a tool of :data:`TOOLS`; a polygon in progress is dropped."""
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        self.tool = tool
        self._poly = []
        self.update()

    def set_mode(self, mode: str) -> None:
        if mode not in VIEW_MODES:
            raise ValueError(f"unknown view mode {mode!r}")
        self.mode = mode
        self.update()

    # ---- zoom and pan -------------------------------------------------------------------------
    def fit(self) -> None:
        size = self.image_size()
        if size is None:
            return
        w, h = size
        z = min((self.width() - 16) / w, (self.height() - 16) / h)
        self.zoom = max(0.02, z)
        self.offset = QPointF((self.width() - w * self.zoom) / 2, (self.height() - h * self.zoom) / 2)
        self._fit_pending = False
        self.zoomChanged.emit(self.zoom)
        self.update()

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        zoom = float(np.clip(zoom, 0.02, 32.0))
        if anchor is None:
            anchor = QPointF(self.width() / 2, self.height() / 2)
        img = (anchor - self.offset) / self.zoom
        self.zoom = zoom
        self.offset = anchor - img * zoom
        self.zoomChanged.emit(self.zoom)
        self.update()

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom * 1.25)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom / 1.25)

    def widget_to_source(self, p: QPointF) -> QPointF:
        ox, oy = self._source_origin()
        q = (p - self.offset) / self.zoom
        return QPointF(q.x() - ox, q.y() - oy)

    def source_to_widget(self, x: float, y: float) -> QPointF:
        ox, oy = self._source_origin()
        return self.offset + QPointF(x + ox, y + oy) * self.zoom

    def resizeEvent(self, event) -> None:
        self._fit_pending = True
        super().resizeEvent(event)

    def wheelEvent(self, event) -> None:
        if self.image_size() is None:
            return
        steps = event.angleDelta().y() / 120.0
        self.set_zoom(self.zoom * (1.25**steps), event.position())

    # ---- strokes ------------------------------------------------------------------------------
    def _split_x(self) -> float:
        size = self.image_size() or (0, 0)
        return self.offset.x() + size[0] * self.zoom * self.split

    def mousePressEvent(self, event) -> None:
        pos = event.position()
        if self.tool == "click" and self._source is not None and self.mode in ("source", "mask") \
                and event.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            alt = bool(event.modifiers() & Qt.KeyboardModifier.AltModifier)
            self._click_label = 0 if event.button() == Qt.MouseButton.RightButton or alt else 1
            self._click_from, self._click_drag = pos, False
            return
        if event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.RightButton):
            self._pan_from = pos
            return
        if event.button() != Qt.MouseButton.LeftButton or self._source is None:
            return
        if self.mode == "split" and abs(pos.x() - self._split_x()) < 8:
            self._drag_split = True
            return
        if not self.painting_enabled or self.mode in ("result", "split"):
            return
        if self.tool == "polygon":
            self.add_polygon_point(pos, erase=bool(event.modifiers() & Qt.KeyboardModifier.AltModifier))
            return
        self.begin_stroke(pos)

    def mouseDoubleClickEvent(self, event) -> None:
        if self.tool == "polygon" and event.button() == Qt.MouseButton.LeftButton:
            # Qt sends the second press too; it fell on the last vertex and was ignored there.
            self.close_polygon(erase=bool(event.modifiers() & Qt.KeyboardModifier.AltModifier))
            return
        super().mouseDoubleClickEvent(event)

    def event(self, event) -> bool:
        # While a polygon is drawn, Enter and Escape are its keys, not the window's shortcuts.
        if event.type() == QEvent.Type.ShortcutOverride and self._poly and event.key() in _POLYGON_KEYS:
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        if self._poly and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.close_polygon(erase=bool(event.modifiers() & Qt.KeyboardModifier.AltModifier))
        elif self._poly and event.key() == Qt.Key.Key_Escape:
            self.cancel_polygon()
        elif event.key() == Qt.Key.Key_Escape:  # no run to cancel: the window's shortcut is off
            self.escapePressed.emit()
        else:
            super().keyPressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        pos = event.position()
        self._mouse = pos
        if self._pan_from is not None:
            self.offset += pos - self._pan_from
            self._pan_from = pos
            self.update()
            return
        if self._drag_split:
            size = self.image_size()
            self.split = float(np.clip((pos.x() - self.offset.x()) / (size[0] * self.zoom), 0.0, 1.0))
            self.splitChanged.emit(self.split)
            self.update()
            return
        src = self.widget_to_source(pos)
        self.cursorMoved.emit(int(src.x()), int(src.y()))
        if self._click_from is not None:
            d = pos - self._click_from
            self._click_drag = self._click_drag or (abs(d.x()) + abs(d.y()) > 6 and self._click_label == 1)
            self.update()
            return
        if self._stroke is not None:
            self.continue_stroke(pos)
        else:
            self.update()  # the brush outline follows the cursor

    def mouseReleaseEvent(self, event) -> None:
        if self._click_from is not None:
            a, b = self.widget_to_source(self._click_from), self.widget_to_source(event.position())
            drag, label = self._click_drag, self._click_label
            self._click_from, self._click_drag = None, False
            sw, sh = self.source_size
            if drag:
                x0, x1 = sorted((float(np.clip(a.x(), 0, sw)), float(np.clip(b.x(), 0, sw))))
                y0, y1 = sorted((float(np.clip(a.y(), 0, sh)), float(np.clip(b.y(), 0, sh))))
                if x1 - x0 >= 2 and y1 - y0 >= 2:
                    self.boxDrawn.emit(x0, y0, x1, y1)
            elif 0 <= b.x() < sw and 0 <= b.y() < sh:
                self.clicked.emit(b.x(), b.y(), label)
            self.update()
            return
        if self._pan_from is not None and event.button() != Qt.MouseButton.LeftButton:
            self._pan_from = None
            return
        if self._drag_split:
            self._drag_split = False
            return
        if self._stroke is not None and event.button() == Qt.MouseButton.LeftButton:
            self.end_stroke()

    def leaveEvent(self, event) -> None:
        self._mouse = None
        self.update()

    def begin_stroke(self, pos: QPointF) -> None:
        """Start a brush/eraser drag or a rectangle at widget position ``pos``."""
        h, w = self._mask.shape
        self._stroke = Stroke(h, w, self.radius, self.hardness)
        self._stroke_op = "erase" if self.tool == "eraser" else "paint"
        if self.tool == "rect":
            self._rect_start = self.widget_to_source(pos)
        self.continue_stroke(pos)

    def continue_stroke(self, pos: QPointF) -> None:
        src = self.widget_to_source(pos)
        if self.tool == "rect":
            a = self._rect_start
            box = self._stroke.add_rect(a.x(), a.y(), src.x(), src.y())
        else:
            box = self._stroke.add_point(src.x(), src.y())
        if box is not None:
            y0, y1, x0, x1 = box
            cov = np.round(self._stroke.coverage[y0:y1, x0:x1] * 255).astype(np.uint8)
            shown = apply_stamp(self._mask[y0:y1, x0:x1], cov, self._stroke_op)
            self._paint_overlay(box, shown)
            self.update(self._widget_rect(box).toAlignedRect().adjusted(-2, -2, 2, 2))

    def end_stroke(self) -> None:
        stroke, self._stroke = self._stroke, None
        self._rect_start = None
        result = stroke.stamp() if stroke is not None else None
        if result is None:
            return
        box, stamp = result
        self.strokeFinished.emit(box, stamp, self._stroke_op, TOOL_NAMES[self.tool])

    # ---- polygon ------------------------------------------------------------------------------
    def polygon_points(self) -> list[tuple[float, float]]:
        """Vertices (source pixels) of the polygon in progress."""
        return [(p.x(), p.y()) for p in self._poly]

    def add_polygon_point(self, pos: QPointF, erase: bool = False) -> None:
        """A click of the polygon tool at widget position ``pos``: a vertex, or the closing click."""
        if len(self._poly) >= 3 and self._near_vertex(pos, 0):
            self.close_polygon(erase)
            return
        if self._poly and self._near_vertex(pos, -1):
            return  # a double-click's second press, or a shaky click: not a new vertex
        self._poly.append(self.widget_to_source(pos))
        self.update()

    def _near_vertex(self, pos: QPointF, k: int) -> bool:
        v = self._poly[k]
        return _distance(pos, self.source_to_widget(v.x(), v.y())) <= CLOSE_DISTANCE

    def close_polygon(self, erase: bool = False) -> None:
        """Fill the polygon in progress (paint, or erase) and report it as one stroke; under 3
        vertices it stays open."""
        if len(self._poly) < 3 or self._mask is None:
            return
        points, self._poly = self.polygon_points(), []
        self.update()
        h, w = self._mask.shape
        result = polygon_stamp(points, h, w)
        if result is not None:
            self.strokeFinished.emit(result[0], result[1], "erase" if erase else "paint", TOOL_NAMES["polygon"])

    def cancel_polygon(self) -> None:
        self._poly = []
        self.update()

    def _draw_polygon(self, p: QPainter) -> None:
        pts = [self.source_to_widget(q.x(), q.y()) for q in self._poly]
        fill = QColor(self.mask_color)
        fill.setAlpha(60)
        p.setBrush(fill)
        p.setPen(Qt.PenStyle.NoPen)
        if len(pts) >= 3:
            p.drawPolygon(QPolygonF(pts))
        p.setPen(QPen(QColor(255, 255, 255), 1.5))
        p.drawPolyline(QPolygonF(pts))
        if self._mouse is not None:
            p.setPen(QPen(QColor(255, 255, 255, 180), 1, Qt.PenStyle.DashLine))
            p.drawLine(pts[-1], self._mouse)
        closing = len(pts) >= 3 and self._mouse is not None and self._near_vertex(self._mouse, 0)
        p.setPen(QPen(QColor(20, 20, 20), 1))
        for k, q in enumerate(pts):
            p.setBrush(QColor(255, 220, 60) if k == 0 and closing else QColor(255, 255, 255))
            r = 5.0 if k == 0 else 3.5
            p.drawEllipse(q, r, r)

    def _widget_rect(self, box) -> QRectF:
        y0, y1, x0, x1 = box
        a = self.source_to_widget(x0, y0)
        b = self.source_to_widget(x1, y1)
        return QRectF(a, b)

    # ---- drawing ------------------------------------------------------------------------------
    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(24, 24, 27))
        size = self.image_size()
        if self._source_img is None or size is None:
            p.setPen(QColor(150, 150, 160))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.message)
            return
        if self._fit_pending:
            self.fit()
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, self.zoom < 1.0)
        w, h = size
        target = QRectF(self.offset.x(), self.offset.y(), w * self.zoom, h * self.zoom)
        ox, oy = self._source_origin()
        sw, sh = self.source_size
        src_rect = QRectF(self.offset.x() + ox * self.zoom, self.offset.y() + oy * self.zoom, sw * self.zoom, sh * self.zoom)
        p.fillRect(target, QColor(0, 0, 0))

        if self.mode == "mask":
            if self._mask_img is None and self._mask is not None:
                grey = np.repeat((self._mask > 0).astype(np.uint8)[..., None] * 255, 3, axis=2)
                self._mask_img = to_qimage(grey)
            if self._stroke is not None:  # show the stroke in progress too
                self._mask_img = None
                p.drawImage(src_rect, self._source_img)
                p.drawImage(src_rect, self._overlay_img)
            elif self._mask_img is not None:
                p.drawImage(src_rect, self._mask_img)
        elif self.mode == "result":
            self._draw_result(p, target, src_rect)
        elif self.mode == "split":
            p.drawImage(src_rect, self._source_img)
            if self._border_img is not None:
                p.drawImage(target, self._border_img)
            sx = self._split_x()
            p.save()
            p.setClipRect(QRectF(sx, target.top(), target.right() - sx, target.height()))
            self._draw_result(p, target, src_rect)
            p.restore()
            p.setPen(QPen(QColor(255, 255, 255), 2))
            p.drawLine(QPointF(sx, target.top()), QPointF(sx, target.bottom()))
            p.setBrush(QColor(255, 255, 255))
            p.drawEllipse(QPointF(sx, target.center().y()), 6, 6)
            p.setPen(QColor(230, 230, 230))
            p.drawText(QPointF(target.left() + 6, target.top() + 16), "Before")
            p.drawText(QPointF(sx + 6, target.top() + 16), "After")
        else:
            p.drawImage(src_rect, self._source_img)
            if self._border_img is not None:
                p.drawImage(target, self._border_img)
            if self._overlay_img is not None:
                p.drawImage(src_rect, self._overlay_img)

        if self.tool == "click" and self.mode in ("source", "mask"):
            self._draw_prompts(p)
        if self._poly and self.mode in ("source", "mask"):
            self._draw_polygon(p)
        brush = self.tool in ("brush", "eraser")
        if self._mouse is not None and self.mode in ("source", "mask") and brush and self.painting_enabled:
            p.setPen(QPen(QColor(255, 255, 255, 200), 1))
            p.setBrush(Qt.BrushStyle.NoBrush)
            r = self.radius * self.zoom
            p.drawEllipse(self._mouse, r, r)

    def _draw_result(self, p: QPainter, target: QRectF, src_rect: QRectF) -> None:
        if self._result_img is None:
            p.drawImage(src_rect, self._source_img)
            p.fillRect(target, QColor(0, 0, 0, 140))
            p.setPen(QColor(220, 220, 220))
            p.drawText(target, Qt.AlignmentFlag.AlignCenter, "No result for this frame yet")
            return
        rw, rh = self._result_img.width(), self._result_img.height()
        rect = target if (rw, rh) == self.image_size() else src_rect
        p.drawImage(rect, self._result_img)
        if self._result_stale:
            p.setPen(QColor(255, 170, 40))
            p.drawText(QPointF(target.right() - 160, target.top() + 16), "stale: masks changed since")


_POLYGON_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape)


def _distance(a: QPointF, b: QPointF) -> float:
    return float(np.hypot(a.x() - b.x(), a.y() - b.y()))
