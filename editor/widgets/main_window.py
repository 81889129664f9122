"""The main window: composes the canvas, timeline, tools and job panel over one Document.

It owns no engine state: a run is a snapshot handed to one :class:`JobWorker` on a QThread;
decoding happens on the :class:`FrameCache` and :class:`ThumbnailLoader` threads; export and
downloads on TaskWorkers.
File and project handling lives in :mod:`editor.widgets.session` (a mixin) to keep this
module about layout, display and editing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QToolBar,
)

from editor.document.model import Document
from editor.document.results import ResultStore
from editor.widgets.canvas import CanvasView
from editor.widgets.focus import EditorFocus
from editor.widgets.job_panel import JobPanel
from editor.widgets.objects import ObjectsMixin
from editor.widgets.session import SessionMixin
from editor.widgets.timeline import TimelineWidget, timecode
from editor.widgets.transport import TransportMixin

SCOPE_LABELS = {"frame": "Current frame", "range": "In/out range", "all": "All frames"}


class MainWindow(SessionMixin, ObjectsMixin, TransportMixin, QMainWindow):
    """The editor window. ``frameShown(i)``: frame ``i`` is on the canvas; ``chunkShown`` and
    ``runFinished`` follow a run on the GUI thread."""

    frameShown = Signal(int)
    chunkShown = Signal(int, int)  # start, count: a run's chunk is in the result store
    runFinished = Signal(bool)  # cancelled

    def __init__(self, settings: QSettings | None = None):
        super().__init__()
        self.settings = settings or QSettings()
        self.setWindowTitle("ProPainter Editor")
        self.setAcceptDrops(True)
        self.resize(1280, 800)
        self.doc = Document(self)
        self.results = ResultStore()
        self.cache = None  # FrameCache of the open clip
        self.thumbs = None  # ThumbnailLoader of the open clip
        self.current = 0
        self._shown: int | None = None  # frame whose pixels are on the canvas

        self.canvas = CanvasView()
        self.canvas.message = "Open a clip (Ctrl+O), drop one here, or try File > Open Sample"
        self.timeline = TimelineWidget()
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.canvas)
        split.addWidget(self.timeline)
        split.setStretchFactor(0, 1)
        split.setCollapsible(1, False)
        self.setCentralWidget(split)

        self.panel = JobPanel(self)
        dock = QDockWidget("Job", self)
        dock.setObjectName("job-dock")
        dock.setWidget(self.panel)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)

        self.play_timer = QTimer(self)
        self.play_timer.timeout.connect(self._play_tick)
        self.init_transport()

        self._build_actions()
        self._build_toolbar()
        self._build_menus()
        self._build_statusbar()
        self._connect()
        self.init_session()
        self.init_objects()
        self.keys = EditorFocus(self, self.canvas)  # shortcuts reach the editor, not the last field
        self._update_enabled()

    # ---- actions ------------------------------------------------------------------------------
    def _act(self, text: str, slot, shortcut=None, checkable: bool = False) -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        a.setCheckable(checkable)
        a.triggered.connect(slot)
        self.addAction(a)  # shortcuts work wherever the focus is in the window
        return a

    def _build_actions(self) -> None:
        K = QKeySequence.StandardKey
        self.act_open = self._act("&Open Clip…", self.open_clip_dialog, K.Open)
        self.act_sample = self._act("Open &Sample", self.open_sample)
        self.act_open_project = self._act("Open &Project…", self.open_project_dialog, "Ctrl+Shift+O")
        self.act_save = self._act("&Save Project", self.save_project, K.Save)
        self.act_save_as = self._act("Save Project &As…", self.save_project_as, "Ctrl+Shift+S")
        self.act_import_masks = self._act("&Import Masks…", self.import_masks_dialog)
        self.act_import_mask_folder = self._act("Import Mask &Folder…", self.import_mask_folder_dialog)
        self.act_export = self._act("&Export…", self.export_dialog, "Ctrl+E")
        self.act_quit = self._act("&Quit", self.close, K.Quit)
        self.act_undo = self.doc.undo_stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcut(QKeySequence("Ctrl+Z"))
        self.act_redo = self.doc.undo_stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.addAction(self.act_undo)
        self.addAction(self.act_redo)
        self.act_clear = self._act("&Clear Mask (paint scope)", self.clear_masks, "Delete")
        self.act_copy_mask = self._act("Copy Frame's Mask to &In/Out Range", self.copy_mask_to_range)
        self.act_play = self._act("&Play/Pause", self.toggle_play, "Space")
        self.act_play_back = self._act("Play &Backward (again: faster)", lambda: self.shuttle(-1), "J")
        self.act_stop = self._act("&Stop", lambda: self.shuttle(0), "K")
        self.act_play_fwd = self._act("Play &Forward (again: faster)", lambda: self.shuttle(1), "L")
        self.act_goto = self._act("&Go to Frame or Timecode…", self.focus_goto, "Ctrl+G")
        self.act_next_key = self._act("Next &Keyframe", lambda: self.goto_keyframe(1), "Alt+Right")
        self.act_prev_key = self._act("Previous Keyfra&me", lambda: self.goto_keyframe(-1), "Alt+Left")
        self.act_tl_zoom_in = self._act("Zoom Timeline In (Ctrl+Wheel)", lambda: self.timeline.zoom(2.0), "Ctrl+Alt+=")
        self.act_tl_zoom_out = self._act("Zoom Timeline Out", lambda: self.timeline.zoom(0.5), "Ctrl+Alt+-")
        self.act_tl_fit = self._act("Fit Timeline", self.timeline.zoom_fit, "Ctrl+Alt+0")
        self.act_next = self._act("Next Frame", lambda: self.step(1), "Right")
        self.act_prev = self._act("Previous Frame", lambda: self.step(-1), "Left")
        self.act_first = self._act("First Frame", lambda: self.seek(0), "Home")
        self.act_last = self._act("Last Frame", lambda: self.seek(self.doc.num_frames - 1), "End")
        self.act_in = self._act("Set &In Point", lambda: self.doc.set_in(self.current), "I")
        self.act_out = self._act("Set &Out Point", lambda: self.doc.set_out(self.current), "O")
        self.act_clear_range = self._act("Clear In/Out", self.doc.reset_range, "Alt+X")
        self.act_expand = self._act("E&xpand Canvas…", self.expand_dialog)
        self.act_zoom_in = self._act("Zoom &In", self.canvas.zoom_in, "+")
        self.act_zoom_in.setShortcuts([QKeySequence("+"), QKeySequence("="), QKeySequence("Ctrl++")])
        self.act_zoom_out = self._act("Zoom &Out", self.canvas.zoom_out, "-")
        self.act_fit = self._act("&Fit", self.canvas.fit, "F")
        self.act_bigger = self._act("Bigger Brush", lambda: self.size_spin.setValue(int(self.size_spin.value() * 1.25) + 1), "]")
        self.act_smaller = self._act("Smaller Brush", lambda: self.size_spin.setValue(int(self.size_spin.value() / 1.25)), "[")
        self.act_run = self._act("&Run", self.start_run, "Ctrl+R")
        self.act_cancel = self._act("&Cancel Run", self.escape, "Escape")
        self.act_accept = self._act("&Accept Object Mask", self.accept_candidate)
        self.act_accept.setShortcuts([QKeySequence("Return"), QKeySequence("Enter")])
        self.act_candidate = self._act("Next SAM &Candidate", self.next_candidate, "Tab")
        for a in (self.act_accept, self.act_candidate):  # only while the canvas has the focus:
            a.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)  # Tab/Enter still work in the panel
            self.canvas.addAction(a)
        self.act_new_object = self._act("&New Object", self.new_object, "N")
        self.act_keyframe = self._act("Make &Keyframe from Mask", self.keyframe_from_mask, "Shift+K")
        self.act_delete_object = self._act("&Delete Current Object", self.delete_object, "Ctrl+Delete")
        self.act_prop_both = self._act("Propagate Object &Both Ways", lambda: self.propagate("both"), "Ctrl+P")
        self.act_prop_fwd = self._act("Propagate Object &Forward →", lambda: self.propagate("forward"), "Ctrl+Right")
        self.act_prop_back = self._act("Propagate Object Back&ward ←", lambda: self.propagate("backward"), "Ctrl+Left")
        self.act_download_propainter = self._act("Download ProPainter Weights", self.panel.download_weights)
        self.act_download_sam = self._act(
            "Download SAM Weights", lambda: self.download_weights(f"sam_{self.settings.value('sam/model', 'vit_b')}"))
        self.act_download_sam2 = self._act(
            "Download SAM 2 Weights", lambda: self.download_weights(str(self.settings.value("sam2/model", "sam2.1_hiera_tiny"))))
        self.act_next_flag = self._act("Next Frame to Re&view", lambda: self.goto_flagged(1), "Ctrl+Shift+Right")
        self.act_prev_flag = self._act("Previous Frame to Revie&w", lambda: self.goto_flagged(-1), "Ctrl+Shift+Left")

        self.tool_group = QActionGroup(self)
        self.tool_actions = {}
        for tool, text, key in (("brush", "Brush", "B"), ("eraser", "Eraser", "E"), ("rect", "Rectangle", "R"),
                                ("polygon", "Polygon", "P"), ("click", "Click Object", "C")):
            a = self._act(text, lambda _=False, t=tool: self.set_tool(t), key, checkable=True)
            self.tool_group.addAction(a)
            self.tool_actions[tool] = a
        self.tool_actions["rect"].setIconText("Rect")  # short names in the toolbar, full in menus
        self.tool_actions["click"].setIconText("Click")
        self.tool_actions["brush"].setChecked(True)

        self.view_group = QActionGroup(self)
        self.view_actions = {}
        for mode, text, key in (("source", "Source", "1"), ("mask", "Mask", "2"), ("result", "Result", "3"), ("split", "Before/After", "4")):
            a = self._act(text, lambda _=False, m=mode: self.set_view_mode(m), key, checkable=True)
            self.view_group.addAction(a)
            self.view_actions[mode] = a
        self.view_actions["split"].setIconText("Split")
        self.view_actions["source"].setChecked(True)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        for a in (self.act_open, self.act_sample, self.act_open_project):
            m.addAction(a)
        self.recent_menu = m.addMenu("Open &Recent")
        m.addSeparator()
        for a in (self.act_save, self.act_save_as, self.act_import_masks, self.act_import_mask_folder, self.act_export):
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.act_quit)
        m = mb.addMenu("&Edit")
        for a in (self.act_undo, self.act_redo):
            m.addAction(a)
        m.addSeparator()
        for a in self.tool_actions.values():
            m.addAction(a)
        m.addAction(self.act_bigger)
        m.addAction(self.act_smaller)
        m.addSeparator()
        m.addAction(self.act_clear)
        m.addAction(self.act_copy_mask)
        m = mb.addMenu("&View")
        for a in self.view_actions.values():
            m.addAction(a)
        m.addSeparator()
        for a in (self.act_zoom_in, self.act_zoom_out, self.act_fit):
            m.addAction(a)
        m = mb.addMenu("&Clip")
        for a in (self.act_play, self.act_play_back, self.act_stop, self.act_play_fwd, self.act_prev, self.act_next,
                  self.act_first, self.act_last, self.act_prev_key, self.act_next_key, self.act_goto):
            m.addAction(a)
        m.addSeparator()
        for a in (self.act_tl_zoom_in, self.act_tl_zoom_out, self.act_tl_fit):
            m.addAction(a)
        m.addSeparator()
        for a in (self.act_in, self.act_out, self.act_clear_range):
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.act_expand)
        m = mb.addMenu("&Objects")
        m.addAction(self.tool_actions["click"])
        for a in (self.act_accept, self.act_candidate, self.act_new_object, self.act_keyframe):
            m.addAction(a)
        self.object_menu = m.addMenu("C&urrent Object")
        m.addAction(self.act_delete_object)
        m.addSeparator()
        for a in (self.act_prop_both, self.act_prop_fwd, self.act_prop_back):
            m.addAction(a)
        self.build_tracker_menu(m.addMenu("&Tracker"))
        m.addSeparator()
        m.addAction(self.act_next_flag)
        m.addAction(self.act_prev_flag)
        m.addSeparator()
        m.addAction(self.act_download_sam)
        m.addAction(self.act_download_sam2)
        m = mb.addMenu("&Process")
        m.addAction(self.act_run)
        m.addAction(self.act_cancel)
        m.addSeparator()
        m.addAction(self.act_download_propainter)

    def _build_toolbar(self) -> None:
        tb = QToolBar("Tools", self)
        tb.setObjectName("tools")
        tb.setMovable(False)
        self.addToolBar(tb)
        for a in self.tool_actions.values():
            tb.addAction(a)
        tb.addWidget(QLabel(" Size "))
        self.size_spin = QSpinBox()
        self.size_spin.setRange(1, 500)
        self.size_spin.setValue(int(self.settings.value("brush/size", 24)))
        self.size_spin.setToolTip("Brush diameter in pixels ([ and ])")
        tb.addWidget(self.size_spin)
        tb.addWidget(QLabel(" Hardness "))
        self.hardness_slider = QSlider(Qt.Orientation.Horizontal)
        self.hardness_slider.setRange(0, 100)
        self.hardness_slider.setValue(int(self.settings.value("brush/hardness", 80)))
        self.hardness_slider.setFixedWidth(64)
        tb.addWidget(self.hardness_slider)
        tb.addWidget(QLabel(" Paint on "))
        self.scope_combo = QComboBox()
        for key, text in SCOPE_LABELS.items():
            self.scope_combo.addItem(text, key)
        self.scope_combo.setToolTip("Which frames a stroke changes: all frames is the watermark case")
        tb.addWidget(self.scope_combo)
        tb.addSeparator()
        for a in self.view_actions.values():
            tb.addAction(a)
        tb.addWidget(QLabel(" Opacity "))
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(50)
        self.opacity_slider.setFixedWidth(64)
        tb.addWidget(self.opacity_slider)
        tb.addSeparator()
        self.play_button = QPushButton("Play")
        self.play_button.setObjectName("play")
        self.play_button.clicked.connect(self.toggle_play)
        tb.addWidget(self.play_button)
        self.canvas.radius = self.size_spin.value() / 2
        self.canvas.hardness = self.hardness_slider.value() / 100

    def _build_statusbar(self) -> None:
        sb = self.statusBar()
        self.lbl_frame = QLabel()
        self.lbl_time = QLabel()
        self.lbl_res = QLabel()
        self.lbl_zoom = QLabel()
        self.lbl_object = QLabel("No objects")
        self.lbl_frame.setMinimumWidth(120)
        self.task_bar = QProgressBar()
        self.task_bar.setFixedWidth(160)
        self.task_bar.hide()
        self.task_cancel = QPushButton("Cancel")
        self.task_cancel.hide()
        for w in (self.task_bar, self.task_cancel, self.lbl_object, self.lbl_frame, self.goto_field, self.lbl_time,
                  self.lbl_res, self.lbl_zoom):
            sb.addPermanentWidget(w)
        self._stepped_aside: list = []
        sb.messageChanged.connect(self._make_room)

    def _make_room(self, text: str) -> None:
        """A status message is read whole: while one is shown, the labels it would be cut by
        (resolution, zoom, timecode, object) step aside, and the tooltip holds it too."""
        sb = self.statusBar()
        for w in self._stepped_aside:
            w.show()
        self._stepped_aside = []
        sb.setToolTip(text)
        if not text:
            return
        permanent = [w for w in (self.task_bar, self.task_cancel, self.lbl_object, self.lbl_frame, self.goto_field,
                                 self.lbl_time, self.lbl_res, self.lbl_zoom) if w.isVisible()]
        need = sb.fontMetrics().horizontalAdvance(text) + 24
        free = sb.width() - sum(w.sizeHint().width() + 8 for w in permanent)
        for w in (self.lbl_res, self.lbl_zoom, self.lbl_time, self.lbl_object):
            if free >= need:
                break
            if w.isVisible():
                free += w.sizeHint().width() + 8
                w.hide()
                self._stepped_aside.append(w)

    def _connect(self) -> None:
        d = self.doc
        d.clipChanged.connect(self._on_clip_changed)
        d.masksChanged.connect(self._on_masks_changed)
        d.rangeChanged.connect(self.timeline.set_range)
        d.rangeChanged.connect(lambda *_: self.panel.refresh_estimate())
        d.expansionChanged.connect(self._on_expansion_changed)
        d.modifiedChanged.connect(lambda _m: self._update_title())
        self.canvas.strokeFinished.connect(self._on_stroke)
        self.canvas.zoomChanged.connect(lambda z: self.lbl_zoom.setText(f"{z * 100:.0f}%"))
        self.timeline.scrubbed.connect(self.seek)
        self.timeline.thumbnailsWanted.connect(self._request_thumbnails)
        self.size_spin.valueChanged.connect(self._on_brush_changed)
        self.hardness_slider.valueChanged.connect(self._on_brush_changed)
        self.opacity_slider.valueChanged.connect(lambda v: self.canvas.set_opacity(v / 100))

    # ---- state --------------------------------------------------------------------------------
    def _update_title(self) -> None:
        name = Path(self.doc.path).name if self.doc.path else (Path(self.doc.clip.path).name if self.doc.clip else "")
        star = "*" if self.doc.is_modified() else ""
        self.setWindowTitle(f"{name}{star} — ProPainter Editor" if name else "ProPainter Editor")

    def _update_enabled(self) -> None:
        has = self.doc.clip is not None
        running = self.is_running()
        for a in (self.act_save, self.act_save_as, self.act_export, self.act_import_masks, self.act_import_mask_folder,
                  self.act_clear, self.act_copy_mask, self.act_play, self.act_play_back, self.act_stop,
                  self.act_play_fwd, self.act_goto, self.act_next_key, self.act_prev_key, self.act_in, self.act_out,
                  self.act_expand, self.act_clear_range,
                  self.act_accept, self.act_candidate, self.act_new_object, self.act_keyframe, self.act_prop_both,
                  self.act_prop_fwd, self.act_prop_back, self.act_next_flag, self.act_prev_flag):
            a.setEnabled(has)
        self.act_run.setEnabled(has and not running)
        self.act_cancel.setEnabled(running)
        self.panel.set_running(running, has)
        if hasattr(self, "keys"):
            self.keys.home_focus()  # a run started or ended, a clip opened: the keys go to the canvas

    def _on_clip_changed(self) -> None:
        clip = self.doc.clip
        self.stop_play()
        self._release_result()
        self.timeline.set_clip(clip.num_frames, clip.fps)
        self.timeline.set_results({})
        self.lbl_res.setText(f"{clip.width}×{clip.height} @ {float(clip.fps):.3g} fps")
        self.canvas.set_expansion(None)
        self._shown = None
        self.current = 0
        self.panel.load_from(self.doc)
        self.panel.reset_status()  # the last run's "Done" was about the clip before
        self._update_enabled()
        self._update_title()
        self.seek(0, force=True)

    def _request_thumbnails(self, frames: list) -> None:
        if self.thumbs is not None:
            self.thumbs.request(frames)

    def _on_masks_changed(self, frames) -> None:
        self.timeline.set_mask_frames(self.doc.masks.frames())
        self.timeline.set_results(self.results.status(self.doc.masks.revision))
        if self.current in frames and self._shown is not None:
            self.canvas.set_mask(self.doc.masks.get(self.current))
        self._show_result()

    def _on_expansion_changed(self) -> None:
        try:
            self.canvas.set_expansion(self.doc.canvas())
        except Exception as exc:  # a bad stored expansion: drop it, say why
            self.show_error("Canvas expansion", str(exc))
            self.doc.set_expansion_direct(None)
        self.panel.refresh_estimate()

    # ---- navigation ---------------------------------------------------------------------------
    def seek(self, frame: int, force: bool = False) -> None:
        """Make ``frame`` current; shows it now if cached, else when the prefetcher has it."""
        if self.doc.clip is None:
            return
        frame = int(np.clip(frame, 0, self.doc.num_frames - 1))
        if frame == self.current and not force and self._shown == frame:
            return
        self.current = frame
        self.timeline.set_current(frame)
        self.lbl_frame.setText(f"Frame {frame + 1} / {self.doc.num_frames}")
        self.lbl_time.setText(timecode(frame, self.doc.clip.fps))
        img = self.cache.get(frame) if self.cache is not None else None
        if img is not None:
            self._show(frame, img)

    def _on_frame_ready(self, frame: int) -> None:
        if frame == self.current and self._shown != frame and self.cache is not None:
            img = self.cache.get(frame)
            if img is not None:
                self._show(frame, img)

    def _show(self, frame: int, img: np.ndarray) -> None:
        self._shown = frame
        self.canvas.set_frame(img, self.doc.masks.get(frame))
        self._show_result()
        self.frameShown.emit(frame)

    def _show_result(self) -> None:
        item = self.results.get(self.current)
        if item is None:
            self.canvas.set_result(None)
        else:
            self.canvas.set_result(item[0], stale=item[1] != self.doc.masks.revision)
            self.results.prefetch([self.current + 1, self.current + 2, self.current + 3, self.current - 1])

    def step(self, delta: int) -> None:
        self.seek(self.current + delta)

    # ---- editing ------------------------------------------------------------------------------
    def escape(self) -> None:
        """Escape: drop the click tool's pending clicks, else cancel the run."""
        if not self.clear_clicks():
            self.cancel_run()

    def set_tool(self, tool: str) -> None:
        if tool != "click":
            self.clear_clicks()
        if self.canvas.mode == "result":  # the result is not painted on: picking a tool means editing
            self.set_view_mode("source")
        self.canvas.set_tool(tool)
        self.tool_actions[tool].setChecked(True)
        if tool == "polygon":
            self.statusBar().showMessage(
                "Polygon: click to add points; double-click, Enter or the first point closes it "
                "(Alt: erase); Esc cancels", 8000)
        else:
            self.statusBar().clearMessage()

    def set_view_mode(self, mode: str) -> None:
        self.canvas.set_mode(mode)
        self.view_actions[mode].setChecked(True)

    def set_scope(self, scope: str) -> None:
        self.scope_combo.setCurrentIndex(self.scope_combo.findData(scope))

    def scope(self) -> str:
        return self.scope_combo.currentData()

    def _on_brush_changed(self) -> None:
        self.canvas.radius = self.size_spin.value() / 2
        self.canvas.hardness = self.hardness_slider.value() / 100
        self.settings.setValue("brush/size", self.size_spin.value())
        self.settings.setValue("brush/hardness", self.hardness_slider.value())
        self.canvas.update()

    def _on_stroke(self, box, stamp, op, name) -> None:
        scope = self.scope()
        frames = self.doc.scope_frames(scope, self.current)
        suffix = {"frame": "", "range": " on In/Out Range", "all": " on All Frames"}[scope]
        self.doc.paint(frames, box, stamp, op, name + suffix)

    def clear_masks(self) -> None:
        if self.doc.clip is not None:
            scope = self.scope()
            text = {"frame": "Clear Mask", "range": "Clear Masks in Range", "all": "Clear All Masks"}[scope]
            self.doc.clear_masks(self.doc.scope_frames(scope, self.current), text)

    def copy_mask_to_range(self) -> None:
        if self.doc.clip is not None:
            self.doc.copy_mask(self.current, self.doc.scope_frames("range", self.current))
