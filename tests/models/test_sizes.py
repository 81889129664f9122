"""The one processing-size rule (models.sizes): rounded down to multiples of 8, like the authors."""

from __future__ import annotations

import pytest

from models.config import ProPainterConfig
from models.errors import InputError
from models.sizes import processing_size, requested_size, to_grid


def test_sizes_round_down_to_multiples_of_8():
    assert to_grid(1366, 768) == (1360, 768)
    assert to_grid(15, 8) == (8, 8)
    assert processing_size(1366, 768) == (1360, 768)


@pytest.mark.parametrize("size", [(7, 100), (100, 7), (0, 0)])
def test_sides_under_8_pixels_are_refused(size):
    with pytest.raises(InputError, match="too small"):
        to_grid(*size)


def test_max_side_shrinks_in_proportion_and_never_enlarges():
    assert processing_size(1920, 1080, max_side=1280) == (1280, 720)
    assert processing_size(1080, 1920, max_side=960) == (536, 960)  # 540 -> 536
    assert processing_size(640, 480, max_side=1280) == (640, 480)


def test_scale_and_explicit_size_follow_the_authors():
    assert requested_size(1000, 500, scale=0.5) == (500, 250)
    assert processing_size(1000, 500, scale=0.5) == (496, 248)
    assert processing_size(1000, 500, size=(640, 360)) == (640, 360)
    assert processing_size(1000, 500, size=(640, 360), scale=0.5) == (320, 176)  # 180 -> 176


def test_the_engine_config_uses_the_same_rule():
    assert ProPainterConfig().processing_size(1366, 768) == ((1360, 768), (1366, 768))
    assert ProPainterConfig(resize_ratio=0.5).processing_size(1000, 500) == ((496, 248), (500, 250))
    assert ProPainterConfig(width=640, height=360).processing_size(99, 99) == ((640, 360), (640, 360))
    with pytest.raises(InputError, match="too small"):
        ProPainterConfig(resize_ratio=0.01).processing_size(100, 100)
