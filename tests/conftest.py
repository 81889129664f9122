import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from tests.seeded import seeded_weights_dir  # noqa: E402,F401  (session fixture)

DATA = ROOT / "tests" / "data"


@pytest.fixture(autouse=True)
def _no_user_weights_dir(monkeypatch, tmp_path_factory):
    """Tests never see (or write to) the user's weights cache."""
    monkeypatch.setenv("PROPAINTER_WEIGHTS_DIR", str(tmp_path_factory.getbasetemp() / "no-weights-here"))


@pytest.fixture(autouse=True)
def _cpu_precision_is_fp32(monkeypatch):
    """"auto" precision means fp32 on the CPU in every test, whatever this CPU's bf16
    instructions (the parity tests compare fp32 frames); bf16 tests ask for it."""
    monkeypatch.setenv("PROPAINTER_CPU_BF16", "0")
