"""The job runner: range, cancel, compositing at a reduced size, the crop fast path, audio.

A fake engine (fills the hole with one colour and records what it was given) keeps these
tests independent of the real engines' speed; one test runs the classical engine end to end.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from editor.errors import MediaError, OutputError
from editor.jobs import Eta, Job, JobChunk, JobProgress, JobSettings, format_seconds, run_job
from editor.jobs.runner import crop_box, feather_alpha
from editor.media import open_video, write_masks
from models.canvas import plan_canvas
from models.errors import Cancelled, InputError
from models.events import FramesReady, Progress

FILL = (255, 0, 255)


class FillEngine:
    """Fills the hole with FILL, chunk by chunk; records sizes, counts and flow masks."""

    name = "fill"

    def __init__(self, chunk: int = 4) -> None:
        self.chunk = chunk
        self.sizes: list[tuple[int, int]] = []
        self.num_frames: list[int] = []
        self.flow_masks_seen = 0
        self.calls = 0

    def run(self, samples, num_frames, cancel=None):
        self.calls += 1
        self.num_frames.append(num_frames)
        out = []
        yield Progress("fill", 0, num_frames)
        for t, (frame, mask, flow_mask) in enumerate(samples):
            if t % self.chunk == 0 and cancel is not None and cancel():
                raise Cancelled("cancelled")
            if flow_mask is not None:
                assert flow_mask.shape == mask.shape
                self.flow_masks_seen += 1
            assert frame.shape[:2] == mask.shape
            self.sizes.append((frame.shape[1], frame.shape[0]))
            f = frame.copy()
            f[mask != 0] = FILL
            out.append(f)
            yield Progress("fill", t + 1, num_frames)
            if len(out) == self.chunk or t == num_frames - 1:
                yield FramesReady(t + 1 - len(out), out)
                out = []


def make_clip(folder: Path, n: int = 12, w: int = 128, h: int = 96, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    frames = []
    for i in range(n):
        f = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"{i:04d}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
        frames.append(f)
    return frames


def read_all(path: Path) -> list[np.ndarray]:
    with open_video(path) as r:
        return list(r.iter_frames())


def box_mask(w: int, h: int, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[y0:y1, x0:x1] = 1
    return m


@pytest.fixture
def clip(tmp_path):
    frames = make_clip(tmp_path / "clip")
    return tmp_path / "clip", frames


def test_range_processes_only_its_frames_and_keeps_the_rest(clip, tmp_path):
    path, src = clip
    mask = box_mask(128, 96, 20, 20, 100, 80)
    engine = FillEngine()
    events = []
    res = run_job(
        Job(path, tmp_path / "out", {i: mask for i in range(12)}, engine, (3, 9), JobSettings(crop=False)),
        on_event=events.append,
    )
    out = read_all(tmp_path / "out")
    assert len(out) == 12 and res.num_frames == 12 and res.frame_range == (3, 9)
    assert engine.num_frames == [6]
    for i in range(12):
        if 3 <= i < 9:
            assert np.array_equal(out[i][mask == 0], src[i][mask == 0])
            assert (out[i][mask != 0] == FILL).all()
        else:
            assert np.array_equal(out[i], src[i])
    chunks = [e for e in events if isinstance(e, JobChunk)]
    assert [i for c in chunks for i in range(c.start, c.stop)] == list(range(12))
    progress = [e for e in events if isinstance(e, JobProgress)]
    assert progress[-1].done == 12 and progress[-1].total == 12
    assert all(b.done >= a.done for a, b in zip(progress, progress[1:]))


def _result_folder(tmp_path, src, run_id="r1", frame_range=(3, 9)):
    from editor.document.results import ResultFolder, RunInfo

    folder = ResultFolder.create(tmp_path / "result", str(tmp_path / "clip"), (src[0].shape[1], src[0].shape[0]))
    return folder, RunInfo(run_id, frame_range, "key")


def test_a_run_into_a_result_folder_keeps_each_processed_frame_losslessly(clip, tmp_path):
    from editor.document.results import ResultFolder

    path, src = clip
    mask = box_mask(128, 96, 20, 20, 100, 80)
    folder, info = _result_folder(tmp_path, src)
    events = []
    res = run_job(Job(path, folder, {i: mask for i in range(12)}, FillEngine(), (3, 9), JobSettings(crop=False),
                      run=info), on_event=events.append)
    chunks = [e for e in events if isinstance(e, JobChunk)]
    assert [i for c in chunks for i in range(c.start, c.stop)] == list(range(3, 9))
    assert res.num_frames == 6 and res.out == folder.folder
    again = ResultFolder.open(folder.folder)  # what a reopen or a crash recovery sees
    assert sorted(again.owners()) == list(range(3, 9)) and set(again.owners().values()) == {"r1"}
    for i in range(3, 9):
        f = again.read(i)
        assert np.array_equal(f[mask == 0], src[i][mask == 0]) and (f[mask != 0] == FILL).all()
    assert again.read(2) is None and again.read(9) is None


def test_a_cancelled_run_keeps_its_finished_frames_and_a_new_run_continues_after_them(clip, tmp_path):
    path, src = clip
    mask = box_mask(128, 96, 20, 20, 100, 80)
    masks = {i: mask for i in range(12)}
    folder, info = _result_folder(tmp_path, src, frame_range=(0, 12))
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        run_job(Job(path, folder, masks, FillEngine(chunk=2), (0, 12), JobSettings(crop=False), run=info),
                cancel=cancel)
    done = sorted(folder.owners())
    assert done and done == list(range(len(done))) and len(done) < 12
    engine = FillEngine(chunk=2)
    res = run_job(Job(path, folder, masks, engine, (0, 12), JobSettings(crop=False), resume_from=len(done), run=info))
    assert sorted(folder.owners()) == list(range(12))
    # the engine saw a few finished frames as context, but only new frames were written
    assert engine.num_frames == [12 - len(done) + min(len(done), 10)]
    assert res.num_frames == 12 - len(done) and res.frame_range == (len(done), 12)
    for i in range(12):
        assert (folder.read(i)[mask != 0] == FILL).all()


def test_a_job_without_output_is_refused(clip):
    path, _ = clip
    with pytest.raises(OutputError, match="needs an output"):
        run_job(Job(path, None, {}, FillEngine()))


def test_cancel_leaves_no_file_under_the_output_name(clip, tmp_path):
    path, _ = clip
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 2

    out = tmp_path / "out.mkv"
    with pytest.raises(Cancelled):
        run_job(Job(path, out, box_mask(128, 96, 8, 8, 40, 40),
                    FillEngine(chunk=2), settings=JobSettings(codec="ffv1")), cancel=cancel)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip"]


def test_existing_output_is_kept_without_overwrite(clip, tmp_path):
    path, src = clip
    out = tmp_path / "out.mkv"
    out.write_bytes(b"precious")
    mask = box_mask(128, 96, 8, 8, 40, 40)
    with pytest.raises(OutputError, match="already exists"):
        run_job(Job(path, out, mask, FillEngine(), settings=JobSettings(codec="ffv1")))
    assert out.read_bytes() == b"precious"
    run_job(Job(path, out, mask, FillEngine(), settings=JobSettings(codec="ffv1", overwrite=True)))
    assert len(read_all(out)) == 12


def test_output_equal_to_input_is_refused(clip):
    path, _ = clip
    with pytest.raises(OutputError, match="is the input"):
        run_job(Job(path, path, box_mask(128, 96, 8, 8, 40, 40), FillEngine()))


def test_reduced_size_fill_is_pasted_only_inside_the_feathered_mask(tmp_path):
    src = make_clip(tmp_path / "clip", n=4, w=256, h=192)
    mask = box_mask(256, 192, 80, 60, 160, 140)
    engine = FillEngine()
    settings = JobSettings(max_side=128, crop=False, feather=4, composite_dilation=4)
    res = run_job(Job(tmp_path / "clip", tmp_path / "out", mask, engine, settings=settings))
    assert set(engine.sizes) == {(128, 96)}
    assert res.process_size == (128, 96)
    alpha = feather_alpha(mask, 4, 4)
    outside = alpha == 0
    assert outside.sum() > 0.5 * mask.size
    core = cv2.erode(mask, np.ones((9, 9), np.uint8)) != 0
    ramp = (alpha > 0) & (alpha < 1)
    for s, o in zip(src, read_all(tmp_path / "out")):
        assert np.array_equal(o[outside], s[outside])  # source pixels exactly
        assert (np.abs(o[core].astype(int) - FILL).max()) <= 2  # the fill inside
        # soft edge: strictly between source and fill on the ramp for most pixels
        d_src = np.abs(o[ramp].astype(int) - s[ramp]).sum(axis=1)
        d_fill = np.abs(o[ramp].astype(int) - FILL).sum(axis=1)
        assert np.mean((d_src > 0) & (d_fill > 0)) > 0.9


def test_feather_alpha_is_one_on_the_grown_mask_and_falls_to_zero():
    mask = box_mask(64, 64, 20, 20, 30, 30)
    a = feather_alpha(mask, dilation=2, feather=4)
    assert a[25, 25] == 1 and a[25, 31] == 1  # inside, and 2 px out
    assert 0 < a[25, 34] < 1  # on the ramp
    assert a[25, 38] == 0 and a[0, 0] == 0
    assert a[25, 33] > a[25, 34] > a[25, 35]


def test_crop_fast_path_processes_a_padded_crop_and_pastes_it_in_place(tmp_path):
    src = make_clip(tmp_path / "clip", n=6, w=320, h=256)
    mask = box_mask(320, 256, 200, 30, 240, 50)  # a small "logo"
    engine = FillEngine()
    res = run_job(Job(tmp_path / "clip", tmp_path / "out", mask, engine, settings=JobSettings(crop_padding=32)))
    x0, y0, x1, y1 = res.crop
    assert (x1 - x0) % 8 == 0 and (y1 - y0) % 8 == 0
    assert x0 <= 200 - 32 and x1 >= 240 + 32 and y0 == 0 and y1 >= 50 + 32
    assert set(engine.sizes) == {(x1 - x0, y1 - y0)}
    assert (x1 - x0) * (y1 - y0) < 0.25 * 320 * 256
    for s, o in zip(src, read_all(tmp_path / "out")):
        assert np.array_equal(o[mask == 0], s[mask == 0])
        assert (o[mask != 0] == FILL).all()

    full = FillEngine()
    res = run_job(Job(tmp_path / "clip", tmp_path / "out2", mask, full, settings=JobSettings(crop=False)))
    assert res.crop is None and set(full.sizes) == {(320, 256)}
    assert all(np.array_equal(a, b) for a, b in zip(read_all(tmp_path / "out"), read_all(tmp_path / "out2")))


def test_crop_box_is_a_multiple_of_8_inside_the_frame():
    union = np.zeros((100, 150), bool)
    union[90:99, 140:149] = True
    x0, y0, x1, y1 = crop_box(union, padding=16, min_side=32)
    assert 0 <= x0 < x1 <= 150 and 0 <= y0 < y1 <= 100
    assert (x1 - x0) % 8 == 0 and (y1 - y0) % 8 == 0
    assert x0 <= 140 - 16 and y0 <= 90 - 16
    assert x1 - x0 <= 150 - 150 % 8 and y1 - y0 <= 100 - 100 % 8
    assert union[y0:y1, x0:x1].sum() == union.sum()


def test_empty_masks_pass_frames_through_untouched_and_say_so_once(clip, tmp_path):
    path, src = clip
    engine = FillEngine()
    events = []
    res = run_job(Job(path, tmp_path / "out", {}, engine), on_event=events.append)
    assert engine.calls == 0 and res.passthrough
    assert all(np.array_equal(a, b) for a, b in zip(read_all(tmp_path / "out"), src))
    said = [e.message for e in events if isinstance(e, JobProgress) and "empty" in e.message]
    assert len(said) == 1


def test_a_mask_covering_every_pixel_is_refused(clip, tmp_path):
    path, _ = clip
    with pytest.raises(InputError, match="every pixel"):
        run_job(Job(path, tmp_path / "out", np.ones((96, 128), np.uint8), FillEngine()))
    assert not (tmp_path / "out").exists()


def test_frames_smaller_than_64_pixels_are_refused(tmp_path):
    make_clip(tmp_path / "tiny", n=2, w=48, h=40)
    with pytest.raises(InputError, match="smaller than 64"):
        run_job(Job(tmp_path / "tiny", tmp_path / "out", np.ones((40, 48), np.uint8), FillEngine()))


def test_masks_from_a_png_folder_and_a_count_mismatch(clip, tmp_path):
    path, src = clip
    masks = [box_mask(128, 96, 10 + i, 10, 50 + i, 40) for i in range(12)]
    write_masks(tmp_path / "masks", masks)
    run_job(Job(path, tmp_path / "out", tmp_path / "masks", FillEngine(), settings=JobSettings(crop=False)))
    for m, s, o in zip(masks, src, read_all(tmp_path / "out")):
        assert (o[m != 0] == FILL).all() and np.array_equal(o[m == 0], s[m == 0])
    write_masks(tmp_path / "few", masks[:5])
    with pytest.raises(MediaError, match="5 masks"):
        run_job(Job(path, tmp_path / "out2", tmp_path / "few", FillEngine()))


def test_outpainting_places_frames_on_the_canvas_and_fills_the_border(clip, tmp_path):
    path, src = clip
    canvas = plan_canvas(96, 128, aspect="16:9")
    engine = FillEngine()
    res = run_job(Job(path, tmp_path / "out", None, engine, canvas=canvas))
    assert res.size == (canvas.width, canvas.height) == (176, 96)
    assert engine.flow_masks_seen == 12
    out = read_all(tmp_path / "out")
    assert len(out) == 12
    _, hole = canvas.masks()
    for s, o in zip(src, out):
        inner = o[canvas.top:canvas.top + 96, canvas.left:canvas.left + 128]
        assert np.array_equal(inner, s)
        assert (o[hole != 0] == FILL).all()


def test_audio_and_frame_count_are_kept(tmp_path):
    from editor.sample import SampleScene, make_sample

    paths = make_sample(tmp_path / "s", SampleScene(width=128, height=96, num_frames=10))
    out = tmp_path / "out.mp4"
    res = run_job(Job(paths.clip, out, paths.masks, FillEngine()))
    with open_video(out) as r:
        assert r.info.num_frames == 10
        assert len(r.info.audio) == 1
    assert res.audio_copied == [True]
    run_job(Job(paths.clip, tmp_path / "mute.mp4", paths.masks, FillEngine(), settings=JobSettings(audio=False)))
    with open_video(tmp_path / "mute.mp4") as r:
        assert r.info.audio == [] and r.info.num_frames == 10


def test_classic_engine_end_to_end(tmp_path):
    from models.classic import ClassicConfig, ClassicEngine

    src = make_clip(tmp_path / "clip", n=4, w=96, h=64)
    mask = box_mask(96, 64, 40, 20, 56, 40)
    engine = ClassicEngine(ClassicConfig(neighbor_radius=2, chunk_size=2, mask_dilation=2))
    res = run_job(Job(tmp_path / "clip", tmp_path / "out", mask, engine))
    out = read_all(tmp_path / "out")
    assert res.engine == "classic" and len(out) == 4
    grown = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3)), iterations=2)
    for s, o in zip(src, out):
        assert np.array_equal(o[grown == 0], s[grown == 0])


def test_eta_from_elapsed_time():
    now = [100.0]
    eta = Eta(100, clock=lambda: now[0])
    assert eta.update(10) is None  # the first update starts the clock
    now[0] = 102.0
    assert eta.update(20) == pytest.approx(16.0)  # 10 frames in 2 s, 80 left
    now[0] = 110.0
    assert eta.update(100) == 0.0
    assert format_seconds(12.3) == "0:12" and format_seconds(4000) == "1:06:40"
    assert format_seconds(None) == "--:--"


class OutOfMemoryEngine(FillEngine):
    def run(self, samples, num_frames, cancel=None):
        yield from list(super().run(samples, num_frames, cancel))[:3]
        raise MemoryError()


def test_out_of_memory_is_a_device_error_suggesting_a_smaller_size(clip, tmp_path):
    from models.errors import DeviceError

    path, _ = clip
    with pytest.raises(DeviceError, match="--max-side"):
        run_job(Job(path, tmp_path / "o.mkv", box_mask(128, 96, 8, 8, 40, 40), OutOfMemoryEngine(),
                    settings=JobSettings(codec="ffv1")))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip"]


class FlowMaskFillEngine(FillEngine):
    """Changes every pixel of the flow mask, as ProPainter may (it reaches 4 px into the picture)."""

    def run(self, samples, num_frames, cancel=None):
        def widened():
            for frame, mask, flow_mask in samples:
                yield frame, np.maximum(mask, flow_mask), flow_mask

        yield from super().run(widened(), num_frames, cancel)


@pytest.mark.parametrize("max_side", [None, 128])
def test_outpainting_keeps_every_original_pixel_even_where_the_engine_changed_it(clip, tmp_path, max_side):
    path, src = clip
    canvas = plan_canvas(96, 128, scale_w=1.5, scale_h=1.3)
    flow_mask, _ = canvas.masks()
    assert flow_mask[canvas.top:canvas.top + 96, canvas.left:canvas.left + 128].any()  # the engine's reach
    run_job(Job(path, tmp_path / "out", None, FlowMaskFillEngine(), canvas=canvas,
                settings=JobSettings(max_side=max_side)))
    for s, o in zip(src, read_all(tmp_path / "out")):
        assert np.array_equal(o[canvas.top:canvas.top + 96, canvas.left:canvas.left + 128], s)


class SurveyEngine(FillEngine):
    """Wants the clip read through first (as the classic engine): records what it saw."""

    wants_survey = True

    def run(self, samples, num_frames, cancel=None, survey=None):
        self.surveyed = [(f.copy(), m.copy()) for f, m, _ in survey]
        yield from super().run(samples, num_frames, cancel)


def test_an_engine_that_wants_a_survey_gets_the_same_frames_and_masks_first(clip, tmp_path):
    path, src = clip
    masks = {i: box_mask(128, 96, 10 + i, 20, 60 + i, 80) for i in range(12)}
    engine = SurveyEngine()
    run_job(Job(path, tmp_path / "out", masks, engine, (2, 10), JobSettings(crop=False)))
    assert len(engine.surveyed) == 8
    for k, (frame, mask) in enumerate(engine.surveyed):
        assert np.array_equal(frame, src[2 + k]) and np.array_equal(mask != 0, masks[2 + k] != 0)
    out = read_all(tmp_path / "out")
    assert (out[5][masks[5] != 0] == FILL).all() and np.array_equal(out[1], src[1])


def test_the_editor_shows_a_survey_by_its_own_count_before_any_frame_is_out():
    from editor.jobs import JobProgress as RunnerProgress
    from editor.jobs.worker import JobWorker

    worker = JobWorker(lambda: None, revision=1)
    shown = []
    worker.progress.connect(shown.append)
    worker._on_event(RunnerProgress("survey", 0, 60, "Reading the clip through", None, 30, 60))
    worker._on_event(RunnerProgress("propagation", 12, 60, "", None, 12, 60))
    assert [(p.stage, p.done, p.total) for p in shown] == [("survey", 30, 60), ("propagation", 12, 60)]
