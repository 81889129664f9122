"""The document model, masks, undo commands and project files (no window)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from editor.document.masks import MaskStore, Stroke, apply_stamp, dab, polygon_stamp
from editor.document.model import ClipInfo, Document
from editor.document.project import ProjectData, load_project, save_project
from models.errors import InputError

H, W, N = 64, 96, 12


def make_doc() -> Document:
    doc = Document()
    doc.set_clip(ClipInfo("clip.mp4", W, H, N, Fraction(24)))
    return doc


def test_hard_dab_is_a_disc_and_soft_dab_fades():
    hard = dab(3, 1.0)
    assert hard.shape == (7, 7) and hard[3, 3] == 1 and hard[0, 0] == 0
    soft = dab(6, 0.0)
    assert soft[6, 6] == 1 and 0 < soft[6, 9] < 1


def test_stroke_covers_the_line_between_points():
    s = Stroke(H, W, radius=2, hardness=1)
    s.add_point(10, 10)
    s.add_point(40, 10)
    box, cov = s.stamp()
    assert box == (8, 13, 8, 43)
    assert (cov[2, :] > 0).all()


def test_erase_removes_painted_pixels():
    region = np.full((4, 4), 255, np.uint8)
    stamp = np.zeros((4, 4), np.uint8)
    stamp[1:3, 1:3] = 255
    out = apply_stamp(region, stamp, "erase")
    assert out[1, 1] == 0 and out[0, 0] == 255


def test_store_drops_empty_masks_and_bumps_revision():
    store = MaskStore(N, H, W)
    r0 = store.revision
    store.set_region(3, (0, 4, 0, 4), np.ones((4, 4), np.uint8) * 255)
    assert store.frames() == [3] and store.revision > r0
    store.set_region(3, (0, 4, 0, 4), None)
    assert store.frames() == []
    snap = store.snapshot()
    assert snap == {}


def test_stroke_is_one_undo_step_storing_only_its_box():
    doc = make_doc()
    s = Stroke(H, W, 3, 1.0)
    for x in range(10, 30, 2):
        s.add_point(x, 20)
    box, stamp = s.stamp()
    doc.paint([5], box, stamp, "paint", "Brush Stroke")
    assert doc.undo_stack.count() == 1
    cmd = doc.undo_stack.command(0)
    assert cmd.before[5] is None and cmd.stamp.shape == (box[1] - box[0], box[3] - box[2])
    assert doc.masks.has_mask(5) and doc.is_modified()
    doc.undo_stack.undo()
    assert not doc.masks.has_mask(5) and not doc.is_modified()
    doc.undo_stack.redo()
    assert doc.masks.mask(5)[20, 20] == 255


def test_paint_on_all_frames_and_undo_restores_each_frame():
    doc = make_doc()
    doc.masks.set_mask(2, np.full((H, W), 7, np.uint8))
    stamp = np.full((5, 5), 255, np.uint8)
    doc.paint(doc.scope_frames("all", 0), (0, 5, 0, 5), stamp, "paint", "Rectangle")
    assert doc.masks.frames() == list(range(N))
    doc.undo_stack.undo()
    assert doc.masks.frames() == [2] and doc.masks.mask(2)[0, 0] == 7


def test_range_commands_merge_and_scope_follows_range():
    doc = make_doc()
    doc.set_in(3)
    doc.set_out(7)
    assert (doc.in_point, doc.out_point) == (3, 7)
    assert doc.scope_frames("range", 0) == [3, 4, 5, 6, 7]
    doc.undo_stack.undo()
    assert (doc.in_point, doc.out_point) == (3, 11)


def test_clear_and_copy_masks():
    doc = make_doc()
    doc.masks.set_mask(0, np.full((H, W), 255, np.uint8))
    doc.copy_mask(0, [1, 2])
    assert doc.masks.frames() == [0, 1, 2]
    doc.clear_masks([0, 1, 2, 3])
    assert doc.masks.frames() == []
    assert doc.undo_stack.undoText() == "Clear Mask"
    doc.undo_stack.undo()
    assert doc.masks.frames() == [0, 1, 2]


def test_project_round_trip(tmp_path):
    m = np.zeros((H, W), np.uint8)
    m[5:9, 10:20] = 200
    data = ProjectData("clip.mp4", N, W, H, 2, 9, {4: m}, {"subvideo_length": 40}, {"aspect": "16:9"})
    path = tmp_path / "p.ppproj"
    save_project(path, data)
    back = load_project(path)
    assert back.in_point == 2 and back.out_point == 9 and back.expansion == {"aspect": "16:9"}
    assert back.settings == {"subvideo_length": 40}
    np.testing.assert_array_equal(back.masks[4], m)


def test_loading_a_file_that_is_not_a_project_raises_input_error(tmp_path):
    bad = tmp_path / "x.ppproj"
    bad.write_text("not a zip")
    with pytest.raises(InputError, match="not a readable project"):
        load_project(bad)
    with pytest.raises(InputError, match="does not exist"):
        load_project(tmp_path / "missing.ppproj")


def test_expansion_plans_a_canvas():
    doc = make_doc()
    doc.set_expansion({"aspect": "1:1"})
    c = doc.canvas()
    assert (c.width, c.height) == (96, 96)
    doc.undo_stack.undo()
    assert doc.canvas() is None


def test_polygon_stamp_fills_inside_and_is_cut_to_the_frame():
    box, stamp = polygon_stamp([(10, 10), (30, 10), (10, 30)], 40, 50)  # a right triangle
    assert box == (10, 31, 10, 31)
    assert stamp[2, 2] == 255 and stamp[18, 2] == 255 and stamp[18, 18] == 0  # beyond the hypotenuse
    box, stamp = polygon_stamp([(-10, -10), (20, -10), (20, 20), (-10, 20)], 40, 50)
    assert box == (0, 21, 0, 21) and (stamp == 255).all()
    assert polygon_stamp([(60, 0), (80, 0), (70, 10)], 40, 50) is None  # outside the frame
    with pytest.raises(ValueError, match="at least 3 points"):
        polygon_stamp([(0, 0), (5, 5)], 40, 50)


def test_a_project_saved_before_the_trust_was_kept_opens_with_none(tmp_path):
    """Projects written before objects kept the tracker's trust load with an empty one; a
    confidence outside 0..1 is a damaged file."""
    import json
    import zipfile

    from editor.document.project import SavedObject

    mask = np.zeros((8, 12), bool)
    mask[2:5, 3:7] = True
    data = ProjectData(clip="clip.mp4", num_frames=4, width=12, height=8,
                       objects=[SavedObject(1, {0: mask, 1: mask}, [0], {}, {1: (0, 0.75)})])
    path = tmp_path / "p.ppproj"
    save_project(path, data)
    assert load_project(path).objects[0].trust == {1: (0, 0.75)}
    for trust, ok in ((None, True), ({"1": [0, 1.5]}, False)):
        with zipfile.ZipFile(path) as z:
            parts = {n: z.read(n) for n in z.namelist()}
        meta_name = "project.json"
        meta = json.loads(parts[meta_name])
        if trust is None:
            meta["objects"][0].pop("trust")
        else:
            meta["objects"][0]["trust"] = trust
        parts[meta_name] = json.dumps(meta).encode()
        old = tmp_path / f"old{ok}.ppproj"
        with zipfile.ZipFile(old, "w") as z:
            for n, b in parts.items():
                z.writestr(n, b)
        if ok:
            assert load_project(old).objects[0].trust == {}
        else:
            with pytest.raises(InputError):
                load_project(old)
