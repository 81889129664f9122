"""The bundled sample: deterministic frames with a known background, files with audio."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from editor.errors import OutputError
from editor.media import open_masks, open_video
from editor.sample import SampleScene, make_sample

TINY = SampleScene(width=96, height=64, num_frames=8, fps=Fraction(24), ball_radius=8)


def test_scene_is_deterministic_and_outside_the_mask_shows_the_background():
    other = SampleScene(width=96, height=64, num_frames=8, fps=Fraction(24), ball_radius=8)
    for i in (0, 5):
        f = TINY.frame(i)
        np.testing.assert_array_equal(f, other.frame(i))
        outside = TINY.mask(i) == 0
        np.testing.assert_array_equal(f[outside], TINY.background(i)[outside])
        inside = TINY.object_mask(i) == 1
        assert np.abs(f[inside].astype(int) - TINY.background(i)[inside]).mean() > 20


def test_the_ball_moves_and_the_camera_pans():
    assert TINY.ball_center(0)[0] < TINY.ball_center(7)[0]
    np.testing.assert_array_equal(TINY.background(1)[:, :-2], TINY.background(0)[:, 2:])
    assert (TINY.logo_mask() == 1).any()
    np.testing.assert_array_equal(TINY.logo_mask() & TINY.mask(3), TINY.logo_mask())


def test_make_sample_writes_clip_with_audio_and_masks(tmp_path):
    paths = make_sample(tmp_path / "s", scene=TINY)
    with open_video(paths.clip) as r:
        assert (r.info.width, r.info.height, r.info.num_frames) == (96, 64, 8)
        assert [a.codec for a in r.info.audio] == ["aac"]
        diff = np.abs(r.frame(4).astype(int) - TINY.frame(4)).mean()
        assert diff < 4
    ms = open_masks(paths.masks, 8, (96, 64))
    np.testing.assert_array_equal(ms.mask(4), TINY.mask(4))
    logo = open_masks(paths.logo_mask, 8, (96, 64))
    np.testing.assert_array_equal(logo.mask(0), TINY.logo_mask())
    assert sorted(p.name for p in paths.root.iterdir()) == ["clip.mp4", "logo_mask.png", "masks"]
    with pytest.raises(OutputError, match="--overwrite"):
        make_sample(tmp_path / "s", scene=TINY)
    make_sample(tmp_path / "s", scene=TINY, overwrite=True)


def test_default_sample_matches_the_documented_recipe():
    s = SampleScene()
    assert (s.width, s.height, s.num_frames, s.fps) == (320, 240, 72, 24)
    assert s.tone().shape == (1, 144_000)
