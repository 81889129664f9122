"""Object masks by clicking (Segment Anything) and their propagation across a clip.

- :class:`SamClickPredictor` (``predictor.py``): clicks/box -> masks against an LRU of frame
  embeddings keyed by (clip id, frame index); :func:`build_sam` and
  :data:`SAM_ARCHITECTURES` (``sam_model.py``); the SAM checkpoints are registered in
  ``models.weights`` by ``weights.py`` when this package is imported.
- :class:`Sam2VideoTracker` (``sam2_video.py``): SAM 2 video tracking of an object from its
  keyframe masks, frames read lazily, memory bounded; the SAM 2.1 checkpoints are registered
  by ``sam2_weights.py`` (``sam2`` itself is imported only when a network is built);
  :class:`Sam2ClickPredictor` (``sam2_click.py``): clicks with SAM 2's image mode, the same
  interface as :class:`SamClickPredictor`.
- :class:`MaskTrack` / :class:`TrackSet` (``tracking.py``): keyframes, propagation forward and
  backward with optical flow (``flow.py``) refined by SAM, drift checks, one
  :class:`TrackUpdate` per run for one undo step.

No Qt and no file access here, except through ``models.weights``.
"""

from .flow import FlowField, WarpResult
from .predictor import CacheInfo, Prediction, SamClickPredictor
from .sam2_click import Sam2ClickPredictor
from .sam2_video import HeldFrames, Sam2Frame, Sam2VideoTracker, build_sam2, build_tiny_sam2
from .sam2_weights import DEFAULT_SAM2_MODEL, SAM2_RELEASES, load_sam2_weights, sam2_weights_available
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
    "DEFAULT_SAM2_MODEL",
    "DEFAULT_SAM_MODEL",
    "DOWNLOAD_HINT",
    "FLOW_ONLY_NOTE",
    "FlowField",
    "FrameFlagged",
    "HeldFrames",
    "MaskPropagated",
    "MaskTrack",
    "Prediction",
    "SAM2_RELEASES",
    "SAM_ARCHITECTURES",
    "SAM_CHECKPOINTS",
    "SAM_MD5",
    "SamArchitecture",
    "Sam2ClickPredictor",
    "Sam2Frame",
    "Sam2VideoTracker",
    "SamClickPredictor",
    "TrackSet",
    "TrackUpdate",
    "TrackingConfig",
    "WarpResult",
    "build_sam",
    "build_sam2",
    "build_tiny_sam2",
    "interior_points",
    "load_sam2_weights",
    "load_sam_weights",
    "mask_box",
    "mask_iou",
    "run_to_end",
    "sam2_weights_available",
    "sam_weights_available",
]
