"""SAM 2 video object tracking: keyframe masks in, one mask per frame out, in bounded memory.

:class:`Sam2VideoTracker` wraps a ``sam2.sam2_video_predictor.SAM2VideoPredictor`` (the
network and its per-frame steps) with numpy in original-pixel coordinates:

* :meth:`~Sam2VideoTracker.mask_from_prompt`: clicks and/or a box on one frame -> HxW bool.
  The frame's image features are kept, so more clicks on the same frame only run the
  prompt encoder and the mask decoder.
* :meth:`~Sam2VideoTracker.propagate`: an object's keyframe masks (each a SAM 2
  conditioning frame, given with ``add_new_mask``) tracked from one keyframe forward and/or
  backward over a span of frames, one :class:`Sam2Frame` per frame, cancellable per frame.
  A correction made with clicks becomes a keyframe: turn the clicks into a mask with
  :meth:`~Sam2VideoTracker.mask_from_prompt` and pass it in ``keyframes``.

Frames are read lazily through ``get_frame(i) -> HxWx3 uint8 RGB``; no video path, no file.
SAM 2's own ``init_state`` wants a folder of JPEGs and loads the whole clip, so the inference
state is built here instead, with ``images`` a lazy sequence holding a small LRU of prepared
frames, and everything it stores kept on the CPU (``offload_video_to_cpu`` and
``offload_state_to_cpu``). While tracking, outputs further back than the model can see
(``num_maskmem`` memory frames and ``max_obj_ptrs_in_encoder`` object pointers) are dropped,
so memory stays flat however long the clip: :meth:`~Sam2VideoTracker.held_frames` reports it.

Networks: :func:`build_sam2` builds one from a config shipped inside the ``sam2`` package
(loaded with OmegaConf and built with ``hydra.utils.instantiate``: no hydra ``compose``, so
no global hydra state is touched and repeated builds are fine); the weights are loaded by
:func:`~models.segmentation.sam2_weights.load_sam2_weights` through ``models.weights``
(``weights_only=True``, sha256 checked). :func:`build_tiny_sam2` is a small random
configuration for tests and benchmarks. ``sam2`` is imported only when a network is built.

One object per tracker call; a tracker is not thread-safe (one call at a time).
"""

from __future__ import annotations

import contextlib
import importlib.resources
import importlib.util
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import Cancelled, InputError
from .sam2_weights import DEFAULT_SAM2_MODEL, load_sam2_weights, require_sam2_weights, sam2_release

if TYPE_CHECKING:
    from sam2.sam2_video_predictor import SAM2VideoPredictor

GetFrame = Callable[[int], np.ndarray]
CancelCallback = Callable[[], bool]

#: ImageNet mean and std, as SAM 2 normalises its frames (RGB in [0, 1]).
IMG_MEAN = (0.485, 0.456, 0.406)
IMG_STD = (0.229, 0.224, 0.225)

_OBJ_ID = 1  # one object per call: its id in SAM 2's state
_DIRECTIONS = {"both": (1, -1), "forward": (1,), "backward": (-1,)}


@dataclass(frozen=True)
class Sam2Frame:
    """One tracked frame: ``mask`` HxW bool at the clip's size; ``score`` SAM 2's object score
    logit (> 0: it thinks the object is visible); ``direction`` +1 forward, -1 backward;
    ``iou``: SAM 2's own prediction of its mask's IoU (None when it was not made)."""

    index: int
    mask: np.ndarray
    score: float
    direction: int
    iou: float | None = None


@dataclass(frozen=True)
class HeldFrames:
    """What a tracking state holds, in frames: model ``outputs`` (conditioning + tracked
    memory), cached image ``features``, and prepared ``images`` in the lazy frame LRU."""

    outputs: int = 0
    features: int = 0
    images: int = 0

    @property
    def total(self) -> int:
        return self.outputs + self.features + self.images


# --------------------------------------------------------------------------- networks

#: What ``sam2.build_sam.build_sam2_video_predictor`` adds to a config for video use
#: (its ``apply_postprocessing``): the same settings, written out here.
_VIDEO_OVERRIDES: dict[str, Any] = {
    "_target_": "sam2.sam2_video_predictor.SAM2VideoPredictor",
    "sam_mask_decoder_extra_args": {
        "dynamic_multimask_via_stability": True,
        "dynamic_multimask_stability_delta": 0.05,
        "dynamic_multimask_stability_thresh": 0.98,
    },
    "binarize_mask_from_pts_for_mem_enc": True,
}


def _hole_filling_area() -> int:
    # SAM 2 fills small holes with its optional CUDA extension; without it (a CPU install,
    # SAM2_BUILD_CUDA=0) it warns on every frame, so the step is left out instead.
    try:
        return 8 if importlib.util.find_spec("sam2._C") is not None else 0
    except (ImportError, ValueError):
        return 0


def build_sam2(config: str = "configs/sam2.1/sam2.1_hiera_t.yaml",
               overrides: Mapping[str, Any] | None = None) -> "SAM2VideoPredictor":
    """A randomly initialised SAM 2 video predictor, in eval mode on the CPU.

    ``config``: a path inside the ``sam2`` package (``configs/sam2.1/sam2.1_hiera_{t,s,b+,l}.yaml``);
    ``overrides``: nested values merged into its ``model`` section after the video settings.
    """
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    resource = importlib.resources.files("sam2").joinpath(config)
    if not resource.is_file():
        raise InputError(f"The SAM 2 config {config!r} is not in the installed sam2 package: reinstall sam2.")
    cfg = OmegaConf.create(resource.read_text(encoding="utf-8"))
    video = {**_VIDEO_OVERRIDES, "fill_hole_area": _hole_filling_area()}
    cfg = OmegaConf.merge(cfg, {"model": video}, {"model": dict(overrides or {})})
    OmegaConf.resolve(cfg)
    model = instantiate(cfg.model, _recursive_=True)
    return model.eval()


def _build_release(name: str) -> "SAM2VideoPredictor":
    return build_sam2(sam2_release(name).config)


def build_sam2_hiera_tiny() -> "SAM2VideoPredictor":
    """SAM 2.1 Hiera-T with random weights (the network ``sam2.1_hiera_tiny.pt`` holds)."""
    return _build_release("sam2.1_hiera_tiny")


def build_sam2_hiera_small() -> "SAM2VideoPredictor":
    """SAM 2.1 Hiera-S with random weights (the network ``sam2.1_hiera_small.pt`` holds)."""
    return _build_release("sam2.1_hiera_small")


def build_sam2_hiera_base_plus() -> "SAM2VideoPredictor":
    """SAM 2.1 Hiera-B+ with random weights (the network ``sam2.1_hiera_base_plus.pt`` holds)."""
    return _build_release("sam2.1_hiera_base_plus")


def build_sam2_hiera_large() -> "SAM2VideoPredictor":
    """SAM 2.1 Hiera-L with random weights (the network ``sam2.1_hiera_large.pt`` holds)."""
    return _build_release("sam2.1_hiera_large")


def tiny_sam2_overrides(image_size: int = 64) -> dict[str, Any]:
    """The overrides of the Hiera-T config that make :func:`build_tiny_sam2`.

    A 4-stage Hiera of 1-1-2-1 blocks (8 to 64 channels, one global-attention block), a 32-channel neck, SAM heads
    and memory attention (one layer), 16-channel memories. ``image_size``: a multiple of 32
    (at least 64), the square the frames are resized to.
    """
    if image_size < 64 or image_size % 32:
        raise InputError(f"The tiny SAM 2 image size must be a multiple of 32, at least 64, not {image_size}.")
    hidden, mem = 32, 16
    grid = image_size // 16

    def rope(**extra: Any) -> dict[str, Any]:
        return {"feat_sizes": [grid, grid], "embedding_dim": hidden, "num_heads": 1, "dropout": 0.0, **extra}

    return {
        "image_size": image_size,
        "image_encoder": {
            "trunk": {"embed_dim": 8, "num_heads": 1, "stages": [1, 1, 2, 1], "global_att_blocks": [3],
                      "window_pos_embed_bkg_spatial_size": [4, 4], "window_spec": [4, 4, 4, 2]},
            "neck": {"d_model": hidden, "backbone_channel_list": [64, 32, 16, 8],
                     "position_encoding": {"num_pos_feats": hidden}},
        },
        "memory_attention": {
            "d_model": hidden, "num_layers": 1,
            "layer": {"d_model": hidden, "dim_feedforward": 64, "dropout": 0.0,
                      "self_attention": rope(), "cross_attention": rope(kv_in_dim=mem)},
        },
        "memory_encoder": {
            "out_dim": mem, "in_dim": hidden,
            "position_encoding": {"num_pos_feats": mem},
            "mask_downsampler": {"embed_dim": hidden},
            "fuser": {"num_layers": 1, "layer": {"dim": hidden}},
        },
    }


def build_tiny_sam2(*, seed: int = 0, image_size: int = 64) -> "SAM2VideoPredictor":
    """A tiny SAM 2 video predictor with seeded random weights, for tests and benchmarks.

    The real SAM 2.1 code paths (Hiera, FPN neck, memory attention and encoder, SAM heads,
    object pointers, 7 memory frames) at toy widths: its masks mean nothing, its plumbing and
    memory behave as the released models do. Tens of milliseconds a frame on one CPU thread.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_sam2(overrides=tiny_sam2_overrides(image_size))


# --------------------------------------------------------------------------- frames


def _describe_array(frame: Any) -> str:
    if not isinstance(frame, np.ndarray):
        return f"a {type(frame).__name__}"
    return f"an array of shape {tuple(frame.shape)} and dtype {frame.dtype}"


class _LazyFrames(Sequence):
    """The ``images`` of a SAM 2 state: frame ``i`` as a normalised 3xSxS float32 tensor.

    Made on demand from ``get_frame(i)`` (HxWx3 uint8 RGB) resized to the model's square
    (bicubic, as SAM 2 prepares its frames); only the last ``cache_size`` are kept. The size
    of the first frame read is the clip's size; every other frame must match it.
    """

    def __init__(self, get_frame: GetFrame, num_frames: int, image_size: int, first: int,
                 cache_size: int = 2) -> None:
        self._get_frame = get_frame
        self._num_frames = num_frames
        self._size = image_size
        self._cache: OrderedDict[int, torch.Tensor] = OrderedDict()
        self._cache_size = max(1, cache_size)
        self._mean = torch.tensor(IMG_MEAN, dtype=torch.float32)[:, None, None]
        self._std = torch.tensor(IMG_STD, dtype=torch.float32)[:, None, None]
        self.first = first
        frame = self.read(first, check_size=False)
        self.height, self.width = int(frame.shape[0]), int(frame.shape[1])
        self._put(first, self._prepare(frame))

    def __len__(self) -> int:
        return self._num_frames

    @property
    def cached(self) -> int:
        return len(self._cache)

    def read(self, index: int, check_size: bool = True) -> np.ndarray:
        """``get_frame(index)``, checked: HxWx3 uint8 and (with ``check_size``) the clip's size."""
        frame = self._get_frame(index)
        if not (isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[2] == 3
                and frame.dtype == np.uint8):
            raise InputError(
                f"Frame {index} is {_describe_array(frame)}, but SAM 2 needs HxWx3 uint8 RGB frames: "
                f"decode the clip to RGB uint8."
            )
        if check_size and frame.shape[:2] != (self.height, self.width):
            raise InputError(
                f"Frame {index} is {frame.shape[1]}x{frame.shape[0]} but frame {self.first} is "
                f"{self.width}x{self.height}: every frame of a clip must have the same size."
            )
        return frame

    def _prepare(self, frame: np.ndarray) -> torch.Tensor:
        if frame.shape[:2] != (self._size, self._size):
            frame = np.array(Image.fromarray(frame).resize((self._size, self._size), Image.BICUBIC))
        else:
            frame = np.array(frame)  # a copy: the caller's frame may be read-only or change later
        image = torch.from_numpy(frame).permute(2, 0, 1).float().div_(255.0)
        return (image - self._mean) / self._std

    def _put(self, index: int, image: torch.Tensor) -> None:
        self._cache[index] = image
        self._cache.move_to_end(index)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def __getitem__(self, index):  # SAM 2 indexes with ints only
        if isinstance(index, slice):
            raise TypeError("the lazy frames of a SAM 2 state are read one at a time")
        i = int(index)
        if not 0 <= i < self._num_frames:
            raise IndexError(i)
        image = self._cache.get(i)
        if image is None:
            image = self._prepare(self.read(i))
            self._put(i, image)
        else:
            self._cache.move_to_end(i)
        return image


# --------------------------------------------------------------------------- checks


def _check_clip(num_frames: int, *indices: tuple[str, int]) -> None:
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames < 1:
        raise InputError(f"The clip must have at least one frame (num_frames={num_frames!r}).")
    for what, i in indices:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < num_frames:
            raise InputError(f"The {what} {i!r} is not a frame of the clip (0 to {num_frames - 1}).")


def _check_keyframe(index: int, mask: Any, frames: _LazyFrames) -> torch.Tensor:
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise InputError(
            f"The keyframe mask for frame {index} has shape {mask.shape}, but it must be HxW "
            f"({frames.height}x{frames.width} for this clip)."
        )
    if mask.shape != (frames.height, frames.width):
        raise InputError(
            f"The keyframe mask for frame {index} is {mask.shape[1]}x{mask.shape[0]} but the clip "
            f"is {frames.width}x{frames.height}."
        )
    mask = mask.astype(bool) if mask.dtype != bool else mask
    if not mask.any():
        raise InputError(
            f"The keyframe mask for frame {index} is empty: paint or click the object on that "
            f"frame, or remove the keyframe."
        )
    return torch.from_numpy(np.ascontiguousarray(mask))


def _check_prompt(points: Any, labels: Any, box: Any) -> tuple[np.ndarray | None, np.ndarray | None,
                                                               np.ndarray | None]:
    if points is None and box is None:
        raise InputError("A SAM 2 prompt needs clicks (points and labels) or a box.")
    if (points is None) != (labels is None):
        raise InputError("Clicks need both points (Nx2, x y in pixels) and labels (N, 1 = object, 0 = background).")
    pts = lbl = bx = None
    if points is not None:
        pts = np.asarray(points, dtype=np.float32)
        if pts.ndim == 1 and pts.shape == (2,):
            pts = pts[None]
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
            raise InputError(f"The points must be Nx2 (x, y in pixels), N >= 1, not shape {np.shape(points)}.")
        lbl = np.asarray(labels).reshape(-1)
        if len(lbl) != len(pts):
            raise InputError(f"There are {len(pts)} points but {len(lbl)} labels: give one label per point.")
        if not np.isin(lbl, (0, 1)).all():
            raise InputError("Point labels must be 1 (object) or 0 (background).")
        if not np.isfinite(pts).all():
            raise InputError("The points must be finite pixel coordinates.")
        lbl = lbl.astype(np.int32)
    if box is not None:
        bx = np.asarray(box, dtype=np.float32).reshape(-1)
        if bx.shape != (4,) or not np.isfinite(bx).all() or bx[2] <= bx[0] or bx[3] <= bx[1]:
            raise InputError(f"The box must be (x0, y0, x1, y1) in pixels with x1 > x0 and y1 > y0, not {box!r}.")
    return pts, lbl, bx


def _poll(cancel: CancelCallback | None) -> None:
    if cancel is not None and cancel():
        raise Cancelled("SAM 2 tracking was cancelled; the frames tracked so far are kept.")


# --------------------------------------------------------------------------- tracker


class Sam2VideoTracker:
    """SAM 2 tracking of one object over a clip read frame by frame (numpy in, numpy out).

    ``model``: a ``SAM2VideoPredictor`` (see :func:`build_sam2`, :meth:`from_pretrained`,
    :meth:`tiny`); ``device``: "cpu", "cuda", "cuda:N" (bfloat16/float16 autocast on CUDA,
    float32 elsewhere). ``image_cache``: prepared frames kept per state. ``prune=False``
    keeps every tracked output (only to check that pruning changes nothing).
    """

    def __init__(self, model: "SAM2VideoPredictor", device: str | torch.device = "cpu", *,
                 image_cache: int = 2, prune: bool = True) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.image_size = int(model.image_size)
        self.image_cache = image_cache
        self.prune = prune
        self._state: dict[str, Any] | None = None
        self._prompt: tuple[GetFrame, int, dict[str, Any]] | None = None
        self._record_predicted_iou()

    def _record_predicted_iou(self) -> None:
        """Keep the mask decoder's predicted IoU of the mask it picks: SAM 2's tracking step
        computes it and lets it go, and it is the model's own word on how sure it is. Installed
        once per model (trackers sharing a model read the same record)."""
        model = self.model
        if getattr(model, "_predicted_iou_recorded", False) or not hasattr(model, "_forward_sam_heads"):
            return
        heads = model._forward_sam_heads

        def recording(*args: Any, **kwargs: Any):
            out = heads(*args, **kwargs)
            try:
                model._last_predicted_iou = float(out[2].float().max(dim=-1).values.reshape(-1)[0])
            except (IndexError, AttributeError, TypeError, RuntimeError):
                model._last_predicted_iou = None
            return out

        model._forward_sam_heads = recording
        model._predicted_iou_recorded = True

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pretrained(cls, name: str = DEFAULT_SAM2_MODEL, *, checkpoint: str | os.PathLike | None = None,
                        weights_dir: str | os.PathLike | None = None,
                        device: str | torch.device | None = None) -> "Sam2VideoTracker":
        """Build the official network ``name`` (e.g. "sam2.1_hiera_tiny") and load its weights.

        ``checkpoint``: a file chosen by the user (the released ``{"model": state_dict}`` layout
        of that network) instead of the registered download. ``device``: None picks one
        (cuda > mps > cpu). Raises ``WeightsError`` when the weights are missing, corrupt or
        belong to another network, ``InputError`` for an unknown name.
        """
        from ..device import resolve_device

        release = require_sam2_weights(name, checkpoint=checkpoint, weights_dir=weights_dir)
        model = build_sam2(release.config)
        load_sam2_weights(model, name, checkpoint=checkpoint, weights_dir=weights_dir)
        return cls(model, resolve_device(device if device is not None else "auto"))

    @classmethod
    def tiny(cls, seed: int = 0, image_size: int = 64, device: str | torch.device = "cpu",
             **kwargs: Any) -> "Sam2VideoTracker":
        """A tracker over :func:`build_tiny_sam2` (random weights: for tests and benchmarks)."""
        return cls(build_tiny_sam2(seed=seed, image_size=image_size), device, **kwargs)

    # ------------------------------------------------------------------ internals
    @property
    def memory_reach(self) -> int:
        """How many frames back SAM 2 looks (memories and object pointers); older outputs go."""
        m = self.model
        masks = int(m.num_maskmem) * max(1, int(m.memory_temporal_stride_for_eval))
        ptrs = int(m.max_obj_ptrs_in_encoder) if m.use_obj_ptrs_in_encoder else 0
        return max(masks, ptrs)

    def _context(self) -> contextlib.AbstractContextManager:
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        if self.device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            stack.enter_context(torch.autocast("cuda", dtype=dtype))
        return stack

    def _new_state(self, frames: _LazyFrames) -> dict[str, Any]:
        """What ``SAM2VideoPredictor.init_state`` makes, over lazy frames, stored on the CPU."""
        return {
            "images": frames,
            "num_frames": len(frames),
            "offload_video_to_cpu": True,
            "offload_state_to_cpu": True,
            "video_height": frames.height,
            "video_width": frames.width,
            "device": self.device,
            "storage_device": torch.device("cpu"),
            "point_inputs_per_obj": {},
            "mask_inputs_per_obj": {},
            "cached_features": {},
            "constants": {},
            "obj_id_to_idx": OrderedDict(),
            "obj_idx_to_id": OrderedDict(),
            "obj_ids": [],
            "output_dict_per_obj": {},
            "temp_output_dict_per_obj": {},
            "frames_tracked_per_obj": {},
        }

    def _to_mask(self, logits: torch.Tensor, height: int, width: int) -> np.ndarray:
        logits = logits.to(self.device, torch.float32)
        if logits.shape[-2:] != (height, width):
            logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
        return (logits[0, 0] > 0).cpu().numpy()

    def held_frames(self) -> HeldFrames:
        """What the running :meth:`propagate` state holds now (zeros between runs)."""
        state = self._state
        if state is None:
            return HeldFrames()
        outputs = sum(len(d["cond_frame_outputs"]) + len(d["non_cond_frame_outputs"])
                      for d in state["output_dict_per_obj"].values())
        return HeldFrames(outputs, len(state["cached_features"]), state["images"].cached)

    def clear_cache(self) -> None:
        """Forget the frame features kept for :meth:`mask_from_prompt`."""
        self._prompt = None

    # ------------------------------------------------------------------ prompts
    def mask_from_prompt(self, get_frame: GetFrame, num_frames: int, frame: int, *,
                         points: Any = None, labels: Any = None, box: Any = None) -> np.ndarray:
        """The object on ``frame`` from clicks and/or a box: HxW bool at the frame's size.

        ``points``: Nx2 (x, y) in pixels with ``labels`` N (1 = object, 0 = background);
        ``box``: (x0, y0, x1, y1) in pixels. Each call is a fresh prompt (nothing carried over
        from the previous one); the frame's features are kept for the next call on the same
        clip (same ``get_frame``) and frame.
        """
        _check_clip(num_frames, ("frame", frame))
        pts, lbl, bx = _check_prompt(points, labels, box)
        frame = int(frame)
        if self._prompt is not None and self._prompt[0] is get_frame and self._prompt[1] == num_frames:
            state = self._prompt[2]
        else:
            self._prompt = None
            frames = _LazyFrames(get_frame, num_frames, self.image_size, frame, self.image_cache)
            state = self._new_state(frames)
        with self._context():
            self.model.reset_state(state)
            _, _, masks = self.model.add_new_points_or_box(
                state, frame, _OBJ_ID,
                points=None if pts is None else torch.from_numpy(pts),
                labels=None if lbl is None else torch.from_numpy(lbl),
                box=None if bx is None else torch.from_numpy(bx),
            )
            mask = self._to_mask(masks, state["video_height"], state["video_width"])
        self._prompt = (get_frame, num_frames, state)
        return mask

    # ------------------------------------------------------------------ tracking
    def propagate(self, get_frame: GetFrame, num_frames: int, keyframes: Mapping[int, np.ndarray], start: int,
                  *, lo: int, hi: int, directions: str = "both",
                  cancel: CancelCallback | None = None) -> Iterator[Sam2Frame]:
        """Track the object from keyframe ``start`` over frames ``lo..hi`` (inclusive).

        ``keyframes``: frame -> HxW bool mask (all the object's keyframes); each one in
        ``lo-1..hi+1`` (the span and the keyframes bounding it) plus ``start`` becomes a SAM 2
        conditioning frame, the others are not used. ``directions``: "both" (forward to ``hi``,
        then backward to ``lo``), "forward" or "backward"; each direction starts from the
        keyframes alone, so "both" gives what the two single directions give.
        Yields one :class:`Sam2Frame` per frame of the span except ``start``, in tracking order
        (a keyframe inside the span yields its own mask). ``cancel()`` is polled before each
        frame; True raises :class:`Cancelled`. The inputs are checked when this is called.
        """
        _check_clip(num_frames, ("start frame", start), ("first frame lo", lo), ("last frame hi", hi))
        start, lo, hi = int(start), int(lo), int(hi)
        if not lo <= start <= hi:
            raise InputError(f"The start frame {start} must lie in the span {lo}..{hi} it tracks over.")
        if directions not in _DIRECTIONS:
            raise InputError(f"directions must be one of {', '.join(_DIRECTIONS)}, not {directions!r}.")
        if start not in keyframes:
            raise InputError(f"Frame {start} has no keyframe mask to start tracking from.")
        frames = _LazyFrames(get_frame, num_frames, self.image_size, start, self.image_cache)
        used = {}
        for k in sorted(int(k) for k in keyframes):
            _check_clip(num_frames, ("keyframe", k))
            if k == start or lo - 1 <= k <= hi + 1:
                used[k] = _check_keyframe(k, keyframes[k], frames)
        return self._propagate(frames, used, start, lo, hi, _DIRECTIONS[directions], cancel)

    def _propagate(self, frames: _LazyFrames, keyframes: dict[int, torch.Tensor], start: int, lo: int, hi: int,
                   directions: tuple[int, ...], cancel: CancelCallback | None) -> Iterator[Sam2Frame]:
        model = self.model
        state = self._new_state(frames)
        self._state = state
        try:
            # The start keyframe last: its image features stay cached for the first step.
            for k in sorted(keyframes, key=lambda k: k == start):
                _poll(cancel)
                with self._context():
                    model.add_new_mask(state, k, _OBJ_ID, keyframes[k])
                    # Encode its memory now, while its features are the cached ones.
                    model.propagate_in_video_preflight(state)
            obj = state["output_dict_per_obj"][state["obj_id_to_idx"][_OBJ_ID]]
            for d in directions:
                obj["non_cond_frame_outputs"].clear()
                order = range(start + 1, hi + 1) if d > 0 else range(start - 1, lo - 1, -1)
                for t in order:
                    _poll(cancel)
                    self.model._last_predicted_iou = None
                    with self._context():
                        mask, score = self._track(state, obj, t, d)
                    if self.prune:
                        self._prune(obj, t, d)
                    yield Sam2Frame(t, mask, score, d, getattr(self.model, "_last_predicted_iou", None))
        finally:
            self._state = None

    def _track(self, state: dict[str, Any], obj: dict[str, dict], t: int, d: int) -> tuple[np.ndarray, float]:
        out = obj["cond_frame_outputs"].get(t)
        if out is None:
            # One step of SAM2VideoPredictor.propagate_in_video for one object (its loop also
            # shows a progress bar and keeps every output, which is what is avoided here).
            out, _ = self.model._run_single_frame_inference(
                inference_state=state, output_dict=obj, frame_idx=t, batch_size=1,
                is_init_cond_frame=False, point_inputs=None, mask_inputs=None,
                reverse=d < 0, run_mem_encoder=True,
            )
            obj["non_cond_frame_outputs"][t] = out
        score = float(out["object_score_logits"].float().reshape(-1)[0])
        return self._to_mask(out["pred_masks"], state["video_height"], state["video_width"]), score

    def _prune(self, obj: dict[str, dict], t: int, d: int) -> None:
        """Drop tracked outputs the next frame (t + d) can no longer reach."""
        reach, nxt = self.memory_reach, t + d
        outputs = obj["non_cond_frame_outputs"]
        for k in [k for k in outputs if (nxt - k) * d > reach]:
            del outputs[k]
