"""End to end through the CLI with the authors' options: the written PNG frames are the
authors' frames inside the dilated mask and the source pixels outside it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from editor.cli import main
from models.processor import dilate
from tests.models.parity import assert_frames_match, expected_comp, ref


def _write_pngs(folder: Path, images) -> Path:
    folder.mkdir(parents=True)
    for i, img in enumerate(images):
        if img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(folder / f"{i:05d}.png"), img)
    return folder


def _read_pngs(folder: Path) -> np.ndarray:
    files = sorted(folder.glob("*.png"))
    return np.stack([cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files])


def test_inpaint_case_a_writes_the_authors_frames(tmp_path, seeded_weights_dir):
    r = ref("a")
    frames = _write_pngs(tmp_path / "frames", r["in_frames"])
    masks = _write_pngs(tmp_path / "masks", r["in_masks"])
    out = tmp_path / "out"
    code = main(["inpaint", str(frames), "--mask", str(masks), "-o", str(out) + "/", "--engine", "propainter",
                 "--weights-dir", str(seeded_weights_dir), "--device", "cpu", "--no-crop",
                 "--subvideo-length", "80", "--neighbor-length", "10", "--ref-stride", "10", "--raft-iter", "20",
                 "--mask-dilation", "4"])
    assert code == 0
    written = _read_pngs(out)
    assert written.shape == r["in_frames"].shape
    # the job pastes the fill inside the mask grown by the dilation (+1 px for the resize)
    inside = np.stack([dilate((m != 0).astype(np.uint8), 5) for m in r["in_masks"]]).astype(bool)
    assert_frames_match(np.where(inside[..., None], written, 0), np.where(inside[..., None], r["out_frames_png"], 0),
                        max_diff=2, max_fraction=5e-4)
    assert np.array_equal(written[~inside], r["in_frames"][~inside])


def test_outpaint_case_d_writes_the_authors_canvas(tmp_path, seeded_weights_dir):
    r = ref("d")
    frames = _write_pngs(tmp_path / "frames", r["in_frames"])
    out = tmp_path / "out"
    code = main(["outpaint", str(frames), "--scale-w", "1.25", "--scale-h", "1.0", "-o", str(out) + "/",
                 "--engine", "propainter", "--weights-dir", str(seeded_weights_dir), "--device", "cpu"])
    assert code == 0
    written = _read_pngs(out)
    assert written.shape == (10, 128, 160, 3)
    assert_frames_match(written, expected_comp("d"), max_diff=1, max_fraction=2e-4)
    assert np.array_equal(written[:, :, 16:144], r["in_frames"])  # the source region is untouched


def test_weights_verify_takes_sam_checkpoint_names(tmp_path, capsys):
    assert main(["weights", "verify", "sam_vit_b", "--weights-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "weights download sam_vit_b" in err
    assert main(["weights", "download", "nope", "--weights-dir", str(tmp_path)]) == 2
    assert "unknown checkpoint 'nope'" in capsys.readouterr().err
