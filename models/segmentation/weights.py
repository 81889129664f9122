"""The SAM checkpoints in the engine's weights registry, and loading them into a network.

The official files are registered with :func:`models.weights.register` (group ``"sam"``) when
``models.segmentation`` is imported, so ``models.weights.download("sam_vit_b")`` and
``verify`` know them. The six hex digits in each file name are the start of the file's
**MD5** (not its sha256), so no sha256 is published: like the ProPainter files, they are
trusted on first use (the sha256 is recorded next to the file and checked on every later
load). :data:`SAM_MD5` keeps the full MD5s for a weights manager that can check them.

A checkpoint the user picks by path (``--sam-checkpoint``) is loaded through the same code:
it is registered under a name derived from its path, with its folder as the weights folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .. import weights
from ..errors import WeightsError
from .sam_model import SAM_CHECKPOINTS, SamArchitecture

SAM_URL = "https://dl.fbaipublicfiles.com/segment_anything/"
SAM_LICENCE = "Apache-2.0"

#: Published MD5 of each official file (its first six digits are in the file name).
SAM_MD5 = {
    "sam_vit_b_01ec64.pth": "01ec64d29a2fca3f0661936605ae66f5",
    "sam_vit_l_0b3195.pth": "0b3195507c641ddb6910d2bb5adee89c",
    "sam_vit_h_4b8939.pth": "4b8939a88964f0f4ff5f5b2642c598a6",
}

_FILES = {"vit_b": "sam_vit_b_01ec64.pth", "vit_l": "sam_vit_l_0b3195.pth", "vit_h": "sam_vit_h_4b8939.pth"}
_NAMES = {"vit_b": "ViT-B", "vit_l": "ViT-L", "vit_h": "ViT-H"}

for _model_type, _file in _FILES.items():
    weights.register(weights.CheckpointSpec(
        name=SAM_CHECKPOINTS[_model_type],
        file_name=_file,
        url=SAM_URL + _file,
        licence=SAM_LICENCE,
        description=f"the Segment Anything {_NAMES[_model_type]} network",
        network=f"models.segmentation.sam_model:build_sam_{_model_type}",
        group="sam",
    ))

DOWNLOAD_HINT = "python main.py weights download sam_vit_b"


def sam_weights_available(model_type: str = "vit_b", weights_dir: str | os.PathLike | None = None) -> bool:
    """True when the official checkpoint of ``model_type`` is in the weights folder (not checked)."""
    return weights.checkpoint_path(SAM_CHECKPOINTS[model_type], weights_dir).is_file()


def _custom_spec(path: Path, arch: SamArchitecture) -> str:
    """Register a user-chosen checkpoint file under a name of its own; returns the name."""
    return weights.register_user_file(
        path, "sam_custom", url=SAM_URL + _FILES.get(arch.name, _FILES["vit_b"]),
        description=f"a Segment Anything {_NAMES.get(arch.name, arch.name)} network", group="sam-custom")


def load_sam_weights(
    model: torch.nn.Module,
    arch: SamArchitecture,
    *,
    checkpoint: str | os.PathLike | None = None,
    weights_dir: str | os.PathLike | None = None,
    map_location: str | torch.device = "cpu",
) -> torch.nn.Module:
    """Load SAM weights into ``model`` through :func:`models.weights.load_checkpoint`.

    ``checkpoint``: a file chosen by the user; otherwise the registered official file of
    ``arch`` (vit_b/vit_l/vit_h) in ``weights_dir``. Raises :class:`WeightsError` (missing,
    corrupt, another network: the message says what to do).
    """
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise WeightsError(
                f"The SAM checkpoint {path} does not exist: give the path of a .pth file, or "
                f"download the official one with `{DOWNLOAD_HINT}`."
            )
        name = _custom_spec(path, arch)
        return weights.load_checkpoint(name, model, weights_dir=path.parent, map_location=map_location)
    if arch.name not in SAM_CHECKPOINTS:
        raise WeightsError(
            f"The SAM architecture {arch.name!r} has no registered checkpoint: pass the file with --sam-checkpoint."
        )
    name = SAM_CHECKPOINTS[arch.name]
    if not weights.checkpoint_path(name, weights_dir).is_file():
        raise WeightsError(
            f"The SAM weights {_FILES[arch.name]} are not in {weights.where(weights_dir)}: download them with "
            f"`python main.py weights download {name}`, or give a file with --sam-checkpoint."
        )
    return weights.load_checkpoint(name, model, weights_dir=weights_dir, map_location=map_location)
