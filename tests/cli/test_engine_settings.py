"""One engine settings type: the CLI's flags and the editor's settings are views of
:class:`editor.engine_settings.EngineSettings`, and one builder makes the engine for both."""

from __future__ import annotations

from dataclasses import fields

import pytest

from editor import cli
from editor.document.job_settings import DEFAULTS, engine_settings_of, settings_of
from editor.engine_settings import EngineSettings, build_engine
from models.classic import ClassicConfig, ClassicEngine
from models.config import ProPainterConfig
from models.errors import InputError


def cli_settings(*flags: str) -> EngineSettings:
    args = cli.build_parser().parse_args(["inpaint", "clip.mp4", "--mask", "m.png", "-o", "out.mp4", *flags])
    return cli.engine_settings(args)


def test_defaults_are_the_engines_own():
    s, pp, classic = EngineSettings(), ProPainterConfig(), ClassicConfig()
    for name in ("device", "fp16", "subvideo_length", "neighbor_length", "ref_stride", "raft_iter", "mask_dilation"):
        assert getattr(s, name) == getattr(pp, name), name
    assert s.mask_dilation == classic.mask_dilation
    assert s.fp16 is None  # automatic: fp16 on CUDA, as the authors and the CLI do
    assert s.engine == "auto" and s.weights_dir is None


def test_the_cli_flags_default_to_the_settings():
    assert cli_settings() == EngineSettings()


def test_the_editor_defaults_are_derived_from_the_settings():
    assert {k: v for k, v in DEFAULTS.items() if k != "max_side"} == EngineSettings().to_dict()
    assert DEFAULTS["precision"] == "auto" and "fp16" not in DEFAULTS  # one spelling in a project
    assert engine_settings_of({}) == EngineSettings()
    assert engine_settings_of(settings_of({"max_side": 640, "ref_stride": 5})) == EngineSettings(ref_stride=5)


def test_an_older_project_keeps_its_explicit_choices():
    saved = {"engine": "classic", "device": "cpu", "fp16": False, "max_side": 0, "subvideo_length": 40.0}
    s = engine_settings_of(saved)
    assert (s.engine, s.device, s.precision, s.subvideo_length) == ("classic", "cpu", "fp32", 40)
    assert settings_of(saved)["precision"] == "fp32" and "fp16" not in settings_of(saved)


def test_cli_and_editor_build_the_same_classic_engine():
    from_cli = build_engine(cli_settings("--engine", "classic"))
    from_editor = build_engine(settings_of({"engine": "classic"}))
    assert isinstance(from_cli, ClassicEngine) and isinstance(from_editor, ClassicEngine)
    assert from_cli.config == from_editor.config == ClassicConfig()


def test_a_short_sub_video_makes_the_classic_engine_preview_sooner():
    assert build_engine(settings_of({"engine": "classic", "subvideo_length": 4})).config.chunk_size == 4


def test_cli_and_editor_build_the_same_propainter_engine(monkeypatch, tmp_path):
    import models.pipeline
    import models.weights

    built = []

    class Recorder:
        def __init__(self, config, weights_dir=None):
            built.append((config, weights_dir))

    monkeypatch.setattr(models.pipeline, "ProPainterEngine", Recorder)
    monkeypatch.setattr(models.weights, "weights_available", lambda weights_dir=None: True)
    said = []
    build_engine(cli_settings(), say=said.append)
    build_engine(settings_of({}))
    assert built[0] == built[1]
    config, weights_dir = built[0]
    assert config == ProPainterConfig() and config.fp16 is None and weights_dir is None
    assert said == ["Using the ProPainter engine (weights found)."]


def test_propainter_without_weights_says_how_to_get_them(tmp_path):
    from models.errors import WeightsError

    with pytest.raises(WeightsError, match="download them"):
        build_engine(EngineSettings(engine="propainter", weights_dir=tmp_path))


@pytest.mark.parametrize(("field", "value"), [("engine", "fast"), ("ref_stride", 0), ("subvideo_length", 1),
                                              ("mask_dilation", -1), ("fp16", "yes")])
def test_a_bad_value_is_refused_naming_it(field, value):
    with pytest.raises(InputError, match=field):
        EngineSettings(**{field: value})


def test_a_bad_engine_flag_is_one_line_before_any_work(capsys, tmp_path):
    code = cli.main(["inpaint", str(tmp_path / "missing.mp4"), "--mask", "m.png", "-o", str(tmp_path / "o.mp4"),
                     "--ref-stride", "0"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "ref_stride" in err


def test_every_setting_is_a_project_setting_but_the_weights_folder():
    names = {f.name for f in fields(EngineSettings)}
    assert set(EngineSettings().to_dict()) == names - {"weights_dir", "fp16"}  # fp16: precision's alias


@pytest.mark.parametrize(("fp16", "precision"), [(True, "fp16"), (False, "fp32"), (None, "auto")])
def test_the_older_fp16_key_keeps_its_meaning(fp16, precision):
    from editor.engine_settings import migrate_settings

    assert migrate_settings({"fp16": fp16, "ref_stride": 5}) == {"precision": precision, "ref_stride": 5}
    assert EngineSettings.from_dict({"fp16": fp16}) == EngineSettings(precision=precision)
    # a precision the project also sets wins over the older key
    assert migrate_settings({"fp16": fp16, "precision": "bf16"}) == {"precision": "bf16"}


def test_fp16_is_moved_into_precision_on_construction():
    assert EngineSettings(fp16=True) == EngineSettings(precision="fp16")
    assert EngineSettings(fp16=False).to_dict()["precision"] == "fp32"
    assert EngineSettings(fp16=True).propainter_config().requested_precision() == "fp16"
    with pytest.raises(InputError, match="contradicts"):
        EngineSettings(fp16=True, precision="bf16")
