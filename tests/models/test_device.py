"""Device and precision policy, with CUDA and MPS simulated by monkeypatching torch."""

from __future__ import annotations

import os
import sys

import pytest
import torch

from models import device as dev
from models.errors import DeviceError


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, no_gpu):
    assert dev.resolve_device("auto") == torch.device("cpu")
    assert dev.resolve_device(None) == torch.device("cpu")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert dev.resolve_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert dev.resolve_device("AUTO") == torch.device("cuda", 0)


def test_explicit_devices(two_gpus):
    assert dev.resolve_device("cpu") == torch.device("cpu")
    assert dev.resolve_device("cuda") == torch.device("cuda", 0)
    assert dev.resolve_device("cuda:1") == torch.device("cuda", 1)
    assert dev.resolve_device(torch.device("cuda", 1)) == torch.device("cuda", 1)
    assert dev.available_devices() == ["cuda:0", "cuda:1", "cpu"]


def test_unavailable_cuda_is_an_error_not_a_fallback(no_gpu):
    with pytest.raises(DeviceError, match=r"Device cuda was asked for but CUDA is not available.*--device cpu"):
        dev.resolve_device("cuda")
    assert dev.available_devices() == ["cpu"]


def test_cuda_index_out_of_range(two_gpus):
    with pytest.raises(DeviceError, match=r"cuda:2 .* 2 CUDA device\(s\) \(cuda:0 to cuda:1\)"):
        dev.resolve_device("cuda:2")


def test_unavailable_mps(no_gpu):
    with pytest.raises(DeviceError, match="mps was asked for but is not available"):
        dev.resolve_device("mps")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "cpu:1", "mps:0", ""])
def test_unknown_names(no_gpu, name):
    if name == "":  # empty means auto
        assert dev.resolve_device(name) == torch.device("cpu")
        return
    with pytest.raises(DeviceError, match=r"Unknown device .*use auto, cpu, cuda, cuda:N or mps"):
        dev.resolve_device(name)


def test_broken_driver_counts_as_no_cuda(monkeypatch):
    def boom():
        raise RuntimeError("CUDA driver initialization failed")

    monkeypatch.setattr(torch.cuda, "is_available", boom)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert dev.resolve_device("auto") == torch.device("cpu")


def test_fp16_policy():
    cuda, cpu, mps = torch.device("cuda", 0), torch.device("cpu"), torch.device("mps")
    assert dev.use_fp16(cuda, None) is True
    assert dev.use_fp16(cuda, False) is False
    assert dev.use_fp16(cpu, None) is False and dev.use_fp16(mps, None) is False
    assert dev.use_fp16(cpu, True) is False  # falls back, as the authors do on CPU
    assert dev.use_fp16("mps", True) is False
    assert dev.fp16_note(cpu, True) == "fp16 is only used on CUDA; running in fp32 on cpu."
    assert dev.fp16_note(cuda, True) is None and dev.fp16_note(cpu, None) is None
    assert dev.compute_dtype(cuda) is torch.float16 and dev.compute_dtype(cpu, True) is torch.float32


def test_cuda_free_memory_counts_the_allocator_cache(monkeypatch):
    seen = []
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda i: seen.append(i) or (6 * 2**30, 80 * 2**30))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda i: 3 * 2**30)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda i: 1 * 2**30)
    assert dev.free_memory_bytes(torch.device("cuda", 1)) == 8 * 2**30
    assert dev.free_memory_bytes("cuda") == 8 * 2**30
    assert seen == [1, 0]
    assert dev.total_memory_bytes("cuda:0") == 80 * 2**30
    assert dev.total_memory_bytes("cpu") is None


def test_cpu_and_mps_free_memory_is_system_ram(monkeypatch):
    free = dev.free_memory_bytes("cpu")
    assert 0 < free < 2**50
    monkeypatch.setattr(dev, "system_available_bytes", lambda: 12345)
    assert dev.free_memory_bytes("cpu") == 12345 and dev.free_memory_bytes("mps") == 12345


def test_meminfo_is_read_when_present(monkeypatch):
    monkeypatch.setattr(dev, "_meminfo_available", lambda: 5 * 2**30)
    monkeypatch.setattr(dev, "_cgroup_headroom", lambda: None)
    assert dev.system_available_bytes() == 5 * 2**30
    monkeypatch.setattr(dev, "_cgroup_headroom", lambda: 2**30)  # a container limit wins
    assert dev.system_available_bytes() == 2**30


def test_out_of_memory_detection():
    assert dev.is_out_of_memory(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert dev.is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert dev.is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 9 GB)"))
    assert dev.is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate"))
    assert dev.is_out_of_memory(MemoryError())
    assert not dev.is_out_of_memory(RuntimeError("shape mismatch"))
    assert not dev.is_out_of_memory(ValueError("out of memory"))  # not an allocator error type


def test_injected_oom_is_recognised_when_raised_by_code(monkeypatch):
    def allocate(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory.")

    monkeypatch.setattr(torch, "empty", allocate)
    with pytest.raises(Exception) as info:
        torch.empty(10)
    assert dev.is_out_of_memory(info.value)


def test_release_cached_memory(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append("cuda"))
    dev.release_cached_memory("cuda:0")
    dev.release_cached_memory("cpu")
    assert calls == ["cuda"]


def test_describe(monkeypatch):
    class Props:
        name = "Fake GPU"
        total_memory = 8 * 2**30

    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: Props())
    assert dev.describe("cuda:0") == "cuda:0 (Fake GPU, 8.0 GiB)"
    assert dev.describe("cpu") == "cpu"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_trim_heap_gives_freed_memory_back_to_the_system():
    """Memory freed in the middle of the heap stays resident until trimmed (what made the
    pipeline's resident memory follow its high-water mark)."""
    def rss_mib() -> float:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    blocks = [bytearray(60_000) for _ in range(3000)]  # ~170 MiB of heap, under the mmap threshold
    keep = bytearray(100_000)  # allocated last: the heap's top cannot shrink past it
    del blocks
    before = rss_mib()
    assert dev.trim_heap() is True
    assert before - rss_mib() > 100
    del keep


def test_networks_trim_the_heap_between_steps_on_the_cpu_only(monkeypatch):
    """The networks hand freed memory back between their steps on the CPU; on a GPU (here
    the meta device stands in for one) they do not stall the host for it."""
    calls = []
    monkeypatch.setattr(dev, "trim_heap", lambda: calls.append(1) or True)
    dev.trim_heap_on_cpu(torch.zeros(2))
    assert calls == [1]
    dev.trim_heap_on_cpu(torch.zeros(2, device="meta"))
    assert calls == [1]

    from models.transformer import TemporalSparseTransformer

    layer = TemporalSparseTransformer(32, 2, (5, 9), (4, 4)).eval()
    size = (12, 18)  # a feature map whose soft split gives a 4x6 token grid
    x = torch.randn(1, 2, 4, 6, 32)
    with torch.inference_mode():
        layer(x, size, torch.zeros(1, 2, 4, 6, 1), torch.arange(2))
    assert len(calls) == 2  # once, after the layer


def test_run_split_runs_side_by_side_with_a_share_of_the_threads_and_restores_them():
    from models.device import run_split

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen = []

        def work(k):
            def call():
                seen.append((torch.get_num_threads(), torch.is_inference_mode_enabled()))
                return torch.full((2,), float(k)) * 2
            return call

        with torch.inference_mode():
            out = run_split([work(1), work(2)])
        assert [o.tolist() for o in out] == [[2.0, 2.0], [4.0, 4.0]]  # in order
        assert seen and all(n == 1 and inf for n, inf in seen)  # half the threads each, caller's mode
        assert torch.get_num_threads() == 2

        def boom():
            raise RuntimeError("worker failed")

        with pytest.raises(RuntimeError, match="worker failed"):
            run_split([work(1), boom])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    # One thread, or not a CPU: one after the other, in the calling thread.
    torch.set_num_threads(1)
    try:
        assert [o.tolist() for o in run_split([work(3), work(4)])] == [[6.0, 6.0], [8.0, 8.0]]
    finally:
        torch.set_num_threads(threads)
