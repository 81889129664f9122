"""The ``track`` command and the click/box helpers of ``inpaint --click``."""

from __future__ import annotations

import argparse

import cv2
import numpy as np
import pytest

from editor.tracking import Box, Click, masks_from_clicks
from editor.tracking_cli import parse_box, parse_click, parse_mask_arg, register
from models.errors import InputError, WeightsError
from models.segmentation import mask_iou
from models.segmentation.predictor import Prediction

H, W, N, S = 48, 64, 8, 14


def _clip():
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    tex = rng.integers(0, 256, (S, S, 3), dtype=np.uint8)
    frames, masks = [], []
    for t in range(N):
        f = bg.copy()
        x, y = 8 + 3 * t, 10 + t
        f[y:y + S, x:x + S] = tex
        m = np.zeros((H, W), np.uint8)
        m[y:y + S, x:x + S] = 1
        frames.append(f)
        masks.append(m)
    return frames, masks


@pytest.fixture
def clip_dir(tmp_path):
    frames, masks = _clip()
    folder = tmp_path / "clip"
    folder.mkdir()
    for i, f in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:04d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    return folder, masks


def _run(argv):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


def test_track_writes_one_mask_png_per_frame_propagated_both_ways(clip_dir, tmp_path, capsys):
    folder, masks = clip_dir
    key = tmp_path / "key.png"
    cv2.imwrite(str(key), masks[3] * 255)
    out = tmp_path / "masks"
    assert _run(["track", str(folder), "--mask", f"{key}@3", "-o", str(out), "--weights-dir", str(tmp_path)]) == 0
    files = sorted(out.glob("*.png"))
    assert len(files) == N
    for i, path in enumerate(files):
        written = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        assert written.shape == (H, W) and set(np.unique(written)) <= {0, 255}
        assert mask_iou(written > 0, masks[i]) > 0.8, i
    err = capsys.readouterr().err
    assert "optical flow alone" in err and f"Wrote {N} masks" in err


def test_track_missing_keyframe_mask_is_an_input_error(clip_dir, tmp_path):
    folder, _ = clip_dir
    with pytest.raises(InputError, match="does not exist"):
        _run(["track", str(folder), "--mask", str(tmp_path / "none.png"), "-o", str(tmp_path / "m")])


@pytest.mark.parametrize("text, click", [("12,34", Click(12, 34, 0)), ("1.5,2@7", Click(1.5, 2, 7)), (" 3,4 @ 2", Click(3, 4, 2))])
def test_parse_click(text, click):
    assert parse_click(text) == click


@pytest.mark.parametrize("text", ["12", "a,b", "1,2,3", "1,2@x", "-1,4"])
def test_bad_click_is_an_input_error(text):
    with pytest.raises(InputError, match="--click"):
        parse_click(text)


def test_parse_box_and_mask_argument():
    assert parse_box("50,40,10,20@3") == Box(10, 20, 50, 40, 3)
    with pytest.raises(InputError, match="empty"):
        parse_box("5,5,5,9")
    with pytest.raises(InputError, match="X0,Y0,X1,Y1"):
        parse_box("1,2,3")
    path, frame = parse_mask_arg("dir/key@home.png@12")
    assert (path.name, frame) == ("key@home.png", 12)
    assert parse_mask_arg("key.png")[1] == 0


class _Reader:
    def __init__(self, frames):
        self.frames = frames
        self.info = argparse.Namespace(num_frames=len(frames), width=W, height=H)

    def frame(self, i):
        return self.frames[i]


class _SquareSam:
    """Returns the true square on every frame (stands in for SAM's answer to a click)."""

    def __init__(self, masks):
        self.masks = masks
        self.prompts = []

    def set_frame(self, clip_id, index, frame):
        self.index = index

    def predict(self, points=None, labels=None, box=None, mask_input=None, multimask=True):
        self.prompts.append((self.index, None if points is None else points.tolist(), multimask))
        m = self.masks[self.index].astype(bool)
        return Prediction(m[None], np.ones(1, np.float32), np.zeros((1, 4, 4), np.float32), 0)


def test_clicks_become_masks_on_every_frame():
    frames, masks = _clip()
    sam = _SquareSam(masks)
    out = masks_from_clicks(_Reader(frames), [Click(12 + 9, 14 + 3, 3)], [], sam)
    assert sorted(out) == list(range(N))
    assert all(mask_iou(out[i], masks[i]) > 0.9 for i in range(N))
    assert sam.prompts[0] == (3, [[21.0, 17.0]], True)  # one click: multimask, best candidate


def test_clicks_without_sam_weights_say_how_to_get_them():
    frames, _ = _clip()
    with pytest.raises(WeightsError, match=r"weights download sam_vit_b.*--mask"):
        masks_from_clicks(_Reader(frames), [Click(5, 5)], [], None)


def test_click_outside_the_frame_or_clip_is_an_input_error():
    frames, masks = _clip()
    with pytest.raises(InputError, match="outside"):
        masks_from_clicks(_Reader(frames), [Click(500, 5)], [], _SquareSam(masks))
    with pytest.raises(InputError, match="frames 0..7"):
        masks_from_clicks(_Reader(frames), [Click(5, 5, 99)], [], _SquareSam(masks))


def test_track_says_how_many_frames_need_review_and_still_writes_every_mask(clip_dir, tmp_path, capsys):
    folder, masks = clip_dir
    cv2.imwrite(str(folder / "0005.png"), np.random.default_rng(7).integers(0, 256, (H, W, 3), dtype=np.uint8))
    key = tmp_path / "key.png"
    cv2.imwrite(str(key), masks[2] * 255)
    out = tmp_path / "masks"
    assert _run(["track", str(folder), "--mask", f"{key}@2", "-o", str(out), "--tracker", "flow",
                 "--weights-dir", str(tmp_path)]) == 0
    assert len(sorted(out.glob("*.png"))) == N
    assert cv2.imread(str(out / "000005.png"), cv2.IMREAD_GRAYSCALE).any()  # the estimate, not an empty mask
    err = capsys.readouterr().err
    assert "frame 5 needs review" in err
    assert "1 frame(s) need review (their masks are estimates; frames 5)" in err
    assert "DIS" in err  # which flow ran, and why


def test_track_keyframe_of_the_wrong_size_is_an_input_error_and_writes_nothing(clip_dir, tmp_path):
    folder, masks = clip_dir
    key = tmp_path / "key.png"
    cv2.imwrite(str(key), cv2.resize(masks[2] * 255, (W // 2, H // 2)))
    out = tmp_path / "masks"
    with pytest.raises(InputError, match=rf"is {W // 2}x{H // 2} but the clip is {W}x{H}"):
        _run(["track", str(folder), "--mask", f"{key}@2", "-o", str(out), "--weights-dir", str(tmp_path)])
    assert not out.exists()


@pytest.mark.parametrize("tracker, name", [("sam", "sam_vit_b"), ("sam2", "sam2.1_hiera_tiny")])
def test_a_named_tracker_without_its_weights_says_how_to_get_them(clip_dir, tmp_path, tracker, name):
    folder, masks = clip_dir
    key = tmp_path / "key.png"
    cv2.imwrite(str(key), masks[2] * 255)
    with pytest.raises(WeightsError, match=rf"weights download {name}.*--tracker flow"):
        _run(["track", str(folder), "--mask", f"{key}@2", "-o", str(tmp_path / "m"), "--tracker", tracker,
              "--weights-dir", str(tmp_path)])
    assert not (tmp_path / "m").exists()


def test_a_corrupt_sam2_checkpoint_is_one_clear_error_and_nothing_is_written(clip_dir, tmp_path):
    folder, masks = clip_dir
    key = tmp_path / "key.png"
    cv2.imwrite(str(key), masks[2] * 255)
    bad = tmp_path / "cut.pt"
    bad.write_bytes(b"PK\x03\x04 half a download")
    with pytest.raises(WeightsError, match=r"cut.pt .*is truncated or corrupt.*weights download sam2.1_hiera_tiny"):
        _run(["track", str(folder), "--mask", f"{key}@2", "-o", str(tmp_path / "m"), "--tracker", "sam2",
              "--sam2-checkpoint", str(bad), "--weights-dir", str(tmp_path)])
    assert not (tmp_path / "m").exists()


def test_review_summary_names_the_frames_as_spans():
    from editor.tracking_cli import review_summary

    assert review_summary({}) .startswith("No frame needs review")
    line = review_summary({3: ["a"], 4: ["b"], 5: ["c"], 9: ["d"]})
    assert line.startswith("4 frame(s) need review") and "frames 3-5, 9" in line
