"""Every frame can give: background plates, the survey pass, no ghosts, and patch synthesis."""

from __future__ import annotations

import cv2
import numpy as np

from models.classic import ClassicConfig, ClassicEngine, dilate
from models.events import FramesReady, Progress, samples_of
from models.plate import CONTEXT, MADE, Plates, fit_motion
from models.synthesis import synthesize

RED = (255, 0, 0)


def scene(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A detailed scene: smoothed noise (texture) with a few hard-edged shapes."""
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (0, 0), 1.5)
    for _ in range(12):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        cv2.rectangle(image, (x, y), (x + 12, y + 8), tuple(int(c) for c in rng.integers(0, 256, 3)), -1)
    return image


def long_pan(num_frames: int = 36, size: tuple[int, int] = (96, 64), speed: int = 2, walker: bool = False):
    """A pan of ``speed`` px a frame under a static logo 40 px wide: the middle of the logo is
    seen only 10 frames or more away. ``walker`` adds a red square that crosses the scene
    (moving against the pan), next to the logo, in some frames."""
    w, h = size
    big = scene(w + speed * num_frames + 8, h)
    mask = np.zeros((h, w), np.uint8)
    mask[20:44, 28:68] = 1
    frames, masks, clean = [], [], []
    for t in range(num_frames):
        view = big[:, speed * t:speed * t + w].copy()
        truth = view.copy()
        if walker and 4 <= t < 30:
            x = 90 - 3 * t
            cv2.rectangle(view, (x, 2), (x + 10, 10), RED, -1)
            cv2.rectangle(truth, (x, 2), (x + 10, 10), RED, -1)
        frame = view.copy()
        frame[mask > 0] = (240, 240, 240)
        frames.append(frame)
        masks.append(mask.copy())
        clean.append(truth)
    return frames, masks, clean


def fill(engine: ClassicEngine, frames, masks, survey: bool) -> list[np.ndarray]:
    extra = {"survey": samples_of(frames, masks)} if survey else {}
    out: list[np.ndarray] = []
    for event in engine.run(samples_of(frames, masks), len(frames), **extra):
        if isinstance(event, FramesReady):
            out.extend(event.frames)
    return out


def psnr(outputs, clean, masks) -> float:
    err = np.concatenate([(o[m > 0].astype(np.float64) - c[m > 0]).ravel() ** 2 for o, c, m in zip(outputs, clean, masks)])
    return float(10 * np.log10(255.0**2 / max(err.mean(), 1e-9)))


def test_fit_motion_finds_a_pan_and_leaves_off_what_moves_otherwise() -> None:
    flow = np.zeros((40, 60, 2), np.float32)
    flow[..., 0] = 3.0
    flow[10:20, 10:20] = (-4.0, 1.0)  # something walking the other way
    known = np.ones((40, 60), bool)
    matrix, follows = fit_motion(flow, known, (0.5, 0.5))
    assert matrix is not None
    np.testing.assert_allclose(matrix[:2, 2], [6.0, 0.0], atol=1e-3)  # 3 flow px = 6 frame px
    assert not follows[12:18, 12:18].any() and follows[30:, 30:].all()


def test_fit_motion_calls_a_change_of_scene_a_cut() -> None:
    a = scene(60, 40, 1)
    b = a // 3
    grey = tuple(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in (a, b))
    flow = np.zeros((40, 60, 2), np.float32)
    matrix, _ = fit_motion(flow, np.ones((40, 60), bool), (1.0, 1.0), grey)
    assert matrix is None


def test_a_cut_starts_a_new_shot_and_a_closed_shot_keeps_only_the_holes_box() -> None:
    plates = Plates((40, 60))
    plates.register(0, None)
    shift = np.array([[1, 0, 2.0], [0, 1, 0], [0, 0, 1]])
    plates.register(1, shift)
    plates.register(2, None)  # a cut
    assert [plates.shot_of[i] for i in range(3)] == [0, 0, 1]
    frame = scene(60, 40)
    hole = np.zeros((40, 60), bool)
    hole[10:20, 10:20] = True
    plates.add(2, frame, ~hole, hole)
    plates.register(3, None)
    closed = plates.shots[1]
    assert closed.colour is not None and closed.colour.shape[:2] == (10 + 2 * CONTEXT, 10 + 2 * CONTEXT)


def test_plates_fill_a_hole_from_frames_far_beyond_the_window() -> None:
    frames, masks, clean = long_pan()
    narrow = dict(neighbor_radius=3, synthesis="telea")
    without = fill(ClassicEngine(ClassicConfig(plates=False, **narrow)), frames, masks, survey=False)
    streaming = fill(ClassicEngine(ClassicConfig(**narrow)), frames, masks, survey=False)
    surveyed = fill(ClassicEngine(ClassicConfig(**narrow)), frames, masks, survey=True)
    p0, p1, p2 = (psnr(o, clean, masks) for o in (without, streaming, surveyed))
    # the window reaches 6 px each side; the past plate fills the rest after the first frames,
    # the survey's first sightings the first frames too
    assert p2 > 30.0 and p2 > p0 + 4.0 and p1 > p0, (p0, p1, p2)
    for frame, mask, result in zip(frames, masks, surveyed):
        outside = ~dilate(mask > 0, ClassicConfig().mask_dilation)
        np.testing.assert_array_equal(result[outside], frame[outside])


def test_the_survey_is_read_through_first_and_reported_as_its_own_stage() -> None:
    frames, masks, _ = long_pan(num_frames=8)
    events = list(ClassicEngine(ClassicConfig(chunk_size=4)).run(
        samples_of(frames, masks), len(frames), survey=samples_of(frames, masks)))
    stages = [e.stage for e in events if isinstance(e, Progress)]
    assert stages[0] == "survey" and stages.index("propagation") == len(frames) + 1
    assert sum(len(e.frames) for e in events if isinstance(e, FramesReady)) == len(frames)


def test_a_thing_walking_past_is_never_pasted_into_the_hole() -> None:
    frames, masks, clean = long_pan(walker=True)
    out = fill(ClassicEngine(ClassicConfig(neighbor_radius=3, synthesis="telea")), frames, masks, survey=True)
    for result, mask in zip(out, masks):
        hole = result[mask > 0].astype(int)
        reddish = (hole[:, 0] > 200) & (hole[:, 1] < 60) & (hole[:, 2] < 60)
        assert reddish.sum() == 0


def test_synthesis_keeps_texture_where_diffusion_smears() -> None:
    rng = np.random.default_rng(3)
    tile = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    image = np.tile(tile, (10, 12, 1))  # 80x96, a periodic texture
    hole = np.zeros(image.shape[:2], bool)
    hole[30:50, 36:60] = True
    made = synthesize(image, hole, seed=1)
    smeared = cv2.inpaint(image, hole.astype(np.uint8), 3, cv2.INPAINT_TELEA)

    def detail(img: np.ndarray) -> float:
        return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_32F)[hole].std())

    assert detail(made) > 2.0 * detail(smeared)
    assert detail(made) > 0.6 * detail(image)
    np.testing.assert_array_equal(made[~hole], image[~hole])
    np.testing.assert_array_equal(made, synthesize(image, hole, seed=1))  # deterministic
    assert psnr([made], [image], [hole.astype(np.uint8)]) > psnr([smeared], [image], [hole.astype(np.uint8)])


def test_synthesis_with_nothing_known_keeps_the_input() -> None:
    image = scene(20, 20)
    np.testing.assert_array_equal(synthesize(image, np.ones((20, 20), bool)), image)
    np.testing.assert_array_equal(synthesize(image, np.zeros((20, 20), bool)), image)


def test_what_was_synthesised_is_carried_to_the_next_frames_not_made_again() -> None:
    # a static camera and a static logo: nothing ever shows what is under it
    rng = np.random.default_rng(5)
    image = np.tile(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), (10, 10, 1))
    mask = np.zeros((60, 80), np.uint8)
    mask[20:40, 25:55] = 1
    frames = [image.copy() for _ in range(6)]
    for f in frames:
        f[mask > 0] = (240, 240, 240)
    out = fill(ClassicEngine(ClassicConfig(chunk_size=3)), frames, [mask] * 6, survey=True)
    for result in out[1:]:
        np.testing.assert_array_equal(result, out[0])  # no flicker
    def detail(img: np.ndarray, where: np.ndarray) -> float:
        return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_32F)[where].std())

    assert detail(out[0], mask > 0) > 0.5 * detail(image, mask == 0)


def test_a_closed_shot_synthesises_once_what_no_frame_showed_under_its_holes() -> None:
    rng = np.random.default_rng(4)
    image = np.tile(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), (10, 12, 1))  # 60x96
    hole = np.zeros((60, 96), bool)
    hole[20:36, 30:60] = True
    plates = Plates((60, 96), keep="first", make=True)
    plates.register(0, None)
    for t in range(3):  # a static camera: the hole is never seen
        if t:
            plates.register(t, np.eye(3))
        plates.add(t, image, ~hole, hole)
    plates.finish()
    ys, xs = np.nonzero(hole)
    colours, times, found = plates.lookup(1, np.stack([xs, ys], axis=1).astype(np.float32))
    assert found.all() and (times == MADE).all()
    made = image.copy()
    made[ys, xs] = np.clip(colours + 0.5, 0, 255).astype(np.uint8)
    detail = cv2.Laplacian(cv2.cvtColor(made, cv2.COLOR_RGB2GRAY), cv2.CV_32F)
    assert detail[hole].std() > 0.5 * detail[~hole].std()
