"""Where the data files live: the one module that knows the ``resources/`` folder.

``resources/`` sits next to ``editor/`` and ``models/`` at the top of the checkout (the
project is installed editable, ``pip install -e .``). ``$PROPAINTER_EDITOR_RESOURCES``
points elsewhere (a packaged build). It holds data, not code: the style sheet
(``dark.qss``), icons (``icons/NAME.svg`` or ``.png``) and the memory table
(``memory_table.json``).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

ENV_VAR = "PROPAINTER_EDITOR_RESOURCES"


class ResourceMissing(FileNotFoundError):
    """A data file of the application is missing: the installation is incomplete."""


def resources_dir() -> Path:
    """The ``resources/`` folder (``$PROPAINTER_EDITOR_RESOURCES`` overrides it)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(*parts: str) -> Path:
    """The path of ``resources/<parts...>``; :class:`ResourceMissing` when it is absent."""
    path = resources_dir().joinpath(*parts)
    if not path.exists():
        raise ResourceMissing(
            f"The application file {path} is missing; reinstall the editor "
            f"(`pip install -e .` in a complete checkout) or set ${ENV_VAR}."
        )
    return path


def style_sheet(name: str = "dark") -> str:
    """The text of the Qt style sheet ``resources/<name>.qss`` (the editor's theme is "dark")."""
    return resource_path(f"{name}.qss").read_text(encoding="utf-8")


def icon_path(name: str) -> Path:
    """``resources/icons/<name>.svg`` (or ``.png``) for an icon called ``name``."""
    for suffix in (".svg", ".png"):
        path = resources_dir() / "icons" / f"{name}{suffix}"
        if path.exists():
            return path
    return resource_path("icons", f"{name}.svg")  # raises, naming the expected file


@lru_cache(maxsize=1)
def memory_table() -> Any:
    """The parsed ``resources/memory_table.json`` (the GPU memory table users know)."""
    return json.loads(resource_path("memory_table.json").read_text(encoding="utf-8"))
