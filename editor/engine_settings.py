"""The engine settings: one frozen type, one builder (no Qt, no argparse).

:class:`EngineSettings` is what a user chooses about the engine: which one, the device and
precision, and ProPainter's options. Its defaults are the engine's own
(:class:`models.config.ProPainterConfig`, :class:`models.classic.ClassicConfig`), so the CLI's
flags (whose defaults are read from here), the editor's panel and a project's ``settings``
are views of one thing. :func:`build_engine` is the one place an engine is made from them,
for the CLI and the editor alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from models.classic import ClassicConfig
from models.config import ProPainterConfig
from models.errors import InputError, WeightsError

#: "auto": ProPainter when its weights are present, else the classic engine.
ENGINES = ("auto", "propainter", "classic")
#: "auto": fp16 on CUDA, bf16 on a CPU with bf16 instructions, fp32 otherwise
#: (:func:`models.device.resolve_precision`).
PRECISIONS = ("auto", "fp32", "fp16", "bf16")

_PROPAINTER = {f.name: f.default for f in fields(ProPainterConfig)}
_CLASSIC = {f.name: f.default for f in fields(ClassicConfig)}


@dataclass(frozen=True)
class EngineSettings:
    """The engine a run uses and its options; every field is checked on construction.

    Attributes:
        engine: "auto" (ProPainter when its weights are present, else classic),
            "propainter" or "classic".
        device: "auto" (CUDA, then MPS, then CPU), "cpu", "cuda", "cuda:N" or "mps".
        fp16: the older spelling of ``precision`` (True = "fp16", False = "fp32", None = not
            given), kept for the ``--fp16/--no-fp16`` flags: on construction it is moved into
            ``precision`` and becomes None, so ``EngineSettings(fp16=True) ==
            EngineSettings(precision="fp16")``. Projects keep ``precision`` only
            (:func:`migrate_settings` reads an older project's ``fp16``).
        precision: "auto" (fp16 on CUDA, bf16 on a CPU with bf16 instructions, else fp32),
            "fp32", "fp16" or "bf16".
        subvideo_length: ProPainter's frames per sub-video; the classic engine emits a chunk
            (a preview in the editor) every ``min(subvideo_length, ClassicConfig.chunk_size)``
            frames.
        neighbor_length, ref_stride, raft_iter: ProPainter's options (see ProPainterConfig).
        mask_dilation: pixels the masks grow by, for both engines.
        weights_dir: folder of the ProPainter checkpoints; None = the weights cache. A
            machine's setting, not a project's: :meth:`to_dict` leaves it out.

    The classic engine's other options (its window of ``neighbor_radius`` frames each side,
    flow and inpaint parameters) are :class:`ClassicConfig`'s defaults.
    """

    engine: str = "auto"
    device: str = _PROPAINTER["device"]
    fp16: bool | None = _PROPAINTER["fp16"]
    precision: str = _PROPAINTER["precision"]
    subvideo_length: int = _PROPAINTER["subvideo_length"]
    neighbor_length: int = _PROPAINTER["neighbor_length"]
    ref_stride: int = _PROPAINTER["ref_stride"]
    raft_iter: int = _PROPAINTER["raft_iter"]
    mask_dilation: int = _PROPAINTER["mask_dilation"]
    weights_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise InputError(f"engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        self.propainter_config()  # checks the shared options, naming the one that is wrong
        self.classic_config()
        if self.fp16 is not None:  # one spelling from here on (checked above: they agree)
            object.__setattr__(self, "precision", "fp16" if self.fp16 else "fp32")
            object.__setattr__(self, "fp16", None)

    # ---- the engines' configurations ---------------------------------------------------------
    def propainter_config(self) -> ProPainterConfig:
        return ProPainterConfig(
            device=self.device,
            fp16=self.fp16,
            precision=self.precision,
            subvideo_length=self.subvideo_length,
            neighbor_length=self.neighbor_length,
            ref_stride=self.ref_stride,
            raft_iter=self.raft_iter,
            mask_dilation=self.mask_dilation,
        )

    def classic_config(self) -> ClassicConfig:
        return ClassicConfig(
            mask_dilation=self.mask_dilation,
            chunk_size=max(1, min(_CLASSIC["chunk_size"], self.subvideo_length)),
        )

    def engine_name(self) -> str:
        """'propainter' or 'classic': what ``engine`` means on this machine now."""
        return resolve_engine(self.engine, self.weights_dir)

    # ---- a project's view ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The fields a project keeps (JSON values): all but ``weights_dir`` (the machine's)
        and ``fp16`` (the older spelling, already moved into ``precision``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _NOT_SAVED}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], **overrides: Any) -> "EngineSettings":
        """Settings from a project's ``settings`` dict: the keys of this type are read (others,
        such as ``max_side``, belong to the job and are ignored), the rest are defaults. An
        older project's ``fp16`` is read as :func:`migrate_settings` reads it."""
        names = {f.name for f in fields(cls)} - {"weights_dir"}
        data = migrate_settings(data)
        values: dict[str, Any] = {k: data[k] for k in names if k in data}
        for name in ("subvideo_length", "neighbor_length", "ref_stride", "raft_iter", "mask_dilation"):
            if name in values and isinstance(values[name], float) and values[name].is_integer():
                values[name] = int(values[name])  # a JSON number that lost its int-ness
        return cls(**{**values, **overrides})

    def replace(self, **changes: Any) -> "EngineSettings":
        return dataclasses.replace(self, **changes)


_NOT_SAVED = ("weights_dir", "fp16")

#: An older project's ``fp16`` value -> the ``precision`` it meant.
_FP16_MEANT = {True: "fp16", False: "fp32", None: "auto"}


def migrate_settings(data: Mapping[str, Any]) -> dict[str, Any]:
    """A project's ``settings`` with an older ``fp16`` key (True, False or None = automatic)
    turned into the ``precision`` it meant ("fp16", "fp32", "auto"). A ``precision`` the
    project also sets (other than "auto") wins. Other keys and values are kept as they are
    (nothing is checked here: :class:`EngineSettings` checks)."""
    out = dict(data)
    if "fp16" not in out:
        return out
    fp16 = out.pop("fp16")
    if out.get("precision", "auto") == "auto" and fp16 in _FP16_MEANT:
        out["precision"] = _FP16_MEANT[fp16]
    elif fp16 not in _FP16_MEANT and "precision" not in out:
        out["fp16"] = fp16  # not a value this ever saved: left for EngineSettings to reject
    return out


def resolve_engine(engine: str, weights_dir: Path | None = None) -> str:
    """'propainter' or 'classic' for an ``engine`` choice: "auto" is ProPainter when its
    weights are in ``weights_dir`` (None = the weights cache), else classic."""
    if engine != "auto":
        return engine
    from models.weights import weights_available

    return "propainter" if weights_available(weights_dir) else "classic"


def build_engine(settings: EngineSettings | Mapping[str, Any], say: Callable[[str], None] | None = None) -> Any:
    """The engine ``settings`` ask for (a project's dict is read with :meth:`EngineSettings.from_dict`).

    ProPainter loads its weights here: in the editor, call this on a worker thread. With
    ``engine="auto"``, ``say`` (when given) is told which engine was picked and why.

    Raises:
        WeightsError: ProPainter was asked for and its weights are not there.
    """
    s = settings if isinstance(settings, EngineSettings) else EngineSettings.from_dict(settings)
    name = s.engine_name()
    if say is not None and s.engine == "auto":
        if name == "propainter":
            say("Using the ProPainter engine (weights found).")
        else:
            say("ProPainter weights not found: using the classic engine (no weights needed); "
                "run `python main.py weights download` for ProPainter.")
    if name == "classic":
        from models.classic import ClassicEngine

        return ClassicEngine(s.classic_config())
    from models import weights

    if not weights.weights_available(s.weights_dir):
        raise WeightsError(
            f"The ProPainter weights are not in {weights.where(s.weights_dir)}; download them "
            f"(`{weights.DOWNLOAD_COMMAND}`, or the editor's Download button), give their folder "
            "(--weights-dir), or use the classic engine."
        )
    from models.pipeline import ProPainterEngine

    return ProPainterEngine(s.propainter_config(), weights_dir=s.weights_dir)
