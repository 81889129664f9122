"""Errors of the editor side: files that cannot be read and outputs that cannot be written.

Both are :class:`models.errors.ProPainterError` subclasses, so the CLI prints them as one
line with exit code 2 and the editor shows them in a dialog. Messages are one sentence that
names the file and says what to do.
"""

from __future__ import annotations

from models.errors import InputError, ProPainterError


class MediaError(InputError):
    """A video, frame folder or mask that is missing, unreadable, corrupt or does not match."""


class OutputError(ProPainterError):
    """An output that cannot be written: exists already, unwritable, disk full, bad codec."""


__all__ = ["MediaError", "OutputError"]
