"""Removing objects by clicking, in the real window: the click tool, SAM candidates, keyframes,
propagation in the background (one undo step), corrections, drift flags, projects.

Most tests use ``SceneSam``, a stand-in with SAM's predictor interface that answers from the
sample scene's known ball mask, so the GUI logic is checked against exact masks; one test
runs a tiny real SAM through the real loading code.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from editor.sample import SampleScene
from models.segmentation import SamClickPredictor, build_sam
from models.segmentation.predictor import Prediction

from tests.editor.test_gui import drag, widget_point
from tests.models.test_segmentation_sam import TINY

SCENE = SampleScene(width=96, height=64, num_frames=12, ball_radius=8)  # the tiny_sample clip


class SceneSam:
    """SAM's predictor interface, answering with the sample ball's mask (three candidates:
    shrunk, exact, grown). ``wrong_on``: frames where it answers the whole frame (a drift)."""

    def __init__(self, wrong_on=(), scene: SampleScene = SCENE):
        self.scene = scene
        self.current = None
        self.cached: set = set()
        self.calls: list = []
        self.wrong_on = set(wrong_on)

    def set_frame(self, clip_id, index, frame):
        self.current = int(index)
        hit = (clip_id, index) in self.cached
        self.cached.add((clip_id, index))
        return not hit

    def is_cached(self, clip_id, index):
        return (clip_id, index) in self.cached

    def prefetch(self, clip_id, indices, get_frame, cancel=None):
        done = [i for i in indices if (clip_id, i) not in self.cached]
        self.cached.update((clip_id, i) for i in done)
        return done

    def predict(self, points=None, labels=None, box=None, mask_input=None, multimask=True):
        self.calls.append((self.current, None if points is None else np.asarray(points).copy(), box))
        i, scene = self.current, self.scene
        exact = scene._ball_alpha(i) > 0.5
        if i in self.wrong_on:
            exact = np.ones_like(exact)
        elif points is not None and len(points):
            x, y = np.asarray(points)[0]
            if not exact[int(y), int(x)]:
                exact = np.zeros_like(exact)
        masks = np.stack([scene._ball_alpha(i, -2) > 0.5, exact, scene._ball_alpha(i, 3) > 0.5])
        if i in self.wrong_on or not exact.any():
            masks = np.stack([exact] * 3)
        if not multimask:
            masks = masks[1:2]
        n = len(masks)
        return Prediction(masks, np.linspace(0.9, 0.7, n).astype(np.float32)[[1, 0, 2][:n]] if n == 3 else
                          np.array([0.9], np.float32), np.zeros((n, 16, 16), np.float32), 1 if n == 3 else 0)


def ball_xy(i: int) -> tuple[float, float]:
    return SCENE.ball_center(i)


def ball_rc(i: int) -> tuple[int, int]:
    x, y = SCENE.ball_center(i)
    return int(y), int(x)


def click(qtbot, window, x, y, button=Qt.MouseButton.LeftButton) -> None:
    qtbot.mouseClick(window.canvas, button, pos=widget_point(window, x, y))


def accept_click_on_ball(window, qtbot, frame: int) -> None:
    with qtbot.waitSignal(window.frameShown, timeout=10000):
        window.seek(frame, force=True)
    window.set_tool("click")
    click(qtbot, window, *ball_xy(frame))
    qtbot.waitUntil(lambda: window.clicks.prediction is not None, timeout=10000)
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Return)


def run_propagation(window, qtbot, direction: str) -> None:
    assert window.propagate(direction)
    qtbot.waitUntil(lambda: window.task is None, timeout=60000)


def iou(a, b) -> float:
    a, b = a > 0, b > 0
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.fixture
def scene_sam(opened):
    sam = SceneSam()
    opened.sam_factory = lambda: sam
    return sam


def test_click_shows_candidates_tab_cycles_and_enter_makes_one_undoable_keyframe(opened, qtbot, scene_sam):
    w = opened
    accept_frame = 3
    with qtbot.waitSignal(w.frameShown, timeout=10000):
        w.seek(accept_frame)
    w.set_tool("click")
    click(qtbot, w, *ball_xy(accept_frame))
    qtbot.waitUntil(lambda: w.clicks.prediction is not None, timeout=10000)
    assert w.clicks.candidate == 1  # the best score
    assert w.canvas._preview_img is not None
    assert "candidate 2/3" in w.statusBar().currentMessage()
    w.canvas.setFocus()
    qtbot.keyClick(w.canvas, Qt.Key.Key_Tab)
    assert w.clicks.candidate == 2
    qtbot.keyClick(w.canvas, Qt.Key.Key_Tab)
    qtbot.keyClick(w.canvas, Qt.Key.Key_Tab)
    assert w.clicks.candidate == 1
    qtbot.keyClick(w.canvas, Qt.Key.Key_Return)

    exact = SCENE._ball_alpha(accept_frame) > 0.5
    assert w.doc.objects.ids() == [1]
    assert w.doc.objects.track(1).keyframes == [accept_frame]
    assert np.array_equal(w.doc.masks.get(accept_frame) > 0, exact)
    assert w.timeline.keyframes == [accept_frame]
    assert w.clicks.prediction is None and w.canvas._preview_img is None
    assert w.doc.undo_stack.undoText() == f"Object 1 Keyframe on Frame {accept_frame + 1}"

    w.doc.undo_stack.undo()
    assert len(w.doc.objects) == 0 and not w.doc.masks.has_mask(accept_frame)
    assert w.timeline.keyframes == []
    w.doc.undo_stack.redo()
    assert w.doc.objects.track(1).keyframes == [accept_frame]
    assert np.array_equal(w.doc.masks.get(accept_frame) > 0, exact)


def test_exclude_click_and_box_reach_sam_and_escape_clears(opened, qtbot, scene_sam):
    w = opened
    w.set_tool("click")
    x, y = ball_xy(0)
    click(qtbot, w, x, y)
    qtbot.waitUntil(lambda: w.clicks.prediction is not None, timeout=10000)
    click(qtbot, w, 5, 5, Qt.MouseButton.RightButton)
    assert w.clicks.labels == [1, 0]
    qtbot.waitUntil(lambda: len(scene_sam.calls) == 2, timeout=10000)
    qtbot.mousePress(w.canvas, Qt.MouseButton.LeftButton, pos=widget_point(w, x - 10, y - 10))
    qtbot.mouseMove(w.canvas, pos=widget_point(w, x, y))
    qtbot.mouseRelease(w.canvas, Qt.MouseButton.LeftButton, pos=widget_point(w, x + 10, y + 10))
    assert w.clicks.box is not None and w.clicks.box[0] == pytest.approx(x - 10, abs=1)
    qtbot.waitUntil(lambda: len(scene_sam.calls) == 3 and scene_sam.calls[-1][2] is not None, timeout=10000)
    w.canvas.setFocus()
    qtbot.keyClick(w.canvas, Qt.Key.Key_Escape)
    assert w.clicks.points == [] and w.canvas._preview_img is None
    assert not w.doc.masks.frames()


def test_propagate_both_ways_follows_the_ball_and_is_one_undo_step(opened, qtbot, scene_sam):
    w = opened
    accept_click_on_ball(w, qtbot, 5)
    run_propagation(w, qtbot, "both")
    assert w.doc.masks.frames() == list(range(12))
    for i in range(12):
        assert iou(w.doc.masks.get(i), SCENE._ball_alpha(i) > 0.5) > 0.9, i
    assert w.doc.undo_stack.undoText() == "Propagate Object 1 Both Ways from Frame 6"
    assert "11 frames propagated" in w.statusBar().currentMessage()
    w.doc.undo_stack.undo()
    assert w.doc.masks.frames() == [5]
    w.doc.undo_stack.redo()
    assert w.doc.masks.frames() == list(range(12))


def test_correction_keyframe_repropagates_only_up_to_the_next_keyframe(opened, qtbot, scene_sam):
    w = opened
    accept_click_on_ball(w, qtbot, 0)
    run_propagation(w, qtbot, "forward")
    before = {i: w.doc.masks.get(i).copy() for i in range(12)}
    accept_click_on_ball(w, qtbot, 9)  # a second keyframe further on
    # correct frame 4 with the brush: a blob added beside the ball, then K makes it a keyframe
    with qtbot.waitSignal(w.frameShown, timeout=10000):
        w.seek(4)
    w.set_tool("rect")
    drag(qtbot, w, [(2, 2), (5, 5), (8, 8)])
    assert w.keyframe_from_mask()
    assert w.doc.objects.track(1).keyframes == [0, 4, 9]
    run_propagation(w, qtbot, "forward")
    # frames 5..8 were replaced from the corrected keyframe, the rest kept
    stack = w.doc.undo_stack
    assert sorted(stack.command(stack.index() - 1).update.after) == [5, 6, 7, 8]
    for i in (0, 1, 2, 3, 10, 11):
        assert np.array_equal(w.doc.masks.get(i), before[i]), i
    assert w.doc.masks.get(4)[2:8, 2:8].all()
    undone = {i: w.doc.masks.get(i).copy() for i in range(12)}
    stack.undo()
    assert stack.undoText() == "Object 1 Keyframe on Frame 5"
    assert all(np.array_equal(w.doc.masks.get(i), undone[i]) for i in (0, 1, 2, 3, 4, 9, 10, 11))


def _flag_frame_8(w, qtbot):
    """The ball clicked on frame 5 and propagated forward while SAM answers wrongly on frame 9."""
    sam = SceneSam(wrong_on={8})
    w.sam_factory = lambda: sam
    accept_click_on_ball(w, qtbot, 4)
    run_propagation(w, qtbot, "forward")
    return sam


def test_a_frame_sam_gets_wrong_is_flagged_but_keeps_the_tracked_mask_and_the_run_goes_on(opened, qtbot):
    w = opened
    _flag_frame_8(w, qtbot)
    # no frame is dropped: the tracked mask stays where SAM disagreed, and the run went on
    assert w.doc.masks.frames() == list(range(4, 12))
    assert list(w.timeline.flags) == [8]
    assert iou(w.doc.masks.get(8), SCENE._ball_alpha(8) > 0.5) > 0.7
    for i in range(9, 12):
        assert iou(w.doc.masks.get(i), SCENE._ball_alpha(i) > 0.5) > 0.8, i
    msg = w.statusBar().currentMessage()
    assert "1 frame(s) need review (frames 9)" in msg and "Ctrl+Shift+Right" in msg
    assert "Stopped" not in msg


def test_next_and_previous_frame_to_review(opened, qtbot):
    w = opened
    _flag_frame_8(w, qtbot)
    with qtbot.waitSignal(w.frameShown, timeout=10000):
        w.seek(0)
    assert w.goto_flagged(1) and w.current == 8
    assert "Frame 9 needs review (1 of 1)" in w.statusBar().currentMessage()
    assert not w.goto_flagged(1) and w.current == 8
    assert "No frame after this one needs review (1 in the clip)" in w.statusBar().currentMessage()
    assert not w.goto_flagged(-1)
    with qtbot.waitSignal(w.frameShown, timeout=10000):
        w.seek(11)
    w.act_prev_flag.trigger()  # Ctrl+Shift+Left
    assert w.current == 8
    assert w.act_next_flag.shortcut().toString() == "Ctrl+Shift+Right"


def test_a_keyframe_on_a_flagged_frame_tracks_again_from_it(opened, qtbot):
    w = opened
    sam = _flag_frame_8(w, qtbot)
    sam.wrong_on.clear()
    assert w.goto_flagged(1) or w.current == 8
    # the user paints the right mask on frame 9 and makes it a keyframe (K)
    w.doc.set_masks({8: (SCENE._ball_alpha(8) > 0.5).astype(np.uint8) * 255}, "Paint")
    assert w.keyframe_from_mask()
    assert w.task is not None  # propagation started by itself
    qtbot.waitUntil(lambda: w.task is None, timeout=60000)
    assert w.doc.objects.track(1).keyframes == [4, 8]
    assert w.timeline.flags == {}
    assert w.doc.undo_stack.undoText() == "Propagate Object 1 Both Ways from Frame 9"
    assert "No frame needs review" in w.statusBar().currentMessage()
    for i in range(4, 12):
        assert iou(w.doc.masks.get(i), SCENE._ball_alpha(i) > 0.5) > 0.8, i


def test_a_run_over_frames_to_review_or_without_mask_asks_first(opened, qtbot, dialogs):
    w = opened
    _flag_frame_8(w, qtbot)
    with qtbot.waitSignal(w.frameShown, timeout=10000):
        w.seek(10)
    assert not w.start_run()  # the fake user answers "Review First"
    assert dialogs.kinds()[-1] == "choice"
    text = dialogs.texts("choice")[-1]
    assert "1 frame(s) need review" in text and "(frames 9)" in text
    assert "4 frame(s) have no mask" in text and "(frames 1-4)" in text
    assert w.current == 0 and not w.is_running()
    # inside an in/out range with masks on every frame only the flagged frame is named
    w.doc.set_in(6)
    w.doc.set_out(10)
    dialogs.choices.append(True)  # "Run Anyway"
    assert w.start_run()
    text = dialogs.texts("choice")[-1]
    assert "need review" in text and "no mask" not in text
    w.cancel_run()
    qtbot.waitUntil(lambda: not w.is_running(), timeout=60000)
    # a range with neither is not asked about
    w.doc.set_in(9)
    w.doc.set_out(11)
    shown = len(dialogs.shown)
    assert w.start_run()
    assert len(dialogs.shown) == shown
    w.cancel_run()
    qtbot.waitUntil(lambda: not w.is_running(), timeout=60000)


def test_the_tracker_menu_picks_what_propagates(opened, qtbot, scene_sam, dialogs, monkeypatch):
    from models.segmentation import Sam2VideoTracker

    w = opened
    assert w.tracker_name() == "auto" and w.tracker_actions["auto"].isChecked()
    accept_click_on_ball(w, qtbot, 5)
    # motion tracker only: SAM is not asked during the propagation
    w.tracker_actions["flow"].trigger()
    assert w.settings.value("tracking/tracker") == "flow" and w.tracker_name() == "flow"
    calls = len(scene_sam.calls)
    run_propagation(w, qtbot, "forward")
    assert len(scene_sam.calls) == calls
    assert "optical flow alone" in w.statusBar().currentMessage()
    assert w.doc.masks.frames() == list(range(5, 12))
    # SAM 2 without its weights: one dialog that names the download, nothing changed
    w.doc.undo_stack.undo()
    w.tracker_actions["sam2"].trigger()
    assert w.current == 5
    before = w.doc.masks.frames()
    assert w.propagate("both")
    qtbot.waitUntil(lambda: w.task is None, timeout=60000)
    assert "Objects > Download SAM 2 Weights" in dialogs.texts("critical")[-1]  # the menu item, not the CLI
    assert w.doc.masks.frames() == before
    # SAM 2 (a tiny random network through the editor's path): every frame of the shot gets a
    # mask or a review flag, and the network is loaded once for both runs
    loads = []

    def tiny_tracker(*args, **kwargs):
        loads.append(args)
        return Sam2VideoTracker.tiny(seed=0)

    monkeypatch.setattr("editor.tracking.load_video_tracker", tiny_tracker)
    for _ in range(2):
        run_propagation(w, qtbot, "both")
        assert "with SAM 2" in w.statusBar().currentMessage()
    assert len(loads) == 1
    track = w.doc.objects.track(1)
    assert all(track.mask(i) is not None and track.mask(i).any() or i in track.flags for i in range(12))


def test_with_only_sam2_weights_clicks_use_sam2_and_share_the_trackers_network(opened, qtbot, dialogs, monkeypatch):
    from models.segmentation import Sam2ClickPredictor, Sam2VideoTracker

    w = opened
    loads = []

    def tiny_tracker(*args, **kwargs):
        loads.append(args)
        return Sam2VideoTracker.tiny(seed=0)

    monkeypatch.setattr("editor.tracking.load_predictor", lambda *a, **k: None)  # no SAM 1 weights
    monkeypatch.setattr("editor.tracking.load_video_tracker", tiny_tracker)
    w.tracker_actions["sam2"].trigger()
    with qtbot.waitSignal(w.frameShown, timeout=10000):
        w.seek(4, force=True)
    w.set_tool("click")
    click(qtbot, w, *ball_xy(4))
    qtbot.waitUntil(lambda: w.clicks.prediction is not None, timeout=20000)
    assert isinstance(w.sam.predictor(), Sam2ClickPredictor)
    assert w.clicks.prediction.masks.shape[1:] == (SCENE.height, SCENE.width)
    assert dialogs.shown == []
    # a painted keyframe then tracks with the same SAM 2 network: it is loaded once
    w.clear_clicks()
    w.doc.set_masks({4: (SCENE._ball_alpha(4) > 0.5).astype(np.uint8) * 255}, "Paint")
    assert w.keyframe_from_mask()
    run_propagation(w, qtbot, "forward")
    assert "with SAM 2" in w.statusBar().currentMessage()
    assert len(loads) == 1 and w.sam.predictor().model is next(v for v in w._tracker_parts.values() if v is not None).model
    # SAM's weights come, and SAM + motion is chosen: the click tool answers with SAM from now on
    sam = SceneSam()
    monkeypatch.setattr("editor.tracking.load_predictor", lambda *a, **k: sam)
    w.tracker_actions["sam"].trigger()
    click(qtbot, w, *ball_xy(4))
    qtbot.waitUntil(lambda: w.clicks.prediction is not None and bool(sam.calls), timeout=20000)
    assert w.sam.loaded_kind() == "sam"


def test_without_any_weights_a_click_with_sam2_tracking_offers_sam2s_download(opened, qtbot, dialogs, monkeypatch):
    import models.weights

    w = opened
    w.sam_factory = lambda: None
    fetched = []

    def fake_download_missing(weights_dir=None, names=(), progress=None, cancel=None):
        fetched.append(list(names))
        return []

    monkeypatch.setattr(models.weights, "download_missing", fake_download_missing)
    dialogs.answers.append(QMessageBox.StandardButton.Yes)
    w.tracker_actions["sam2"].trigger()
    w.set_tool("click")
    click(qtbot, w, *ball_xy(0))
    qtbot.waitUntil(lambda: bool(fetched) and w.task is None, timeout=10000)
    assert "SAM 2 sam2.1_hiera_tiny weights" in dialogs.texts()[0] and "156 MB" in dialogs.texts()[0]
    assert fetched == [["sam2.1_hiera_tiny"]]
    assert "SAM 2 weights downloaded" in w.statusBar().currentMessage()


def test_without_sam_weights_a_click_offers_the_download_and_propagation_uses_flow(opened, qtbot, dialogs):
    w = opened
    w.sam_factory = lambda: None
    w.set_tool("click")
    click(qtbot, w, *ball_xy(0))  # the fake user answers No
    qtbot.waitUntil(lambda: dialogs.kinds() == ["question"], timeout=10000)
    assert "SAM vit_b weights" in dialogs.texts()[0] and "optical flow" in dialogs.texts()[0]
    assert w.task is None
    # a painted mask still becomes a keyframe, and propagates by optical flow alone
    w.doc.set_masks({2: (SCENE._ball_alpha(2) > 0.5).astype(np.uint8) * 255}, "Paint")
    with qtbot.waitSignal(w.frameShown, timeout=10000):
        w.seek(2)
    assert w.keyframe_from_mask()
    run_propagation(w, qtbot, "forward")
    assert "optical flow alone" in w.statusBar().currentMessage()
    assert w.doc.masks.frames() == list(range(2, 12))
    assert np.mean([iou(w.doc.masks.get(i), SCENE._ball_alpha(i) > 0.5) for i in range(3, 12)]) > 0.7


def test_accepting_the_sam_download_fetches_it_and_the_next_click_loads_it(opened, qtbot, dialogs, monkeypatch):
    import models.weights

    w = opened
    sam = SceneSam()
    present = []
    w.sam_factory = lambda: sam if present else None
    fetched = []

    def fake_download_missing(weights_dir=None, names=(), progress=None, cancel=None):
        fetched.append(list(names))
        progress(names[0], 10, 10)
        present.append(True)
        return []

    monkeypatch.setattr(models.weights, "download_missing", fake_download_missing)
    dialogs.answers.append(QMessageBox.StandardButton.Yes)
    w.set_tool("click")
    click(qtbot, w, *ball_xy(0))
    qtbot.waitUntil(lambda: bool(fetched) and w.task is None, timeout=10000)
    assert fetched == [["sam_vit_b"]]
    assert "click the object again" in w.statusBar().currentMessage()
    click(qtbot, w, *ball_xy(0))
    qtbot.waitUntil(lambda: w.clicks.prediction is not None, timeout=10000)
    assert w.clicks.mask().any()


def test_propagate_needs_an_object_and_a_keyframe_here(opened, qtbot, scene_sam, dialogs):
    w = opened
    assert not w.propagate("both")
    accept_click_on_ball(w, qtbot, 2)
    with qtbot.waitSignal(w.frameShown, timeout=10000):
        w.seek(6)
    assert not w.propagate("both")
    assert "There is no object to propagate" in dialogs.texts()[0]
    assert "Frame 7 is not a keyframe of object 1" in dialogs.texts()[1]


def test_cancelled_propagation_changes_nothing(opened, qtbot, scene_sam):
    w = opened
    accept_click_on_ball(w, qtbot, 0)
    assert w.propagate("forward")
    w.cancel_task()
    qtbot.waitUntil(lambda: w.task is None, timeout=60000)
    assert w.doc.masks.frames() == [0]
    assert "cancelled" in w.statusBar().currentMessage().lower()


def test_two_objects_merge_into_the_removal_mask_and_survive_a_project(opened, qtbot, scene_sam, tmp_path, make_window):
    w = opened
    accept_click_on_ball(w, qtbot, 1)
    w.new_object()
    w.doc.set_masks({1: np.pad(np.full((4, 4), 255, np.uint8), ((0, 60), (0, 92))) | w.doc.masks.get(1)}, "Paint")
    assert w.keyframe_from_mask()  # object 2: the painted corner (and the ball)
    assert w.doc.objects.ids() == [1, 2]
    run_propagation(w, qtbot, "forward")
    path = tmp_path / "objects.ppproj"
    assert w.save_project_to(str(path))
    w2 = make_window()
    with qtbot.waitSignal(w2.frameShown, timeout=10000):
        assert w2.open_project(str(path))
    assert w2.doc.objects.ids() == [1, 2]
    assert w2.doc.objects.track(1).keyframes == [1] and w2.doc.objects.track(2).keyframes == [1]
    assert w2.timeline.keyframes == [1]
    for i in range(1, 12):
        assert np.array_equal(w2.doc.objects.track(2).mask(i), w.doc.objects.track(2).mask(i))
    # the tracker's trust is kept: the reopened timeline shows the same confidence strip
    assert w.doc.objects.confidence() and w2.doc.objects.confidence() == w.doc.objects.confidence()
    assert w2.timeline.confidence == w.timeline.confidence
    assert w2.doc.objects.track(2).trust == w.doc.objects.track(2).trust


def test_tiny_real_sam_through_the_loading_code_gives_three_candidates(opened, qtbot, tmp_path):
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny_sam.pth"
    torch.save(build_sam(TINY).state_dict(), ckpt)
    w = opened
    w.sam_factory = lambda: SamClickPredictor.from_pretrained(TINY, checkpoint=str(ckpt), cache_size=4)
    w.set_tool("click")
    click(qtbot, w, *ball_xy(0))
    qtbot.waitUntil(lambda: w.clicks.prediction is not None, timeout=30000)
    p = w.clicks.prediction
    assert p.masks.shape == (3, 64, 96)
    w.next_candidate()
    assert w.clicks.candidate == (p.best + 1) % 3


def test_screenshot_of_clicking_an_object(make_window, qtbot, tmp_path_factory):
    """The click tool on the sample: a pending click with SAM's candidate in cyan, then the
    object propagated through the clip (its keyframe on the timeline), with the frames SAM got
    wrong flagged in red and the first of them shown by Next Frame to Review."""
    from editor.sample import make_sample
    from tests.editor.test_gui_screenshots import save, shots  # noqa: F401 - the folder rule

    scene = SampleScene(num_frames=24)
    sample = make_sample(tmp_path_factory.mktemp("objshot"), scene)
    folder = tmp_path_factory.mktemp("objshots")
    if os.environ.get("PROPAINTER_SCREENSHOTS") == "1":
        folder = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    w = make_window()
    w.resize(1280, 800)
    sam = SceneSam(scene=scene, wrong_on={15, 16})
    w.sam_factory = lambda: sam
    with qtbot.waitSignal(w.frameShown, timeout=10000):
        assert w.open_clip(str(sample.clip))
    with qtbot.waitSignal(w.frameShown, timeout=10000):
        w.seek(4)
    w.set_tool("click")
    qtbot.mouseClick(w.canvas, Qt.MouseButton.LeftButton, pos=widget_point(w, *scene.ball_center(4)))
    qtbot.waitUntil(lambda: w.clicks.prediction is not None, timeout=10000)
    save(w, folder / "click_object.png")
    assert w.accept_candidate()
    run_propagation(w, qtbot, "both")
    with qtbot.waitSignal(w.frameShown, timeout=10000):
        w.seek(12)
    save(w, folder / "object_propagated.png")
    assert sorted(w.timeline.flags) == [15, 16]
    with qtbot.waitSignal(w.frameShown, timeout=10000):
        assert w.goto_flagged(1)
    w.set_view_mode("mask")
    save(w, folder / "object_review.png")


def test_every_click_tool_error_is_a_dialog(opened, qtbot, dialogs, monkeypatch):
    """Bad SAM weights, K on a frame without a mask, a propagation that fails, a failed download."""
    import models.weights
    from models.errors import InputError, WeightsError

    w = opened

    def bad_weights():
        raise WeightsError("sam_vit_b_01ec64.pth is damaged: download it again")

    w.sam_factory = bad_weights
    w.set_tool("click")
    click(qtbot, w, *ball_xy(0))
    qtbot.waitUntil(lambda: len(dialogs.shown) == 1, timeout=10000)
    assert dialogs.shown[-1][:2] == ("critical", "Click to mask") and "damaged" in dialogs.shown[-1][2]

    assert not w.keyframe_from_mask()  # frame 0 has no mask
    assert dialogs.shown[-1][1] == "Make keyframe" and "has no mask" in dialogs.shown[-1][2]

    class FailingSam(SceneSam):
        def predict(self, *args, **kwargs):
            if self.current == 3:
                raise InputError("SAM could not read frame 3")
            return super().predict(*args, **kwargs)

    w.stop_sam()
    sam = FailingSam()
    w.sam_factory = lambda: sam
    accept_click_on_ball(w, qtbot, 0)
    run_propagation(w, qtbot, "forward")
    assert dialogs.shown[-1][1] == "Propagation failed" and "frame 3" in dialogs.shown[-1][2]
    assert w.doc.masks.frames() == [0] and not w._propagating

    def no_network(**kwargs):
        raise WeightsError("cannot reach dl.fbaipublicfiles.com: check the connection")

    monkeypatch.setattr(models.weights, "download_missing", no_network)
    assert w.download_sam()
    qtbot.waitUntil(lambda: w.task is None, timeout=10000)
    assert dialogs.shown[-1][1] == "Cannot download the SAM weights" and "connection" in dialogs.shown[-1][2]


def test_pick_an_object_from_the_menu_and_delete_one(opened, qtbot, scene_sam):
    w = opened
    accept_click_on_ball(w, qtbot, 1)  # object 1: the ball
    w.new_object()
    corner = np.zeros((64, 96), np.uint8)
    corner[:6, :6] = 255
    w.doc.set_masks({1: corner}, "Only the corner")  # the ball's pixels come back with object 1
    assert w.keyframe_from_mask()  # object 2: the corner
    assert w.doc.masks.get(1)[:6, :6].all() and w.doc.masks.get(1)[ball_rc(1)]
    texts = [a.text() for a in w.object_menu.actions()]
    assert texts == ["Object 1 (keyframes 2)", "Object 2 (keyframes 2)", "New Object"]
    w.object_menu.actions()[0].trigger()
    assert w.doc.objects.current == 1 and w.lbl_object.text() == "Object 1 of 2"
    accept_click_on_ball(w, qtbot, 6)
    assert w.doc.objects.track(1).keyframes == [1, 6] and w.doc.objects.track(2).keyframes == [1]

    w.select_object(2)
    assert w.delete_object()
    assert w.doc.objects.ids() == [1]
    assert not w.doc.masks.get(1)[:6, :6].any()
    w.doc.undo_stack.undo()
    assert w.doc.objects.ids() == [1, 2] and w.doc.masks.get(1)[:6, :6].all()


def test_the_timeline_shows_the_trackers_confidence_in_each_frame(opened, qtbot, scene_sam, tmp_path):
    """After propagation every tracked frame has a confidence on the timeline's strip (1 on the
    keyframe); a frame flagged for review is drawn in the strip's low colours."""
    from editor.widgets.timeline import confidence_colour

    w = opened
    accept_click_on_ball(w, qtbot, 5)
    run_propagation(w, qtbot, "both")
    confidence = w.timeline.confidence
    assert sorted(confidence) == list(range(12))
    assert confidence[5] == 1.0
    assert all(0.0 <= v <= 1.0 for v in confidence.values())
    assert confidence == w.doc.objects.confidence()
    # colours: red for none, amber halfway, green for full confidence
    assert confidence_colour(0.0).hueF() < 0.02 and abs(confidence_colour(1.0).hueF() - 1 / 3) < 0.01
    w.timeline.set_objects([5], {9: "check it"}, {**confidence, 9: 0.1})
    image = w.timeline.grab().toImage()
    image.save(str(tmp_path / "timeline_confidence.png"))
    y = w.timeline.THUMB_TOP + w.timeline.THUMB_HEIGHT + 4 + w.timeline.CONFIDENCE_GAP + 1
    for frame, value in ((9, 0.1), (3, confidence[3])):
        cx, step = w.timeline._cell(frame)
        pixel = image.pixelColor(int(cx + step / 2), int(y))
        assert abs(pixel.hueF() - confidence_colour(value).hueF()) < 0.03, (frame, pixel.name())
