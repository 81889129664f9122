"""The test helper builds exactly the seeded checkpoints of the parity reference."""

from __future__ import annotations

import json

import torch

from tests.seeded import (
    MANIFEST_PATH,
    build_seeded_state_dicts,
    content_sha256,
    load_manifest,
    seeded_state_dicts,
)


def test_content_hashes_equal_the_manifest():
    manifest = load_manifest()
    sds = seeded_state_dicts()
    assert set(sds) == set(manifest["content_sha256"])
    for file, sd in sds.items():
        assert content_sha256(sd) == manifest["content_sha256"][file], file


def test_keys_shapes_and_dtypes_follow_the_manifest_in_order():
    manifest = load_manifest()
    sds = seeded_state_dicts()
    counts = {file: len(sd) for file, sd in sds.items()}
    assert counts == {"raft-things.pth": 179, "recurrent_flow_completion.pth": 74, "ProPainter.pth": 216}
    for file, spec in manifest["files"].items():
        sd = sds[file]
        assert list(sd) == [e["key"] for e in spec["entries"]]
        for e in spec["entries"]:
            assert tuple(sd[e["key"]].shape) == tuple(e["shape"])
            assert str(sd[e["key"]].dtype) == "torch." + e["dtype"]
    assert all(k.startswith("module.") for k in sds["raft-things.pth"])


def test_content_hash_sees_values_dtypes_and_keys():
    sd = {"a.weight": torch.zeros(2, 3), "a.bias": torch.zeros(2)}
    base = content_sha256(sd)
    assert content_sha256(dict(reversed(list(sd.items())))) == base  # order does not matter
    assert content_sha256({**sd, "a.bias": torch.tensor([0.0, 1e-7])}) != base
    assert content_sha256({**sd, "a.bias": torch.zeros(2, dtype=torch.float64)}) != base
    assert content_sha256({**sd, "a.weight": torch.zeros(3, 2)}) != base
    assert content_sha256({"b.weight": sd["a.weight"], "a.bias": sd["a.bias"]}) != base


def test_built_once_per_process():
    assert seeded_state_dicts() is seeded_state_dicts()
    assert seeded_state_dicts(MANIFEST_PATH) is seeded_state_dicts()


def test_written_files_load_with_weights_only_and_keep_manifest_order(seeded_weights_dir):
    manifest = load_manifest()
    for file, spec in manifest["files"].items():
        sd = torch.load(seeded_weights_dir / file, weights_only=True, map_location="cpu")
        assert list(sd) == [e["key"] for e in spec["entries"]]
        assert content_sha256(sd) == manifest["content_sha256"][file]


def test_rebuild_is_deterministic_for_one_file(tmp_path):
    manifest = load_manifest()
    small = {"source": manifest["source"], "files": {
        "recurrent_flow_completion.pth": manifest["files"]["recurrent_flow_completion.pth"]}}
    path = tmp_path / "m.json"
    path.write_text(json.dumps(small))
    sd = build_seeded_state_dicts(path)["recurrent_flow_completion.pth"]
    assert content_sha256(sd) == manifest["content_sha256"]["recurrent_flow_completion.pth"]
