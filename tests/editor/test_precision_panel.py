"""The job panel's precision: the CLI's four choices (auto, fp32, fp16, bf16) through
EngineSettings, a tooltip naming what automatic picks here, older projects' ``fp16`` read
with the meaning it had, and a memory estimate that follows the precision."""

from __future__ import annotations

import pytest

from editor.document.project import load_project, save_project
from editor.engine_settings import PRECISIONS


def test_the_panel_offers_the_clis_four_precisions(opened):
    combo = opened.panel.precision
    assert [combo.itemData(i) for i in range(combo.count())] == list(PRECISIONS)
    for value in reversed(PRECISIONS):  # "auto" (the default) last, so that each is a change
        combo.setCurrentIndex(combo.findData(value))
        assert opened.doc.settings["precision"] == value and "fp16" not in opened.doc.settings
        assert opened.panel.settings()["precision"] == value


@pytest.mark.parametrize(("fast", "picked"), [("1", "bf16"), ("0", "fp32")])
def test_the_tooltip_says_what_automatic_picks_on_this_machine(opened, monkeypatch, fast, picked):
    monkeypatch.setenv("PROPAINTER_CPU_BF16", fast)
    panel = opened.panel
    panel.device.setCurrentIndex(panel.device.findData("cpu"))
    assert f"Automatic picks {picked} on cpu" in panel.precision.toolTip()
    assert panel.precision.itemText(0) == f"Automatic ({picked} here)"


@pytest.mark.parametrize(("fp16", "precision"), [(True, "fp16"), (False, "fp32"), (None, "auto")])
def test_a_project_saved_with_the_older_fp16_key_opens_with_the_same_meaning(opened, tmp_path, fp16, precision):
    path = tmp_path / "old.ppproj"
    assert opened.save_project_to(str(path))
    data = load_project(path)
    data.settings = {k: v for k, v in data.settings.items() if k != "precision"} | {"fp16": fp16}
    save_project(path, data)  # as an editor before the precision choice saved it
    assert opened.open_path(str(path))
    assert opened.panel.precision.currentData() == precision
    assert opened.doc.settings["precision"] == precision and "fp16" not in opened.doc.settings
    opened.panel.precision.setCurrentIndex(opened.panel.precision.findData("bf16"))  # no contradiction left
    assert opened.save_project_to(str(path))
    assert load_project(path).settings["precision"] == "bf16" and "fp16" not in load_project(path).settings


def test_the_memory_estimate_follows_the_precision(opened, qtbot, monkeypatch):
    import editor.widgets.job_panel as jp

    monkeypatch.setattr(jp, "free_memory", lambda device: 64 * 2**30)
    panel = opened.panel
    panel.devices = ["cuda:0"]  # what "auto" estimates for: the name alone, no GPU is asked
    panel.engine.setCurrentIndex(panel.engine.findData("propainter"))
    shown = {}
    for value in PRECISIONS:
        panel.precision.setCurrentIndex(panel.precision.findData(value))
        qtbot.waitUntil(lambda: "usable" in panel.mem_label.text(), timeout=10000)
        shown[value] = (panel.mem_label.text(), max(b for _, b in panel.plot.points))
    assert ", fp16: about" in shown["auto"][0] and ", bf16: about" in shown["bf16"][0]
    assert shown["fp16"][1] < shown["fp32"][1] and shown["bf16"][1] == shown["fp16"][1]  # 2-byte on CUDA
    panel.devices = ["cpu"]
    panel.precision.setCurrentIndex(panel.precision.findData("fp16"))
    qtbot.waitUntil(lambda: "on cpu" in panel.mem_label.text(), timeout=10000)
    assert ", fp32: about" in panel.mem_label.text()  # fp16 runs as fp32 off CUDA
    qtbot.waitUntil(lambda: not panel.memory.busy(), timeout=10000)
