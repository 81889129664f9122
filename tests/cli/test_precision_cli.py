"""--precision {auto,fp32,fp16,bf16} for inpaint and outpaint, with --fp16/--no-fp16 as
aliases, through the one settings type."""

from __future__ import annotations

import pytest

from models.errors import InputError


def test_cli_and_settings_take_the_precision():
    from editor import cli
    from editor.engine_settings import EngineSettings

    def settings(*flags):
        for command in (["inpaint", "clip.mp4", "--mask", "m.png"], ["outpaint", "clip.mp4"]):
            args = cli.build_parser().parse_args([*command, "-o", "out.mp4", *flags])
            s = cli.engine_settings(args)
        return s

    assert settings() == EngineSettings() and EngineSettings().precision == "auto"
    assert settings("--precision", "bf16").propainter_config().requested_precision() == "bf16"
    assert settings("--precision", "fp32").propainter_config().requested_precision() == "fp32"
    assert settings("--fp16").propainter_config().requested_precision() == "fp16"
    assert settings("--no-fp16").propainter_config().requested_precision() == "fp32"
    with pytest.raises(cli.UsageError, match="precision"):
        settings("--precision", "fp8")
    with pytest.raises(InputError):
        settings("--fp16", "--precision", "bf16")
    # a project keeps the choice; an older project without it reads as auto
    s = EngineSettings(precision="bf16")
    assert s.to_dict()["precision"] == "bf16" and EngineSettings.from_dict(s.to_dict()) == s
    assert EngineSettings.from_dict({"fp16": False}).propainter_config().requested_precision() == "fp32"


def test_estimate_follows_the_precision(capsys, monkeypatch):
    from editor.cli import main

    monkeypatch.setenv("PROPAINTER_CPU_BF16", "1")
    assert main(["estimate", "--width", "432", "--height", "240", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "fp32: " in out and "<- this device (bf16)" in out and "Plan: sub-video length 80, bf16" in out
    assert main(["estimate", "--width", "432", "--height", "240", "--device", "cpu", "--precision", "fp32"]) == 0
    assert "<- this device (fp32)" in capsys.readouterr().out
