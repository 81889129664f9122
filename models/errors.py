"""The project's one small exception hierarchy.

Every error a user can cause is raised as a subclass of :class:`ProPainterError` with one
clear sentence that names the input and says what to do. The CLI prints it as one line with
exit code 2; the editor shows it in a dialog. Anything else is a bug.
"""

from __future__ import annotations


class ProPainterError(Exception):
    """Base class of every error a user can cause (bad input, missing weights, ...)."""


class InputError(ProPainterError, ValueError):
    """Frames, masks, sizes or options that cannot be processed as given."""


class WeightsError(ProPainterError):
    """A checkpoint that is missing, truncated, corrupt or not the expected network."""


class DeviceError(ProPainterError):
    """The requested device is unavailable or the job does not fit on it."""


class Cancelled(ProPainterError):
    """The user cancelled; finished work is kept, nothing partial is written."""
