"""The SAM 2.1 checkpoints in the engine's weights registry, and loading them into a network.

The four official SAM 2.1 files (Meta, 2024-09-28 release, Apache-2.0) are registered with
:func:`models.weights.register` (group ``"sam2"``) when ``models.segmentation`` is imported,
so ``models.weights.download("sam2.1_hiera_tiny")`` and ``verify`` know them. Importing this
module does not import ``sam2`` (nor hydra): the networks are built on demand.

Sizes and sha256. Meta publishes neither next to the files. The values below are those that
many independent public projects record for the files at these URLs, all agreeing (e.g.
micro-sam's SAM 2 model table, which checks them with ``pooch``; the Hugging Face mirror
``facebook/sam2.1-hiera-base-plus`` stores its ``.pt`` under the same sha256 as its blob
name). A file that does not match is refused with a :class:`~models.errors.WeightsError`,
so trust on first use is not needed for the official files; a file the user picks by path
is trusted on first use like any other unpublished checkpoint.

The released files hold ``{"model": state_dict}``; the spec's ``state_key="model"`` makes
:func:`models.weights.load_checkpoint` pick that entry, with ``torch.load(weights_only=True)``
and the exact key/shape check as for every other checkpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import weights
from ..errors import InputError, WeightsError

SAM2_URL = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"
SAM2_LICENCE = "Apache-2.0"
DEFAULT_SAM2_MODEL = "sam2.1_hiera_tiny"


@dataclass(frozen=True)
class Sam2Release:
    """One official checkpoint: its registry name, file, hydra config inside the sam2 package."""

    name: str
    file_name: str
    config: str
    size: int
    sha256: str
    title: str

    @property
    def builder(self) -> str:
        """The zero-argument builder of its (untrained) network, for ``models.weights.verify``."""
        return "build_" + self.name.replace("sam2.1_", "sam2_")


SAM2_RELEASES: dict[str, Sam2Release] = {r.name: r for r in (
    Sam2Release("sam2.1_hiera_tiny", "sam2.1_hiera_tiny.pt", "configs/sam2.1/sam2.1_hiera_t.yaml",
                156_008_466, "7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69",
                "Hiera-T"),
    Sam2Release("sam2.1_hiera_small", "sam2.1_hiera_small.pt", "configs/sam2.1/sam2.1_hiera_s.yaml",
                184_416_285, "6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38",
                "Hiera-S"),
    Sam2Release("sam2.1_hiera_base_plus", "sam2.1_hiera_base_plus.pt", "configs/sam2.1/sam2.1_hiera_b+.yaml",
                323_606_802, "a2345aede8715ab1d5d31b4a509fb160c5a4af1970f199d9054ccfb746c004c5",
                "Hiera-B+"),
    Sam2Release("sam2.1_hiera_large", "sam2.1_hiera_large.pt", "configs/sam2.1/sam2.1_hiera_l.yaml",
                898_083_611, "2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318",
                "Hiera-L"),
)}

for _release in SAM2_RELEASES.values():
    weights.register(weights.CheckpointSpec(
        name=_release.name,
        file_name=_release.file_name,
        url=SAM2_URL + _release.file_name,
        size=_release.size,
        sha256=_release.sha256,
        licence=SAM2_LICENCE,
        description=f"the SAM 2.1 {_release.title} network",
        network=f"models.segmentation.sam2_video:{_release.builder}",
        group="sam2",
        state_key="model",
    ))


def sam2_release(name: str) -> Sam2Release:
    """The official checkpoint called ``name``; an unknown name is an :class:`InputError`."""
    try:
        return SAM2_RELEASES[name]
    except KeyError:
        raise InputError(
            f"Unknown SAM 2 model {name!r}: choose one of {', '.join(SAM2_RELEASES)}."
        ) from None


def sam2_weights_available(model: str = DEFAULT_SAM2_MODEL,
                           weights_dir: str | os.PathLike | None = None) -> bool:
    """True when the official checkpoint ``model`` is in the weights folder (not checked)."""
    return weights.checkpoint_path(sam2_release(model).name, weights_dir).is_file()


def _custom_spec(path: Path, like: Sam2Release) -> str:
    """Register a user-chosen checkpoint file under a name of its own; returns the name."""
    return weights.register_user_file(
        path, "sam2_custom", url=SAM2_URL + like.file_name,
        description="a SAM 2 network of the chosen configuration", group="sam2-custom", state_key="model")


def load_sam2_weights(
    model: torch.nn.Module,
    name: str = DEFAULT_SAM2_MODEL,
    *,
    checkpoint: str | os.PathLike | None = None,
    weights_dir: str | os.PathLike | None = None,
    map_location: str | torch.device = "cpu",
) -> torch.nn.Module:
    """Load SAM 2 weights into ``model`` through :func:`models.weights.load_checkpoint`.

    ``checkpoint``: a file chosen by the user, in the released layout ``{"model": state_dict}``
    (it must fit ``model`` exactly); otherwise the official file ``name`` in ``weights_dir``.
    Raises :class:`WeightsError` (missing, corrupt, another network: the message says what to do).
    """
    release = require_sam2_weights(name, checkpoint=checkpoint, weights_dir=weights_dir)
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        spec_name = _custom_spec(path, release)
        try:
            return weights.load_checkpoint(spec_name, model, weights_dir=path.parent, map_location=map_location)
        except WeightsError as exc:
            reason = str(exc).split(": download it with")[0]
            raise WeightsError(
                f"{reason}: choose the .pt file of a SAM 2.1 {release.title} release, or download the official "
                f"one with `python main.py weights download {release.name}`."
            ) from None
    return weights.load_checkpoint(release.name, model, weights_dir=weights_dir, map_location=map_location)


def require_sam2_weights(name: str = DEFAULT_SAM2_MODEL, *, checkpoint: str | os.PathLike | None = None,
                         weights_dir: str | os.PathLike | None = None) -> Sam2Release:
    """Check (cheaply, before a network is built) that the file to load exists.

    Returns the release ``name``; raises :class:`WeightsError` saying how to get the file.
    """
    release = sam2_release(name)
    if checkpoint is not None:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise WeightsError(
                f"The SAM 2 checkpoint {path} does not exist: give the path of a .pt file, or "
                f"download the official one with `python main.py weights download {release.name}`."
            )
    elif not weights.checkpoint_path(release.name, weights_dir).is_file():
        raise WeightsError(
            f"The SAM 2 weights {release.file_name} are not in {weights.where(weights_dir)}: download "
            f"them with `python main.py weights download {release.name}`, or choose a checkpoint file."
        )
    return release
