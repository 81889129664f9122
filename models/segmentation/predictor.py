"""Click-to-mask with Segment Anything: the embedding is computed once per frame, prompts are cheap.

:class:`SamClickPredictor` keeps an LRU of image embeddings keyed by ``(clip_id, frame_index)``.
The expensive :meth:`~SamClickPredictor.set_frame` (the ViT encoder, about a second for
``vit_b`` on a CPU) runs on a worker thread, ahead of time through
:meth:`~SamClickPredictor.prefetch` for frames near the playhead; :meth:`~SamClickPredictor.predict`
only runs the prompt encoder and the mask decoder (tens of milliseconds).

Numpy in original pixel coordinates: frames HxWx3 uint8 RGB in [0, 255], points Nx2 (x, y)
in pixels, boxes (x0, y0, x1, y1) in pixels, masks out HxW bool. All methods are thread-safe
(one lock around the model and the cache).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable, Sequence

import cv2
import numpy as np
import torch
from segment_anything.modeling import Sam

from ..errors import Cancelled, InputError
from .sam_model import DEFAULT_SAM_MODEL, SamArchitecture, build_sam, sam_architecture

#: Binary masks given as ``mask_input`` become logits of this magnitude (SAM's own low-res
#: logits are usually within +-10..20; a softer prior lets the image refine the edges).
MASK_PROMPT_LOGIT = 6.0


@dataclass(frozen=True)
class Prediction:
    """Candidate masks for one prompt.

    ``masks``: CxHxW bool at the frame's size (C = 3 with ``multimask``, else 1);
    ``scores``: C float32, SAM's predicted IoU of each; ``low_res_logits``: Cx(m)x(m) float32
    (m = the model's mask input size, 256 for the official models), to feed back as
    ``mask_input``; ``best``: index of the highest score.
    """

    masks: np.ndarray = field(repr=False)
    scores: np.ndarray
    low_res_logits: np.ndarray = field(repr=False)
    best: int

    @property
    def mask(self) -> np.ndarray:
        """HxW bool: the best candidate."""
        return self.masks[self.best]

    def __len__(self) -> int:
        return int(self.masks.shape[0])


@dataclass(frozen=True)
class _Embedding:
    features: Any  # 1xCxgxg (SAM 2: its feature maps, finest first, the embedding last)
    input_size: tuple[int, int]  # (h, w) after resizing the long side to image_size
    original_size: tuple[int, int]  # (H, W)


@dataclass
class CacheInfo:
    hits: int = 0
    misses: int = 0
    size: int = 0
    capacity: int = 0


class SamClickPredictor:
    """Click/box prompts -> masks against cached SAM image embeddings.

    ``model``: a ``segment_anything`` :class:`Sam` (see :func:`build_sam`), weights loaded;
    ``cache_size``: how many frame embeddings to keep (4 MiB each for the official models).
    """

    #: Which network answers: "sam" (Segment Anything); :class:`Sam2ClickPredictor` is "sam2".
    kind = "sam"

    def __init__(self, model: Sam, *, cache_size: int = 24, device: str | torch.device | None = None) -> None:
        self._init_cache(cache_size)
        if device is not None:
            model = model.to(device)
        self.model = model.eval()
        self.image_size = int(model.image_encoder.img_size)
        self.mask_input_size = int(model.prompt_encoder.mask_input_size[0])

    def _init_cache(self, cache_size: int) -> None:
        if cache_size < 1:
            name = "SAM 2" if self.kind == "sam2" else "SAM"
            raise InputError(f"The {name} embedding cache needs room for at least one frame, got {cache_size}.")
        self._cache: OrderedDict[tuple[Hashable, int], _Embedding] = OrderedDict()
        self._capacity = cache_size
        self._current: tuple[Hashable, int] | None = None
        self._lock = threading.RLock()
        self._hits = 0
        self._misses = 0

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_pretrained(
        cls,
        model_type: str | SamArchitecture = DEFAULT_SAM_MODEL,
        *,
        checkpoint: str | None = None,
        weights_dir=None,
        device: str | torch.device | None = None,
        cache_size: int = 24,
    ) -> "SamClickPredictor":
        """Build ``model_type`` and load its weights through ``models.weights``.

        ``checkpoint``: a checkpoint path chosen by the user (``--sam-checkpoint``) instead of
        the registered download for ``model_type``. Raises ``WeightsError`` when the weights
        are missing, corrupt or belong to another network.
        """
        from .weights import load_sam_weights

        model = build_sam(model_type)
        load_sam_weights(model, sam_architecture(model_type), checkpoint=checkpoint, weights_dir=weights_dir)
        return cls(model, cache_size=cache_size, device=device)

    @property
    def device(self) -> torch.device:
        return self.model.device

    # ------------------------------------------------------------------ embeddings
    def set_frame(self, clip_id: Hashable, index: int, frame: np.ndarray) -> bool:
        """Make ``frame`` (HxWx3 uint8 RGB) the one :meth:`predict` decodes against.

        The embedding is computed only if ``(clip_id, index)`` is not cached. Returns True
        when it was computed, False on a cache hit.
        """
        key = (clip_id, int(index))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                self._hits += 1
                self._current = key
                return False
        embedding = self._embed(frame)
        with self._lock:
            self._misses += 1
            self._store(key, embedding)
            self._current = key
        return True

    def prefetch(
        self,
        clip_id: Hashable,
        indices: Iterable[int],
        get_frame: Callable[[int], np.ndarray],
        cancel: Callable[[], bool] | None = None,
    ) -> list[int]:
        """Encode the frames ``indices`` not yet cached (for the worker thread, near the playhead).

        Does not change the current frame. ``cancel`` is polled before each encoding (raises
        :class:`Cancelled`). Returns the indices that were computed. Only the first
        ``cache_size`` indices are taken, so a prefetch never evicts its own work.
        """
        done: list[int] = []
        for index in list(indices)[: self._capacity]:
            key = (clip_id, int(index))
            with self._lock:
                if key in self._cache:
                    continue
            if cancel is not None and cancel():
                raise Cancelled("SAM pre-encoding was cancelled.")
            embedding = self._embed(get_frame(int(index)))
            with self._lock:
                self._misses += 1
                self._store(key, embedding)
            done.append(int(index))
        return done

    def is_cached(self, clip_id: Hashable, index: int) -> bool:
        with self._lock:
            return (clip_id, int(index)) in self._cache

    def cache_info(self) -> CacheInfo:
        with self._lock:
            return CacheInfo(self._hits, self._misses, len(self._cache), self._capacity)

    def clear_cache(self, clip_id: Hashable | None = None) -> None:
        """Forget every embedding (or those of one clip, e.g. when it is closed)."""
        with self._lock:
            for key in [k for k in self._cache if clip_id is None or k[0] == clip_id]:
                del self._cache[key]
            if self._current is not None and self._current not in self._cache:
                self._current = None

    def _store(self, key: tuple[Hashable, int], embedding: _Embedding) -> None:
        self._cache[key] = embedding
        self._cache.move_to_end(key)
        while len(self._cache) > self._capacity:
            old, _ = self._cache.popitem(last=False)
            if old == self._current:
                self._current = None

    def _input_size(self, height: int, width: int) -> tuple[int, int]:
        scale = self.image_size / max(height, width)
        return int(height * scale + 0.5), int(width * scale + 0.5)

    @torch.no_grad()
    def _embed(self, frame: np.ndarray) -> _Embedding:
        frame = _check_frame(frame)
        height, width = frame.shape[:2]
        in_h, in_w = self._input_size(height, width)
        resized = cv2.resize(frame, (in_w, in_h), interpolation=cv2.INTER_LINEAR if in_h > height else cv2.INTER_AREA)
        image = torch.from_numpy(np.ascontiguousarray(resized)).to(self.device)
        image = image.permute(2, 0, 1)[None].float()
        with self._lock:
            features = self.model.image_encoder(self.model.preprocess(image))
        return _Embedding(features, (in_h, in_w), (height, width))

    # ------------------------------------------------------------------ prompts
    def mask_to_logits(self, mask: np.ndarray, embedding: _Embedding | None = None) -> np.ndarray:
        """HxW mask (nonzero = object) at the current frame's size -> 1xmxm float32 logits."""
        emb = embedding or self._current_embedding()
        height, width = emb.original_size
        mask = np.asarray(mask)
        if mask.shape != (height, width):
            raise InputError(f"The prompt mask is {mask.shape[1]}x{mask.shape[0]} but the frame is {width}x{height}.")
        in_h, in_w = emb.input_size
        resized = cv2.resize((mask > 0).astype(np.float32), (in_w, in_h), interpolation=cv2.INTER_AREA)
        square = np.zeros((self.image_size, self.image_size), dtype=np.float32)
        square[:in_h, :in_w] = resized
        small = cv2.resize(square, (self.mask_input_size, self.mask_input_size), interpolation=cv2.INTER_AREA)
        return ((small * 2.0 - 1.0) * MASK_PROMPT_LOGIT)[None].astype(np.float32)

    def predict(
        self,
        points: np.ndarray | Sequence[Sequence[float]] | None = None,
        labels: np.ndarray | Sequence[int] | None = None,
        box: np.ndarray | Sequence[float] | None = None,
        mask_input: np.ndarray | None = None,
        multimask: bool = True,
    ) -> Prediction:
        """Decode masks for prompts on the current frame (see :meth:`set_frame`).

        ``points``: Nx2 (x, y) pixels; ``labels``: N, 1 = include, 0 = exclude;
        ``box``: (x0, y0, x1, y1) pixels; ``mask_input``: either an HxW bool/uint8 mask at the
        frame's size or float32 low-res logits (1x)mxm from an earlier :class:`Prediction`.
        At least one of points, box or mask_input is needed.
        """
        with self._lock:
            emb = self._current_embedding()
            height, width = emb.original_size
            coords_t = labels_t = box_t = mask_t = None
            if points is not None and len(points):
                coords, lab = _check_points(points, labels)
                coords_t = torch.as_tensor(self._to_input(coords, emb), dtype=torch.float32, device=self.device)[None]
                labels_t = torch.as_tensor(lab, dtype=torch.int64, device=self.device)[None]
            elif labels is not None and len(labels):
                raise InputError("Click labels were given without click points.")
            if box is not None:
                b = _check_box(box, width, height)
                box_t = torch.as_tensor(self._to_input(b.reshape(2, 2), emb).reshape(1, 4), dtype=torch.float32, device=self.device)
            if mask_input is not None:
                mask_t = torch.as_tensor(self._mask_prompt(mask_input, emb), device=self.device)[None]
            if coords_t is None and box_t is None and mask_t is None:
                raise InputError("A SAM prompt needs at least one click, a box or a mask.")
            return self._decode(emb, coords_t, labels_t, box_t, mask_t, multimask)

    @torch.no_grad()
    def _decode(self, emb, coords_t, labels_t, box_t, mask_t, multimask) -> Prediction:
        sparse, dense = self.model.prompt_encoder(
            points=None if coords_t is None else (coords_t, labels_t), boxes=box_t, masks=mask_t
        )
        low_res, scores = self.model.mask_decoder(
            image_embeddings=emb.features,
            image_pe=self.model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask,
        )
        logits = self.model.postprocess_masks(low_res, emb.input_size, emb.original_size)
        masks = (logits > self.model.mask_threshold)[0].cpu().numpy()
        scores_np = scores[0].float().cpu().numpy()
        return Prediction(masks, scores_np, low_res[0].float().cpu().numpy(), int(np.argmax(scores_np)))

    def _current_embedding(self) -> _Embedding:
        if self._current is None or self._current not in self._cache:
            raise RuntimeError("SamClickPredictor.set_frame(...) must be called before predicting.")
        return self._cache[self._current]

    def _to_input(self, coords: np.ndarray, emb: _Embedding) -> np.ndarray:
        height, width = emb.original_size
        in_h, in_w = emb.input_size
        out = coords.astype(np.float64).copy()
        out[..., 0] *= in_w / width
        out[..., 1] *= in_h / height
        return out

    def _mask_prompt(self, mask_input: np.ndarray, emb: _Embedding) -> np.ndarray:
        arr = np.asarray(mask_input)
        if arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer):
            return self.mask_to_logits(arr, emb)
        m = self.mask_input_size
        if arr.shape == (m, m):
            arr = arr[None]
        if arr.shape != (1, m, m):
            raise InputError(f"Mask logits must be 1x{m}x{m} (from an earlier prediction), got {arr.shape}.")
        return arr.astype(np.float32)


def _check_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise InputError(f"SAM needs an HxWx3 uint8 RGB frame, got shape {frame.shape} of {frame.dtype}.")
    if min(frame.shape[:2]) < 1:
        raise InputError(f"SAM got an empty frame of shape {frame.shape}.")
    return frame


def _check_points(points, labels) -> tuple[np.ndarray, np.ndarray]:
    coords = np.asarray(points, dtype=np.float64)
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise InputError(f"Click points must be Nx2 (x, y) pixels, got shape {coords.shape}.")
    if labels is None:
        lab = np.ones(len(coords), dtype=np.int64)
    else:
        lab = np.asarray(labels).astype(np.int64).reshape(-1)
    if lab.shape != (len(coords),):
        raise InputError(f"There are {len(coords)} click points but {lab.size} labels.")
    if not np.isin(lab, (0, 1)).all():
        raise InputError("Click labels must be 1 (include) or 0 (exclude).")
    if not np.isfinite(coords).all():
        raise InputError("Click points must be finite pixel coordinates.")
    return coords, lab


def _check_box(box, width: int, height: int) -> np.ndarray:
    b = np.asarray(box, dtype=np.float64).reshape(-1)
    if b.shape != (4,) or not np.isfinite(b).all():
        raise InputError(f"A box must be four numbers x0, y0, x1, y1, got {np.asarray(box).tolist()}.")
    x0, x1 = sorted((b[0], b[2]))
    y0, y1 = sorted((b[1], b[3]))
    if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
        raise InputError(f"The box {b.tolist()} lies outside the {width}x{height} frame.")
    return np.array([x0, y0, x1, y1])
