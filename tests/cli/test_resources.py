"""editor.resources: the one place that knows where resources/ is."""

from __future__ import annotations

import pytest

from editor import resources


def test_the_style_sheet_is_found_in_the_checkout():
    assert resources.resources_dir().name == "resources"
    assert "{" in resources.style_sheet()


def test_a_missing_resource_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv(resources.ENV_VAR, str(tmp_path))
    with pytest.raises(resources.ResourceMissing, match="nothing.qss"):
        resources.style_sheet("nothing")
    with pytest.raises(resources.ResourceMissing, match="icons"):
        resources.icon_path("brush")
    (tmp_path / "icons").mkdir()
    (tmp_path / "icons" / "brush.png").write_bytes(b"\x89PNG")
    assert resources.icon_path("brush") == tmp_path / "icons" / "brush.png"
