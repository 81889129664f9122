"""The whole clip algorithm against the authors' frames (cases a, b, d), through the
streaming pipeline and through the Hugging Face style API, on the seeded weights.

Tolerances: the parity README's ``strict`` profile (composited frames: at most 0.02 % of
values off, by at most 1; resized output frames: 0.05 %, by at most 2). That is tighter
than the issue's "<= 1 grey level on >= 99.9 % of pixels".
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch

from models import (FramesReady, ProPainterConfig, ProPainterForImageInPainting, ProPainterForImageOutPainting,
                    ProPainterImageProcessor, Progress)
from models.errors import Cancelled, InputError
from models.pipeline import ProPainterPipeline
from tests.models.parity import assert_frames_match, expected_comp, load_networks, options, ref


@pytest.fixture(scope="module")
def nets(seeded_weights_dir):
    return load_networks(seeded_weights_dir)


def run(pipe: ProPainterPipeline, frames, masks, **kw) -> tuple[np.ndarray, list]:
    events = list(pipe.stream(iter(frames), None if masks is None else iter(masks), len(frames), **kw))
    out = [f for e in events if isinstance(e, FramesReady) for f in e.frames]
    return np.stack(out), events


def test_case_a_default_options_streamed(nets):
    r = ref("a")
    out, events = run(ProPainterPipeline(*nets, ProPainterConfig(**options("a"))), list(r["in_frames"]), list(r["in_masks"]))
    assert_frames_match(out, r["out_frames_png"], max_diff=2, max_fraction=5e-4)
    # Frames come out in order, in more than one chunk, with progress for every stage.
    starts = [e.start for e in events if isinstance(e, FramesReady)]
    assert starts == sorted(starts) and len(starts) > 1
    assert {"optical flow", "flow completion", "propagation", "inpainting"} <= {e.stage for e in events if isinstance(e, Progress)}


def test_case_b_chunked_streamed(nets):
    r = ref("b")
    out, events = run(ProPainterPipeline(*nets, ProPainterConfig(**options("b"))), list(r["in_frames"]), list(r["in_masks"]))
    assert_frames_match(out, expected_comp("b"), max_diff=1, max_fraction=2e-4)
    assert len([e for e in events if isinstance(e, FramesReady)]) >= 6  # one chunk per window


def test_case_d_outpainting_canvas_streamed(nets):
    r = ref("d")
    cfg = ProPainterConfig(**options("d"))
    out, _ = run(ProPainterPipeline(*nets, cfg), list(r["in_frames"]), None)
    assert out.shape[1:3] == (128, 160)  # the expanded canvas
    assert_frames_match(out, expected_comp("d"), max_diff=1, max_fraction=2e-4)


def test_case_b_through_the_hf_inpainting_api(nets):
    r = ref("b")
    model = ProPainterForImageInPainting(ProPainterConfig(**options("b")), *nets)
    result = model(list(r["in_frames"]), list(r["in_masks"]))
    assert result.reconstruction.shape == (1, 16, 128, 128, 3) and result.reconstruction.dtype == np.uint8
    assert_frames_match(result.reconstruction[0], expected_comp("b"), max_diff=1, max_fraction=2e-4)
    assert result.pred_flows_forward.shape == (1, 15, 2, 128, 128)
    stats = r["stats__pred_flows_f"]
    np.testing.assert_allclose(result.pred_flows_forward[0].reshape(15, -1).double().mean(1).numpy(), stats[:, 0], atol=3e-4)


def test_case_d_through_the_hf_outpainting_api_squashed_like_the_authors(nets):
    r = ref("d")
    model = ProPainterForImageOutPainting(ProPainterConfig(outpaint_output="input"), *nets)
    result = model(list(r["in_frames"]), scale_w=1.25, scale_h=1.0)
    assert_frames_match(result.reconstruction[0], r["out_frames_png"], max_diff=2, max_fraction=5e-4)


def test_processor_reproduces_the_authors_loading():
    r = ref("a")
    proc = ProPainterImageProcessor(ProPainterConfig()).preprocess(list(r["in_frames"]), list(r["in_masks"]))
    assert np.array_equal(proc["frames_uint8"][0], r["frames_proc"])
    assert np.array_equal(proc["flow_masks"][0, :, 0].numpy().astype(np.uint8), r["flow_masks"])
    assert np.array_equal(proc["masks_dilated"][0, :, 0].numpy().astype(np.uint8), r["masks_dilated"])
    assert proc["geometry"].proc_size == (136, 128) and proc["geometry"].out_size == (141, 134)
    d = ref("d")
    proc = ProPainterImageProcessor(ProPainterConfig(**options("d"))).preprocess(list(d["in_frames"]))
    assert np.array_equal(proc["frames_uint8"][0], d["frames_proc"])
    assert np.array_equal(proc["flow_masks"][0, :, 0].numpy().astype(np.uint8), d["flow_masks"])
    assert np.array_equal(proc["masks_dilated"][0, :, 0].numpy().astype(np.uint8), d["masks_dilated"])
    # one mask for all frames is broadcast
    one = ProPainterImageProcessor().preprocess(list(r["in_frames"][:3]), r["in_masks"][0])
    assert one["masks_dilated"].shape == (1, 3, 1, 128, 136)


def _moving_clip(t: int, h: int = 64, w: int = 64) -> tuple[list[np.ndarray], list[np.ndarray]]:
    yy, xx = np.mgrid[0:h, 0:w]
    frames, masks = [], []
    for i in range(t):
        base = np.stack([np.sin((xx + 1.5 * i) / 5.0), np.cos((yy + 0.7 * i) / 7.0), np.sin((xx + yy + i) / 9.0)], -1)
        frames.append(((base + 1) * 127.5).astype(np.uint8))
        m = np.zeros((h, w), np.uint8)
        m[20 + i % 9 : 34 + i % 9, 10 + i : 24 + i] = 1
        masks.append(m)
    return frames, masks


def _stream_lazily(nets, cfg, t):
    """Stream a t-frame clip from a generator; return the frames, how far ahead of the
    output the input was read, and the most frames the pipeline held at once."""
    frames, masks = _moving_clip(t)
    pulled = []

    def lazy():
        for i, fm in enumerate(zip(frames, masks)):
            pulled.append(i)
            yield fm

    pipe = ProPainterPipeline(*nets, cfg)
    out, ahead, held = [], 0, 0
    for ev in pipe.stream_pairs(lazy(), t):
        held = max(held, len(pipe.last_source.ori.items))
        assert len(pipe.last_source.ori.cache) <= pipe.last_source.ori.decoded
        if isinstance(ev, FramesReady):
            ahead = max(ahead, len(pulled) - len(out))
            out.extend(ev.frames)
    return frames, masks, out, ahead, held


def test_streamed_long_clip_equals_whole_clip_and_memory_is_bounded(nets):
    """Clips of several sub-videos: pulled lazily, frame-for-frame equal to the same run fed
    as a whole list, and the frames held do not grow with the clip length."""
    cfg = ProPainterConfig(subvideo_length=6, neighbor_length=4, ref_stride=2, raft_iter=1, mask_dilation=1)
    frames, masks, streamed, ahead, held = _stream_lazily(nets, cfg, 40)
    whole = ProPainterPipeline(*nets, cfg)(frames, masks)
    assert len(streamed) == len(frames)
    assert all(np.array_equal(a, b) for a, b in zip(streamed, whole))
    assert ahead < len(frames)  # the first frames came out before the clip was read
    assert np.array_equal(streamed[3][0:10], frames[3][0:10])  # outside the mask: the input
    # The window held is set by the sub-video grid, not by the clip length: at most one
    # image-propagation sub-video with its two 10-frame pads, the flow-completion pad and one
    # RAFT clip of look-ahead (6 + 20 + 5 + 12 = 43 frames here).
    _, _, longer, _, held_longer = _stream_lazily(nets, cfg, 60)
    assert len(longer) == 60 and max(held, held_longer) <= 43


def test_frames_read_ahead_are_held_compressed_and_read_back_bit_for_bit():
    """The source frames a long clip holds ahead of its output are kept as PNG bytes, with
    only the most recently used ones decoded; what is read back is what was put in."""
    from models.pipeline import _FrameStore

    frames, _ = _moving_clip(12, 48, 80)
    frames = [f.copy() for f in frames]
    frames[3][::2, ::3] = 255 - frames[3][::2, ::3]  # not smooth: still lossless
    store = _FrameStore(decoded=4)
    for i, f in enumerate(frames):
        store[i] = f
    assert list(store.cache) == [8, 9, 10, 11]
    assert sum(b.nbytes for b in store.items.values()) < 0.7 * sum(f.nbytes for f in frames)
    for i in (3, 0, 11, 3, 5, 7):
        got = store[i]
        assert got.dtype == np.uint8 and np.array_equal(got, frames[i])
        assert not got.flags.writeable  # shared by every reader
    assert store.decodes == 4  # 11 was decoded already, 3 the second time too
    store.drop_below(6)
    assert sorted(store.items) == list(range(6, 12)) and all(k >= 6 for k in store.cache)
    with pytest.raises(KeyError):
        store[2]
    # On a GPU (the meta device stands in) the host holds the frames as they are.
    from models.pipeline import _Source

    plain = _Source(iter([]), 1, ProPainterImageProcessor(ProPainterConfig()), torch.device("meta"), torch.float16).ori
    assert not isinstance(plain, _FrameStore)  # not compressed, no decoded copies
    plain[0] = frames[0]
    assert plain[0] is frames[0]
    on_cpu = _Source(iter([]), 1, ProPainterImageProcessor(ProPainterConfig()), torch.device("cpu"), torch.float32).ori
    assert isinstance(on_cpu, _FrameStore)



def test_no_tensor_waits_for_the_garbage_collector(nets):
    """Every tensor a run makes is freed by reference counting: none is left in a reference
    cycle (whose sub-video-sized tensors would otherwise live until a collection, at a
    moment nobody chooses, and add to the peak)."""
    cfg = ProPainterConfig(subvideo_length=6, neighbor_length=4, ref_stride=2, raft_iter=1, mask_dilation=1)
    frames, masks = _moving_clip(16)
    pipe = ProPainterPipeline(*nets, cfg)
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        out = pipe(frames, masks)
        gc.collect()
        leaked = [tuple(o.shape) for o in gc.garbage if isinstance(o, torch.Tensor)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert len(out) == 16
    assert leaked == []


def test_two_windows_at_once_give_the_same_frames(nets):
    """With ``concurrent_windows`` and two CPU threads the pipeline computes windows in
    pairs, one per thread; the frames equal those of one window at a time but for a change of
    summation order (a thread's share of a reduction differs with the thread count): at most
    one grey level on 0.01 % of values, the parity tolerance."""
    cfg = ProPainterConfig(subvideo_length=6, neighbor_length=4, ref_stride=2, raft_iter=1, mask_dilation=1)
    frames, masks = _moving_clip(14)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        pipe = ProPainterPipeline(*nets, cfg)
        assert pipe._window_workers() == 1  # off by default: it costs memory
        pipe.concurrent_windows = True
        assert pipe._window_workers() == 2
        pairs = pipe(frames, masks)
        assert torch.get_num_threads() == 2  # restored after each pair
        pipe.concurrent_windows = False
        assert pipe._window_workers() == 1
        one = pipe(frames, masks)
    finally:
        torch.set_num_threads(threads)
    assert len(pairs) == len(one) == 14
    assert_frames_match(np.stack(pairs), np.stack(one), max_diff=1, max_fraction=1e-4)

def test_cancel_between_chunks_keeps_finished_frames(nets):
    cfg = ProPainterConfig(subvideo_length=6, neighbor_length=4, ref_stride=2, raft_iter=1)
    frames, masks = _moving_clip(12)
    got: list[np.ndarray] = []
    with pytest.raises(Cancelled):
        for ev in ProPainterPipeline(*nets, cfg).stream(frames, masks, len(frames), cancel=lambda: len(got) >= 2):
            if isinstance(ev, FramesReady):
                got.extend(ev.frames)
    assert 2 <= len(got) < len(frames)


def test_out_of_memory_halves_the_subvideo_length_and_keeps_finished_frames(nets, monkeypatch):
    cfg = ProPainterConfig(subvideo_length=8, neighbor_length=4, ref_stride=2, raft_iter=1)
    frames, masks = _moving_clip(14)
    pipe = ProPainterPipeline(*nets, cfg)
    real = pipe._generate
    calls = {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:  # after the first chunk went out
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(*a, **k)

    monkeypatch.setattr(pipe, "_generate", flaky)
    events = list(pipe.stream(frames, masks, len(frames)))
    notes = [e.message for e in events if isinstance(e, Progress) and e.stage == "out of memory"]
    assert notes and "sub-video length 4" in notes[0]
    starts = [(e.start, len(e.frames)) for e in events if isinstance(e, FramesReady)]
    covered = [i for s, n in starts for i in range(s, s + n)]
    assert covered == list(range(len(frames)))  # nothing lost, nothing twice


def test_single_frame_and_bad_input(nets):
    frames, masks = _moving_clip(1)
    out = ProPainterPipeline(*nets, ProPainterConfig(raft_iter=1))(frames, masks)
    assert len(out) == 1 and out[0].shape == frames[0].shape
    with pytest.raises(InputError, match="needs masks"):
        ProPainterPipeline(*nets, ProPainterConfig()).stream(frames, None, 1)
    with pytest.raises(InputError, match="ended after 1 frames"):
        list(ProPainterPipeline(*nets, ProPainterConfig(raft_iter=1)).stream(frames, masks, 3))
    with pytest.raises(InputError, match="neighbor_length"):
        ProPainterConfig(neighbor_length=1)


def test_from_pretrained_save_pretrained_round_trip_and_aspect_outpainting(seeded_weights_dir, tmp_path):
    model = ProPainterForImageOutPainting.from_pretrained(seeded_weights_dir, ProPainterConfig(raft_iter=1), device="cpu")
    model.save_pretrained(tmp_path / "saved")
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == [
        "ProPainter.pth", "config.json", "raft-things.pth", "recurrent_flow_completion.pth"]
    again = ProPainterForImageOutPainting.from_pretrained(tmp_path / "saved")
    assert again.config.raft_iter == 1
    for a, b in ((model.raft, again.raft), (model.generator, again.generator)):
        sa, sb = a.state_dict(), b.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    frames, _ = _moving_clip(3, 64, 96)
    out = again(frames, aspect="16:9")
    assert out.reconstruction.shape == (1, 3, 64, 120, 3)  # 96x64 (3:2) widened to 16:9
    assert np.array_equal(out.reconstruction[0, :, :, 12:108], np.stack(frames))  # source untouched
