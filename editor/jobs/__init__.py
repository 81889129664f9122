"""Jobs: drive an engine over a clip, chunk by chunk, into an output file (no Qt here).

:func:`run_job` is the one code path the CLI and the editor's worker both run; see
:mod:`editor.jobs.runner`.
"""

from editor.jobs.runner import (
    Eta,
    Job,
    JobChunk,
    JobEvent,
    JobProgress,
    JobResult,
    JobSettings,
    MaskInput,
    format_seconds,
    run_job,
)

__all__ = [
    "Eta",
    "Job",
    "JobChunk",
    "JobEvent",
    "JobProgress",
    "JobResult",
    "JobSettings",
    "MaskInput",
    "format_seconds",
    "run_job",
]
