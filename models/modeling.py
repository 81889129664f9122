"""The Hugging Face style API: ProPainterModel and the in/outpainting task classes.

    from models import ProPainterConfig, ProPainterForImageInPainting
    model = ProPainterForImageInPainting.from_pretrained("weights/", precision="bf16")
    out = model(frames, masks)          # frames: list of HxWx3 uint8, masks: HxW
    out.reconstruction                  # BxTxHxWx3 uint8
    out = model(frames, masks, precision="fp32")   # any config option for one call

The precision is the config's (``precision``: "auto", "fp32", "fp16" or "bf16", as the CLI's
``--precision``; the older ``fp16`` True/False still reads as "fp16"/"fp32"), resolved for
the model's device by :func:`models.device.resolve_precision` at each call: auto = fp16 on
CUDA, bf16 on a CPU with bf16 instructions, fp32 otherwise; ``model.precision`` says which.

``from_pretrained(directory)`` reads the three released checkpoint files from a folder
(through :mod:`models.weights`: ``weights_only`` loading, strict key/shape check, hash
recorded on first use); ``save_pretrained(directory)`` writes them back in the released
formats, plus ``config.json``. This module never downloads anything.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .canvas import plan_canvas
from .config import ProPainterConfig
from .errors import InputError
from .events import FramesReady
from .flow_completion import RecurrentFlowCompleteNet
from .pipeline import ProPainterPipeline
from .processor import ProPainterImageProcessor, resize_frame, to_uint8_frame
from .propainter import InpaintGenerator
from .raft import RAFT

CHECKPOINTS = (("raft", "raft-things.pth", "module."), ("flow_completion", "recurrent_flow_completion.pth", ""),
               ("propainter", "ProPainter.pth", ""))


@dataclass
class ProPainterOutput:
    """``reconstruction``: BxTxHxWx3 uint8 (output size); ``pred_flows_forward`` /
    ``pred_flows_backward``: Bx(T-1)x2xhxw completed flows at the processing size (pixels);
    ``precision``: the one the run used ("fp32", "fp16" or "bf16")."""

    reconstruction: np.ndarray
    pred_flows_forward: torch.Tensor | None = None
    pred_flows_backward: torch.Tensor | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    precision: str = "fp32"


class ProPainterModel:
    """The three networks plus the clip algorithm. ``forward`` takes preprocessed tensors."""

    def __init__(self, config: ProPainterConfig | None = None, raft: RAFT | None = None,
                 flow_completion: RecurrentFlowCompleteNet | None = None, generator: InpaintGenerator | None = None) -> None:
        self.config = config or ProPainterConfig()
        self.raft = raft or RAFT()
        self.flow_completion = flow_completion or RecurrentFlowCompleteNet()
        self.generator = generator or InpaintGenerator()
        self.device = torch.device("cpu")

    @property
    def precision(self) -> str:
        """"fp32", "fp16" or "bf16": what the config asks for, as this model's device runs it."""
        return self._precision(self.config)

    @property
    def half(self) -> bool:
        """Whether flow completion and the generator run in float16 (the older name)."""
        return self.precision == "fp16"

    def _precision(self, config: ProPainterConfig) -> str:
        from .device import resolve_precision

        return resolve_precision(self.device, config.requested_precision())

    # ---- loading and saving ----
    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, config: ProPainterConfig | None = None,
                        device: str | torch.device | None = None, precision: str | None = None) -> "ProPainterModel":
        """The networks from a folder of the three checkpoints, with ``config`` (default: the
        folder's ``config.json``, else the defaults). ``device`` and ``precision`` ("auto",
        "fp32", "fp16", "bf16"), when given, replace the config's."""
        from .device import resolve_device
        from .weights import load_checkpoint

        directory = Path(directory).expanduser()
        if config is None:
            cfg_path = directory / "config.json"
            config = ProPainterConfig.from_dict(json.loads(cfg_path.read_text())) if cfg_path.is_file() else ProPainterConfig()
        if precision is not None:
            config = ProPainterConfig.from_dict(_with_options(config, {"precision": precision}))
        model = cls(config)
        for (name, _, _), net in zip(CHECKPOINTS, (model.raft, model.flow_completion, model.generator)):
            load_checkpoint(name, net, directory, map_location="cpu")
        model.to(resolve_device(device or config.device))
        return model

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for (_, file_name, prefix), net in zip(CHECKPOINTS, (self.raft, self.flow_completion, self.generator)):
            sd = {prefix + k: v.detach().float().cpu() if v.is_floating_point() else v.cpu() for k, v in net.state_dict().items()}
            tmp = directory / (file_name + ".part")
            torch.save(sd, tmp)
            os.replace(tmp, directory / file_name)
        (directory / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2))

    def to(self, device: str | torch.device) -> "ProPainterModel":
        self.device = torch.device(device)
        return self

    def eval(self) -> "ProPainterModel":
        return self

    # ---- inference ----
    def pipeline(self, config: ProPainterConfig | None = None) -> ProPainterPipeline:
        """The clip algorithm over these networks, in ``config``'s precision on this device."""
        config = config or self.config
        return ProPainterPipeline(self.raft, self.flow_completion, self.generator, config, self.device,
                                  precision=self._precision(config))

    def forward(self, pixel_values_videos: torch.Tensor, flow_masks: torch.Tensor, masks_dilated: torch.Tensor,
                out_size: tuple[int, int] | None = None, return_flows: bool = True) -> ProPainterOutput:
        """Run the clip algorithm on preprocessed tensors.

        ``pixel_values_videos``: BxTx3xHxW in [-1, 1] (H, W multiples of 8);
        ``flow_masks``, ``masks_dilated``: BxTx1xHxW (1 = hole), used as given. Returns the
        composited frames, resized to ``out_size`` (w, h) when given.
        """
        if pixel_values_videos.dim() != 5 or pixel_values_videos.shape[2] != 3:
            raise InputError(f"pixel_values_videos must be BxTx3xHxW, got {tuple(pixel_values_videos.shape)}")
        b, t, _, h, w = pixel_values_videos.shape
        for name, m in (("flow_masks", flow_masks), ("masks_dilated", masks_dilated)):
            if tuple(m.shape) != (b, t, 1, h, w):
                raise InputError(f"{name} must have shape {(b, t, 1, h, w)}, got {tuple(m.shape)}")
        if h % 8 or w % 8:
            raise InputError(f"frames must have sides that are multiples of 8 (use the processor), got {w}x{h}")
        cfg = ProPainterConfig.from_dict({**self.config.to_dict(), "mode": "video_inpainting", "resize_ratio": 1.0,
                                          "width": None, "height": None})
        pipe = self.pipeline(cfg)
        recon, flows_f, flows_b = [], [], []
        for bi in range(b):
            frames = ((pixel_values_videos[bi].detach().float().cpu() + 1) / 2 * 255).round().clamp(0, 255).to(torch.uint8)
            frames = frames.permute(0, 2, 3, 1).numpy()
            md = masks_dilated[bi, :, 0].detach().cpu().numpy()
            fm = flow_masks[bi, :, 0].detach().cpu().numpy()
            pipe.collected_flows = {} if return_flows else None
            out: list[np.ndarray] = []
            for ev in pipe.stream(list(frames), list(md), t, flow_masks=list(fm)):
                if isinstance(ev, FramesReady):
                    out.extend(ev.frames)
            recon.append(ProPainterImageProcessor.postprocess(np.stack(out), out_size))
            if return_flows and t > 1:
                flows_f.append(torch.stack([pipe.collected_flows[i][0] for i in range(t - 1)]))
                flows_b.append(torch.stack([pipe.collected_flows[i][1] for i in range(t - 1)]))
        return ProPainterOutput(
            np.stack(recon),
            torch.stack(flows_f) if flows_f else None,
            torch.stack(flows_b) if flows_b else None,
            seconds=vars(pipe.times).copy(),
            precision=pipe.precision,
        )

    __call__ = forward


class ProPainterForImageInPainting(ProPainterModel):
    """Object/watermark removal: frames + masks in, inpainted frames (input size) out."""

    def __call__(self, videos: Any, masks: Any, **overrides: Any) -> ProPainterOutput:  # type: ignore[override]
        config = ProPainterConfig.from_dict({**_with_options(self.config, overrides), "mode": "video_inpainting"})
        proc = ProPainterImageProcessor(config).preprocess(videos, masks)
        saved, self.config = self.config, config
        try:
            return self.forward(proc["pixel_values_videos"], proc["flow_masks"], proc["masks_dilated"],
                                out_size=proc["geometry"].out_size)
        finally:
            self.config = saved


class ProPainterForImageOutPainting(ProPainterModel):
    """Canvas expansion: frames in, frames on a larger canvas out. Give ``scale_w``/``scale_h``
    (the authors' way), a target ``size`` (w, h) or an ``aspect`` ("16:9"); the canvas and
    its masks are built here. ``outpaint_output="input"`` squashes back like the authors."""

    def __call__(self, videos: Any, scale_w: float | None = None, scale_h: float | None = None,  # type: ignore[override]
                 size: tuple[int, int] | None = None, aspect: str | Fraction | None = None, **overrides: Any) -> ProPainterOutput:
        config = ProPainterConfig.from_dict(_with_options(self.config, overrides))
        clips = videos if isinstance(videos, (list, tuple)) and videos and np.ndim(videos[0]) == 4 else [videos]
        outs = []
        for clip in clips:
            frames = [to_uint8_frame(f) for f in clip]
            if not frames:
                raise InputError("a video needs at least one frame")
            (pw, ph), _ = config.processing_size(frames[0].shape[1], frames[0].shape[0])
            if scale_w is None and scale_h is None and size is None and aspect is None:
                scale_w, scale_h = config.scale_w, config.scale_h
            canvas = plan_canvas(ph, pw, scale_h=scale_h, scale_w=scale_w, size=size, aspect=aspect)
            placed = [canvas.place(resize_frame(f, (pw, ph))) for f in frames]
            fm, md = canvas.masks()
            x = torch.from_numpy(np.stack(placed)).permute(0, 3, 1, 2).float()[None] / 255 * 2 - 1
            t = len(frames)
            fmt = torch.from_numpy(fm).float()[None, None, None].expand(1, t, 1, *fm.shape).contiguous()
            mdt = torch.from_numpy(md).float()[None, None, None].expand(1, t, 1, *md.shape).contiguous()
            out_size = (frames[0].shape[1], frames[0].shape[0]) if config.outpaint_output == "input" else (canvas.width, canvas.height)
            saved, self.config = self.config, config
            try:
                outs.append(self.forward(x, fmt, mdt, out_size=out_size))
            finally:
                self.config = saved
        return ProPainterOutput(np.concatenate([o.reconstruction for o in outs]),
                                None if outs[0].pred_flows_forward is None else torch.cat([o.pred_flows_forward for o in outs]),
                                None if outs[0].pred_flows_backward is None else torch.cat([o.pred_flows_backward for o in outs]),
                                precision=outs[0].precision)


def _with_options(config: ProPainterConfig, options: dict[str, Any]) -> dict[str, Any]:
    """``config``'s options with ``options`` on top; a ``precision`` given there replaces the
    config's older ``fp16`` too (instead of contradicting it)."""
    out = {**config.to_dict(), **options}
    if "precision" in options and "fp16" not in options:
        out["fp16"] = None
    return out
