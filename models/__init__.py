"""The ProPainter engine: torch, numpy and OpenCV only; no Qt, no files.

Public API in the style of the Hugging Face port::

    from models import ProPainterConfig, ProPainterImageProcessor, ProPainterModel
    from models import ProPainterForImageInPainting, ProPainterForImageOutPainting
"""

from .config import ProPainterConfig
from .errors import Cancelled, DeviceError, InputError, ProPainterError, WeightsError
from .events import Engine, FramesReady, Progress, Sample
from .modeling import ProPainterForImageInPainting, ProPainterForImageOutPainting, ProPainterModel, ProPainterOutput
from .pipeline import ProPainterEngine, ProPainterPipeline
from .processor import ProPainterImageProcessor

__all__ = [
    "Cancelled", "DeviceError", "Engine", "FramesReady", "InputError", "ProPainterConfig", "ProPainterEngine",
    "ProPainterError", "ProPainterForImageInPainting", "ProPainterForImageOutPainting", "ProPainterImageProcessor",
    "ProPainterModel", "ProPainterOutput", "ProPainterPipeline", "Progress", "Sample", "WeightsError",
]
