"""Click-to-mask with SAM 2's image mode, behind the same interface as :class:`SamClickPredictor`.

The editor's click tool (and the motion tracker's refinement) talk to a predictor through
``set_frame`` / ``prefetch`` / ``predict`` with an LRU of frame embeddings. SAM 2 answers the
same prompts from one frame: its Hiera encoder and FPN neck give the embedding and two
higher-resolution feature maps, its prompt encoder and mask decoder the masks. So a user who
downloaded only a SAM 2.1 checkpoint can click objects too, and the network is the one that
tracks them (:meth:`Sam2ClickPredictor.from_tracker` takes a loaded tracker's weights; build
one with :meth:`Sam2VideoTracker.from_pretrained`).

Differences from SAM 1 that this module takes care of: SAM 2 resizes a frame to a square
(no aspect-preserving padding), so a pixel (x, y) is at (x * S / W, y * S / H) of the input;
a box is two corner points with labels 2 and 3; the decoder needs the high-resolution
features; and video-trained models add ``no_mem_embed`` to an image's lowest-resolution
features. Numpy in, numpy out, in the frame's own pixels, as :mod:`.predictor`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .predictor import Prediction, SamClickPredictor, _check_frame, _Embedding

if TYPE_CHECKING:  # the sam2 package is imported only when SAM 2 is used
    from sam2.modeling.sam2_base import SAM2Base


class Sam2ClickPredictor(SamClickPredictor):
    """Click/box prompts -> masks against cached SAM 2 image embeddings.

    ``model``: a ``sam2`` :class:`SAM2Base` (the video predictor is one), weights loaded;
    ``cache_size``: how many frame embeddings to keep (about 6 MiB each at 1024x1024:
    the 64x64 embedding and the 128x128 and 256x256 feature maps).
    """

    kind = "sam2"

    def __init__(self, model: "SAM2Base", *, cache_size: int = 24, device: str | torch.device | None = None) -> None:
        from sam2.utils.transforms import SAM2Transforms

        self._init_cache(cache_size)  # the base class's cache, lock and counters; not its SAM 1 model
        if device is not None:
            model = model.to(device)
        self.model = model.eval()
        self.image_size = int(model.image_size)
        self.mask_input_size = int(model.sam_prompt_encoder.mask_input_size[0])
        self._transforms = SAM2Transforms(resolution=self.image_size, mask_threshold=0.0)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_tracker(cls, tracker: Any, *, cache_size: int = 24) -> "Sam2ClickPredictor":
        """Clicks with the network of a :class:`Sam2VideoTracker` (no second copy of the weights)."""
        return cls(tracker.model, cache_size=cache_size, device=tracker.device)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ------------------------------------------------------------------ embeddings
    def _input_size(self, height: int, width: int) -> tuple[int, int]:
        return self.image_size, self.image_size  # SAM 2 stretches the frame to its square

    @torch.no_grad()
    def _embed(self, frame: np.ndarray) -> _Embedding:
        frame = _check_frame(frame)
        height, width = frame.shape[:2]
        if not frame.flags.writeable:  # a cached frame: torchvision wants memory it may write
            frame = frame.copy()
        image = self._transforms(frame)[None].to(self.device)
        with self._lock:
            backbone = self.model.forward_image(image)
            _, feats, _, sizes = self.model._prepare_backbone_features(backbone)
            if self.model.directly_add_no_mem_embed:
                feats[-1] = feats[-1] + self.model.no_mem_embed
        # (HW)xBxC sequences -> BxCxHxW maps, lowest resolution last
        maps = tuple(f.permute(1, 2, 0).reshape(1, -1, h, w) for f, (h, w) in zip(feats, sizes))
        return _Embedding(maps, (self.image_size, self.image_size), (height, width))

    # ------------------------------------------------------------------ prompts
    @torch.no_grad()
    def _decode(self, emb, coords_t, labels_t, box_t, mask_t, multimask) -> Prediction:
        points = None
        if box_t is not None:  # the box's corners are points labelled 2 and 3, ahead of the clicks
            corners = box_t.reshape(1, 2, 2)
            corner_labels = torch.tensor([[2, 3]], dtype=torch.int64, device=corners.device)
            if coords_t is not None:
                points = (torch.cat([corners, coords_t], dim=1), torch.cat([corner_labels, labels_t], dim=1))
            else:
                points = (corners, corner_labels)
        elif coords_t is not None:
            points = (coords_t, labels_t)
        with self._lock:
            sparse, dense = self.model.sam_prompt_encoder(points=points, boxes=None, masks=mask_t)
            *high_res, embedding = emb.features
            low_res, scores, _, _ = self.model.sam_mask_decoder(
                image_embeddings=embedding,
                image_pe=self.model.sam_prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=multimask,
                repeat_image=False,
                high_res_features=high_res,
            )
        logits = self._transforms.postprocess_masks(low_res.float(), emb.original_size)
        masks = (logits > 0.0)[0].cpu().numpy()
        scores_np = scores[0].float().cpu().numpy()
        low = torch.clamp(low_res, -32.0, 32.0)[0].float().cpu().numpy()
        return Prediction(masks, scores_np, low, int(np.argmax(scores_np)))
