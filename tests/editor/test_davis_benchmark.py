"""``benchmarks/davis.py``: DAVIS's J and F, and the table over a folder in DAVIS's layout."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.davis import boundary_f, main, read_labels, region_j

H, W, N, S = 60, 80, 5, 16


@pytest.fixture(autouse=True)
def _keep_thread_counts():
    """main() sets torch's and OpenCV's thread counts: give the next tests theirs back."""
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    yield
    torch.set_num_threads(torch_threads)
    cv2.setNumThreads(cv2_threads)


def _square(x, y, size=S):
    m = np.zeros((H, W), bool)
    m[y:y + size, x:x + size] = True
    return m


def test_a_perfect_prediction_scores_1_in_j_and_f():
    truth = _square(20, 10)
    assert region_j(truth, truth) == 1.0 and boundary_f(truth, truth) == 1.0
    empty = np.zeros((H, W), bool)
    assert region_j(empty, empty) == 1.0 and boundary_f(empty, empty) == 1.0  # DAVIS: nothing on nothing is right


def test_j_and_f_of_wrong_predictions():
    truth = _square(20, 10)
    empty = np.zeros((H, W), bool)
    assert region_j(empty, truth) == 0.0 and boundary_f(empty, truth) == 0.0
    assert region_j(_square(50, 40, 8), truth) == 0.0 and boundary_f(_square(50, 40, 8), truth) == 0.0
    shifted = _square(21, 10)  # one pixel off: J drops, F stays 1 (within ceil(0.008 * 100) = 1 pixel)
    assert region_j(shifted, truth) == pytest.approx(15 / 17)
    assert boundary_f(shifted, truth) == 1.0
    assert boundary_f(_square(24, 10), truth) < 0.6  # four pixels off: most of the outline misses
    void = ~_square(18, 8, 20)  # only the area around the object is scored
    assert region_j(truth | ~_square(18, 8, 20), truth, void) == 1.0


def _davis_folder(root, palette: bool):
    """A DAVIS-layout sequence "two" with two textured squares moving apart (palette
    annotations with ids 1 and 2 and a void border) or one white square ("one")."""
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    tex = [rng.integers(0, 256, (S, S, 3), dtype=np.uint8) for _ in range(2)]
    name = "two" if palette else "one"
    (root / "JPEGImages" / name).mkdir(parents=True)
    (root / "Annotations" / name).mkdir(parents=True)
    for t in range(N):
        frame, labels = bg.copy(), np.zeros((H, W), np.uint8)
        for oid, (x, y) in enumerate(((8 + 2 * t, 10), (52 - 2 * t, 34))[: 2 if palette else 1], start=1):
            frame[y:y + S, x:x + S] = tex[oid - 1]
            labels[y:y + S, x:x + S] = oid
        Image.fromarray(frame).save(root / "JPEGImages" / name / f"{t:05d}.png")
        if palette:
            labels[:, -1] = 255  # void
            image = Image.fromarray(labels, mode="P")
            image.putpalette([0, 0, 0, 128, 0, 0, 0, 128, 0] + [255, 255, 255] * 253)
        else:
            image = Image.fromarray(labels * 255, mode="L")
        image.save(root / "Annotations" / name / f"{t:05d}.png")


def test_annotations_are_read_as_object_ids(tmp_path):
    _davis_folder(tmp_path, palette=True)
    _davis_folder(tmp_path, palette=False)
    two = read_labels(tmp_path / "Annotations" / "two" / "00000.png")
    assert set(np.unique(two)) == {0, 1, 2, 255}
    assert set(np.unique(read_labels(tmp_path / "Annotations" / "one" / "00000.png"))) == {0, 1}


def test_main_prints_a_table_per_sequence_and_the_mean_with_each_object_scored(tmp_path, capsys):
    _davis_folder(tmp_path, palette=True)
    _davis_folder(tmp_path, palette=False)
    assert main([str(tmp_path), "--trackers", "dis", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]]
            for line in out.splitlines() if line.startswith("| ") and "sequence" not in line}
    assert set(rows) == {"one", "two", "mean"}
    header = next(line for line in out.splitlines() if line.startswith("| sequence"))
    assert [c.strip() for c in header.split("|")[1:-1]] == [
        "sequence", "tracker", "objects", "frames", "J", "F", "J<0.5 (flagged)", "false flags (of good)", "ms/frame"]
    assert rows["two"][:4] == ["two", "dis", "2", str(2 * (N - 1))]  # two objects, the keyframe not scored
    assert rows["one"][:4] == ["one", "dis", "1", str(N - 1)]
    assert rows["mean"][2:4] == ["3", str(3 * (N - 1))]
    for name in ("one", "two"):
        j, f = float(rows[name][4]), float(rows[name][5])
        assert j > 0.8 and f > 0.8, rows[name]
        assert rows[name][6] == "0 (0)"


def test_main_runs_one_sequence_and_the_generated_clips(tmp_path, capsys):
    _davis_folder(tmp_path, palette=True)
    _davis_folder(tmp_path, palette=False)
    assert main([str(tmp_path), "--sequences", "one", "--max-frames", "3", "--trackers", "dis", "--threads", "1",
                 "--generated", "--generated-size", "160x120", "--generated-frames", "12"]) == 0
    out = capsys.readouterr().out
    names = [line.split("|")[1].strip() for line in out.splitlines() if line.startswith("| ") and "sequence" not in line]
    assert names == ["one", "flat", "against", "scaling", "occlusion", "exit", "textured", "mean"]
    assert "| one          | dis     |       1 |      2 |" in out
    with pytest.raises(SystemExit, match="No sequence nope"):
        main([str(tmp_path), "--sequences", "nope", "--trackers", "dis", "--threads", "1"])


def test_the_davis_downloads_resolution_level_and_split_lists_are_understood(tmp_path, capsys):
    level = tmp_path / "level"
    _davis_folder(level, palette=True)
    for kind in ("JPEGImages", "Annotations"):  # DAVIS-2017-trainval-480p.zip: JPEGImages/480p/<sequence>
        (tmp_path / "DAVIS" / kind).mkdir(parents=True)
        (level / kind).rename(tmp_path / "DAVIS" / kind / "480p")
    (tmp_path / "DAVIS" / "ImageSets" / "2017").mkdir(parents=True)
    (tmp_path / "DAVIS" / "ImageSets" / "2017" / "val.txt").write_text("two\n")
    assert main([str(tmp_path / "DAVIS"), "--split", "val", "--max-frames", "2", "--trackers", "dis",
                 "--threads", "1"]) == 0
    assert "| two          | dis     |       2 |      2 |" in capsys.readouterr().out
