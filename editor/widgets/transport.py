"""Moving through the clip the way an editor does (a mixin of the main window): play and
J/K/L shuttle that loop over the in/out range and never run past the out point, a field that
jumps to a frame number or timecode, and next/previous keyframe."""

from __future__ import annotations

from fractions import Fraction

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit

from editor.widgets.timeline import parse_position

MAX_SHUTTLE = 8  # J/L pressed again double the speed up to this many times real time


class TransportMixin:
    """Needs ``doc``, ``current``, ``seek``, ``cache``, ``canvas``, ``timeline``, ``play_timer``,
    ``play_button`` and ``statusBar`` from the window."""

    def init_transport(self) -> None:
        self.play_direction = 1  # 1 forward, -1 backward
        self.play_speed = 1  # frames per tick
        self.goto_field = QLineEdit()
        self.goto_field.setObjectName("goto")
        self.goto_field.setPlaceholderText("Go to…")
        self.goto_field.setToolTip("Go to a frame (42), a timecode (00:00:01:05 or 1:05) or a step (+10, -10); "
                                   "Ctrl+G, then Enter")
        self.goto_field.setFixedWidth(110)
        self.goto_field.returnPressed.connect(self.goto_entered)

    # ---- play and shuttle ---------------------------------------------------------------------
    def is_playing(self) -> bool:
        return self.play_timer.isActive()

    def toggle_play(self) -> None:
        """Space: play forward at normal speed, or stop."""
        if self.is_playing():
            self.stop_play()
        else:
            self.start_play(1, 1)

    def shuttle(self, direction: int) -> None:
        """L (1) and J (-1): play that way; again while playing that way doubles the speed
        (up to 8x); the other way while playing starts again at normal speed. K stops."""
        if direction == 0:
            self.stop_play()
        elif self.is_playing() and self.play_direction == direction:
            self.start_play(direction, min(MAX_SHUTTLE, self.play_speed * 2))
        else:
            self.start_play(direction, 1)

    def start_play(self, direction: int, speed: int) -> None:
        if self.doc.clip is None:
            return
        lo, hi = self.doc.in_point, self.doc.out_point
        if not lo <= self.current <= hi or (direction > 0 and self.current >= hi) or (direction < 0 and self.current <= lo):
            self.seek(lo if direction > 0 else hi)  # start from the range's near end
        self.play_direction, self.play_speed = direction, speed
        if not self.play_timer.isActive():
            self.play_timer.start(max(1, int(round(1000 / float(self.doc.clip.fps or Fraction(25))))))
        self.play_button.setText("Pause")
        speed_text = "" if speed == 1 else f" {speed}x"
        self.statusBar().showMessage(f"Playing {'forward' if direction > 0 else 'backward'}{speed_text} "
                                     "(K stops)" if (speed > 1 or direction < 0) else "", 2000)

    def stop_play(self) -> None:
        self.play_timer.stop()
        self.play_button.setText("Play")
        self.play_speed = 1

    def _play_tick(self) -> None:
        """The next frame, looping inside the in/out range: playback never leaves it."""
        lo, hi = self.doc.in_point, self.doc.out_point
        nxt = self.current + self.play_direction * self.play_speed
        if nxt > hi:
            nxt = lo if self.current >= hi else hi  # show the out point, then loop
        elif nxt < lo:
            nxt = hi if self.current <= lo else lo
        if self.cache is not None and self.cache.contains(nxt):
            self.seek(nxt)
        elif self.cache is not None:
            self.cache.request(nxt)  # hold this frame until the next one is decoded

    # ---- jumps --------------------------------------------------------------------------------
    def focus_goto(self) -> None:
        """Ctrl+G: type a frame or timecode, Enter jumps (Escape goes back to the canvas)."""
        self.goto_field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.goto_field.selectAll()

    def goto_entered(self) -> None:
        text = self.goto_field.text()
        if self.goto(text):
            self.goto_field.clear()
            self.canvas.setFocus(Qt.FocusReason.OtherFocusReason)

    def goto(self, text: str) -> bool:
        """Jump to what ``text`` names (see :func:`parse_position`); False (and why, in the
        status bar) when it names no frame of the clip."""
        if self.doc.clip is None:
            return False
        frame = parse_position(text, self.doc.clip.fps, self.current)
        if frame is None or not 0 <= frame < self.doc.num_frames:
            self.statusBar().showMessage(
                f"“{text.strip()}” is not a frame of this clip: type 1-{self.doc.num_frames}, a timecode "
                "such as 00:00:01:05, or +10 / -10", 8000)
            return False
        self.seek(frame)
        return True

    def goto_keyframe(self, step: int) -> bool:
        """The next (``step`` 1) or previous (-1) keyframe of any object."""
        keys = self.timeline.keyframes
        ahead = [k for k in keys if (k - self.current) * step > 0]
        if not ahead:
            self.statusBar().showMessage(
                ("No keyframes yet: Shift+K makes one from the frame's mask" if not keys else
                 f"No keyframe {'after' if step > 0 else 'before'} frame {self.current + 1}"), 5000)
            return False
        self.seek(min(ahead) if step > 0 else max(ahead))
        return True
