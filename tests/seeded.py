"""Seeded ProPainter checkpoints for tests, built from ``tests/data/parity_manifest.json``.

The three files have the keys, shapes and dtypes of the released checkpoints
(``raft-things.pth`` with its ``module.`` prefix, ``recurrent_flow_completion.pth``,
``ProPainter.pth``) and random values drawn by the recipe of the parity reference
(``../shared/parity/README.md``, section 1): each tensor from its own generator seeded by
``zlib.crc32(f"{file}:{key}")``, so the authors' code and ours load the same numbers.
The values are random: they exercise the networks, they do not inpaint anything.

Use from a test::

    from tests.seeded import seeded_weights_dir   # the session fixture (or via conftest)

    def test_something(seeded_weights_dir):
        ...  # seeded_weights_dir / "ProPainter.pth" exists

The full set is ~190 MB; it is built once per process and written once per session.
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

MANIFEST_PATH = Path(__file__).resolve().parent / "data" / "parity_manifest.json"

# Scale of the uniform draw for weights with more than one dimension, as a multiple of
# 1/sqrt(fan_in); the longest matching key prefix wins (recipe table of the README).
_GAINS: dict[str, dict[str, float]] = {
    "raft-things.pth": {"module.fnet.": 2.45, "module.cnet.": 2.45, "": 1.0},
    "recurrent_flow_completion.pth": {"": 2.0},
    "ProPainter.pth": {"": 1.6},
}
_DTYPES = {
    "float32": torch.float32,
    "float16": torch.float16,
    "int64": torch.int64,
    "int32": torch.int32,
    "bool": torch.bool,
}


def load_manifest(manifest_path: str | Path = MANIFEST_PATH) -> dict:
    """The parsed parity manifest (files -> entries of key, shape, dtype[, values])."""
    with open(manifest_path, encoding="utf-8") as f:
        return json.load(f)


def _gain(file: str, key: str) -> float:
    table = _GAINS.get(file, {"": 1.0})
    for prefix in sorted(table, key=len, reverse=True):
        if key.startswith(prefix):
            return table[prefix]
    return 1.0


def _fan_in(shape: tuple[int, ...]) -> int:
    return shape[1] * math.prod(shape[2:])


def _uniform(seed: int, shape: tuple[int, ...], low: float, high: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(shape, generator=g, dtype=torch.float32)


def seeded_tensor(file: str, entry: dict, shapes: dict[str, tuple[int, ...]]) -> torch.Tensor:
    """One tensor of the recipe: ``entry`` is a manifest entry, ``shapes`` all shapes of ``file``."""
    key, shape, dtype = entry["key"], tuple(entry["shape"]), entry["dtype"]
    if "values" in entry:  # integer buffers (indices, counters): structure, copied exactly
        return torch.tensor(entry["values"], dtype=_DTYPES[dtype]).reshape(shape)
    seed = zlib.crc32(f"{file}:{key}".encode())
    if key.endswith("running_mean"):
        return _uniform(seed, shape, -0.1, 0.1)
    if key.endswith("running_var"):
        return _uniform(seed, shape, 0.5, 1.5)
    if key.endswith("weight") and len(shape) > 1:
        bound = _gain(file, key) / math.sqrt(_fan_in(shape))
        return _uniform(seed, shape, -bound, bound)
    if key.endswith("bias"):
        weight_shape = shapes.get(key[: -len("bias")] + "weight")
        if weight_shape is not None and len(weight_shape) > 1:
            bound = 1.0 / math.sqrt(_fan_in(weight_shape))
            return _uniform(seed, shape, -bound, bound)
        return _uniform(seed, shape, -0.1, 0.1)  # a norm layer's shift
    if key.endswith("weight"):  # a norm layer's scale
        return _uniform(seed, shape, 0.9, 1.1)
    raise ValueError(f"{file}: the seeded-weights recipe has no rule for {key} {shape}")


def build_seeded_state_dicts(
    manifest_path: str | Path = MANIFEST_PATH,
) -> dict[str, OrderedDict[str, torch.Tensor]]:
    """File name -> state dict (keys in manifest order) of the three seeded checkpoints."""
    manifest = load_manifest(manifest_path)
    out: dict[str, OrderedDict[str, torch.Tensor]] = {}
    for file, spec in manifest["files"].items():
        shapes = {e["key"]: tuple(e["shape"]) for e in spec["entries"]}
        out[file] = OrderedDict((e["key"], seeded_tensor(file, e, shapes)) for e in spec["entries"])
    return out


def content_sha256(state_dict: dict[str, torch.Tensor]) -> str:
    """SHA-256 over sorted keys of key, str(dtype), str(tuple(shape)), raw C-order bytes.

    Independent of the zip container ``torch.save`` writes (README, section 1).
    """
    h = hashlib.sha256()
    for key in sorted(state_dict):
        t = state_dict[key].detach().cpu().contiguous()
        h.update(key.encode("utf-8"))
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        # A byte view works for every dtype (numpy has no bfloat16); x86/ARM are little-endian.
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


_CACHE: dict[str, dict[str, OrderedDict[str, torch.Tensor]]] = {}


def seeded_state_dicts(manifest_path: str | Path = MANIFEST_PATH) -> dict[str, OrderedDict[str, torch.Tensor]]:
    """Cached :func:`build_seeded_state_dicts` (built once per process; do not modify the tensors)."""
    key = str(Path(manifest_path).resolve())
    if key not in _CACHE:
        _CACHE[key] = build_seeded_state_dicts(manifest_path)
    return _CACHE[key]


def write_seeded_weights(
    directory: str | Path, manifest_path: str | Path = MANIFEST_PATH
) -> dict[str, Path]:
    """Write the three seeded checkpoints into ``directory``; file name -> path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for file, sd in seeded_state_dicts(manifest_path).items():
        path = directory / file
        torch.save(sd, path)
        paths[file] = path
    return paths


@pytest.fixture(scope="session")
def seeded_weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the three seeded checkpoints, written once per test session.

    Treat it as read-only: tests that damage or move files should copy them first.
    """
    directory = tmp_path_factory.mktemp("seeded_weights")
    write_seeded_weights(directory)
    return directory
