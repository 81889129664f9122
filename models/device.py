"""Device and precision policy: which device runs the networks, fp16 or fp32, free memory.

* ``resolve_device("auto")`` picks CUDA, then MPS, then the CPU; naming a device that is not
  there ("cuda" on a machine without a usable GPU, "cuda:3" with two GPUs, "mps" off Apple
  silicon) raises :class:`DeviceError` instead of falling back silently.
* Precision (:func:`resolve_precision`): "auto" is fp16 on CUDA, bf16 on a CPU that has
  bf16 instructions (AMX or AVX-512 BF16, detected by capability), fp32 otherwise.
* fp16 follows the authors: half precision for flow completion and the generator on CUDA by
  default, fp32 elsewhere. **fp16 asked for on a CPU or MPS device falls back to fp32** (as
  the authors' script does on CPU: half-precision convolutions there are slow or missing);
  :func:`fp16_note` gives the sentence to show the user.
* ``trim_heap()`` hands memory the process freed back to the system (glibc's
  ``malloc_trim``); the pipeline calls it between chunks so that the CPU's resident memory
  follows what is really in use instead of glibc's high-water mark.
* ``free_memory_bytes`` is what a job may use: CUDA free memory plus what PyTorch's caching
  allocator holds but does not use; system RAM available (``MemAvailable``, capped by a
  cgroup limit) on the CPU and on MPS, whose memory is the system's.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

from .errors import DeviceError

T = TypeVar("T")

log = logging.getLogger(__name__)

_MALLOC_TRIM = None  # glibc's malloc_trim, looked up on first use (False where there is none)


def trim_heap() -> bool:
    """Return freed heap memory to the operating system where the C library can (glibc);
    True when it did. Costs about a millisecond; a no-op on macOS, Windows and musl."""
    global _MALLOC_TRIM
    if _MALLOC_TRIM is None:
        _MALLOC_TRIM = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                _MALLOC_TRIM = ctypes.CDLL("libc.so.6").malloc_trim
            except (OSError, AttributeError):
                pass
    return bool(_MALLOC_TRIM and _MALLOC_TRIM(0))


def trim_heap_on_cpu(x: torch.Tensor) -> None:
    """:func:`trim_heap` when ``x`` lives on the CPU, between the steps of a network: each
    step's temporaries differ in size from call to call, and glibc's heap otherwise keeps
    freed pieces it cannot reuse resident (about 150 MB of a 432x240 transformer window's
    peak). Skipped on a GPU, where the host heap is small and a stall would idle the device."""
    if x.device.type == "cpu":
        trim_heap()


_NAME = re.compile(r"^(auto|cpu|mps|cuda)(?::(\d+))?$")


def run_split(calls: list[Callable[[], T]], device: torch.device | str = "cpu") -> list[T]:
    """Run independent torch computations side by side, each with an equal share of the
    intra-op threads, and return their results in order.

    On a CPU with several threads this keeps the cores busier than running them one after
    the other with all threads (their many small operations parallelise poorly); the
    numbers are the same. Elsewhere, or with one thread, they run one after the other.
    The caller's grad and inference modes apply in every thread.
    """
    threads = torch.get_num_threads()
    if len(calls) < 2 or torch.device(device).type != "cpu" or threads < 2:
        return [c() for c in calls]
    inference, grad = torch.is_inference_mode_enabled(), torch.is_grad_enabled()

    def run(call: Callable[[], T]) -> T:
        with torch.inference_mode(inference), torch.set_grad_enabled(grad):
            return call()

    torch.set_num_threads(max(1, threads // len(calls)))
    try:
        # A fresh pool: its threads take the thread count set just above.
        with ThreadPoolExecutor(len(calls) - 1) as pool:
            futures = [pool.submit(run, c) for c in calls[1:]]
            first = calls[0]()
            return [first] + [f.result() for f in futures]
    finally:
        torch.set_num_threads(threads)


def _cuda_count() -> int:
    try:
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # a broken driver reports itself as "no CUDA"
        return 0


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    try:
        return bool(mps is not None and mps.is_available())
    except Exception:
        return False


def available_devices() -> list[str]:
    """Usable device names in order of preference, e.g. ``["cuda:0", "cuda:1", "mps", "cpu"]``."""
    names = [f"cuda:{i}" for i in range(_cuda_count())]
    if _mps_available():
        names.append("mps")
    names.append("cpu")
    return names


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/None -> cuda:0, else mps, else cpu; an explicit name must be available.

    Accepts "auto", "cpu", "mps", "cuda", "cuda:N" or a :class:`torch.device`.
    """
    if isinstance(name, torch.device):
        name = str(name)
    text = (name or "auto").strip().lower()
    m = _NAME.match(text)
    if not m or (m.group(2) is not None and m.group(1) != "cuda"):
        raise DeviceError(
            f"Unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps "
            f"(available here: {', '.join(available_devices())})."
        )
    kind, index = m.group(1), m.group(2)
    if kind == "auto":
        if _cuda_count():
            return torch.device("cuda", 0)
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "mps":
        if not _mps_available():
            raise DeviceError(
                "Device mps was asked for but is not available (it needs Apple silicon and a "
                "PyTorch build with MPS): use --device cpu or auto."
            )
        return torch.device("mps")
    count = _cuda_count()
    if count == 0:
        raise DeviceError(
            f"Device {text} was asked for but CUDA is not available (no NVIDIA GPU or driver, "
            f"or a CPU-only PyTorch build): use --device cpu or auto."
        )
    i = int(index or 0)
    if i >= count:
        raise DeviceError(
            f"Device {text} was asked for but this machine has {count} CUDA device(s) "
            f"(cuda:0 to cuda:{count - 1}): pick one of those or auto."
        )
    return torch.device("cuda", i)


def use_fp16(device: torch.device | str, fp16: bool | None = None) -> bool:
    """Whether to run flow completion and the generator in half precision on ``device``.

    None (auto) = True on CUDA, False elsewhere. True on a non-CUDA device falls back to
    False with a logged note (see :func:`fp16_note`); False is always honoured.
    """
    device = torch.device(device)
    if fp16 is None:
        return device.type == "cuda"
    if fp16 and device.type != "cuda":
        log.info(fp16_note(device, fp16))
        return False
    return bool(fp16)


def fp16_note(device: torch.device | str, fp16: bool | None) -> str | None:
    """A sentence for the user when the fp16 request is not honoured on ``device``, else None."""
    device = torch.device(device)
    if fp16 and device.type != "cuda":
        return f"fp16 is only used on CUDA; running in fp32 on {device.type}."
    return None


def compute_dtype(device: torch.device | str, fp16: bool | None = None) -> torch.dtype:
    """``torch.float16`` when :func:`use_fp16` says so, else ``torch.float32``."""
    return torch.float16 if use_fp16(device, fp16) else torch.float32


# --------------------------------------------------------------------------- precision

#: The precision choices: "auto" = fp16 on CUDA, bf16 on a CPU that computes it in hardware,
#: fp32 otherwise.
PRECISIONS = ("auto", "fp32", "fp16", "bf16")

#: Set to 1 or 0 to override the detection of a CPU's fast bf16 (tests, or a user who knows).
CPU_BF16_ENV = "PROPAINTER_CPU_BF16"

_CPU_BF16: bool | None = None  # the detection's result, computed once


def _cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (Linux); empty where there is none."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _detect_cpu_bf16() -> bool:
    """Whether this CPU runs bf16 matrix products in hardware and PyTorch's oneDNN uses it:
    the AMX or AVX-512 BF16 instructions in the CPU's flags, an AVX-512 build of PyTorch's CPU
    kernels, and oneDNN's own bf16 check. By capability, never by the CPU's name."""
    try:
        if not torch.backends.mkldnn.is_available():
            return False
        capability = torch.backends.cpu.get_cpu_capability()
    except Exception:  # an old or unusual build
        return False
    if "AVX512" not in capability.upper() and "AMX" not in capability.upper():
        return False
    if not _cpu_flags() & {"amx_bf16", "avx512_bf16"}:
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:
        return False


def cpu_bf16_fast() -> bool:
    """True when bf16 pays on this CPU (see :func:`_detect_cpu_bf16`; cached). The environment
    variable ``PROPAINTER_CPU_BF16`` (1 or 0) overrides the detection."""
    global _CPU_BF16
    forced = os.environ.get(CPU_BF16_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if _CPU_BF16 is None:
        _CPU_BF16 = _detect_cpu_bf16()
    return _CPU_BF16


def resolve_precision(device: torch.device | str, precision: str | None = "auto") -> str:
    """The precision a run uses on ``device``: "fp32", "fp16" or "bf16".

    * "auto"/None: fp16 on CUDA (as the authors), bf16 on a CPU with fast bf16
      (:func:`cpu_bf16_fast`), fp32 elsewhere.
    * "fp16" off CUDA falls back to fp32 (half-precision convolutions are slow or missing on a
      CPU or MPS); "bf16" on MPS falls back to fp32. :func:`precision_note` says so.
    * "bf16" is honoured on CUDA and on any CPU (slow where the CPU lacks bf16 instructions).

    fp16 converts flow completion and the generator to float16 (the authors' ``--fp16``);
    bf16 keeps the weights in fp32 and runs the convolutions and matrix products of RAFT's
    encoders and update block and of the generator under ``torch.autocast`` (the correlation
    volume, sampling coordinates, accumulated flows and flow completion stay fp32).
    """
    device = torch.device(device)
    p = "auto" if precision is None else str(precision).lower()
    if p not in PRECISIONS:
        raise DeviceError(f"Unknown precision {precision!r}: use {', '.join(PRECISIONS)}.")
    if p == "auto":
        if device.type == "cuda":
            return "fp16"
        return "bf16" if device.type == "cpu" and cpu_bf16_fast() else "fp32"
    if p == "fp16" and device.type != "cuda":
        log.info(precision_note(device, p))
        return "fp32"
    if p == "bf16" and device.type not in ("cuda", "cpu"):
        log.info(precision_note(device, p))
        return "fp32"
    return p


def precision_note(device: torch.device | str, precision: str | None) -> str | None:
    """A sentence for the user when ``precision`` is not honoured on ``device``, else None."""
    device = torch.device(device)
    if precision == "fp16" and device.type != "cuda":
        alt = " (bf16 is: --precision bf16)" if device.type == "cpu" else ""
        return f"fp16 is only used on CUDA; running in fp32 on {device.type}{alt}."
    if precision == "bf16" and device.type not in ("cuda", "cpu"):
        return f"bf16 is used on CUDA and the CPU only; running in fp32 on {device.type}."
    return None


def half_memory(device: torch.device | str, precision: str) -> bool:
    """Whether a run in the resolved ``precision`` on ``device`` takes the memory table's
    half-precision column: fp16, and bf16 on CUDA (2-byte activations on the GPU). bf16 on
    the CPU keeps fp32 weights and fp32 flows and completes them in fp32: the fp32 column,
    a bound from above."""
    return precision == "fp16" or (precision == "bf16" and torch.device(device).type == "cuda")


def precision_choice_text(device: torch.device | str) -> str:
    """What "auto" picks on ``device`` and why, in one sentence for a tooltip or a help line."""
    device = torch.device(device)
    picked = resolve_precision(device, "auto")
    forced = os.environ.get(CPU_BF16_ENV, "").strip()
    if device.type == "cuda":
        why = "half precision on CUDA, as the authors"
    elif device.type == "cpu" and forced in ("0", "1"):
        why = f"{CPU_BF16_ENV}={forced} says whether this CPU runs bf16 fast"
    elif device.type == "cpu" and picked == "bf16":
        why = "this CPU computes bf16 in hardware (AMX or AVX-512 BF16)"
    elif device.type == "cpu":
        why = "this CPU has no bf16 instructions (AMX or AVX-512 BF16)"
    else:
        why = f"half precision is not used on {device.type}"
    return f"Automatic picks {picked} on {device.type}: {why}."


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The dtype the fast stages autocast to for a resolved ``precision`` (None: no autocast)."""
    return torch.bfloat16 if precision == "bf16" else None


def describe(device: torch.device | str) -> str:
    """A short human name, e.g. "cuda:0 (NVIDIA H100 80GB HBM3, 79.2 GiB)" or "cpu"."""
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index or 0
        try:
            props = torch.cuda.get_device_properties(index)
            return f"cuda:{index} ({props.name}, {props.total_memory / 2**30:.1f} GiB)"
        except Exception:
            return f"cuda:{index}"
    return device.type


# --------------------------------------------------------------------------- memory


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_headroom() -> int | None:
    """Bytes left under a cgroup v2 memory limit (containers), or None when unlimited."""
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as f:
            limit = f.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as f:
            current = int(f.read().strip())
        return max(0, int(limit) - current)
    except (OSError, ValueError):
        return None


def _windows_available() -> int | None:
    import ctypes

    class _Status(ctypes.Structure):
        _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
                    ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
                    ("ullTotalPageFile", ctypes.c_ulonglong), ("ullAvailPageFile", ctypes.c_ulonglong),
                    ("ullTotalVirtual", ctypes.c_ulonglong), ("ullAvailVirtual", ctypes.c_ulonglong),
                    ("ullAvailExtendedVirtual", ctypes.c_ulonglong)]

    status = _Status()
    status.dwLength = ctypes.sizeof(_Status)
    if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
        return int(status.ullAvailPhys)
    return None


def system_available_bytes() -> int:
    """RAM available to a new allocation without swapping (best estimate this OS offers)."""
    available = _meminfo_available()
    if available is None and sys.platform == "win32":
        available = _windows_available()
    if available is None:
        try:  # Linux without /proc, some BSDs; macOS lacks SC_AVPHYS_PAGES
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            available = None
    if available is None:
        try:  # last resort: half the physical memory
            available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
        except (ValueError, OSError, AttributeError):
            available = 4 * 2**30
    headroom = _cgroup_headroom()
    return min(available, headroom) if headroom is not None else available


def free_memory_bytes(device: torch.device | str) -> int:
    """Bytes a job may still allocate on ``device``.

    CUDA: ``torch.cuda.mem_get_info`` free memory plus the caching allocator's reserved but
    unused bytes (they are free to PyTorch, not to the driver). CPU and MPS: available RAM.
    """
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else 0
        free, _total = torch.cuda.mem_get_info(index)
        cached = max(0, torch.cuda.memory_reserved(index) - torch.cuda.memory_allocated(index))
        return int(free + cached)
    return int(system_available_bytes())


def total_memory_bytes(device: torch.device | str) -> int | None:
    """The device's total memory (CUDA), or None where it is shared with the system."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device.index if device.index is not None else 0)[1])
    return None


_OOM_TEXT = ("out of memory", "can't allocate memory", "cannot allocate memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a CUDA/MPS/CPU allocation failure (the pipeline then halves the sub-video)."""
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    if isinstance(exc, MemoryError):
        return True
    if isinstance(exc, RuntimeError):
        text = str(exc).lower()
        return any(t in text for t in _OOM_TEXT)
    return False


def release_cached_memory(device: torch.device | str) -> None:
    """Give the caching allocator's unused blocks back (after an out-of-memory error)."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        empty = getattr(getattr(torch, "mps", None), "empty_cache", None)
        if empty is not None:
            empty()
