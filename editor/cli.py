"""The command line: ``python main.py COMMAND ...`` (or ``propainter-editor COMMAND ...``).

With no command (or with a video path as the only arguments) the editor opens. Commands:
``inpaint``, ``outpaint``, ``estimate``, ``weights``, ``sample``, plus any registered by
other modules (see :func:`register_command` and :func:`register_mask_option`).

Errors a user can cause (:class:`models.errors.ProPainterError`, bad options) print one line
on stderr and exit with code 2; a cancel (Ctrl+C) exits with 130 and leaves no partial file.

Extending: a module listed in :data:`EXTENSION_MODULES` is imported when the parser is built
(silently skipped while it does not exist) and its ``register_cli(cli)`` is called with this
module, so it can call :func:`register_command` (a new subcommand) and
:func:`register_mask_option` (new ways to give ``inpaint`` its masks, e.g. ``--click``).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from editor.engine_settings import ENGINES, PRECISIONS, EngineSettings, build_engine
from models.errors import Cancelled, ProPainterError

#: Modules that add commands or mask options; each defines ``register_cli(cli_module)``.
EXTENSION_MODULES: tuple[str, ...] = ("editor.tracking_cli",)

EXIT_USAGE = 2
EXIT_CANCELLED = 130

#: The engine flags' defaults (the editor's panel starts from the same object).
ENGINE_DEFAULTS = EngineSettings()


class UsageError(ProPainterError):
    """An option that argparse rejected, reported as one line like every other error."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + exits; we want one line
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


# -- extension points -------------------------------------------------------------------------
CommandRegistrar = Callable[[argparse._SubParsersAction], None]


@dataclass(frozen=True)
class MaskOption:
    """A way to give ``inpaint`` its masks besides ``--mask``.

    ``add_arguments(parser)`` adds options to the inpaint parser; ``build(args, clip)``
    returns masks (anything :class:`editor.jobs.Job` accepts: a path, a mapping frame ->
    HxW uint8, one HxW array) when its options were used, else None. ``clip`` is the opened
    :class:`editor.media.VideoReader`.
    """

    name: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    build: Callable[[argparse.Namespace, Any], Any]


_COMMANDS: list[CommandRegistrar] = []
_MASK_OPTIONS: list[MaskOption] = []
_loaded_extensions = False


def register_command(registrar: CommandRegistrar) -> CommandRegistrar:
    """Add a subcommand: ``registrar(subparsers)`` calls ``subparsers.add_parser(...)`` and
    sets ``func=handler`` (``handler(args) -> int``) with ``set_defaults``. Usable as a
    decorator; registering the same function twice has no effect."""
    if registrar not in _COMMANDS:
        _COMMANDS.append(registrar)
    return registrar


def register_mask_option(option: MaskOption) -> MaskOption:
    """Add a way to give ``inpaint`` its masks (see :class:`MaskOption`)."""
    if all(o.name != option.name for o in _MASK_OPTIONS):
        _MASK_OPTIONS.append(option)
    return option


def _load_extensions() -> None:
    global _loaded_extensions
    if _loaded_extensions:
        return
    _loaded_extensions = True
    for name in EXTENSION_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # not written yet / not installed: the command is simply absent
            raise
        module.register_cli(sys.modules[__name__])


# -- progress ---------------------------------------------------------------------------------
class ProgressPrinter:
    """Shows job progress on ``stream``: a redrawn bar with ETA on a terminal, otherwise a
    plain line per stage change and every 10 %. Messages are printed once, on their own line."""

    def __init__(self, stream: IO[str] | None = None, tty: bool | None = None, width: int = 30) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.width = width
        self._last_key: tuple[str, int] | None = None
        self._drawn = False
        self._seen: set[str] = set()

    def message(self, text: str) -> None:
        if not text or text in self._seen:
            return
        self._seen.add(text)
        self._clear()
        print(text, file=self.stream, flush=True)

    def _clear(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\r\x1b[2K")
            self._drawn = False

    def update(self, stage: str, done: int, total: int, eta: float | None) -> None:
        from editor.jobs import format_seconds

        frac = done / total if total else 1.0
        pct = int(frac * 100)
        if self.tty:
            filled = int(round(frac * self.width))
            bar = "#" * filled + "." * (self.width - filled)
            self.stream.write(
                f"\r\x1b[2K{stage[:18]:<18} [{bar}] {pct:3d}% {done}/{total} ETA {format_seconds(eta)}"
            )
            self.stream.flush()
            self._drawn = True
            return
        key = (stage, pct // 10)
        if key != self._last_key:
            self._last_key = key
            print(f"{stage}: {done}/{total} frames ({pct}%), ETA {format_seconds(eta)}", file=self.stream, flush=True)

    def __call__(self, event: Any) -> None:
        from editor.jobs import JobProgress

        if isinstance(event, JobProgress):
            self.message(event.message)
            if event.done == 0 and event.stage_total and event.stage not in ("starting", "done"):
                # before the first frame is out (the classic engine's survey, ProPainter's first
                # flows) the stage's own count is the only progress there is
                self.update(event.stage, event.stage_done, event.stage_total, event.eta)
            else:
                self.update(event.stage, event.done, event.total, event.eta)

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- parsing helpers --------------------------------------------------------------------------
def parse_range(text: str) -> tuple[int, int | None]:
    """'10:50' -> (10, 50); ':50' -> (0, 50); '10:' -> (10, None). STOP is exclusive."""
    start_s, sep, stop_s = text.partition(":")
    try:
        if not sep:
            raise ValueError
        start = int(start_s) if start_s.strip() else 0
        stop = int(stop_s) if stop_s.strip() else None
    except ValueError:
        raise UsageError(f"--range {text!r} is not START:STOP, e.g. 10:50 (STOP exclusive)") from None
    if start < 0 or (stop is not None and stop <= start):
        raise UsageError(f"--range {text!r} needs 0 <= START < STOP, e.g. 10:50")
    return start, stop


def parse_size(text: str) -> tuple[int, int]:
    """'1280x720' -> (1280, 720)."""
    w, sep, h = text.lower().partition("x")
    try:
        if not sep:
            raise ValueError
        size = int(w), int(h)
    except ValueError:
        raise UsageError(f"--size {text!r} is not WIDTHxHEIGHT, e.g. 1280x720") from None
    if min(size) <= 0:
        raise UsageError(f"--size {text!r} must be positive, e.g. 1280x720")
    return size


def _add_engine_options(p: argparse.ArgumentParser) -> None:
    d = ENGINE_DEFAULTS
    g = p.add_argument_group("engine")
    g.add_argument("--engine", choices=ENGINES, default=d.engine,
                   help="auto: ProPainter when its weights are present, else the classic engine (default)")
    g.add_argument("--device", default=d.device, help=f"auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps ({d.device})")
    g.add_argument("--precision", choices=PRECISIONS, default=d.precision,
                   help="auto: fp16 on CUDA, bf16 on a CPU with bf16 instructions (AMX, AVX-512 BF16), "
                        "fp32 otherwise (default); fp16 is used on CUDA only")
    g.add_argument("--fp16", action=argparse.BooleanOptionalAction, default=d.fp16,
                   help="the same as --precision fp16 (--no-fp16: --precision fp32)")
    g.add_argument("--weights-dir", type=Path, default=d.weights_dir, help="folder holding the ProPainter checkpoints")
    g.add_argument("--subvideo-length", type=int, default=d.subvideo_length,
                   help=f"frames per flow-completion sub-video ({d.subvideo_length})")
    g.add_argument("--neighbor-length", type=int, default=d.neighbor_length, help=f"local neighbour window ({d.neighbor_length})")
    g.add_argument("--ref-stride", type=int, default=d.ref_stride, help=f"stride of the reference frames ({d.ref_stride})")
    g.add_argument("--raft-iter", type=int, default=d.raft_iter, help=f"RAFT iterations ({d.raft_iter})")
    g.add_argument("--mask-dilation", type=int, default=d.mask_dilation, help=f"mask dilation in pixels ({d.mask_dilation})")
    s = p.add_argument_group("processing size (the output keeps the full resolution)")
    s.add_argument("--resize-ratio", type=float, default=None, help="run the engine at this scale, e.g. 0.5")
    s.add_argument("--width", type=int, default=None, help="run the engine at this width (with --height)")
    s.add_argument("--height", type=int, default=None, help="run the engine at this height (with --width)")
    s.add_argument("--max-side", type=int, default=None, help="run the engine at most this many pixels on the longer side")


def _add_output_options(p: argparse.ArgumentParser) -> None:
    from editor.media import CODECS

    g = p.add_argument_group("output")
    g.add_argument("-o", "--output", required=True, type=Path,
                   help="output video, or a folder (a trailing '/', an existing folder or a name "
                        "without extension) for lossless PNG frames named by index")
    g.add_argument("--codec", choices=list(CODECS), default=None,
                   help="default: from the output name (h264 for .mp4/.mov/.mkv, vp9 for .webm, png for a folder)")
    g.add_argument("--quality", type=int, default=None, help="CRF for h264/hevc/vp9 (lower is better), ProRes profile 0-3")
    g.add_argument("--no-audio", action="store_true", help="do not copy the source audio")
    g.add_argument("--overwrite", action="store_true", help="replace an existing output once the new one is complete")


def engine_settings(args: argparse.Namespace) -> EngineSettings:
    """The engine flags as :class:`EngineSettings` (checked: a bad value is one clear error)."""
    return EngineSettings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(EngineSettings)})


def _settings(args: argparse.Namespace, crop: bool) -> Any:
    from editor.jobs import JobSettings

    if (args.width is None) != (args.height is None):
        raise UsageError("give both --width and --height, or neither")
    return JobSettings(
        codec=args.codec,
        quality=args.quality,
        max_side=args.max_side,
        scale=args.resize_ratio,
        process_size=(args.width, args.height) if args.width is not None else None,
        crop=crop,
        overwrite=args.overwrite,
        audio=not args.no_audio,
    )


def _run(job: Any) -> int:
    from editor.jobs import run_job

    printer = ProgressPrinter()
    t0 = time.monotonic()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # media warnings reach us as job messages
            result = run_job(job, on_event=printer)
    finally:
        printer.close()
    extra = []
    if result.process_size:
        extra.append(f"engine at {result.process_size[0]}x{result.process_size[1]}")
    if result.crop:
        x0, y0, x1, y1 = result.crop
        extra.append(f"crop {x1 - x0}x{y1 - y0}")
    if any(result.audio_copied):
        extra.append("audio copied")
    note = f" ({', '.join(extra)})" if extra else ""
    _say(f"Wrote {result.num_frames} frames to {result.out} in {time.monotonic() - t0:.1f} s{note}.")
    return 0


# -- commands ---------------------------------------------------------------------------------
def _inpaint_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("inpaint", help="remove what the masks cover from a video",
                       description="Remove objects or watermarks: fill what the masks cover from the rest of the clip.")
    p.add_argument("video", type=Path, help="input video file or folder of PNG/JPG frames")
    p.add_argument("--mask", type=Path, default=None,
                   help="mask: a folder of PNGs (one per frame, matched by index), one image for all frames, or a mask video; white = remove")
    p.add_argument("--range", dest="frame_range", default=None, metavar="START:STOP",
                   help="process only frames START..STOP-1; the others are copied untouched")
    p.add_argument("--no-crop", action="store_true",
                   help="always process the whole frame (by default a small masked region is processed as a padded crop)")
    _add_output_options(p)
    _add_engine_options(p)
    for option in _MASK_OPTIONS:
        option.add_arguments(p)
    p.set_defaults(func=cmd_inpaint)


def _check_output_free(out: Path, overwrite: bool) -> None:
    """Refuse an existing output before any slow work (the writer checks again at the end)."""
    from editor.errors import OutputError

    if overwrite or not (out.exists() or out.is_symlink()):
        return
    if out.is_dir() and not any(out.iterdir()):
        return  # an empty folder receives PNG frames
    raise OutputError(f"The output {out} already exists; choose another name or pass --overwrite.")


def cmd_inpaint(args: argparse.Namespace) -> int:
    from editor.jobs import Job
    from editor.media import open_video

    masks: Any = args.mask
    frame_range = parse_range(args.frame_range) if args.frame_range else None
    settings = _settings(args, crop=not args.no_crop)
    engine_options = engine_settings(args)
    with open_video(args.video) as clip:  # a missing or unreadable clip fails here, before any model loads
        if masks is None:
            for option in _MASK_OPTIONS:
                masks = option.build(args, clip)
                if masks is not None:
                    break
        if frame_range is not None and frame_range[1] is None:
            frame_range = (frame_range[0], clip.info.num_frames)
    if masks is None:
        others = "".join(f" or {o.name}" for o in _MASK_OPTIONS)
        raise UsageError(f"inpaint needs masks: give --mask{others}")
    if isinstance(masks, Path) and not masks.exists():
        from editor.errors import MediaError

        raise MediaError(f"The mask {masks} does not exist; check the path.")
    _check_output_free(args.output, args.overwrite)
    engine = build_engine(engine_options, say=_say)
    return _run(Job(args.video, args.output, masks, engine, frame_range, settings))


def _outpaint_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("outpaint", help="expand the canvas and fill the new border",
                       description="Expand the frame (by scale, to a size or to an aspect ratio) and fill the new border.")
    p.add_argument("video", type=Path, help="input video file or folder of PNG/JPG frames")
    g = p.add_argument_group("canvas (give one way)")
    g.add_argument("--scale-w", type=float, default=None, help="canvas width = scale x frame width (the authors' way)")
    g.add_argument("--scale-h", type=float, default=None, help="canvas height = scale x frame height")
    g.add_argument("--aspect", default=None, help="grow to this aspect ratio, e.g. 16:9")
    g.add_argument("--size", default=None, help="canvas size WIDTHxHEIGHT, e.g. 1280x720")
    _add_output_options(p)
    _add_engine_options(p)
    p.set_defaults(func=cmd_outpaint)


def cmd_outpaint(args: argparse.Namespace) -> int:
    from editor.jobs import Job
    from editor.media import open_video
    from models.canvas import plan_canvas

    engine_options = engine_settings(args)
    with open_video(args.video) as clip:
        w, h = clip.info.width, clip.info.height
    kwargs: dict[str, Any] = {}
    if args.scale_w is not None or args.scale_h is not None:
        kwargs.update(scale_w=args.scale_w, scale_h=args.scale_h)
    if args.aspect is not None:
        kwargs["aspect"] = args.aspect
    if args.size is not None:
        kwargs["size"] = parse_size(args.size)
    canvas = plan_canvas(h, w, **kwargs)
    _check_output_free(args.output, args.overwrite)
    _say(f"Expanding {w}x{h} to {canvas.width}x{canvas.height}.")
    engine = build_engine(engine_options, say=_say)
    return _run(Job(args.video, args.output, None, engine, None, _settings(args, crop=False), canvas=canvas))


def _estimate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("estimate", help="GPU memory ProPainter needs, and the plan for this machine",
                       description="Print ProPainter's memory estimate for a resolution and the sub-video length "
                                   "planned for this machine's device.")
    p.add_argument("--width", type=int, required=True, help="processing width in pixels")
    p.add_argument("--height", type=int, required=True, help="processing height in pixels")
    d = ENGINE_DEFAULTS
    p.add_argument("--frames", type=int, default=d.subvideo_length,
                   help=f"sub-video length to estimate ({d.subvideo_length})")
    p.add_argument("--precision", choices=PRECISIONS, default=d.precision,
                   help="precision to plan for (default: what the device would use)")
    p.add_argument("--fp16", action=argparse.BooleanOptionalAction, default=d.fp16,
                   help="the same as --precision fp16 (--no-fp16: --precision fp32)")
    p.add_argument("--device", default=d.device, help=f"device to plan for ({d.device})")
    p.set_defaults(func=cmd_estimate)


def _bytes_of(value: Any) -> float:
    for attr in ("total_bytes", "bytes", "total"):
        if hasattr(value, attr):
            return float(getattr(value, attr))
    return float(value)


def cmd_estimate(args: argparse.Namespace) -> int:
    if args.width < 64 or args.height < 64 or args.frames < 2:
        raise UsageError("estimate needs --width and --height of 64 or more and --frames of 2 or more")
    try:
        devices = importlib.import_module("models.device")
        memory = importlib.import_module("models.memory")
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("models."):
            raise
        raise ProPainterError(
            f"The memory estimator ({exc.name}) is missing from this installation; reinstall the project."
        ) from None

    dev = devices.resolve_device(args.device)
    requested = args.precision
    if requested == "auto" and args.fp16 is not None:
        requested = "fp16" if args.fp16 else "fp32"
    precision = devices.resolve_precision(dev, requested)
    fp16 = devices.half_memory(dev, precision)  # the table's column for this precision
    gib = 2**30
    w, h, n = args.width, args.height, args.frames
    print(f"ProPainter at {w}x{h}, sub-video length {n}:")
    for half in (False, True):
        mark = f"  <- this device ({precision})" if half == fp16 else ""
        print(f"  {'fp16' if half else 'fp32'}: {_bytes_of(memory.estimate(w, h, n, half)) / gib:.1f} GiB{mark}")
    free = devices.free_memory_bytes(dev)
    if free is None:
        print(f"Device {dev}: free memory unknown; no plan.")
        return 0
    print(f"Device {dev}: {free / gib:.1f} GiB free, {memory.SAFETY * free / gib:.1f} GiB usable "
          f"({round((1 - memory.SAFETY) * 100)} % kept in reserve).")
    plan = memory.plan(w, h, int(free), fp16, max_subvideo=n)
    print(f"Plan: sub-video length {plan.subvideo_length}, {precision}"
          f"{'' if plan.fits else ' (does not fit)'}. {plan.suggestion}")
    if dev.type == "cpu":
        print("On the CPU the estimate is an upper guide: the streaming pipeline holds one sub-video "
              "at a time (peak RSS figures: benchmarks/pipeline.py).")
    return 0


def _weights_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weights", help="download, verify or locate the ProPainter weights",
                       description="ProPainter checkpoints (NTU S-Lab License 1.0: non-commercial use only).")
    p.add_argument("action", choices=("download", "verify", "where"))
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="checkpoints to download or verify (default: the three ProPainter files); "
                        "also sam_vit_b, sam_vit_l, sam_vit_h for clicking objects")
    p.add_argument("--weights-dir", type=Path, default=None, help="folder for the checkpoints (default: the cache)")
    p.set_defaults(func=cmd_weights)


def cmd_weights(args: argparse.Namespace) -> int:
    from models import weights
    from models.errors import WeightsError

    import models.segmentation  # noqa: F401  (registers the SAM checkpoints)

    folder = weights.where(args.weights_dir)
    if args.action == "where":
        print(folder)
        return 0
    names = tuple(args.names) or weights.PROPAINTER_CHECKPOINTS
    known = {spec.name for spec in weights.registered()}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise WeightsError(f"unknown checkpoint {unknown[0]!r}: choose from {', '.join(sorted(known))}")
    if args.action == "verify":
        report = weights.verify(args.weights_dir, names)
        print(report)
        if not report.ok:
            raise WeightsError(
                f"The weights in {folder} are missing or damaged (see above); run "
                f"`{' '.join([weights.DOWNLOAD_COMMAND, *args.names])}`."
            )
        return 0
    for name in names:
        spec = weights.get_spec(name)
        _say(f"{spec.file_name}: {spec.licence}; downloading from {spec.url} into {folder}.")
    printer = ProgressPrinter()
    started: dict[str, Any] = {}

    def progress(name: str, done: int, total: int | None) -> None:
        from editor.jobs import Eta

        eta = started.setdefault(name, Eta(total or 0))
        left = eta.update(done) if total else None
        printer.update(f"{name} ({done / 1e6:.0f} MB)", done if total else 0, total or 1, left)

    try:
        paths = weights.download_missing(args.weights_dir, names, progress=progress)
    finally:
        printer.close()
    for path in paths:
        print(path)
    return 0


def _sample_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="write the bundled sample clip and its masks",
                       description="Write a generated sample: clip.mp4 (with audio), masks/ (one per frame) and logo_mask.png.")
    p.add_argument("-o", "--output", type=Path, required=True, help="folder to write into")
    p.add_argument("--overwrite", action="store_true", help="replace existing sample files")
    p.set_defaults(func=cmd_sample)


def cmd_sample(args: argparse.Namespace) -> int:
    from editor.sample import make_sample

    paths = make_sample(args.output, overwrite=args.overwrite)
    print(f"Wrote {paths.clip}, {paths.masks}/ and {paths.logo_mask}.")
    python = _python_command()
    print(f"Try: {python} main.py inpaint {paths.clip} --mask {paths.masks} -o {paths.root / 'out.mp4'}")
    return 0


for _builtin in (_inpaint_parser, _outpaint_parser, _estimate_parser, _weights_parser, _sample_parser):
    register_command(_builtin)


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every registered command."""
    _load_extensions()
    parser = _Parser(
        prog="propainter-editor" if Path(sys.argv[0]).name == "propainter-editor" else "main.py",
        description="Remove objects and watermarks from video, or expand the canvas, with ProPainter. "
                    "Run without a command to open the editor.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for registrar in _COMMANDS:
        registrar(sub)
    return parser


def open_editor(argv: Sequence[str]) -> int:
    """Start the GUI (``editor.app.run(argv)``)."""
    try:
        from editor import app
    except ImportError as exc:
        if getattr(exc, "name", None) == "editor.app":
            _say("error: the editor window is not available in this installation (editor/app.py is missing); "
                 "use a command instead, see `python main.py --help`.")
            return EXIT_USAGE
        _say(f"error: the editor cannot start because {exc.name or 'a library'} is missing ({exc}); "
             'reinstall with `pip install -e ".[test]"`.')
        return EXIT_USAGE
    problem = app.display_problem()
    if problem is not None:
        _say(f"error: {problem}")
        return EXIT_USAGE
    return int(app.run(list(argv)) or 0)


def _missing_path(word: str) -> str | None:
    """The sentence for a first argument that names a file that is not there, or None when
    it is not a path at all (argparse then reports an unknown command, with the choices)."""
    path = Path(word)
    if path.exists() or not (path.suffix or "/" in word or "\\" in word):
        return None
    from editor.document.project import SUFFIX

    kind = "project" if path.suffix.lower() == SUFFIX else "video"
    return f"The {kind} {word} does not exist; check the path."


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: returns the exit code (0 ok, 2 user error, 130 cancelled)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        commands = set(parser._subparsers._group_actions[0].choices) if parser._subparsers else set()
        if argv and argv[0] not in commands and not argv[0].startswith("-"):
            # `main.py clip.mp4` opens the editor on the clip; a mistyped path is not a command.
            if Path(argv[0]).exists():
                return open_editor(argv)
            missing = _missing_path(argv[0])
            if missing is not None:
                from editor.errors import MediaError

                raise MediaError(missing)
        if not argv:
            return open_editor(argv)
        args = parser.parse_args(argv)
        if args.command is None:
            return open_editor([])
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        _say("Cancelled; nothing was written under the output name.")
        return EXIT_CANCELLED
    except ProPainterError as exc:
        if isinstance(exc, Cancelled):
            _say(f"Cancelled: {exc}")
            return EXIT_CANCELLED
        _say(f"error: {_one_line(str(exc))}")
        return EXIT_USAGE


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())


def _python_command() -> str:
    """How to run this Python again: the venv's interpreter as a path relative to here when it
    is inside this folder (``.venv/bin/python``), else its full path (plain ``python`` may be
    another Python without torch)."""
    exe = Path(sys.executable)
    try:
        rel = exe.relative_to(Path.cwd())
        return str(rel) if rel.parts and rel.parts[0] != ".." else str(exe)
    except ValueError:
        return str(exe)
