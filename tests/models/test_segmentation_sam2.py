"""SAM 2 video tracking: a tiny random SAM 2.1 built from the sam2 package's own modules.

Random weights give meaningless masks: these tests check plumbing (shapes, order, spans,
cancel, bounded memory, errors) and that the tracking loop equals SAM 2's own
``propagate_in_video``, never mask quality. No network: checkpoints are written to tmp_path.
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
import torch

pytest.importorskip("sam2")

from models import weights  # noqa: E402
from models.errors import Cancelled, InputError, WeightsError  # noqa: E402
from models.segmentation import sam2_video  # noqa: E402
from models.segmentation.sam2_video import (  # noqa: E402
    Sam2Frame,
    Sam2VideoTracker,
    build_tiny_sam2,
)
from models.segmentation.sam2_weights import (  # noqa: E402
    SAM2_RELEASES,
    load_sam2_weights,
    sam2_weights_available,
)

H, W = 48, 80


def _clip(n: int, h: int = H, w: int = W, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def _box_mask(y0: int = 10, y1: int = 30, x0: int = 20, x1: int = 50, h: int = H, w: int = W) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    mask[y0:y1, x0:x1] = True
    return mask


class Reader:
    """get_frame over a list, counting reads."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = frames
        self.reads: list[int] = []

    def __call__(self, i: int) -> np.ndarray:
        self.reads.append(i)
        return self.frames[i]


@pytest.fixture(scope="module")
def tracker() -> Sam2VideoTracker:
    return Sam2VideoTracker.tiny(seed=0)


# --------------------------------------------------------------------------- registry, weights


def test_the_four_sam2_1_checkpoints_are_registered():
    specs = {s.name: s for s in weights.registered("sam2")}
    assert list(specs) == ["sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus", "sam2.1_hiera_large"]
    for name, spec in specs.items():
        assert spec.file_name == name + ".pt"
        assert spec.url == "https://dl.fbaipublicfiles.com/segment_anything_2/092824/" + spec.file_name
        assert spec.licence == "Apache-2.0" and spec.state_key == "model"
        assert spec.size and spec.sha256 and len(spec.sha256) == 64
        module, _, builder = spec.network.partition(":")
        assert module == "models.segmentation.sam2_video" and callable(getattr(sam2_video, builder))
    assert specs["sam2.1_hiera_tiny"].size == 156_008_466


def test_each_checkpoint_maps_to_a_config_shipped_in_the_sam2_package():
    import importlib.resources

    configs = {name: r.config for name, r in SAM2_RELEASES.items()}
    assert configs["sam2.1_hiera_base_plus"] == "configs/sam2.1/sam2.1_hiera_b+.yaml"
    for config in configs.values():
        assert importlib.resources.files("sam2").joinpath(config).is_file()


def test_weights_available_only_when_the_file_is_there(tmp_path):
    assert not sam2_weights_available("sam2.1_hiera_tiny", tmp_path)
    (tmp_path / "sam2.1_hiera_tiny.pt").write_bytes(b"x")
    assert sam2_weights_available("sam2.1_hiera_tiny", tmp_path)
    with pytest.raises(InputError, match="Unknown SAM 2 model 'sam3'"):
        sam2_weights_available("sam3", tmp_path)


@pytest.fixture
def released_tiny(tmp_path):
    """The tiny model saved in the released layout, registered under a test name."""
    model = build_tiny_sam2(seed=1)
    path = tmp_path / "tiny_sam2.pt"
    torch.save({"model": model.state_dict()}, path)
    spec = weights.register(weights.CheckpointSpec(
        "test_sam2_tiny", path.name, "http://127.0.0.1/tiny_sam2.pt", description="the tiny SAM 2",
        group="test", state_key="model",
    ), replace=True)
    return spec, path, model


def test_a_checkpoint_in_the_released_layout_loads_and_is_trusted_on_first_use(released_tiny):
    spec, path, saved = released_tiny
    fresh = build_tiny_sam2(seed=2)
    weights.load_checkpoint(spec.name, fresh, weights_dir=path.parent)
    for key, value in saved.state_dict().items():
        torch.testing.assert_close(fresh.state_dict()[key], value)
    assert path.with_name(path.name + ".sha256").is_file()
    # the same file chosen by path, as a user would
    other = load_sam2_weights(build_tiny_sam2(seed=3), checkpoint=path)
    torch.testing.assert_close(other.state_dict()["no_mem_embed"], saved.state_dict()["no_mem_embed"])


def test_a_corrupt_checkpoint_is_a_weights_error(released_tiny):
    spec, path, _ = released_tiny
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(WeightsError, match="tiny_sam2.pt"):
        weights.load_checkpoint(spec.name, build_tiny_sam2(), weights_dir=path.parent)


def test_a_bare_state_dict_where_the_released_layout_is_expected_is_a_weights_error(released_tiny):
    spec, path, model = released_tiny
    torch.save(model.state_dict(), path)
    with pytest.raises(WeightsError, match="has no 'model' entry"):
        weights.load_checkpoint(spec.name, build_tiny_sam2(), weights_dir=path.parent)


def test_another_network_is_a_weights_error(tmp_path):
    path = tmp_path / "fewer_memories.pt"
    other = sam2_video.build_sam2(overrides={**sam2_video.tiny_sam2_overrides(), "num_maskmem": 5})
    torch.save({"model": other.state_dict()}, path)
    with pytest.raises(WeightsError, match="fewer_memories.pt .*maskmem_tpos_enc"):
        load_sam2_weights(build_tiny_sam2(), checkpoint=path)


def test_missing_weights_say_how_to_download_them_before_building_anything(tmp_path):
    with pytest.raises(WeightsError, match="weights download sam2.1_hiera_small"):
        Sam2VideoTracker.from_pretrained("sam2.1_hiera_small", weights_dir=tmp_path)
    with pytest.raises(WeightsError, match="does not exist"):
        Sam2VideoTracker.from_pretrained(checkpoint=tmp_path / "nope.pt")


def test_building_does_not_depend_on_global_hydra_state():
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    try:
        a = build_tiny_sam2(seed=0)
    finally:
        if not GlobalHydra.instance().is_initialized():
            initialize_config_module("sam2", version_base="1.2")
    b = build_tiny_sam2(seed=0)  # initialised again: the same network, the same weights
    torch.testing.assert_close(a.state_dict()["image_encoder.trunk.pos_embed"],
                               b.state_dict()["image_encoder.trunk.pos_embed"])


def test_the_state_has_every_key_sam2_init_state_makes(tracker):
    from sam2.sam2_video_predictor import SAM2VideoPredictor

    source = inspect.getsource(SAM2VideoPredictor.init_state)
    expected = set(re.findall(r'inference_state\["(\w+)"\]\s*=', source))
    assert expected and expected <= set(tracker._new_state(sam2_video._LazyFrames(Reader(_clip(2)), 2, 64, 0)))


# --------------------------------------------------------------------------- propagate


def test_propagate_yields_every_frame_of_the_span_forward_then_backward(tracker):
    frames = _clip(12)
    out = list(tracker.propagate(Reader(frames), 12, {5: _box_mask()}, 5, lo=2, hi=9))
    assert [f.index for f in out] == [6, 7, 8, 9, 4, 3, 2]
    assert [f.direction for f in out] == [1, 1, 1, 1, -1, -1, -1]
    for f in out:
        assert isinstance(f, Sam2Frame) and isinstance(f.score, float)
        assert f.mask.shape == (H, W) and f.mask.dtype == bool


@pytest.mark.parametrize("directions, expected", [("forward", [4, 5, 6]), ("backward", [2, 1, 0])])
def test_one_direction_only(tracker, directions, expected):
    out = tracker.propagate(Reader(_clip(8)), 8, {3: _box_mask()}, 3, lo=0, hi=6, directions=directions)
    assert [f.index for f in out] == expected


def test_both_directions_give_what_each_direction_gives_alone(tracker):
    frames, keys = _clip(10), {4: _box_mask()}
    both = list(tracker.propagate(Reader(frames), 10, keys, 4, lo=0, hi=9))
    alone = [*tracker.propagate(Reader(frames), 10, keys, 4, lo=0, hi=9, directions="forward"),
             *tracker.propagate(Reader(frames), 10, keys, 4, lo=0, hi=9, directions="backward")]
    assert [f.index for f in both] == [f.index for f in alone]
    for a, b in zip(both, alone):
        assert a.score == b.score and np.array_equal(a.mask, b.mask)


def test_frames_outside_the_span_are_not_read_and_a_keyframe_inside_it_yields_its_mask(tracker):
    frames = _clip(20)
    reader = Reader(frames)
    inside, border, far = _box_mask(5, 40, 10, 70), _box_mask(), _box_mask(0, 10, 0, 10)
    keys = {8: _box_mask(), 11: inside, 14: border, 1: far}
    out = {f.index: f for f in tracker.propagate(reader, 20, keys, 8, lo=6, hi=13)}
    assert sorted(out) == [6, 7, 9, 10, 11, 12, 13]
    # frame 14 (bounds the span) is a conditioning frame; frame 1 (far away) is not used
    assert set(reader.reads) == set(range(6, 15))
    got = out[11].mask
    assert (got & inside).sum() / (got | inside).sum() > 0.8


def test_the_loop_equals_sam2s_own_propagate_in_video(tracker):
    frames, keys = _clip(30), {3: _box_mask(), 25: _box_mask(5, 25, 30, 60)}
    mine = list(tracker.propagate(Reader(frames), 30, keys, 3, lo=0, hi=29, directions="forward"))
    state = tracker._new_state(sam2_video._LazyFrames(Reader(frames), 30, tracker.image_size, 3))
    with torch.inference_mode():
        for k in (25, 3):
            tracker.model.add_new_mask(state, k, 1, torch.from_numpy(keys[k]))
        theirs = [(t, (m[0, 0] > 0).numpy()) for t, _, m in tracker.model.propagate_in_video(state, 3)]
    outputs = state["output_dict_per_obj"][0]
    assert [f.index for f in mine] == [t for t, _ in theirs[1:]]
    assert sum(f.mask.any() for f in mine) > 0  # a parity of empty masks would prove nothing
    for f, (t, mask) in zip(mine, theirs[1:]):
        out = outputs["non_cond_frame_outputs"].get(t) or outputs["cond_frame_outputs"][t]
        assert np.array_equal(f.mask, mask)
        assert f.score == pytest.approx(float(out["object_score_logits"]), abs=1e-6)


def test_memory_stays_bounded_over_a_long_clip(tracker):
    n = 60
    held = []
    for _ in tracker.propagate(Reader(_clip(n)), n, {0: _box_mask()}, 0, lo=0, hi=n - 1):
        held.append(tracker.held_frames())
    assert len(held) == n - 1
    bound = tracker.memory_reach + 1  # the reachable tracked outputs + the one keyframe
    assert max(h.outputs for h in held) == bound < n // 2
    assert max(h.features for h in held) == 1
    assert max(h.images for h in held) <= tracker.image_cache
    assert tracker.held_frames().total == 0  # released when the run ends


def test_pruning_changes_no_result(tracker):
    frames, keys = _clip(40), {0: _box_mask()}
    keep_all = Sam2VideoTracker(tracker.model, prune=False)
    pruned = list(tracker.propagate(Reader(frames), 40, keys, 0, lo=0, hi=39))
    full = list(keep_all.propagate(Reader(frames), 40, keys, 0, lo=0, hi=39))
    assert len(pruned) == len(full) == 39
    for a, b in zip(pruned, full):
        assert a.score == b.score and np.array_equal(a.mask, b.mask)


def test_cancel_raises_and_nothing_more_is_yielded(tracker):
    polls = []

    def cancel() -> bool:
        polls.append(1)
        return len(polls) > 4  # one poll for the keyframe, then one per frame

    it = tracker.propagate(Reader(_clip(12)), 12, {2: _box_mask()}, 2, lo=0, hi=11, cancel=cancel)
    got = []
    with pytest.raises(Cancelled):
        for f in it:
            got.append(f.index)
    assert got == [3, 4, 5]
    assert list(it) == []
    assert tracker.held_frames().total == 0


# --------------------------------------------------------------------------- prompts


def test_mask_from_a_point_and_from_a_box(tracker):
    reader = Reader(_clip(6, 60, 90))
    point = tracker.mask_from_prompt(reader, 6, 2, points=[[40, 30]], labels=[1])
    box = tracker.mask_from_prompt(reader, 6, 2, box=(10, 10, 70, 50))
    both = tracker.mask_from_prompt(reader, 6, 2, points=np.array([[40.0, 30.0], [5, 5]]), labels=[1, 0],
                                    box=(10, 10, 70, 50))
    for mask in (point, box, both):
        assert mask.shape == (60, 90) and mask.dtype == bool
    assert reader.reads == [2]  # the features of frame 2 are kept for the next clicks
    tracker.mask_from_prompt(reader, 6, 4, points=[[1, 1]], labels=[1])
    assert reader.reads == [2, 4]
    tracker.clear_cache()


# --------------------------------------------------------------------------- bad input


def test_a_frame_of_another_size_is_an_input_error_naming_it(tracker):
    frames = _clip(8)
    frames[5] = np.zeros((H + 2, W, 3), np.uint8)
    with pytest.raises(InputError, match=r"Frame 5 is 80x50 but frame 2 is 80x48"):
        list(tracker.propagate(Reader(frames), 8, {2: _box_mask()}, 2, lo=0, hi=7))


def test_a_frame_that_is_not_uint8_rgb_is_an_input_error(tracker):
    frames = _clip(4)
    frames[1] = frames[1].astype(np.float32)
    with pytest.raises(InputError, match="Frame 1 is an array of shape .* float32.*HxWx3 uint8"):
        tracker.propagate(Reader(frames), 4, {1: _box_mask()}, 1, lo=0, hi=3)
    frames[1] = frames[1][..., 0].astype(np.uint8)
    with pytest.raises(InputError, match="Frame 1"):
        tracker.mask_from_prompt(Reader(frames), 4, 1, box=(0, 0, 5, 5))


def test_a_keyframe_mask_of_the_wrong_size_is_an_input_error(tracker):
    with pytest.raises(InputError, match="The keyframe mask for frame 3 is 40x48 but the clip is 80x48"):
        tracker.propagate(Reader(_clip(6)), 6, {3: np.ones((48, 40), bool)}, 3, lo=0, hi=5)


def test_an_empty_keyframe_is_an_input_error(tracker):
    with pytest.raises(InputError, match="keyframe mask for frame 3 is empty"):
        tracker.propagate(Reader(_clip(6)), 6, {3: np.zeros((H, W), bool)}, 3, lo=0, hi=5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(start=4, lo=0, hi=5), "no keyframe mask"),
    (dict(start=3, lo=4, hi=5), "must lie in the span"),
    (dict(start=3, lo=0, hi=6), "not a frame of the clip"),
    (dict(start=3, lo=0, hi=5, directions="sideways"), "directions must be one of"),
])
def test_bad_spans_are_input_errors(tracker, kwargs, message):
    start = kwargs.pop("start")
    with pytest.raises(InputError, match=message):
        tracker.propagate(Reader(_clip(6)), 6, {3: _box_mask()}, start, **kwargs)


@pytest.mark.parametrize("prompt, message", [
    (dict(), "needs clicks"),
    (dict(points=[[1, 2]]), "both points"),
    (dict(points=[[1, 2, 3]], labels=[1]), "Nx2"),
    (dict(points=[[1, 2]], labels=[1, 0]), "1 points but 2 labels"),
    (dict(points=[[1, 2]], labels=[2]), "1 \\(object\\) or 0"),
    (dict(box=(10, 10, 5, 20)), "x1 > x0"),
])
def test_bad_prompts_are_input_errors(tracker, prompt, message):
    with pytest.raises(InputError, match=message):
        tracker.mask_from_prompt(Reader(_clip(2)), 2, 0, **prompt)


# ----------------------------------------------------------------------------- clicks (image mode)
def _sam2_image_predictor(tracker: Sam2VideoTracker):
    """SAM 2's own image predictor over the tracker's network (its feature sizes assume 1024)."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    ref = SAM2ImagePredictor(tracker.model)
    s = tracker.image_size
    ref._bb_feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
    return ref


@pytest.mark.parametrize("prompt", [
    {"points": [[12.0, 30.0]], "labels": [1], "multimask": True},
    {"points": [[12.0, 30.0], [60.0, 8.0]], "labels": [1, 0], "multimask": False},
    {"box": [20.0, 10.0, 50.0, 30.0], "multimask": False},
    {"points": [[30.0, 20.0]], "labels": [1], "box": [20.0, 10.0, 50.0, 30.0], "multimask": False},
])
def test_clicks_with_sam2_equal_sam2s_own_image_predictor(tracker, prompt):
    from models.segmentation import Sam2ClickPredictor

    frame = _clip(1)[0]  # 80x48: not square, so the stretch to SAM 2's square is exercised
    ours = Sam2ClickPredictor.from_tracker(tracker, cache_size=2)
    ours.set_frame("clip", 0, frame)
    got = ours.predict(prompt.get("points"), prompt.get("labels"), box=prompt.get("box"), multimask=prompt["multimask"])
    ref = _sam2_image_predictor(tracker)
    ref.set_image(frame)
    pts = prompt.get("points")
    masks, scores, low = ref.predict(point_coords=None if pts is None else np.array(pts),
                                     point_labels=None if pts is None else np.array(prompt["labels"]),
                                     box=None if "box" not in prompt else np.array(prompt["box"]),
                                     multimask_output=prompt["multimask"])
    assert got.masks.shape == masks.shape == ((3 if prompt["multimask"] else 1), H, W)
    np.testing.assert_array_equal(got.masks, masks > 0)
    np.testing.assert_allclose(got.scores, scores, atol=1e-6)
    np.testing.assert_allclose(got.low_res_logits, low, atol=1e-5)
    # the previous answer fed back as the mask prompt, as the editor refines a click
    again = ours.predict([[12.0, 30.0]], [1], mask_input=got.low_res_logits[got.best][None], multimask=False)
    m2, _, _ = ref.predict(np.array([[12.0, 30.0]]), np.array([1]), mask_input=low[got.best][None], multimask_output=False)
    np.testing.assert_array_equal(again.mask, m2[0] > 0)


def test_clicks_with_sam2_cache_embeddings_share_the_weights_and_check_prompts(tracker):
    from models.segmentation import Sam2ClickPredictor

    frames = _clip(3)
    ours = Sam2ClickPredictor.from_tracker(tracker, cache_size=2)
    assert ours.kind == "sam2" and ours.model is tracker.model  # no second copy of the network
    assert ours.set_frame("clip", 0, frames[0]) and not ours.set_frame("clip", 0, frames[0])
    assert ours.prefetch("clip", [0, 1, 2], frames.__getitem__) == [1]  # 0 cached; room for two
    assert ours.cache_info().size == 2
    ours.set_frame("clip", 0, frames[0])
    a = ours.predict(mask_input=_box_mask(), multimask=False)  # a painted mask as the prompt
    assert a.masks.shape == (1, H, W) and a.low_res_logits.shape == (1, ours.mask_input_size, ours.mask_input_size)
    with pytest.raises(InputError, match="at least one click"):
        ours.predict()
    with pytest.raises(InputError, match="outside"):
        ours.predict(box=[200, 200, 300, 300])
    with pytest.raises(InputError, match="HxWx3 uint8"):
        ours.set_frame("clip", 5, frames[0].astype(np.float32))


def test_each_tracked_frame_carries_sam2s_own_predicted_iou(tracker):
    frames = _clip(4)
    out = list(tracker.propagate(Reader(frames), 4, {0: _box_mask()}, 0, lo=0, hi=3))
    assert out and all(isinstance(f.iou, float) and np.isfinite(f.iou) for f in out)


def test_sam2_flags_come_from_its_object_score_and_predicted_iou_not_only_an_empty_mask():
    from models.segmentation.sam2_video import Sam2Frame
    from models.segmentation.tracking import MaskTrack, run_to_end

    frames = _clip(5)
    key = _box_mask()

    class Scripted:
        """SAM 2's answers: sure, unsure of its mask, doubting the object is there, sure."""

        def propagate(self, get_frame, num_frames, keyframes, frame, lo, hi, directions, cancel=None):
            answers = {1: (3.0, 0.9), 2: (2.0, 0.3), 3: (-1.0, 0.8), 4: (3.0, 0.95)}
            for t in range(frame + 1, hi + 1):
                score, iou = answers[t]
                yield Sam2Frame(t, key.copy(), score, 1, iou)

    track = MaskTrack(5, key.shape)
    track.set_keyframe(0, key)
    update = run_to_end(track.repropagate_from(0, lambda i: frames[i], video_tracker=Scripted(), directions="forward"))
    assert sorted(update.flagged) == [2, 3]
    assert "IoU estimate is 0.30" in update.flagged[2] and "doubts the object is here" in update.flagged[3]
