"""The memory estimate reproduces the authors' table and plans sub-video lengths that fit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models import memory
from models.memory import GiB

TABLE_JSON = Path(__file__).resolve().parents[2] / "resources" / "memory_table.json"
CELLS = [
    (w, h, prec, frames, gib)
    for (w, h), cells in memory.MEMORY_TABLE.items()
    for (prec, frames), gib in cells.items()
]


def test_json_table_equals_the_model_data():
    data = json.loads(TABLE_JSON.read_text(encoding="utf-8"))
    assert data["unit"] == "GiB"
    from_json = {
        (row["width"], row["height"]): {
            (prec, int(frames)): value for prec in ("fp32", "fp16") for frames, value in row[prec].items()
        }
        for row in data["rows"]
    }
    assert from_json == memory.MEMORY_TABLE


@pytest.mark.parametrize("w, h, prec, frames, gib", [c for c in CELLS if c[4] is not None])
def test_every_cell_within_ten_percent(w, h, prec, frames, gib):
    est = memory.estimate(w, h, frames, fp16=prec == "fp16")
    assert abs(est / GiB - gib) <= 0.10 * gib, (w, h, prec, frames, est / GiB)
    assert memory.estimate_gib(w, h, frames, prec == "fp16") == pytest.approx(est / GiB)


def test_out_of_memory_cell_exceeds_what_fits():
    est = memory.estimate_gib(1280, 720, 80, fp16=False)
    largest_fitting_fp32 = max(g for *_, prec, _, g in CELLS if prec == "fp32" and g is not None)
    assert est > 32 and est > 1.3 * largest_fitting_fp32  # beyond the 32 GB cards of the time
    assert est > memory.estimate_gib(1280, 720, 80, fp16=True)


def test_coefficients_are_physical():
    for prec, coef in memory.COEFFICIENTS.items():
        assert len(coef) == len(memory.TERMS) and (coef >= 0).all(), prec
    assert (memory.COEFFICIENTS["fp32"] >= memory.COEFFICIENTS["fp16"]).all()


@pytest.mark.parametrize("fp16", [False, True])
def test_monotonic_and_positive(fp16):
    sizes = [(64, 64), (320, 240), (640, 480), (1280, 720), (1920, 1080), (3840, 2160)]
    for w, h in sizes:
        lengths = [memory.estimate(w, h, t, fp16) for t in (1, 10, 40, 80, 200)]
        assert lengths[0] > 0 and lengths == sorted(lengths) and len(set(lengths)) == len(lengths)
    for t in (10, 80):
        by_size = [memory.estimate(w, h, t, fp16) for w, h in sizes]
        assert by_size == sorted(by_size)
    if fp16:
        for w, h in sizes:
            assert memory.estimate(w, h, 80, True) < memory.estimate(w, h, 80, False)


def test_estimate_rejects_nonsense():
    with pytest.raises(ValueError):
        memory.estimate(0, 100)
    with pytest.raises(ValueError):
        memory.estimate(100, 100, subvideo_length=0)


def test_plan_keeps_the_default_when_it_fits():
    p = memory.plan(640, 480, free_bytes=80 * GiB, fp16=True)
    assert p.fits and p.subvideo_length == 80
    assert p.estimated_bytes == pytest.approx(memory.estimate(640, 480, 80, True))
    assert "80 frames" in p.suggestion


def test_plan_picks_the_largest_length_that_fits():
    free = 24 * GiB
    p = memory.plan(1280, 720, free_bytes=free, fp16=True, safety=0.85)
    assert p.fits and 10 <= p.subvideo_length < 80
    assert memory.estimate(1280, 720, p.subvideo_length, True) <= 0.85 * free
    assert memory.estimate(1280, 720, p.subvideo_length + 1, True) > 0.85 * free
    assert f"{p.subvideo_length} frames" in p.suggestion


def test_plan_says_what_to_do_when_nothing_fits():
    p = memory.plan(1280, 720, free_bytes=4 * GiB, fp16=False)
    assert not p.fits and p.subvideo_length == 10
    assert "1280x720" in p.suggestion and "fp16" in p.suggestion and "resolution" in p.suggestion
    assert p.estimated_bytes == pytest.approx(memory.estimate(1280, 720, 10, False))


def test_plan_respects_bounds_and_safety():
    assert memory.plan(320, 240, 80 * GiB, False, max_subvideo=30).subvideo_length == 30
    loose = memory.plan(1280, 720, 30 * GiB, False, safety=1.0).subvideo_length
    tight = memory.plan(1280, 720, 30 * GiB, False, safety=0.7).subvideo_length
    assert loose > tight
    with pytest.raises(ValueError):
        memory.plan(320, 240, GiB, False, safety=0)
