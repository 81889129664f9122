"""Segment Anything networks built from the ``segment_anything`` package's own modules.

Every hyperparameter lives in one :class:`SamArchitecture`; the three official sizes are in
:data:`SAM_ARCHITECTURES` and the names of their checkpoints in the weights registry in
:data:`SAM_CHECKPOINTS`. Tests build a tiny architecture (a few blocks, a narrow encoder, a
small input) from the same code path as the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import torch
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

from ..errors import InputError

_PIXEL_MEAN = (123.675, 116.28, 103.53)
_PIXEL_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class SamArchitecture:
    """The shape of one SAM network; checked on construction.

    ``image_size``: the encoder's square input (the long side of a frame is resized to it);
    the image embedding is ``prompt_embed_dim x (image_size / patch_size)^2`` and the
    low-resolution mask logits are 4x that grid.
    """

    encoder_embed_dim: int
    encoder_depth: int
    encoder_num_heads: int
    encoder_global_attn_indexes: tuple[int, ...]
    image_size: int = 1024
    patch_size: int = 16
    window_size: int = 14
    prompt_embed_dim: int = 256
    mask_in_chans: int = 16
    decoder_depth: int = 2
    decoder_mlp_dim: int = 2048
    decoder_num_heads: int = 8
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        positive = {
            "encoder_embed_dim": self.encoder_embed_dim,
            "encoder_depth": self.encoder_depth,
            "encoder_num_heads": self.encoder_num_heads,
            "image_size": self.image_size,
            "patch_size": self.patch_size,
            "window_size": self.window_size,
            "prompt_embed_dim": self.prompt_embed_dim,
            "mask_in_chans": self.mask_in_chans,
            "decoder_depth": self.decoder_depth,
            "decoder_mlp_dim": self.decoder_mlp_dim,
            "decoder_num_heads": self.decoder_num_heads,
            "iou_head_depth": self.iou_head_depth,
            "iou_head_hidden_dim": self.iou_head_hidden_dim,
        }
        for key, value in positive.items():
            if not isinstance(value, int) or value <= 0:
                raise InputError(f"SAM architecture {key} must be a positive integer, got {value!r}.")
        if self.encoder_embed_dim % self.encoder_num_heads:
            raise InputError(
                f"SAM encoder_embed_dim {self.encoder_embed_dim} must be divisible by "
                f"encoder_num_heads {self.encoder_num_heads}."
            )
        if self.image_size % self.patch_size:
            raise InputError(f"SAM image_size {self.image_size} must be a multiple of patch_size {self.patch_size}.")
        if self.prompt_embed_dim % 8:
            raise InputError(f"SAM prompt_embed_dim must be a multiple of 8, got {self.prompt_embed_dim}.")
        if (self.prompt_embed_dim // 2) % self.decoder_num_heads:
            raise InputError(
                f"SAM prompt_embed_dim / 2 ({self.prompt_embed_dim // 2}) must be divisible by "
                f"decoder_num_heads {self.decoder_num_heads}."
            )
        if self.mask_in_chans % 4:
            raise InputError(f"SAM mask_in_chans must be a multiple of 4, got {self.mask_in_chans}.")
        bad = [i for i in self.encoder_global_attn_indexes if not 0 <= i < self.encoder_depth]
        if bad:
            raise InputError(
                f"SAM encoder_global_attn_indexes {bad} are outside 0..{self.encoder_depth - 1}."
            )

    @property
    def embedding_size(self) -> int:
        """Side of the square image embedding grid (64 for the official models)."""
        return self.image_size // self.patch_size

    @property
    def mask_input_size(self) -> int:
        """Side of the low-resolution mask logits (256 for the official models)."""
        return 4 * self.embedding_size


SAM_ARCHITECTURES: dict[str, SamArchitecture] = {
    "vit_b": SamArchitecture(768, 12, 12, (2, 5, 8, 11), name="vit_b"),
    "vit_l": SamArchitecture(1024, 24, 16, (5, 11, 17, 23), name="vit_l"),
    "vit_h": SamArchitecture(1280, 32, 16, (7, 15, 23, 31), name="vit_h"),
}

#: Model type -> checkpoint name in ``models.weights`` (see ``models/segmentation/weights.py``).
SAM_CHECKPOINTS: dict[str, str] = {"vit_b": "sam_vit_b", "vit_l": "sam_vit_l", "vit_h": "sam_vit_h"}

DEFAULT_SAM_MODEL = "vit_b"


def sam_architecture(model_type: str | SamArchitecture) -> SamArchitecture:
    """The architecture for ``"vit_b"``/``"vit_l"``/``"vit_h"`` (or the one given)."""
    if isinstance(model_type, SamArchitecture):
        return model_type
    try:
        return SAM_ARCHITECTURES[model_type]
    except KeyError:
        raise InputError(
            f"Unknown SAM model {model_type!r}; choose one of {', '.join(SAM_ARCHITECTURES)}."
        ) from None


def build_sam(architecture: str | SamArchitecture) -> Sam:
    """A randomly initialised SAM in eval mode (load weights with ``models.weights``)."""
    arch = sam_architecture(architecture)
    grid = arch.embedding_size
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=arch.encoder_depth,
            embed_dim=arch.encoder_embed_dim,
            img_size=arch.image_size,
            mlp_ratio=4,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=arch.encoder_num_heads,
            patch_size=arch.patch_size,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=tuple(arch.encoder_global_attn_indexes),
            window_size=arch.window_size,
            out_chans=arch.prompt_embed_dim,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=arch.prompt_embed_dim,
            image_embedding_size=(grid, grid),
            input_image_size=(arch.image_size, arch.image_size),
            mask_in_chans=arch.mask_in_chans,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(
                depth=arch.decoder_depth,
                embedding_dim=arch.prompt_embed_dim,
                mlp_dim=arch.decoder_mlp_dim,
                num_heads=arch.decoder_num_heads,
            ),
            transformer_dim=arch.prompt_embed_dim,
            iou_head_depth=arch.iou_head_depth,
            iou_head_hidden_dim=arch.iou_head_hidden_dim,
        ),
        pixel_mean=list(_PIXEL_MEAN),
        pixel_std=list(_PIXEL_STD),
    )
    return sam.eval()


def build_sam_vit_b() -> Sam:
    """SAM ViT-B with random weights (the network ``sam_vit_b_01ec64.pth`` holds)."""
    return build_sam("vit_b")


def build_sam_vit_l() -> Sam:
    """SAM ViT-L with random weights (the network ``sam_vit_l_0b3195.pth`` holds)."""
    return build_sam("vit_l")


def build_sam_vit_h() -> Sam:
    """SAM ViT-H with random weights (the network ``sam_vit_h_4b8939.pth`` holds)."""
    return build_sam("vit_h")
