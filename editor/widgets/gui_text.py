"""Messages shared with the command line, told the way the window's user acts.

The services (weights, tracking, the engine choice) raise errors that name what to do in the
CLI's words (`python main.py weights download sam_vit_b`, --tracker flow, --mask). In the
window the same advice names the menu item that does it; :func:`for_window` rewrites a
message once, where the window shows it."""

from __future__ import annotations

import re

DOWNLOAD_PROPAINTER = "Process > Download ProPainter Weights"
DOWNLOAD_SAM = "Objects > Download SAM Weights"
DOWNLOAD_SAM2 = "Objects > Download SAM 2 Weights"
FLOW_TRACKER = "Objects > Tracker > Motion Tracker Only (no SAM)"

_CLI = r"`python main\.py weights download"
_RULES: list[tuple[str, str]] = [
    (r"--tracker sam2 needs", "The SAM 2 tracker needs"),
    (r"--tracker sam needs", "The SAM tracker needs"),
    (r"\brun (`python main\.py)", r"use \1"),
    (_CLI + r" sam2[^`]*`", DOWNLOAD_SAM2),
    (_CLI + r" sam_[^`]*`", DOWNLOAD_SAM),
    (_CLI + r"[^`]*`", DOWNLOAD_PROPAINTER),
    (r" \(or sam2[\w.]*, or pass --[\w-]+\)", f" (or {DOWNLOAD_SAM2})"),
    (r"`sam2[\w.]*` \(about", f"{DOWNLOAD_SAM2} (about"),
    (r",? or the editor's Download button", ""),
    (r",? give their folder \(--weights-dir\)", ""),
    (r" \(or (?:pass|give) --[\w-]+[^)]*\)", ""),
    (r"or give the masks with --mask", "or paint the mask with the brush"),
    (r"or use --tracker flow", f"or choose {FLOW_TRACKER}"),
    (r" ?\(--[\w-]+\)", ""),
]


def for_window(message: str) -> str:
    """``message`` with CLI commands and flags replaced by the window's menu items."""
    for pattern, repl in _RULES:
        message = re.sub(pattern, repl, message)
    return message
