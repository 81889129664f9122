"""ProPainterImageProcessor: frames and masks in, network-ready tensors out, and back.

The per-frame steps follow the authors' loading code exactly, because the reference frames
depend on them: frames are resized with PIL bicubic to the processing size (multiples of 8),
masks with PIL nearest, then each mask is dilated ``mask_dilation`` times with a 3x3 cross
(the flow-completion mask and the propagation mask get the same dilation in inpainting).
For outpainting, the frame is centred on the expanded canvas and the masks come from
:class:`models.canvas.Canvas`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import cv2
import numpy as np
import torch
from PIL import Image

from .canvas import Canvas, plan_canvas
from .config import ProPainterConfig
from .errors import InputError

_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def to_uint8_frame(frame: Any, name: str = "frame") -> np.ndarray:
    """numpy HxWx3 (uint8, or float in [0, 1]), PIL image or 3xHxW/HxWx3 torch tensor ->
    HxWx3 uint8 RGB."""
    if isinstance(frame, Image.Image):
        frame = np.asarray(frame.convert("RGB"))
    elif isinstance(frame, torch.Tensor):
        t = frame.detach().cpu()
        if t.dim() == 3 and t.shape[0] == 3 and t.shape[-1] != 3:
            t = t.permute(1, 2, 0)
        frame = t.numpy()
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4):
        raise InputError(f"{name} must be an HxWx3 RGB image, got an array of shape {frame.shape}")
    frame = frame[..., :3]
    if frame.dtype != np.uint8:
        if np.issubdtype(frame.dtype, np.floating) and frame.size and float(frame.max()) <= 1.0:
            frame = frame * 255.0
        frame = np.clip(frame, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(frame)


def to_binary_mask(mask: Any, name: str = "mask") -> np.ndarray:
    """Any HxW (or HxWx1/3, PIL, tensor) mask -> HxW uint8 with 1 where nonzero (= hole)."""
    if isinstance(mask, Image.Image):
        mask = np.asarray(mask.convert("L"))
    elif isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask.max(axis=2) if mask.shape[2] in (1, 3, 4) else mask.max(axis=0)
    if mask.ndim != 2:
        raise InputError(f"{name} must be an HxW image, got an array of shape {mask.shape}")
    return (mask != 0).astype(np.uint8)


def resize_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """HxWx3 uint8 -> size (w, h) with PIL bicubic (no-op when the size matches)."""
    if (frame.shape[1], frame.shape[0]) == size:
        return frame
    return np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.BICUBIC))


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """HxW 0/1 uint8 -> size (w, h) with PIL nearest."""
    if (mask.shape[1], mask.shape[0]) == size:
        return mask
    return (np.asarray(Image.fromarray(mask * 255).resize(size, Image.Resampling.NEAREST)) != 0).astype(np.uint8)


def dilate(mask: np.ndarray, iterations: int) -> np.ndarray:
    """Binary dilation with a 3x3 cross, ``iterations`` times (scipy's default structure)."""
    if iterations <= 0:
        return mask
    return cv2.dilate(mask, _CROSS, iterations=iterations)


@dataclass(frozen=True)
class FrameGeometry:
    """Sizes of one clip: input (w, h), processing (w, h), output (w, h), optional canvas."""

    input_size: tuple[int, int]
    proc_size: tuple[int, int]
    out_size: tuple[int, int]
    canvas: Canvas | None = None


class ProPainterImageProcessor:
    """Prepares frames and masks for :class:`models.pipeline.ProPainterPipeline`."""

    def __init__(self, config: ProPainterConfig | None = None) -> None:
        self.config = config or ProPainterConfig()

    # ---- per frame (used by the streaming pipeline) ----
    def geometry(self, width: int, height: int) -> FrameGeometry:
        cfg = self.config
        proc, out = cfg.processing_size(width, height)
        if cfg.mode == "video_outpainting":
            canvas = plan_canvas(proc[1], proc[0], scale_h=cfg.scale_h, scale_w=cfg.scale_w)
            out_size = (width, height) if cfg.outpaint_output == "input" else (canvas.width, canvas.height)
            return FrameGeometry((width, height), (canvas.width, canvas.height), out_size, canvas)
        return FrameGeometry((width, height), proc, out)

    def prepare_frame(self, frame: np.ndarray, geom: FrameGeometry) -> np.ndarray:
        """Input frame -> HxWx3 uint8 at the processing size (on the canvas when outpainting)."""
        if (frame.shape[1], frame.shape[0]) != geom.input_size:
            raise InputError(
                f"frame of size {frame.shape[1]}x{frame.shape[0]} does not match the clip size "
                f"{geom.input_size[0]}x{geom.input_size[1]}"
            )
        if geom.canvas is not None:
            inner = (geom.canvas.src_width, geom.canvas.src_height)
            return geom.canvas.place(resize_frame(frame, inner))
        return resize_frame(frame, geom.proc_size)

    def prepare_mask(self, mask: np.ndarray | None, geom: FrameGeometry) -> tuple[np.ndarray, np.ndarray]:
        """Input mask -> (flow_mask, mask_dilated), HxW uint8 0/1 at the processing size."""
        if geom.canvas is not None:
            return geom.canvas.masks()
        if mask is None:
            raise InputError("inpainting needs a mask for every frame")
        m = dilate(resize_mask(to_binary_mask(mask), geom.proc_size), self.config.mask_dilation)
        return m, m

    # ---- whole clips (the Hugging Face style API) ----
    def preprocess(self, videos: Any, masks: Any = None) -> dict[str, Any]:
        """Frames and masks -> ``pixel_values_videos`` (BxTx3xHxW in [-1, 1]), ``flow_masks``
        and ``masks_dilated`` (BxTx1xHxW, 1 = hole), ``frames_uint8`` (per video, TxHxWx3)
        and the geometry.

        ``videos``: one clip (a list of frames, or a TxHxWx3 array/tensor) or a list of clips
        of the same size. Frames: HxWx3 uint8 numpy, PIL images or tensors. ``masks``: one
        mask for all frames, or one per frame (per video); None only for outpainting.
        """
        clips = _as_clips(videos)
        mask_sets = _as_mask_sets(masks, len(clips))
        outs: dict[str, list] = {"pixel_values_videos": [], "flow_masks": [], "masks_dilated": [], "frames_uint8": []}
        geom = None
        for ci, clip in enumerate(clips):
            frames = [to_uint8_frame(f, f"frame {i}") for i, f in enumerate(clip)]
            if not frames:
                raise InputError("a video needs at least one frame")
            g = self.geometry(frames[0].shape[1], frames[0].shape[0])
            if geom is not None and g != geom:
                raise InputError("all videos in one batch must have the same size")
            geom = g
            ms = mask_sets[ci]
            if ms is not None and len(ms) not in (1, len(frames)):
                raise InputError(f"got {len(ms)} masks for {len(frames)} frames: give one mask or one per frame")
            proc = np.stack([self.prepare_frame(f, g) for f in frames])
            pairs = [self.prepare_mask(None if ms is None else ms[min(i, len(ms) - 1)], g) for i in range(len(frames))]
            outs["frames_uint8"].append(proc)
            outs["pixel_values_videos"].append(torch.from_numpy(proc).permute(0, 3, 1, 2).float() / 255 * 2 - 1)
            outs["flow_masks"].append(torch.from_numpy(np.stack([p[0] for p in pairs])).float()[:, None])
            outs["masks_dilated"].append(torch.from_numpy(np.stack([p[1] for p in pairs])).float()[:, None])
        result: dict[str, Any] = {k: torch.stack(v) for k, v in outs.items() if k != "frames_uint8"}
        result["frames_uint8"] = outs["frames_uint8"]
        result["geometry"] = geom
        return result

    @staticmethod
    def postprocess(frames: torch.Tensor | np.ndarray, out_size: tuple[int, int] | None = None,
                    interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
        """Network output (..xTx3xHxW in [-1, 1]) or uint8 frames (TxHxWx3) -> TxHxWx3 uint8,
        resized to ``out_size`` (w, h) with OpenCV (cubic, like the authors' saved frames)."""
        if isinstance(frames, torch.Tensor):
            x = ((frames.detach().float().cpu() + 1) / 2 * 255).reshape(-1, 3, *frames.shape[-2:])
            arr = x.permute(0, 2, 3, 1).numpy().astype(np.uint8)
        else:
            arr = np.asarray(frames)
        if out_size is None or (arr.shape[2], arr.shape[1]) == tuple(out_size):
            return arr
        return np.stack([cv2.resize(f, tuple(out_size), interpolation=interpolation) for f in arr])


def _as_clips(videos: Any) -> list[Sequence[Any]]:
    if isinstance(videos, (np.ndarray, torch.Tensor)):
        if videos.ndim == 4:
            return [list(videos)]
        if videos.ndim == 5:
            return [list(v) for v in videos]
        raise InputError(f"videos must be TxHxWx3 or BxTxHxWx3, got shape {tuple(videos.shape)}")
    videos = list(videos)
    if videos and isinstance(videos[0], (list, tuple)) or (videos and getattr(videos[0], "ndim", 0) == 4):
        return [list(v) for v in videos]
    return [videos]


def _as_mask_sets(masks: Any, n: int) -> list[list[Any] | None]:
    if masks is None:
        return [None] * n
    if isinstance(masks, (np.ndarray, torch.Tensor)) and masks.ndim in (2, 3):
        masks = [masks] if masks.ndim == 2 or (masks.ndim == 3 and masks.shape[-1] in (1, 3)) else list(masks)
        return [masks] * n
    if isinstance(masks, Image.Image):
        return [[masks]] * n
    masks = list(masks)
    if n > 1 and len(masks) == n and isinstance(masks[0], (list, tuple)):
        return [list(m) for m in masks]
    return [masks] * n
