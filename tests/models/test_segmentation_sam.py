"""SAM click predictor: a tiny SAM from segment_anything's own modules, through the real loading code."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.errors import InputError, WeightsError
from models.segmentation import SAM_ARCHITECTURES, SamArchitecture, SamClickPredictor, build_sam
from models.segmentation.predictor import Prediction

TINY = SamArchitecture(
    encoder_embed_dim=32, encoder_depth=2, encoder_num_heads=2, encoder_global_attn_indexes=(1,),
    image_size=128, patch_size=16, window_size=4, prompt_embed_dim=32, mask_in_chans=8,
    decoder_depth=1, decoder_mlp_dim=64, decoder_num_heads=2, iou_head_hidden_dim=32, name="tiny",
)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("sam") / "tiny_sam.pth"
    torch.save(build_sam(TINY).state_dict(), path)
    return path


@pytest.fixture
def predictor(tiny_checkpoint):
    return SamClickPredictor.from_pretrained(TINY, checkpoint=tiny_checkpoint, cache_size=2)


def _frame(seed: int = 0, h: int = 72, w: int = 96) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_checkpoint_loads_through_the_weights_manager_with_trust_on_first_use(tiny_checkpoint, predictor):
    expected = torch.load(tiny_checkpoint, weights_only=True)
    for key, value in predictor.model.state_dict().items():
        torch.testing.assert_close(value, expected[key])
    assert tiny_checkpoint.with_name(tiny_checkpoint.name + ".sha256").is_file()


def test_checkpoint_of_another_network_is_a_weights_error(tmp_path):
    other = SamArchitecture(**{**TINY.__dict__, "encoder_depth": 3, "encoder_global_attn_indexes": (2,)})
    path = tmp_path / "deeper.pth"
    torch.save(build_sam(other).state_dict(), path)
    with pytest.raises(WeightsError, match="deeper.pth"):
        SamClickPredictor.from_pretrained(TINY, checkpoint=path)


def test_missing_checkpoint_and_missing_official_weights_say_how_to_get_them(tmp_path):
    with pytest.raises(WeightsError, match="weights download sam_vit_b"):
        SamClickPredictor.from_pretrained(TINY, checkpoint=tmp_path / "nope.pth")
    with pytest.raises(WeightsError, match="weights download sam_vit_b"):
        SamClickPredictor.from_pretrained("vit_b", weights_dir=tmp_path)


def test_official_sam_checkpoints_are_registered():
    from models import weights

    specs = {s.name: s for s in weights.registered("sam")}
    assert specs["sam_vit_b"].file_name == "sam_vit_b_01ec64.pth"
    assert specs["sam_vit_h"].url == "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth"
    assert {s.file_name for s in specs.values()} == {"sam_vit_b_01ec64.pth", "sam_vit_l_0b3195.pth", "sam_vit_h_4b8939.pth"}


def test_embedding_cache_hits_misses_and_lru_eviction(predictor):
    frames = [_frame(i) for i in range(3)]
    assert predictor.set_frame("clip", 0, frames[0]) is True
    assert predictor.set_frame("clip", 0, frames[0]) is False
    assert predictor.set_frame("other", 0, frames[1]) is True  # another clip, same index
    assert predictor.set_frame("clip", 1, frames[2]) is True  # evicts ("clip", 0) (capacity 2)
    assert not predictor.is_cached("clip", 0)
    info = predictor.cache_info()
    assert (info.hits, info.misses, info.size) == (1, 3, 2)


def test_prefetch_encodes_only_missing_frames_and_keeps_the_current_frame(predictor):
    frames = [_frame(i) for i in range(4)]
    calls = []

    def get(i):
        calls.append(i)
        return frames[i]

    predictor.set_frame("c", 0, frames[0])
    assert predictor.prefetch("c", [0, 1], get) == [1]
    assert calls == [1]
    before = predictor.predict(points=[[10, 10]], labels=[1]).masks
    assert before.shape == (3, 72, 96)  # still decodes against frame 0


def test_prefetch_is_cancellable(predictor):
    from models.errors import Cancelled

    with pytest.raises(Cancelled):
        predictor.prefetch("c", [5, 6], lambda i: _frame(i), cancel=lambda: True)


def test_click_gives_three_candidates_at_frame_size_and_best_is_the_top_score(predictor):
    predictor.set_frame("c", 0, _frame(3, 50, 130))
    result = predictor.predict(points=np.array([[60.0, 20.0]]), labels=np.array([1]))
    assert isinstance(result, Prediction)
    assert result.masks.shape == (3, 50, 130) and result.masks.dtype == bool
    assert result.best == int(np.argmax(result.scores))
    np.testing.assert_array_equal(result.mask, result.masks[result.best])
    m = TINY.mask_input_size
    assert result.low_res_logits.shape == (3, m, m)
    single = predictor.predict(points=[[60, 20], [5, 5]], labels=[1, 0], box=[40, 5, 100, 45],
                               mask_input=result.low_res_logits[result.best], multimask=False)
    assert single.masks.shape == (1, 50, 130) and single.best == 0
    from_mask = predictor.predict(mask_input=result.mask)  # a full-size bool mask as the prompt
    assert from_mask.masks.shape == (3, 50, 130)


def test_predict_is_deterministic_for_a_cached_frame(predictor):
    frame = _frame(4)
    predictor.set_frame("c", 0, frame)
    a = predictor.predict(points=[[30, 30]], labels=[1])
    predictor.set_frame("c", 1, _frame(5))
    predictor.set_frame("c", 0, frame)  # hit
    b = predictor.predict(points=[[30, 30]], labels=[1])
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(a.masks, b.masks)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"points": [[1, 2, 3]], "labels": [1]}, "Nx2"),
        ({"points": [[1, 2]], "labels": [1, 0]}, "labels"),
        ({"points": [[1, 2]], "labels": [2]}, "include"),
        ({"box": [1, 2, 3]}, "four numbers"),
        ({"box": [500, 500, 600, 600]}, "outside"),
        ({}, "at least one"),
        ({"mask_input": np.zeros((5, 5), dtype=np.float32)}, "1x"),
        ({"mask_input": np.zeros((5, 5), dtype=bool)}, "frame is"),
    ],
)
def test_bad_prompts_are_input_errors(predictor, kwargs, match):
    predictor.set_frame("c", 0, _frame(0))
    with pytest.raises(InputError, match=match):
        predictor.predict(**kwargs)


def test_bad_frames_and_architectures_are_input_errors(predictor):
    with pytest.raises(InputError, match="HxWx3 uint8"):
        predictor.set_frame("c", 9, np.zeros((10, 10), dtype=np.uint8))
    with pytest.raises(InputError, match="divisible"):
        SamArchitecture(30, 1, 4, (0,))
    with pytest.raises(InputError, match="Unknown SAM model"):
        build_sam("vit_x")


def test_full_vit_b_architecture_shapes_with_random_weights():
    torch.manual_seed(0)
    sam = build_sam(SAM_ARCHITECTURES["vit_b"])
    assert sum(p.numel() for p in sam.parameters()) == 93_735_472  # SAM ViT-B's parameter count
    predictor = SamClickPredictor(sam, cache_size=1)
    assert predictor.mask_input_size == 256 and predictor.image_size == 1024
