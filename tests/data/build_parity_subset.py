"""Rebuild ``tests/data/parity_*.npz`` from the full reference in ``../shared/parity/ref``.

The tests need only a small part of the authors' reference data (inputs, final frames, a
few stage tensors, golden slices). Run from the project root when the reference changes:

    python tests/data/build_parity_subset.py [--ref ../shared/parity/ref]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CROP = (slice(40, 72), slice(40, 72))  # golden slice of the generator output (rows, cols)


def build(ref: Path) -> None:
    cases = json.loads((ref / "manifest.json").read_text())["cases"]
    a = np.load(ref / "case_a_default_134x141.npz")
    win0 = int(a["win_nid_len"][0])
    out = {
        "in_frames": a["in_frames"], "in_masks": a["in_masks"],
        "frames_proc": a["frames_proc"], "flow_masks": a["flow_masks"], "masks_dilated": a["masks_dilated"],
        "out_frames_png": a["out_frames_png"],
        # RAFT on the first three frames (fp32).
        "gt_flows_f_head": a["gt_flows_f"][:2], "gt_flows_b_head": a["gt_flows_b"][:2],
        # Completed flows for window 0's neighbours (fp32) and per-frame stats of all of them.
        "pred_flows_f_head": a["pred_flows_f"][: win0 - 1], "pred_flows_b_head": a["pred_flows_b"][: win0 - 1],
        "stats__pred_flows_f": a["stats__pred_flows_f"], "stats__pred_flows_b": a["stats__pred_flows_b"],
        "stats__gt_flows_f": a["stats__gt_flows_f"],
        # With the seeded weights image propagation fills nothing end to end: the updated
        # frames are the masked frames and the updated masks the dilated masks.
        "updated_masks": a["updated_masks"],
        # Stage-isolated image propagation: constant flows, exact copies -> store as uint8.
        "stage_ip_flows_f": a["stage_ip_flows_f"][:, :, :1, :1], "stage_ip_flows_b": a["stage_ip_flows_b"][:, :, :1, :1],
        "stage_ip_updated_masks": a["stage_ip_updated_masks"],
        "stage_ip_updated_u8": np.round((a["stage_ip_updated_frames"] + 1) / 2 * 255).astype(np.uint8),
        "win_nid_len": a["win_nid_len"], "win_nid_flat": a["win_nid_flat"],
        "win_rid_len": a["win_rid_len"], "win_rid_flat": a["win_rid_flat"],
        "win_pred_w0_crop": a["win_pred"][:win0, :, CROP[0], CROP[1]],
        "stats__win_pred": a["stats__win_pred"],
    }
    np.savez_compressed(HERE / "parity_a.npz", **out)
    b = np.load(ref / "case_b_chunked_128x128.npz")
    np.savez_compressed(HERE / "parity_b.npz", in_frames=b["in_frames"], in_masks=b["in_masks"],
                        masks_dilated=b["masks_dilated"], comp_frames_masked=b["comp_frames_masked"],
                        stats__pred_flows_f=b["stats__pred_flows_f"], stats__pred_flows_b=b["stats__pred_flows_b"])
    d = np.load(ref / "case_d_outpaint_128x128.npz")
    np.savez_compressed(HERE / "parity_d.npz", in_frames=d["in_frames"], frames_proc=d["frames_proc"],
                        flow_masks=d["flow_masks"], masks_dilated=d["masks_dilated"],
                        comp_frames_masked=d["comp_frames_masked"], out_frames_png=d["out_frames_png"])
    keep = {k: {"opts": v["opts"], "windows": v["windows"], "proc_size_wh": v.get("proc_size_wh"),
                "out_size_wh": v.get("out_size_wh")} for k, v in cases.items()}
    (HERE / "parity_cases.json").write_text(json.dumps(keep, indent=1))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", type=Path, default=Path("../shared/parity/ref"))
    build(ap.parse_args().ref)
