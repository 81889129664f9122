"""ProPainterConfig: every option of the clip algorithm, documented and validated."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import InputError
from .sizes import requested_size, to_grid


@dataclass
class ProPainterConfig:
    """Options of ProPainter inference; defaults are the authors' ``inference_propainter.py``.

    Attributes:
        resize_ratio: scale the clip by this factor before processing (1.0 = as is).
            Default 1.0.
        width, height: explicit processing size (both or neither); takes precedence over
            ``resize_ratio`` like the authors' ``--width/--height``. Default None.
        mask_dilation: iterations of 3x3-cross binary dilation applied to the masks (for
            both the flow-completion mask and the propagation mask). Default 4.
        ref_stride: stride of the reference (non-local) frames. Default 10.
        neighbor_length: length of the local neighbour window; windows start every
            ``neighbor_length // 2`` frames. Default 10.
        subvideo_length: length of the sub-videos that flow completion runs on (and, capped
            at 100, image propagation); also sets the local reference window of long clips.
            The memory planner may lower it. Default 80.
        raft_iter: RAFT refinement iterations. Default 20.
        fp16: half precision for flow completion, propagation and the generator (RAFT
            always runs in fp32). None = automatic: on for CUDA, off elsewhere. Default None.
            The older spelling of ``precision``: True = "fp16", False = "fp32" (used when
            ``precision`` is "auto").
        precision: "auto", "fp32", "fp16" or "bf16" (see :func:`models.device.resolve_precision`):
            auto = fp16 on CUDA, bf16 on a CPU with bf16 instructions, fp32 otherwise.
            Default "auto".
        device: "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:N" or "mps".
            Default "auto".
        mode: "video_inpainting" or "video_outpainting". Default "video_inpainting".
        scale_h, scale_w: canvas scales for outpainting with the authors' rule. Default 1.0
            and 1.2.
        outpaint_output: "canvas" returns the expanded canvas (what an editor wants);
            "input" squashes it back to the input size as the authors' script does.
            Default "canvas".
        short_clip_len: frames per RAFT call; None = the authors' rule by processing width
            (12 up to 640 px, 8 up to 720, 4 up to 1280, else 2). Default None.
        oom_retries: on a CUDA out-of-memory error, halve ``subvideo_length`` and retry this
            many times before giving up. Default 3.
    """

    resize_ratio: float = 1.0
    width: int | None = None
    height: int | None = None
    mask_dilation: int = 4
    ref_stride: int = 10
    neighbor_length: int = 10
    subvideo_length: int = 80
    raft_iter: int = 20
    fp16: bool | None = None
    precision: str = "auto"
    device: str = "auto"
    mode: str = "video_inpainting"
    scale_h: float = 1.0
    scale_w: float = 1.2
    outpaint_output: str = "canvas"
    short_clip_len: int | None = None
    oom_retries: int = 3

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        def positive_int(name: str, minimum: int = 1) -> None:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise InputError(f"{name} must be an integer of at least {minimum}, got {value!r}")

        for name, minimum in (("ref_stride", 1), ("neighbor_length", 2), ("subvideo_length", 2), ("raft_iter", 1),
                              ("mask_dilation", 0), ("oom_retries", 0)):
            positive_int(name, minimum)
        if self.short_clip_len is not None:
            positive_int("short_clip_len", 2)
        if not (isinstance(self.resize_ratio, (int, float)) and 0 < self.resize_ratio <= 8):
            raise InputError(f"resize_ratio must be in (0, 8], got {self.resize_ratio!r}")
        if (self.width is None) != (self.height is None):
            raise InputError("give both width and height for an explicit processing size, or neither")
        for name in ("width", "height"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 8):
                raise InputError(f"{name} must be an integer of at least 8 pixels, got {v!r}")
        if self.mode not in ("video_inpainting", "video_outpainting"):
            raise InputError(f"mode must be 'video_inpainting' or 'video_outpainting', got {self.mode!r}")
        if self.scale_h < 1.0 or self.scale_w < 1.0:
            raise InputError(f"outpainting scales must be at least 1.0, got {self.scale_w}x{self.scale_h}")
        if self.outpaint_output not in ("canvas", "input"):
            raise InputError(f"outpaint_output must be 'canvas' or 'input', got {self.outpaint_output!r}")
        if self.fp16 not in (None, True, False):
            raise InputError(f"fp16 must be True, False or None (automatic), got {self.fp16!r}")
        if self.precision not in ("auto", "fp32", "fp16", "bf16"):
            raise InputError(f"precision must be auto, fp32, fp16 or bf16, got {self.precision!r}")
        if self.fp16 is not None and self.precision != "auto" and (self.precision == "fp16") != self.fp16:
            raise InputError(f"fp16={self.fp16} contradicts precision={self.precision!r}: give one of them")

    def requested_precision(self) -> str:
        """``precision``, or what the older ``fp16`` asks for when ``precision`` is "auto"."""
        if self.precision != "auto" or self.fp16 is None:
            return self.precision
        return "fp16" if self.fp16 else "fp32"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ProPainterConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown ProPainterConfig option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**data)

    def processing_size(self, width: int, height: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """((proc_w, proc_h), (out_w, out_h)) for a ``width`` x ``height`` input, the authors' way
        (the rule of :mod:`models.sizes`): the requested size (explicit, or scaled by
        ``resize_ratio``) rounded down to multiples of 8 for processing; the output has the
        requested size."""
        explicit = (self.width, self.height) if self.width is not None and self.height is not None else None
        w, h = requested_size(width, height, size=explicit, scale=self.resize_ratio)
        return to_grid(w, h), (w, h)

    def raft_clip_length(self, proc_width: int) -> int:
        if self.short_clip_len is not None:
            return self.short_clip_len
        if proc_width <= 640:
            return 12
        if proc_width <= 720:
            return 8
        if proc_width <= 1280:
            return 4
        return 2
