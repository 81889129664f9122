"""Object masks by clicking (Segment Anything) and their propagation across a clip.

- :class:`SamClickPredictor` (``predictor.py``): clicks/box -> masks against an LRU of frame
  embeddings keyed by (clip id, frame index); :func:`build_sam` and
  :data:`SAM_ARCHITECTURES` (``sam_model.py``); the SAM checkpoints are registered in
  ``models.weights`` by ``weights.py`` when this package is imported.
- :class:`MaskTrack` / :class:`TrackSet` (``tracking.py``): keyframes, propagation forward and
  backward with optical flow (``flow.py``) refined by SAM, drift checks, one
  :class:`TrackUpdate` per run for one undo step.

No Qt and no file access here, except through ``models.weights``.
"""

from .flow import FlowField, WarpResult
from .predictor import CacheInfo, Prediction, SamClickPredictor
from .sam_model import DEFAULT_SAM_MODEL, SAM_ARCHITECTURES, SAM_CHECKPOINTS, SamArchitecture, build_sam
from .tracking import (
    FLOW_ONLY_NOTE,
    FrameFlagged,
    MaskPropagated,
    MaskTrack,
    TrackingConfig,
    TrackSet,
    TrackUpdate,
    interior_points,
    mask_box,
    mask_iou,
    run_to_end,
)
from .weights import DOWNLOAD_HINT, SAM_MD5, load_sam_weights, sam_weights_available

__all__ = [
    "CacheInfo",
    "DEFAULT_SAM_MODEL",
    "DOWNLOAD_HINT",
    "FLOW_ONLY_NOTE",
    "FlowField",
    "FrameFlagged",
    "MaskPropagated",
    "MaskTrack",
    "Prediction",
    "SAM_ARCHITECTURES",
    "SAM_CHECKPOINTS",
    "SAM_MD5",
    "SamArchitecture",
    "SamClickPredictor",
    "TrackSet",
    "TrackUpdate",
    "TrackingConfig",
    "WarpResult",
    "build_sam",
    "interior_points",
    "load_sam_weights",
    "mask_box",
    "mask_iou",
    "run_to_end",
    "sam_weights_available",
]
