"""Mask io: folder, single image, video; counts and sizes; export round trips."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from editor.errors import MediaError, OutputError
from editor.media import open_masks, write_masks
from tests.editor.test_media_support import H, W


def masks(n: int = 5) -> list[np.ndarray]:
    out = []
    for i in range(n):
        m = np.zeros((H, W), np.uint8)
        m[10 + i : 20 + i, 5 + 3 * i : 15 + 3 * i] = 1
        out.append(m)
    return out


@pytest.mark.parametrize("name", ["folder", "m.mkv", "m.avi"])
def test_export_and_read_back_exactly(tmp_path, name):
    src = masks()
    assert write_masks(tmp_path / name, src, fps=25) == 5
    with open_masks(tmp_path / name, 5, (W, H)) as ms:
        assert len(ms) == 5 and not ms.is_empty
        assert ms.kind == ("folder" if name == "folder" else "video")
        for a, b in zip(src, ms):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ms.mask(3), src[3])
        assert ms.mask(3).dtype == np.uint8 and set(np.unique(ms.mask(3))) <= {0, 1}


def test_mask_video_in_mp4_is_thresholded_back(tmp_path):
    write_masks(tmp_path / "m.mp4", masks())
    ms = open_masks(tmp_path / "m.mp4", 5, (W, H))
    assert np.mean(ms.mask(2) != masks()[2]) < 0.01


def test_folder_matched_by_natural_index_order(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    src = masks(11)
    for i, m in enumerate(src):
        cv2.imwrite(str(d / f"mask_{i}.png"), m * 255)
    ms = open_masks(d, 11, (W, H))
    np.testing.assert_array_equal(ms.mask(10), src[10])
    np.testing.assert_array_equal(ms.mask(2), src[2])


def test_zero_one_pngs_are_understood(tmp_path):
    cv2.imwrite(str(tmp_path / "m.png"), masks(1)[0])  # values 0 and 1, not 0 and 255
    ms = open_masks(tmp_path / "m.png", 7, (W, H))
    np.testing.assert_array_equal(ms.mask(6), masks(1)[0])


def test_single_image_applies_to_all_frames_and_is_resized_with_a_warning(tmp_path):
    big = np.zeros((H * 2, W * 2), np.uint8)
    big[:H, :W] = 255
    cv2.imwrite(str(tmp_path / "m.png"), big)
    with pytest.warns(UserWarning, match="resized"):
        ms = open_masks(tmp_path / "m.png", 4, (W, H))
    assert ms.kind == "image" and len(ms.warnings) == 1
    assert "128x96" in ms.warnings[0] and "64x48" in ms.warnings[0]
    m = ms.mask(3)
    assert m.shape == (H, W) and m[: H // 2, : W // 2].all() and not m[H // 2 :, :].any()
    assert len(list(ms)) == 4


def test_is_empty(tmp_path):
    write_masks(tmp_path / "e", [np.zeros((H, W), np.uint8)] * 3)
    assert open_masks(tmp_path / "e", 3, (W, H)).is_empty
    write_masks(tmp_path / "e.png", [np.zeros((H, W), np.uint8)])
    assert open_masks(tmp_path / "e.png", 3, (W, H)).is_empty
    write_masks(tmp_path / "e.mkv", [np.zeros((H, W), np.uint8)] * 3)
    assert open_masks(tmp_path / "e.mkv", 3, (W, H)).is_empty
    one = [np.zeros((H, W), np.uint8) for _ in range(3)]
    one[2][5, 5] = 1
    write_masks(tmp_path / "one", one)
    assert not open_masks(tmp_path / "one", 3, (W, H)).is_empty


def test_count_mismatch_names_both_counts(tmp_path):
    write_masks(tmp_path / "m", masks(5))
    with pytest.raises(MediaError, match="has 5 masks but the clip has 7 frames"):
        open_masks(tmp_path / "m", 7, (W, H))
    write_masks(tmp_path / "m.mkv", masks(5))
    with pytest.raises(MediaError, match="has 5 frames but the clip has 7"):
        open_masks(tmp_path / "m.mkv", 7, (W, H))


def test_per_frame_size_mismatch_names_both_sizes(tmp_path):
    write_masks(tmp_path / "m", masks(3))
    with pytest.raises(MediaError, match="is 64x48 but the clip is 32x24"):
        open_masks(tmp_path / "m", 3, (32, 24))
    write_masks(tmp_path / "m.mkv", masks(3))
    with pytest.raises(MediaError, match="is 64x48 but the clip is 32x24"):
        open_masks(tmp_path / "m.mkv", 3, (32, 24))
    # A later frame of the wrong size is caught when it is read.
    cv2.imwrite(str(tmp_path / "m" / "000002.png"), np.zeros((10, 10), np.uint8))
    ms = open_masks(tmp_path / "m", 3, (W, H))
    with pytest.raises(MediaError, match="000002.png is 10x10 but the clip is 64x48"):
        ms.mask(2)


def test_missing_and_empty_mask_inputs(tmp_path):
    with pytest.raises(MediaError, match="does not exist"):
        open_masks(tmp_path / "nope", 3, (W, H))
    (tmp_path / "empty").mkdir()
    with pytest.raises(MediaError, match="no PNG or JPG"):
        open_masks(tmp_path / "empty", 3, (W, H))
    (tmp_path / "junk.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(MediaError, match="junk.bin"):
        open_masks(tmp_path / "junk.bin", 3, (W, H))


def test_write_masks_refuses_to_overwrite_and_several_masks_in_one_image(tmp_path):
    write_masks(tmp_path / "m.png", masks(1))
    with pytest.raises(OutputError, match="--overwrite"):
        write_masks(tmp_path / "m.png", masks(1))
    with pytest.raises(OutputError, match="exactly one mask"):
        write_masks(tmp_path / "two.png", masks(2))
    write_masks(tmp_path / "d", masks(2))
    with pytest.raises(OutputError, match="--overwrite"):
        write_masks(tmp_path / "d", masks(2))
    assert write_masks(tmp_path / "d", masks(3), overwrite=True) == 3
    assert len(list((tmp_path / "d").iterdir())) == 3
