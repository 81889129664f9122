"""benchmarks/gpu.py, the check to run when a GPU is lent, keeps working: its dry run (CPU,
tiny sizes) goes through every step, the out-of-memory back-off included."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_dry_run_prints_the_table_and_exercises_the_back_off(seeded_weights_dir, capsys):
    gpu = _script()
    assert gpu.main(["--dry-run", "--weights", str(seeded_weights_dir), "--only", "320x240"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| 320x240 |")]
    assert len(rows) == 4  # 50 and 80 frames, fp32 and fp16
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[4] in {"3", "4", "2"} and float(cells[5]) > 0 and float(cells[6]) > 0, row
    assert "retrying from frame 0 with sub-video length 3" in out
    assert "finished all 6 frames after 2 back-off(s)" in out and "OK" in out


def test_without_a_gpu_it_says_to_use_the_dry_run(capsys):
    gpu = _script()
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is here")
    assert gpu.main([]) == 2
    assert "--dry-run" in capsys.readouterr().err


def test_an_unknown_resolution_is_refused(capsys):
    assert _script().main(["--dry-run", "--only", "999x111"]) == 2
    assert "320x240" in capsys.readouterr().err
