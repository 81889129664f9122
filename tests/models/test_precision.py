"""Precision: --precision {auto,fp32,fp16,bf16}, the CPU's bf16 detection (stubbed here), and
bf16 under autocast where it pays with fp32 where it matters."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models import device as devices
from models.config import ProPainterConfig
from models.errors import DeviceError, InputError
from models.pipeline import FramesReady, ProPainterPipeline
from models.raft import flow_pairs
from tests.models.parity import load_networks


@pytest.fixture
def detect(monkeypatch):
    """The detection with its inputs stubbed: set(flags=..., capability=..., onednn=...)."""
    monkeypatch.delenv(devices.CPU_BF16_ENV, raising=False)
    monkeypatch.setattr(devices, "_CPU_BF16", None)
    state = {"flags": {"avx512f", "amx_bf16", "avx512_bf16"}, "capability": "AVX512", "onednn": True}
    monkeypatch.setattr(devices, "_cpu_flags", lambda: set(state["flags"]))
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: state["capability"])
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: state["onednn"], raising=False)

    def run(**changes):
        state.update(changes)
        monkeypatch.setattr(devices, "_CPU_BF16", None)
        return devices.cpu_bf16_fast()

    return run


def test_bf16_is_detected_by_capability_not_by_name(detect):
    assert detect() is True
    assert detect(flags={"avx512f", "avx512_bf16"}) is True  # AVX-512 BF16 without AMX
    assert detect(flags={"avx512f", "amx_bf16"}) is True
    assert detect(flags={"avx2", "fma"}) is False  # no bf16 instructions
    assert detect(flags={"amx_bf16"}, capability="AVX2") is False  # kernels not built for it
    assert detect(flags={"amx_bf16"}, capability="AVX512", onednn=False) is False
    assert detect(flags=set(), capability="DEFAULT") is False  # no /proc/cpuinfo (macOS, Windows)


def test_the_detection_is_cached_and_the_environment_overrides_it(detect, monkeypatch):
    assert detect() is True
    monkeypatch.setattr(devices, "_cpu_flags", lambda: set())
    assert devices.cpu_bf16_fast() is True  # cached
    monkeypatch.setenv(devices.CPU_BF16_ENV, "0")
    assert devices.cpu_bf16_fast() is False
    monkeypatch.setenv(devices.CPU_BF16_ENV, "1")
    assert devices.cpu_bf16_fast() is True


@pytest.mark.parametrize("fast_cpu", [True, False])
def test_auto_is_fp16_on_cuda_bf16_on_a_fast_cpu_fp32_otherwise(detect, fast_cpu):
    detect(flags={"amx_bf16"} if fast_cpu else {"avx2"})
    r = devices.resolve_precision
    assert r("cuda:0") == r("cuda", None) == "fp16"
    assert r("cpu") == r("cpu", None) == ("bf16" if fast_cpu else "fp32")
    assert r("mps") == "fp32"
    assert r("cpu", "fp32") == r("cuda", "fp32") == "fp32"
    # fp16 only on CUDA (as before); bf16 on CUDA and any CPU; not on MPS
    assert r("cpu", "fp16") == r("mps", "fp16") == "fp32" and r("cuda", "fp16") == "fp16"
    assert r("cpu", "bf16") == r("cuda", "bf16") == "bf16" and r("mps", "bf16") == "fp32"
    assert "fp32" in devices.precision_note("cpu", "fp16") and devices.precision_note("cpu", "bf16") is None
    assert devices.precision_note("mps", "bf16") and devices.precision_note("cuda", "fp16") is None
    with pytest.raises(DeviceError, match="precision"):
        r("cpu", "fp8")


def test_fp16_stays_an_alias_of_precision():
    assert ProPainterConfig().requested_precision() == "auto"
    assert ProPainterConfig(fp16=True).requested_precision() == "fp16"
    assert ProPainterConfig(fp16=False).requested_precision() == "fp32"
    assert ProPainterConfig(precision="bf16").requested_precision() == "bf16"
    assert ProPainterConfig(fp16=True, precision="fp16").requested_precision() == "fp16"
    assert ProPainterConfig(fp16=False, precision="bf16").requested_precision() == "bf16"
    with pytest.raises(InputError, match="contradicts"):
        ProPainterConfig(fp16=True, precision="bf16")
    with pytest.raises(InputError, match="precision"):
        ProPainterConfig(precision="half")


# ----------------------------------------------------------------------------- the numbers


@pytest.fixture(scope="module")
def nets(seeded_weights_dir):
    return load_networks(seeded_weights_dir)


def _clip(n=8, h=64, w=96):
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:h, 0:w]
    frames, masks = [], []
    for i in range(n):
        base = 128 + 60 * np.sin((xx + 2 * i) / 7.0)[..., None] + 40 * np.cos((yy - i) / 5.0)[..., None]
        f = np.clip(base + rng.normal(0, 4, (h, w, 3)), 0, 255).astype(np.uint8)
        m = np.zeros((h, w), np.uint8)
        m[20 + i : 40 + i, 30 + 2 * i : 50 + 2 * i] = 1
        frames.append(f)
        masks.append(m)
    return frames, masks


def _run(nets, precision, **cfg):
    frames, masks = _clip()
    pipe = ProPainterPipeline(*nets, ProPainterConfig(raft_iter=4, neighbor_length=4, ref_stride=3, subvideo_length=6, **cfg),
                              precision=precision)
    out = [f for e in pipe.stream(frames, masks, len(frames)) if isinstance(e, FramesReady) for f in e.frames]
    return np.stack(out), np.stack(masks), pipe


def test_fp32_precision_is_the_default_pipeline_bit_for_bit(nets):
    out, _, pipe = _run(nets, "fp32")
    frames, masks = _clip()
    default = ProPainterPipeline(*nets, ProPainterConfig(raft_iter=4, neighbor_length=4, ref_stride=3, subvideo_length=6))
    ref = np.stack(default(frames, masks))
    assert pipe.fast is None and default.fast is None and np.array_equal(out, ref)
    # the networks' weights stay fp32 whatever the precision
    _run(nets, "bf16")
    assert all(p.dtype == torch.float32 for n in nets for p in n.parameters())


def test_bf16_frames_are_close_to_fp32_inside_the_hole_and_equal_outside(nets):
    from models.processor import dilate

    ref, masks, _ = _run(nets, "fp32")
    out, _, pipe = _run(nets, "bf16")
    assert pipe.precision == "bf16" and pipe.dtype == torch.float32 and pipe.fast == torch.bfloat16
    hole = np.stack([dilate(m, 4) for m in masks]).astype(bool)
    d = np.abs(out.astype(np.int16) - ref.astype(np.int16))
    assert d[~hole].max() == 0  # outside the dilated hole: the source pixels, untouched
    mse = float((d[hole].astype(np.float64) ** 2).mean())
    psnr = 10 * np.log10(255**2 / max(mse, 1e-12))
    assert psnr >= 35, psnr
    assert not np.array_equal(out, ref)  # bf16 really ran


@torch.inference_mode()
def test_raft_in_bf16_keeps_flows_in_fp32_and_close(nets):
    raft = nets[0]
    frames = torch.from_numpy(np.stack(_clip(3)[0])).permute(0, 3, 1, 2).float() / 127.5 - 1
    ff, fb = flow_pairs(raft, frames, 4)
    gf, gb = flow_pairs(raft, frames, 4, fast=torch.bfloat16)
    for a, b in zip(ff + fb, gf + gb):
        assert b.dtype == torch.float32
        assert float((a - b).abs().max()) < 0.5 and not torch.equal(a, b)


def test_the_engine_resolves_auto_by_device(nets, seeded_weights_dir, monkeypatch):
    from models.pipeline import ProPainterEngine

    monkeypatch.setenv(devices.CPU_BF16_ENV, "1")
    assert ProPainterEngine(ProPainterConfig(device="cpu"), seeded_weights_dir).pipeline.precision == "bf16"
    assert ProPainterEngine(ProPainterConfig(device="cpu", fp16=False), seeded_weights_dir).pipeline.precision == "fp32"
    monkeypatch.setenv(devices.CPU_BF16_ENV, "0")
    assert ProPainterEngine(ProPainterConfig(device="cpu"), seeded_weights_dir).pipeline.precision == "fp32"
    assert ProPainterEngine(ProPainterConfig(device="cpu", precision="bf16"), seeded_weights_dir).pipeline.precision == "bf16"


# ----------------------------------------------------------------------------- the model API


def _model_cfg(**changes):
    return ProPainterConfig(raft_iter=4, neighbor_length=4, ref_stride=3, subvideo_length=6, **changes)


def test_the_model_api_takes_the_same_precision(nets, monkeypatch):
    from models import ProPainterForImageInPainting

    monkeypatch.setenv(devices.CPU_BF16_ENV, "0")
    frames, masks = _clip()
    model = ProPainterForImageInPainting(_model_cfg(), *nets)
    assert model.precision == "fp32" and not model.half
    fp32 = model(frames, masks)
    assert fp32.precision == "fp32"
    assert ProPainterForImageInPainting(_model_cfg(precision="fp16"), *nets).precision == "fp32"  # CUDA only
    bf16_model = ProPainterForImageInPainting(_model_cfg(precision="bf16"), *nets)
    assert bf16_model.precision == "bf16"
    bf16 = bf16_model(frames, masks)
    assert bf16.precision == "bf16" and not np.array_equal(bf16.reconstruction, fp32.reconstruction)
    # an option of one call: the same frames as a model made with that precision
    once = model(frames, masks, precision="bf16")
    assert once.precision == "bf16" and np.array_equal(once.reconstruction, bf16.reconstruction)
    assert model.precision == "fp32"  # the model's own config is unchanged
    monkeypatch.setenv(devices.CPU_BF16_ENV, "1")
    assert model.precision == "bf16"  # "auto", resolved at each call: bf16 on a CPU that runs it fast
    assert ProPainterForImageInPainting(_model_cfg(precision="fp32"), *nets).precision == "fp32"


def test_a_precision_replaces_the_older_fp16_instead_of_contradicting_it(nets):
    from models import ProPainterForImageInPainting

    model = ProPainterForImageInPainting(_model_cfg(fp16=False), *nets)
    frames, masks = _clip(4)
    assert model(frames, masks, precision="bf16").precision == "bf16"


def test_from_pretrained_takes_a_precision_and_saves_it(seeded_weights_dir, tmp_path, monkeypatch):
    import json

    from models import ProPainterModel

    monkeypatch.setenv(devices.CPU_BF16_ENV, "0")
    model = ProPainterModel.from_pretrained(seeded_weights_dir, device="cpu", precision="bf16")
    assert model.precision == "bf16" and model.config.precision == "bf16"
    assert ProPainterModel.from_pretrained(seeded_weights_dir, device="cpu").precision == "fp32"
    model.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["precision"] == "bf16"
    assert ProPainterModel.from_pretrained(tmp_path, device="cpu").precision == "bf16"
    # a config.json written before the precision option, with the older fp16
    old = json.loads((tmp_path / "config.json").read_text())
    del old["precision"]
    (tmp_path / "config.json").write_text(json.dumps({**old, "fp16": False}))
    assert ProPainterModel.from_pretrained(tmp_path, device="cpu").precision == "fp32"


@torch.inference_mode()
def test_flow_completion_in_bf16_runs_its_spatial_convolutions_in_bf16_and_stays_close(nets, monkeypatch):
    """With ``fast=bf16`` the encoder's 1xkxk convolutions run as 2-D bf16 convolutions of the
    frames (replicate padding kept) and the decoder under autocast; the completed flows come
    back fp32, close to the fp32 network's, and equal to the flow outside the hole."""
    from models import flow_completion as fc

    net = nets[1]
    rng = np.random.default_rng(3)
    t, h, w = 5, 48, 64
    flows = torch.from_numpy(rng.normal(0, 2, (1, t - 1, 2, h, w)).astype(np.float32))
    masks = torch.zeros(1, t, 1, h, w)
    masks[..., 12:30, 20:44] = 1
    ref = net.complete_one(flows, masks[:, :-1])
    calls = []
    spatial = fc._spatial_conv_fast

    def counted(conv, x, fast):
        calls.append((tuple(conv.kernel_size), conv.padding_mode, fast))
        return spatial(conv, x, fast)

    monkeypatch.setattr(fc, "_spatial_conv_fast", counted)
    out = net.complete_one(flows, masks[:, :-1], fast=torch.bfloat16)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert all(k[0] == 1 and fast == torch.bfloat16 for k, _, fast in calls)
    assert ("replicate" in {mode for _, mode, _ in calls})  # the first layer pads by replication
    outside = masks[:, :-1].expand_as(ref) == 0
    assert torch.equal(out[outside], flows[outside])
    err = (out - ref).abs().max().item()
    assert 0 < err < 0.05 * max(1.0, ref.abs().max().item()), err
    # one convolution alone: the 2-D bf16 route equals the 3-D fp32 one to bf16's precision
    conv = net.downsample[0]
    x = torch.from_numpy(rng.normal(0, 1, (1, 3, 2, h, w)).astype(np.float32))
    assert torch.allclose(spatial(conv, x, torch.bfloat16), conv(x), atol=0.05, rtol=0.02)
