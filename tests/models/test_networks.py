"""The three networks against the authors' reference, stage by stage (case a, fp32).

Tolerances are the parity README's ``strict`` profile: about 10-20x the differences the
authors' own code shows between 1 and 2 CPU threads.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from models.flow_completion import RecurrentFlowCompleteNet
from models.plan import ClipPlan
from models.propagation import StepFlow, consistency_mask, flow_warp, propagate_frames, propagate_images
from models.propainter import DECODE_MARGIN, InpaintGenerator, decode_boxes
from models.transformer import token_grid
from models.raft import RAFT, RAFTConfig, bidirectional_flows, flow_pairs
from models.errors import InputError

from tests.models.parity import CASES, CASE_NAMES, DATA, load_networks, ref, to_net

MANIFEST = json.loads((DATA / "parity_manifest.json").read_text())["files"]


@pytest.mark.parametrize(
    "net, file_name, prefix",
    [(RAFT, "raft-things.pth", "module."), (RecurrentFlowCompleteNet, "recurrent_flow_completion.pth", ""),
     (InpaintGenerator, "ProPainter.pth", "")],
)
def test_state_dict_keys_and_shapes_equal_the_released_files(net, file_name, prefix):
    ours = {prefix + k: (list(v.shape), str(v.dtype).replace("torch.", "")) for k, v in net().state_dict().items()}
    released = {e["key"]: (e["shape"], e["dtype"]) for e in MANIFEST[file_name]["entries"]}
    assert ours == released


def test_rolled_window_indices_equal_the_released_buffer():
    gen = InpaintGenerator()
    entry = next(e for e in MANIFEST["ProPainter.pth"]["entries"] if e["key"].endswith("0.attention.valid_ind_rolled"))
    assert gen.transformers.transformer[0].attention.valid_ind_rolled.tolist() == entry["values"]


@pytest.fixture(scope="module")
def nets(seeded_weights_dir):
    return load_networks(seeded_weights_dir)


@torch.inference_mode()
def test_raft_flows_match_reference(nets):
    r = ref("a")
    ff, fb = bidirectional_flows(nets[0], to_net(r["frames_proc"][:3]), iters=20)
    for ours, theirs in ((ff, r["gt_flows_f_head"]), (fb, r["gt_flows_b_head"])):
        d = np.abs(ours.numpy() - theirs)
        assert d.max() < 3e-4 and d.mean() < 3e-5, (d.max(), d.mean())
    assert float(np.abs(r["gt_flows_f_head"]).mean()) > 1.0  # non-degenerate flows


@torch.inference_mode()
def test_gru_with_the_context_part_precomputed_equals_the_plain_gru(nets):
    """The refinement computes the context's part of the GRU gates once per pair: the same
    hidden state as the plain GRU on [context, motion] up to float round-off."""
    gru = nets[0].update_block.gru
    g = torch.Generator().manual_seed(3)
    h = torch.tanh(torch.randn(2, 128, 6, 10, generator=g))
    context = torch.relu(torch.randn(2, 128, 6, 10, generator=g))
    motion = torch.randn(2, 128, 6, 10, generator=g)
    plain = gru(h, torch.cat([context, motion], dim=1))
    fast = gru.step(h, motion, gru.context_terms(context))
    assert fast.shape == plain.shape
    assert (fast - plain).abs().max() < 1e-5
    assert (plain - h).abs().mean() > 1e-2  # the step changes the state


@torch.inference_mode()
def test_raft_flows_do_not_depend_on_how_many_pairs_share_a_batch(nets):
    """Frames are encoded and pairs refined a few at a time; any batch size gives the same
    flows bit for bit (no batch is of one frame: 5 frames in 2s are encoded as 2 + 3), and
    the per-pair lists own their memory (not views of a batch)."""
    from models.raft import _batches

    assert _batches(5, 2) == [(0, 2), (2, 5)] and _batches(8, 3) == [(0, 3), (3, 6), (6, 8)]
    assert _batches(7, 3) == [(0, 3), (3, 7)] and _batches(1, 2) == [(0, 1)] and _batches(3, 1) == [(0, 3)]
    frames = to_net(ref("a")["frames_proc"][:5, :64, :96])
    lists = {b: flow_pairs(nets[0], frames, iters=2, pair_batch=b) for b in (2, 3, 4, 8)}
    for fwd, bwd in lists.values():
        assert len(fwd) == len(bwd) == 4
        for a, b in zip(fwd + bwd, lists[2][0] + lists[2][1]):
            assert torch.equal(a, b)
        assert all(f.shape == (2, 64, 96) and f.untyped_storage().nbytes() == f.nbytes for f in fwd + bwd)
    ff, fb = bidirectional_flows(nets[0], frames, iters=2, pair_batch=3)
    assert torch.equal(ff, torch.stack(lists[2][0])) and torch.equal(fb, torch.stack(lists[2][1]))
    assert not torch.equal(ff, fb.flip(0))  # forward and backward are different flows


@torch.inference_mode()
def test_completed_flows_match_reference_statistics(nets):
    """Flow completion on our own RAFT flows; per-frame mean/std/min/max/mean|x| against the
    reference, plus the stored fp32 flows of the first window."""
    r = ref("a")
    frames = to_net(r["frames_proc"])
    plan = ClipPlan.build(len(frames), 80, 10, 10, 12)
    gf, gb = [], []
    for c in plan.raft_clips:
        f, b = bidirectional_flows(nets[0], frames[c.start : c.stop], iters=20)
        gf.append(f)
        gb.append(b)
    gf, gb = torch.cat(gf), torch.cat(gb)
    fm = torch.from_numpy(r["flow_masks"]).float()[None, :, None]
    pf, pb = nets[1].complete(gf[None], gb[None], fm)
    n = len(r["pred_flows_f_head"])
    for ours, head, stats in ((pf[0], r["pred_flows_f_head"], r["stats__pred_flows_f"]),
                              (pb[0], r["pred_flows_b_head"], r["stats__pred_flows_b"])):
        assert np.abs(ours[:n].numpy() - head).max() < 3e-4
        x = ours.reshape(len(ours), -1).double()
        mine = torch.stack([x.mean(1), x.std(1), x.min(1).values, x.max(1).values, x.abs().mean(1)], 1).numpy()
        np.testing.assert_allclose(mine, stats, atol=3e-4, rtol=0)


@torch.inference_mode()
def test_flow_completion_of_one_direction_composes_like_the_whole_tensor_formula():
    """``complete_one`` (input made per time chunk, result composed frame by frame, masks as
    floats or as 0/1 bytes) gives, bit for bit, ``pred * m + flow * (1 - m)`` on the whole
    network output."""
    torch.manual_seed(3)
    net = RecurrentFlowCompleteNet().eval()
    for p in net.parameters():
        p.add_(torch.randn_like(p) * 0.02)
    t, h, w = 11, 32, 48
    flows = torch.randn(1, t, 2, h, w) * 4
    masks = (torch.rand(1, t + 1, 1, h, w) > 0.6).float()
    m = masks[:, :-1]
    pred = net(flows * (1 - m), m)
    expected = pred * m + flows * (1 - m)
    assert torch.equal(net.complete_one(flows, m), expected)
    assert torch.equal(net.complete_one(flows, m.to(torch.uint8)), expected)
    back = net.complete_one(flows, masks[:, 1:], backward=True)
    assert torch.equal(net.complete_one(flows, masks[:, 1:].to(torch.uint8), backward=True), back)
    assert not torch.equal(back, expected)


@torch.inference_mode()
def test_image_propagation_with_analytic_flows_matches_reference():
    r = ref("a")
    frames = to_net(r["frames_proc"])[None]
    masks = torch.from_numpy(r["masks_dilated"]).float()[None, :, None]
    t, h, w = r["masks_dilated"].shape
    ff = torch.from_numpy(r["stage_ip_flows_f"]).expand(t - 1, 2, h, w)[None]
    fb = torch.from_numpy(r["stage_ip_flows_b"]).expand(t - 1, 2, h, w)[None]
    prop, upd_masks = propagate_images(frames * (1 - masks), ff, fb, masks)
    updated = frames * (1 - masks) + prop * masks
    assert np.array_equal(upd_masks[0, :, 0].numpy().astype(np.uint8), r["stage_ip_updated_masks"])
    expected = np.where(r["stage_ip_updated_masks"][:, None].astype(bool), 0.0,
                        r["stage_ip_updated_u8"].astype(np.float32) / 255 * 2 - 1)
    assert np.abs(updated[0].numpy() - expected).max() < 1e-5
    filled = 1 - r["stage_ip_updated_masks"].sum() / r["masks_dilated"].sum()
    assert filled > 0.5  # the analytic flows fill most of the hole (58 % in the reference)

    # Frame by frame (the pipeline's way): the same numbers, handed out in frame order.
    got = []
    propagate_frames(t, lambda i: ((frames * (1 - masks))[:, i], masks[:, i]),
                     lambda k: StepFlow.pair(ff[0, k], fb[0, k], masks[0, k, 0], masks[0, k + 1, 0]),
                     lambda i, p, m: got.append((i, p, m)))
    assert [i for i, _, _ in got] == list(range(t))
    assert torch.equal(torch.stack([p for _, p, _ in got], 1), prop)
    assert torch.equal(torch.stack([m for _, _, m in got], 1), upd_masks)


def _dense_propagation(frames: torch.Tensor, ff: torch.Tensor, fb: torch.Tensor, masks: torch.Tensor):
    """Image propagation on whole frames, the authors' way (every step warps and checks the
    full-size flows): the reference for the hole-only steps."""
    def step(prop, prop_mask, cur, cur_mask, fp, fc):
        valid = consistency_mask(fp, fc)
        warped = flow_warp(prop, fp, "nearest")
        seen = (flow_warp(prop_mask, fp) > 0.1).to(prop_mask)
        take = ((cur_mask * valid * (1 - seen)) > 0.1).to(cur_mask)
        return take * warped + (1 - take) * cur, ((cur_mask * (1 - valid * (1 - seen))) > 0.1).to(cur_mask)

    t = frames.shape[1]
    back = [None] * t
    back[-1] = prop = (frames[:, -1], masks[:, -1])
    for i in range(t - 2, -1, -1):
        back[i] = prop = step(*prop, frames[:, i], masks[:, i], ff[:, i], fb[:, i])
    out = [back[0]]
    for i in range(1, t):
        out.append(step(*out[-1], *back[i], fb[:, i - 1], ff[:, i - 1]))
    return torch.stack([p for p, _ in out], 1), torch.stack([m for _, m in out], 1)


@torch.inference_mode()
def test_hole_only_propagation_equals_whole_frame_propagation_bit_for_bit():
    # Random flows (large enough to leave the frame and fail the check in places), masks
    # of different shapes per frame and per clip of the batch.
    g = torch.Generator().manual_seed(3)
    b, t, h, w = 2, 6, 24, 40
    frames = torch.rand(b, t, 3, h, w, generator=g) * 2 - 1
    masks = (torch.rand(b, t, 1, h, w, generator=g) > 0.7).float()
    masks[0, 2] = 0  # a frame without a hole
    ff = torch.randn(b, t - 1, 2, h, w, generator=g) * 4
    fb = -ff + torch.randn(b, t - 1, 2, h, w, generator=g)
    masked = frames * (1 - masks)
    prop, still = propagate_images(masked, ff, fb, masks)
    want_prop, want_still = _dense_propagation(masked, ff, fb, masks)
    assert torch.equal(prop, want_prop) and torch.equal(still, want_still)
    assert 0 < still.sum() < masks.sum()  # some pixels filled, some not

    # A step holds a flow on the hole only: a tenth of the frame, a fifth of the bytes.
    box = torch.zeros(h, w)
    box[4:12, 10:22] = 1
    pair = StepFlow.pair(ff[0, 0], fb[0, 0], box, box)
    assert len(pair[0].index) == len(pair[1].index) == 96
    assert pair[0].nbytes() + pair[1].nbytes() < 0.25 * 2 * ff[0, 0].numel() * 4


@torch.inference_mode()
def test_generator_window_matches_reference_slice(nets):
    r = ref("a")
    nl, rl = r["win_nid_len"], r["win_rid_len"]
    nid = [int(i) for i in r["win_nid_flat"][: nl[0]]]
    rid = [int(i) for i in r["win_rid_flat"][: rl[0]]]
    ids = nid + rid
    masks = torch.from_numpy(r["masks_dilated"]).float()[None, :, None]
    updated = to_net(r["frames_proc"])[None] * (1 - masks)  # nothing propagated with the seeded weights
    upd_masks = torch.from_numpy(r["updated_masks"]).float()[None, :, None]
    ff = torch.from_numpy(r["pred_flows_f_head"])[None]
    fb = torch.from_numpy(r["pred_flows_b_head"])[None]
    pred = nets[2](updated[:, ids], ff, fb, masks[:, ids], upd_masks[:, ids], len(nid))[0]
    crop = pred[:, :, 40:72, 40:72].numpy()
    d = np.abs(crop - r["win_pred_w0_crop"])
    assert d.max() < 5e-5 and d.mean() < 5e-6, (d.max(), d.mean())
    x = pred.reshape(len(pred), -1).double()
    stats = torch.stack([x.mean(1), x.std(1), x.min(1).values, x.max(1).values, x.abs().mean(1)], 1).numpy()
    np.testing.assert_allclose(stats, r["stats__win_pred"][: len(nid)], atol=5e-5, rtol=0)

    # The pipeline's call decodes only around the mask: equal to the whole decode inside it.
    only = nets[2](updated[:, ids], ff, fb, masks[:, ids], upd_masks[:, ids], len(nid), masked_only=True)[0]
    inside = masks[0, nid].expand(-1, 3, -1, -1).bool()
    assert (only - pred).abs()[inside].max() < 1e-5

    # The pipeline's flows come at the feature size, computed once per frame; and how many
    # frames the attention and the feed-forward network take at once is not in the result.
    g = nets[2]
    small_f, small_b = (g.feature_flows(f[0])[None] for f in (ff, fb))
    chunks = (g.transformers.transformer[0].attention.frames_at_once, g.transformers.transformer[0].mlp.frames_at_once)
    try:
        for layer in g.transformers.transformer:
            layer.attention.frames_at_once, layer.mlp.frames_at_once = 1, 5
        again = g(updated[:, ids], small_f, small_b, masks[:, ids], upd_masks[:, ids], len(nid), masked_only=True,
                  flows_at_feature_size=True)[0]
    finally:
        for layer in g.transformers.transformer:
            layer.attention.frames_at_once, layer.mlp.frames_at_once = chunks
    assert torch.equal(again, only)


BOXES = {
    "one blob": [(100, 150, 200, 260)],
    "opposite corners": [(0, 40, 0, 30), (200, 240, 400, 432)],
    "thin band to the edges": [(118, 122, 0, 432)],
    "almost everything": [(5, 235, 5, 430)],
    "nothing": [],
}


@pytest.mark.parametrize("layout", BOXES)
@torch.inference_mode()
def test_decoding_around_the_mask_equals_decoding_everything_inside_it(layout):
    torch.manual_seed(0)
    g = InpaintGenerator()
    for p in [*g.decoder.parameters(), *g.sc.parameters()]:
        p.normal_(0, 0.05)
    H, W = 240, 432
    feat = torch.randn(1, 128, H // 4, W // 4)
    tokens = torch.randn(1, 1, *token_grid((H // 4, W // 4)), 512)
    frame = torch.rand(1, 3, H, W)
    m = torch.zeros(H, W)
    for y0, y1, x0, x1 in BOXES[layout]:
        m[y0:y1, x0:x1] = 1
    whole = torch.tanh(g.decode(feat + g.sc(tokens, 1, (H // 4, W // 4))))
    out = g._decode_masked(feat, tokens, m, frame)
    inside = m.bool().expand(3, H, W)
    assert (out[0][inside] - whole[0][inside]).abs().max() < 1e-4 if inside.any() else True  # values up to 1, sums of 20
    boxes = decode_boxes(m, (H // 4, W // 4), DECODE_MARGIN)
    if layout == "almost everything":
        assert boxes is None  # cheaper to decode the whole frame
    else:
        # Only the boxes were decoded: outside them the frame is returned untouched.
        covered = torch.zeros(H, W, dtype=torch.bool)
        for y0, y1, x0, x1 in boxes:
            covered[4 * y0 : 4 * y1, 4 * x0 : 4 * x1] = True
        assert torch.equal(out[0][:, ~covered], frame[0][:, ~covered])
        assert covered.float().mean() < 0.3
        assert len(boxes) == len(BOXES[layout])


@torch.inference_mode()
def test_generator_takes_encoder_features_per_frame_or_stacked_with_the_same_result():
    """The pipeline passes its cached per-frame features as a list (no stacked copy); the
    window's prediction is the same, bit for bit, as with one stacked tensor or none."""
    torch.manual_seed(1)
    g = InpaintGenerator().eval()
    t, l_t, H, W = 7, 4, 64, 96
    frames = torch.rand(1, t, 3, H, W) * 2 - 1
    masks = torch.zeros(1, t, 1, H, W)
    masks[..., 20:44, 30:60] = 1
    flows = torch.randn(1, l_t - 1, 2, H, W)
    enc = g.encode(frames[0], masks[0], masks[0])
    whole = g(frames, flows, flows, masks, masks, l_t)
    for masked_only in (False, True):
        stacked = g(frames, flows, flows, masks, masks, l_t, enc_feat=enc[None], masked_only=masked_only)
        per_frame = g(frames, flows, flows, masks, masks, l_t, enc_feat=[e[None] for e in enc], masked_only=masked_only)
        assert torch.equal(stacked, per_frame)
    assert torch.equal(g(frames, flows, flows, masks, masks, l_t, enc_feat=[e[None] for e in enc]), whole)


@pytest.mark.parametrize("case", ["a", "b", "d"])
def test_windows_follow_the_authors_grid(case):
    o = {"subvideo_length": 80, "neighbor_length": 10, "ref_stride": 10, **CASES[CASE_NAMES[case]]["opts"]}
    windows = CASES[CASE_NAMES[case]]["windows"]
    t = {"a": 14, "b": 16, "d": 10}[case]
    plan = ClipPlan.build(t, o["subvideo_length"], o["neighbor_length"], o["ref_stride"], 12)
    assert [dict(f=w.f, neighbor_ids=list(w.neighbors), ref_ids=list(w.refs)) for w in plan.windows] == windows


def test_raft_rejects_sizes_that_are_not_multiples_of_8():
    net = RAFT(RAFTConfig(corr_levels=2))
    with pytest.raises(InputError, match="multiples of 8"):
        net(torch.zeros(1, 3, 60, 64), torch.zeros(1, 3, 60, 64), iters=1)
