"""The no-weights engine: the Engine contract, streaming, cancel, input checks, fill quality."""

from __future__ import annotations

from typing import Iterator

import cv2
import numpy as np
import pytest

from models.classic import ClassicConfig, ClassicEngine, complete_flow, dilate, smooth_fill
from models.errors import Cancelled, InputError
from models.events import FramesReady, Progress

RED = np.array([255, 0, 0], dtype=np.uint8)


def panning_clip(
    num_frames: int = 10, size: int = 64, step: float = 2.5, seed: int = 0
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """(frames with a red moving box, masks of the box, clean frames) over a textured pan."""
    rng = np.random.default_rng(seed)
    scene = cv2.GaussianBlur(rng.integers(0, 256, (size * 2, size * 3, 3), dtype=np.uint8), (0, 0), 1.2)
    frames, masks, clean = [], [], []
    for t in range(num_frames):
        shift = np.array([[1.0, 0.0, -step * t - 5.0], [0.0, 1.0, -0.5 * t - 5.0]])
        view = cv2.warpAffine(scene, shift, (size, size), flags=cv2.INTER_LINEAR)
        mask = np.zeros((size, size), dtype=np.uint8)
        mask[size // 3 : size // 3 + 16, 10 + 2 * t : 26 + 2 * t] = 1
        frame = view.copy()
        frame[mask > 0] = RED
        frames.append(frame)
        masks.append(mask)
        clean.append(view)
    return frames, masks, clean


def run(engine: ClassicEngine, frames: list[np.ndarray], masks: list[np.ndarray], **kwargs) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for event in engine.process(iter(frames), iter(masks), len(frames), **kwargs):
        if isinstance(event, FramesReady):
            out.extend(event.frames)
    return out


def hole_psnr(outputs: list[np.ndarray], clean: list[np.ndarray], masks: list[np.ndarray]) -> float:
    err = np.concatenate([(o[m > 0].astype(np.float64) - c[m > 0]).ravel() ** 2 for o, c, m in zip(outputs, clean, masks)])
    return float(10 * np.log10(255.0**2 / max(err.mean(), 1e-9)))


def test_outside_the_dilated_mask_the_output_equals_the_input() -> None:
    frames, masks, _ = panning_clip()
    config = ClassicConfig(mask_dilation=3)
    out = run(ClassicEngine(config), frames, masks)
    for frame, mask, result in zip(frames, masks, out):
        outside = ~dilate(mask > 0, 3)
        np.testing.assert_array_equal(result[outside], frame[outside])
        assert not np.all(result[mask > 0] == RED, axis=-1).any(), "the red object is still there"


def test_outputs_keep_count_order_shape_and_type() -> None:
    frames, masks, _ = panning_clip(num_frames=7)
    events = list(ClassicEngine(ClassicConfig(chunk_size=3)).process(iter(frames), iter(masks), 7))
    chunks = [e for e in events if isinstance(e, FramesReady)]
    assert [(c.start, c.stop) for c in chunks] == [(0, 3), (3, 6), (6, 7)]
    for chunk in chunks:
        for frame in chunk.frames:
            assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    progress = [e for e in events if isinstance(e, Progress)]
    assert all(p.total == 7 for p in progress)
    assert [p.done for p in progress] == sorted(p.done for p in progress)
    assert progress[-1].done == 7
    # a chunk is announced only once its frames are done
    for index, event in enumerate(events):
        if isinstance(event, FramesReady):
            done = [e.done for e in events[:index] if isinstance(e, Progress)]
            assert done and done[-1] >= event.stop


def test_empty_masks_pass_frames_through_without_computing_flow(monkeypatch: pytest.MonkeyPatch) -> None:
    frames, _, _ = panning_clip(num_frames=6)
    empty = [np.zeros((64, 64), dtype=np.uint8) for _ in frames]

    def no_flow(*args: object) -> None:
        raise AssertionError("flow was computed for an empty mask")

    monkeypatch.setattr("models.classic._Window.flow", no_flow)
    out = run(ClassicEngine(), frames, empty)
    assert len(out) == len(frames)
    for frame, result in zip(frames, out):
        np.testing.assert_array_equal(result, frame)


def test_a_frame_with_an_empty_mask_between_holes_is_untouched() -> None:
    frames, masks, _ = panning_clip(num_frames=6)
    masks[2] = np.zeros_like(masks[2])
    out = run(ClassicEngine(), frames, masks)
    np.testing.assert_array_equal(out[2], frames[2])


def test_cancel_raises_after_the_first_chunk() -> None:
    frames, masks, _ = panning_clip(num_frames=9)
    received: list[np.ndarray] = []
    events = ClassicEngine(ClassicConfig(chunk_size=3)).process(
        iter(frames), iter(masks), 9, cancel=lambda: len(received) >= 3
    )
    with pytest.raises(Cancelled):
        for event in events:
            if isinstance(event, FramesReady):
                received.extend(event.frames)
    assert len(received) == 3


def test_frames_are_read_lazily_within_a_bounded_window() -> None:
    frames, masks, _ = panning_clip(num_frames=24)
    radius, chunk = 3, 4
    consumed = 0

    def counting(items: list[np.ndarray]) -> Iterator[np.ndarray]:
        nonlocal consumed
        for item in items:
            consumed += 1
            yield item

    engine = ClassicEngine(ClassicConfig(neighbor_radius=radius, chunk_size=chunk))
    for event in engine.process(counting(frames), iter(masks), len(frames)):
        if isinstance(event, FramesReady):
            # to finish frame t the engine needs frames up to t + radius, no more
            assert consumed <= event.stop + radius
            assert consumed >= event.stop
    assert consumed == len(frames)


def test_the_engine_holds_a_bounded_number_of_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    from models import classic

    held: list[int] = []
    original = classic._Window.forget_before

    def spy(self: classic._Window, index: int) -> None:
        original(self, index)
        held.append(len(self.frames))

    monkeypatch.setattr(classic._Window, "forget_before", spy)
    frames, masks, _ = panning_clip(num_frames=20)
    run(ClassicEngine(ClassicConfig(neighbor_radius=2, chunk_size=5)), frames, masks)
    assert max(held) <= 2 * 2 + 1


def test_hole_on_a_panning_clip_is_filled_far_better_than_per_frame_telea() -> None:
    frames, masks, clean = panning_clip(num_frames=10)
    out = run(ClassicEngine(), frames, masks)
    telea = [cv2.inpaint(f, dilate(m > 0, 4).astype(np.uint8), 5, cv2.INPAINT_TELEA) for f, m in zip(frames, masks)]
    ours, baseline = hole_psnr(out, clean, masks), hole_psnr(telea, clean, masks)
    assert ours > baseline + 6.0, (ours, baseline)


def test_a_static_logo_on_a_static_scene_falls_back_to_inpainting() -> None:
    frames, _, _ = panning_clip(num_frames=4, step=0.0)
    still = [frames[0].copy() for _ in frames]
    mask = np.zeros((64, 64), dtype=np.uint8)
    mask[5:15, 40:60] = 1
    for frame in still:
        frame[mask > 0] = RED
    out = run(ClassicEngine(), still, [mask] * 4)
    for result in out:
        assert not np.all(result[mask > 0] == RED, axis=-1).any()


def test_flow_masks_are_accepted_and_keep_the_outside_exact() -> None:
    frames, masks, _ = panning_clip(num_frames=5)
    flow_masks = [dilate(m > 0, 10).astype(np.uint8) for m in masks]
    out: list[np.ndarray] = []
    for event in ClassicEngine().process(iter(frames), iter(masks), 5, flow_masks=iter(flow_masks)):
        if isinstance(event, FramesReady):
            out.extend(event.frames)
    for frame, mask, result in zip(frames, masks, out):
        outside = ~dilate(mask > 0, 4)
        np.testing.assert_array_equal(result[outside], frame[outside])


def test_complete_flow_recovers_an_affine_motion_inside_the_region() -> None:
    h, w = 60, 80
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    truth = np.stack([1.5 + 0.02 * gx, -0.7 + 0.01 * gy], axis=-1).astype(np.float32)
    region = np.zeros((h, w), dtype=bool)
    region[20:40, 25:50] = True
    corrupted = truth.copy()
    corrupted[region] = (9.0, 9.0)
    for model in ("homography", "smooth"):
        filled = complete_flow(corrupted, region, model, margin=2)
        np.testing.assert_array_equal(filled[~region], truth[~region])
        tolerance = 0.05 if model == "homography" else 0.5
        assert np.abs(filled[region] - truth[region]).max() < tolerance, model


def test_smooth_fill_keeps_known_values_and_stays_within_their_range() -> None:
    rng = np.random.default_rng(1)
    values = rng.uniform(10, 20, (32, 40)).astype(np.float32)
    known = np.ones((32, 40), dtype=bool)
    known[8:20, 10:30] = False
    filled = smooth_fill(values, known)
    np.testing.assert_array_equal(filled[known], values[known])
    assert 10 <= filled[~known].min() and filled[~known].max() <= 20


@pytest.mark.parametrize(
    "field, value",
    [
        ("mask_dilation", -1),
        ("neighbor_radius", 0),
        ("chunk_size", 0),
        ("flow_max_side", 8),
        ("flow_preset", "slow"),
        ("motion_model", "affine"),
        ("inpaint_method", "magic"),
        ("inpaint_radius", 2.5),
        ("consistency_beta", -0.1),
        ("flow_trust_margin", True),
    ],
)
def test_invalid_config_raises_input_error(field: str, value: object) -> None:
    with pytest.raises(InputError, match=field):
        ClassicConfig(**{field: value})


def test_mask_of_the_wrong_size_raises_input_error_naming_both_sizes() -> None:
    frames, masks, _ = panning_clip(num_frames=3)
    masks[1] = np.zeros((32, 64), dtype=np.uint8)
    with pytest.raises(InputError, match=r"mask 1 has shape \(32, 64\)"):
        run(ClassicEngine(), frames, masks)


def test_fewer_frames_than_announced_raises_input_error() -> None:
    frames, masks, _ = panning_clip(num_frames=3)
    with pytest.raises(InputError, match="only 3 frames"):
        list(ClassicEngine().process(iter(frames), iter(masks), 5))


def test_fewer_masks_than_frames_raises_input_error() -> None:
    frames, masks, _ = panning_clip(num_frames=3)
    with pytest.raises(InputError, match="only 2 masks"):
        list(ClassicEngine().process(iter(frames), iter(masks[:2]), 3))


def test_frames_that_are_not_rgb_uint8_raise_input_error() -> None:
    frames, masks, _ = panning_clip(num_frames=2)
    with pytest.raises(InputError, match="HxWx3 uint8"):
        run(ClassicEngine(), [f.astype(np.float32) for f in frames], masks)


def test_zero_frames_raise_input_error() -> None:
    with pytest.raises(InputError, match="at least one frame"):
        list(ClassicEngine().process(iter([]), iter([]), 0))
