"""Checkpoints: the registry, the cache folder, download and safe loading.

This is the one module of ``models`` that touches files: it is the checkpoint manager.

* **Registry.** Each checkpoint is described as data (:class:`CheckpointSpec`: file name,
  release URL, size and sha256 where known, licence, key prefix to strip, the network it
  holds). ``register()`` adds more (e.g. SAM checkpoints).
* **Folder.** ``weights_dir`` argument > ``$PROPAINTER_WEIGHTS_DIR`` >
  ``$XDG_CACHE_HOME/propainter-editor/weights`` (``~/.cache/...`` by default).
* **Download** (:func:`download`): streamed with urllib to ``<file>.part``, progress
  callback, resumed with an HTTP Range request (restarted when the server ignores it),
  cancellable between blocks (the ``.part`` is kept), size and sha256 checked, renamed into
  place only when complete.
* **Loading** (:func:`load_checkpoint`): only ``torch.load(weights_only=True)``; the keys
  and shapes must equal the network's exactly before a strict ``load_state_dict``.
  The released files publish no hash, so trust is established on first use: a file that
  loads safely and matches the network gets its sha256 recorded next to it
  (``<file>.sha256``, ``sha256sum`` format) and every later load checks it.

Every problem a user can cause (missing, truncated, corrupt, web page instead of a
checkpoint, wrong network, changed file, no network) is one :class:`WeightsError` sentence
naming the file and what to do.
"""

from __future__ import annotations

import hashlib
import http.client
import importlib
import logging
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .errors import Cancelled, WeightsError

log = logging.getLogger(__name__)

ENV_VAR = "PROPAINTER_WEIGHTS_DIR"
DOWNLOAD_COMMAND = "python main.py weights download"
RELEASE_URL = "https://github.com/sczhou/ProPainter/releases/download/v0.1.0/"
SLAB_LICENCE = "NTU S-Lab License 1.0, non-commercial"

ProgressCallback = Callable[[int, "int | None"], None]
CancelCallback = Callable[[], bool]


@dataclass(frozen=True)
class CheckpointSpec:
    """One checkpoint file, described as data.

    ``sha256`` is None when no hash is published; the file is then trusted on first use.
    ``strip_prefix`` is removed from the keys that carry it (``module.`` in RAFT, saved from
    ``nn.DataParallel``). ``state_key`` names the entry holding the state dict when the file
    wraps it (``"model"`` in SAM 2's ``{"model": state_dict}``); empty: the file is the state
    dict. ``network`` is the ``"module:Class"`` the file holds, built with no
    arguments by :func:`verify`; ``description`` names it in messages.
    """

    name: str
    file_name: str
    url: str
    size: int | None = None
    licence: str = ""
    sha256: str | None = None
    strip_prefix: str = ""
    description: str = ""
    network: str | None = None
    group: str = "propainter"
    state_key: str = ""

    def __post_init__(self) -> None:
        if self.sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise ValueError(f"CheckpointSpec {self.name!r}: sha256 must be 64 lowercase hex digits")
        if Path(self.file_name).name != self.file_name or not self.file_name:
            raise ValueError(f"CheckpointSpec {self.name!r}: file_name must be a bare file name")


_REGISTRY: dict[str, CheckpointSpec] = {}

#: The three files the ProPainter engine needs, in the order they run.
PROPAINTER_CHECKPOINTS: tuple[str, ...] = ("raft", "flow_completion", "propainter")


def register(spec: CheckpointSpec, *, replace: bool = False) -> CheckpointSpec:
    """Add a checkpoint to the registry (``replace=True`` to redefine an existing name)."""
    if spec.name in _REGISTRY and not replace and _REGISTRY[spec.name] != spec:
        raise ValueError(f"a checkpoint named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def register_user_file(path: Path, prefix: str, *, url: str, description: str, group: str,
                       state_key: str = "") -> str:
    """Register a checkpoint file the user chose by path under a name of its own (``prefix``
    and a hash of the path; no published hash: trusted on first use); returns the name."""
    key = hashlib.sha1(str(Path(path).resolve()).encode("utf-8")).hexdigest()[:12]
    name = f"{prefix}_{key}"
    register(CheckpointSpec(name=name, file_name=Path(path).name, url=url, description=description,
                            group=group, state_key=state_key), replace=True)
    return name


def get_spec(name: str) -> CheckpointSpec:
    """The registered spec called ``name`` (KeyError lists the known names)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown checkpoint {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def registered(group: str | None = None) -> list[CheckpointSpec]:
    """All specs in registration order, optionally only one group ("propainter", "sam", ...)."""
    return [s for s in _REGISTRY.values() if group is None or s.group == group]


register(CheckpointSpec(
    name="raft", file_name="raft-things.pth", url=RELEASE_URL + "raft-things.pth",
    licence=SLAB_LICENCE, strip_prefix="module.", description="the RAFT optical flow network",
    network="models.raft:RAFT",
))
register(CheckpointSpec(
    name="flow_completion", file_name="recurrent_flow_completion.pth",
    url=RELEASE_URL + "recurrent_flow_completion.pth", licence=SLAB_LICENCE,
    description="the recurrent flow completion network",
    network="models.flow_completion:RecurrentFlowCompleteNet",
))
register(CheckpointSpec(
    name="propainter", file_name="ProPainter.pth", url=RELEASE_URL + "ProPainter.pth",
    licence=SLAB_LICENCE, description="the ProPainter generator",
    network="models.propainter:InpaintGenerator",
))


# --------------------------------------------------------------------------- folders


def default_weights_dir() -> Path:
    """``$PROPAINTER_WEIGHTS_DIR``, else the user's cache folder + ``propainter-editor/weights``."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        base = Path(os.environ["LOCALAPPDATA"])
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "propainter-editor" / "weights"


def where(weights_dir: str | os.PathLike | None = None) -> Path:
    """The folder the checkpoints are read from and downloaded to."""
    return Path(weights_dir).expanduser() if weights_dir is not None else default_weights_dir()


def checkpoint_path(name: str, weights_dir: str | os.PathLike | None = None) -> Path:
    """Where checkpoint ``name`` lives (whether or not it is there)."""
    return where(weights_dir) / get_spec(name).file_name


def weights_available(weights_dir: str | os.PathLike | None = None) -> bool:
    """True when the three ProPainter files are present (not checked: see :func:`verify`)."""
    return all(checkpoint_path(n, weights_dir).is_file() for n in PROPAINTER_CHECKPOINTS)


def _manual_hint(spec: CheckpointSpec, folder: Path) -> str:
    return f"download it with `{DOWNLOAD_COMMAND}`, or by hand from {spec.url} into {folder}"


# --------------------------------------------------------------------------- hashing

_HASH_CACHE: dict[tuple[str, int, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file, computed once per (path, inode, size, mtime) in this process."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
    digest = _HASH_CACHE.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        digest = _HASH_CACHE[key] = h.hexdigest()
    return digest


def _record_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def recorded_sha256(path: str | os.PathLike) -> str | None:
    """The sha256 recorded for ``path`` on first use, or None (unreadable records count as none)."""
    try:
        text = _record_path(Path(path)).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    digest = text.split()[0].lower() if text else ""
    return digest if re.fullmatch(r"[0-9a-f]{64}", digest) else None


def _write_record(path: Path, digest: str) -> None:
    record = _record_path(path)
    tmp = record.with_name(record.name + ".tmp")
    try:
        tmp.write_text(f"{digest}  {path.name}\n", encoding="ascii")
        os.replace(tmp, record)
    except OSError as exc:  # a read-only folder: the file still loads, it is just not pinned
        log.warning("could not record the sha256 of %s (%s); it will be checked again next time", path, exc)


# --------------------------------------------------------------------------- download


def _content_range(header: str | None) -> tuple[int | None, int | None]:
    """``bytes START-END/TOTAL`` -> (START, TOTAL); None for what is absent or ``*``."""
    m = re.match(r"\s*bytes\s+(\d+|\*)(?:-\d+)?/(\d+|\*)", header or "")
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) != "*" else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return start, total


def _open(url: str, offset: int, timeout: float):
    headers = {"User-Agent": "propainter-editor"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


class _Interrupted(Exception):
    """The connection dropped mid-file; the .part holds what arrived."""


def _transfer(spec: CheckpointSpec, url: str, part: Path, folder: Path,
              progress: ProgressCallback | None, cancel: CancelCallback | None,
              timeout: float, block_size: int) -> int | None:
    """One HTTP request appending to ``part``; returns the total size when known."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, offset, timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            # Nothing left past our offset: either the .part is already complete or it is
            # longer than the file (another file's leftovers). Decide by the size given.
            _, total = _content_range(exc.headers.get("Content-Range"))
            exc.close()
            if total == offset or (total is None and spec.size == offset):
                return offset
            part.unlink(missing_ok=True)
            raise _Interrupted("the partial file did not match the server's file") from None
        exc.close()
        raise WeightsError(
            f"Downloading {spec.file_name} from {url} failed with HTTP {exc.code} {exc.reason}: "
            f"try again later, or download it by hand into {folder}."
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise WeightsError(
            f"Cannot reach {url} to download {spec.file_name} ({reason}): check the network "
            f"connection, or download the file by hand and put it in {folder}."
        ) from None

    with response:
        status = response.status
        if offset and status == 206:
            start, total = _content_range(response.headers.get("Content-Range"))
            if start != offset:  # a range we did not ask for: start over cleanly
                part.unlink(missing_ok=True)
                raise _Interrupted("the server answered another range")
            if total is None:
                length = response.headers.get("Content-Length")
                total = offset + int(length) if length and length.isdigit() else None
            mode = "ab"
        else:  # 200: a fresh download, or a server that ignores Range (restart from 0)
            offset = 0
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            mode = "wb"
        done = offset
        if progress is not None:
            progress(done, total)
        with open(part, mode) as out:
            while True:
                if cancel is not None and cancel():
                    raise Cancelled(
                        f"Download of {spec.file_name} cancelled; {part} is kept and the next "
                        f"download resumes from it."
                    )
                try:
                    block = response.read(block_size)
                except (OSError, http.client.HTTPException) as exc:
                    raise _Interrupted(str(exc)) from None
                if not block:
                    break
                out.write(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
    if total is not None and done < total:
        raise _Interrupted(f"connection closed after {done} of {total} bytes")
    return total


def download(
    name: str,
    weights_dir: str | os.PathLike | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelCallback | None = None,
    url: str | None = None,
    *,
    retries: int = 3,
    timeout: float = 30.0,
    block_size: int = 1 << 20,
) -> Path:
    """Download checkpoint ``name`` into the weights folder; returns its path.

    ``progress(bytes_done, total_or_None)`` is called after every block (never decreasing
    within one request; a restart from zero when a server ignores Range is the only reset).
    ``cancel()`` is polled between blocks: True raises :class:`Cancelled` and keeps the
    ``.part`` so the next call resumes. A dropped connection resumes up to ``retries`` times.
    The file replaces an existing one only when complete and checked; any hash recorded for
    the old file is dropped, so the new one is trusted on its first successful load.
    """
    spec = get_spec(name)
    url = url or spec.url
    folder = where(weights_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WeightsError(
            f"Cannot create the weights folder {folder} ({exc.strerror}): choose another folder "
            f"with --weights-dir or ${ENV_VAR}."
        ) from None
    dest = folder / spec.file_name
    part = dest.with_name(dest.name + ".part")

    attempt = 0
    while True:
        before = part.stat().st_size if part.exists() else 0
        try:
            total = _transfer(spec, url, part, folder, progress, cancel, timeout, block_size)
            break
        except _Interrupted as exc:
            now = part.stat().st_size if part.exists() else 0
            attempt = 1 if now > before else attempt + 1  # progress resets the count
            if attempt > retries:
                raise WeightsError(
                    f"The download of {spec.file_name} from {url} was interrupted ({exc}): run "
                    f"`{DOWNLOAD_COMMAND}` again to resume from {part.name}."
                ) from None

    size = part.stat().st_size if part.exists() else 0
    expected_size = spec.size if spec.size is not None else total
    if expected_size is not None and size != expected_size:
        part.unlink(missing_ok=True)
        raise WeightsError(
            f"The download of {spec.file_name} from {url} has {size} bytes instead of "
            f"{expected_size}: run `{DOWNLOAD_COMMAND}` again."
        )
    if spec.sha256 is not None:
        digest = file_sha256(part)
        if digest != spec.sha256:
            part.unlink(missing_ok=True)
            raise WeightsError(
                f"The download of {spec.file_name} from {url} has sha256 {digest}, not the "
                f"published {spec.sha256}; it was deleted: run `{DOWNLOAD_COMMAND}` again."
            )
    _record_path(dest).unlink(missing_ok=True)
    os.replace(part, dest)
    return dest


def download_missing(
    weights_dir: str | os.PathLike | None = None,
    names: Iterable[str] = PROPAINTER_CHECKPOINTS,
    progress: Callable[[str, int, int | None], None] | None = None,
    cancel: CancelCallback | None = None,
) -> list[Path]:
    """Download each of ``names`` that is absent or bad; ``progress(name, done, total)``.

    A present file is kept when it matches its published or recorded sha256, or, with no
    hash to compare, when it loads into a freshly built network (which records its hash);
    a file that fails (damaged, another network, changed since verified) is downloaded
    again, so "download it again" in the error messages does what it says.
    """
    paths = []
    for name in names:
        path = checkpoint_path(name, weights_dir)
        if not _present_and_good(name, weights_dir):
            cb = None if progress is None else (lambda d, t, _n=name: progress(_n, d, t))
            path = download(name, weights_dir, progress=cb, cancel=cancel)
        paths.append(path)
    return paths


def _present_and_good(name: str, weights_dir: str | os.PathLike | None) -> bool:
    spec = get_spec(name)
    path = checkpoint_path(name, weights_dir)
    if not path.is_file():
        return False
    expected = spec.sha256 or recorded_sha256(path)
    if expected is not None:
        return file_sha256(path) == expected
    if not spec.network:
        return True  # nothing to check it against: keep what the user put there
    try:
        load_checkpoint(name, build_network(spec), weights_dir)
    except WeightsError:
        return False
    return True


# --------------------------------------------------------------------------- loading


def _describe_unloadable(path: Path) -> str:
    """Why torch.load failed, guessed from the first bytes of the file."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not head:
        return "is empty"
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<")):
        return "is a web page, not a checkpoint (the download probably got an error or login page)"
    if head.startswith(b"PK"):
        return "is truncated or corrupt (its zip archive cannot be read)"
    if head[:1] == b"\x80":
        return "is truncated, corrupt or holds objects that cannot be loaded safely"
    return "is not a PyTorch checkpoint"


def _read_state_dict(spec: CheckpointSpec, path: Path, map_location) -> dict[str, torch.Tensor]:
    folder = path.parent
    try:
        try:  # mapped, not read into the heap: loading costs the weights' size once, not twice
            obj = torch.load(path, weights_only=True, map_location=map_location, mmap=True)
        except RuntimeError:  # a legacy (pre-zip) checkpoint cannot be mapped
            obj = torch.load(path, weights_only=True, map_location=map_location)
    except Exception:  # torch raises many kinds here; none of them is the user's to read
        raise WeightsError(
            f"{spec.file_name} in {folder} {_describe_unloadable(path)}: "
            f"{_manual_hint(spec, folder)}."
        ) from None
    if spec.state_key:
        if not isinstance(obj, Mapping) or spec.state_key not in obj:
            raise WeightsError(
                f"{spec.file_name} in {folder} has no {spec.state_key!r} entry, so it is not "
                f"{spec.description or spec.name}: {_manual_hint(spec, folder)}."
            )
        obj = obj[spec.state_key]
    if not isinstance(obj, Mapping) or not obj or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise WeightsError(
            f"{spec.file_name} in {folder} is not a state dict of tensors, so it is not "
            f"{spec.description or spec.name}: {_manual_hint(spec, folder)}."
        )
    prefix = spec.strip_prefix
    return {(k[len(prefix):] if prefix and k.startswith(prefix) else k): v for k, v in obj.items()}


def _examples(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (", ..." if len(items) > n else "")


def _compare(spec: CheckpointSpec, folder: Path, sd: Mapping[str, torch.Tensor],
             expected: Mapping[str, torch.Tensor]) -> None:
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    wrong = [
        f"{k} {tuple(sd[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items() if k in sd and sd[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} keys missing, e.g. {_examples(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys, e.g. {_examples(unexpected)}")
    if wrong:
        problems.append(f"{len(wrong)} shapes differ (file vs network), e.g. {_examples(wrong)}")
    if problems:
        raise WeightsError(
            f"{spec.file_name} in {folder} does not hold {spec.description or spec.name} "
            f"({'; '.join(problems)}): download it again with `{DOWNLOAD_COMMAND}`."
        )


def _check_hash(spec: CheckpointSpec, path: Path) -> str | None:
    """Check the file against the published or recorded hash; returns the hash it was checked with."""
    folder = path.parent
    if spec.sha256 is not None:
        digest = file_sha256(path)
        if digest != spec.sha256:
            raise WeightsError(
                f"{spec.file_name} in {folder} is not the published file (sha256 {digest[:12]}..., "
                f"expected {spec.sha256[:12]}...): download it again with `{DOWNLOAD_COMMAND}`."
            )
        return digest
    recorded = recorded_sha256(path)
    if recorded is not None:
        digest = file_sha256(path)
        if digest != recorded:
            raise WeightsError(
                f"{spec.file_name} in {folder} changed since it was verified on first use: "
                f"download it again with `{DOWNLOAD_COMMAND}`, or delete "
                f"{_record_path(path).name} if you replaced it on purpose."
            )
    return recorded


def load_checkpoint(
    name: str,
    model: torch.nn.Module,
    weights_dir: str | os.PathLike | None = None,
    map_location: str | torch.device = "cpu",
) -> torch.nn.Module:
    """Load checkpoint ``name`` into ``model`` (strict) and return the model.

    Checks, in order: the file exists; its sha256 equals the published or recorded one;
    it loads with ``weights_only=True`` as a dict of tensors; after stripping the spec's
    prefix its keys and shapes equal ``model.state_dict()`` exactly. On the first successful
    load of a file with no published hash its sha256 is recorded next to it.
    """
    spec = get_spec(name)
    path = checkpoint_path(name, weights_dir)
    folder = path.parent
    if not path.is_file():
        raise WeightsError(f"{spec.file_name} is missing from {folder}: {_manual_hint(spec, folder)}.")
    checked = _check_hash(spec, path)
    sd = _read_state_dict(spec, path, map_location)
    _compare(spec, folder, sd, model.state_dict())
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as exc:  # e.g. a dtype that cannot be copied; keys/shapes were checked
        raise WeightsError(
            f"{spec.file_name} in {folder} does not fit {spec.description or spec.name} "
            f"({str(exc).splitlines()[0]}): download it again with `{DOWNLOAD_COMMAND}`."
        ) from None
    if checked is None:  # trust on first use
        _write_record(path, file_sha256(path))
    return model


# --------------------------------------------------------------------------- verify


def build_network(spec: CheckpointSpec) -> torch.nn.Module:
    """A fresh instance of the network ``spec`` holds (``spec.network``, built with no arguments)."""
    if not spec.network:
        raise ValueError(f"checkpoint {spec.name!r} names no network to verify it against")
    module_name, _, class_name = spec.network.partition(":")
    return getattr(importlib.import_module(module_name), class_name)()


@dataclass(frozen=True)
class CheckpointStatus:
    """The state of one file: ``state`` is "ok", "missing" or "bad"; ``message`` says why."""

    name: str
    file_name: str
    path: Path
    state: str
    message: str
    size: int | None = None
    sha256: str | None = None

    @property
    def ok(self) -> bool:
        return self.state == "ok"


@dataclass(frozen=True)
class VerifyReport:
    folder: Path
    items: list[CheckpointStatus] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.items)

    def __str__(self) -> str:
        lines = [f"weights folder: {self.folder}"]
        for item in self.items:
            lines.append(f"  {item.state:8s} {item.file_name}: {item.message}")
        return "\n".join(lines)


def verify(
    weights_dir: str | os.PathLike | None = None,
    names: Iterable[str] = PROPAINTER_CHECKPOINTS,
    networks: Mapping[str, Callable[[], torch.nn.Module]] | None = None,
) -> VerifyReport:
    """Check each file as :func:`load_checkpoint` would, into a freshly built network.

    ``networks`` maps a name to a factory, replacing ``spec.network`` (tests use small
    stand-ins). Records the sha256 of files verified for the first time.
    """
    folder = where(weights_dir)
    items = []
    for name in names:
        spec = get_spec(name)
        path = checkpoint_path(name, weights_dir)
        if not path.is_file():
            items.append(CheckpointStatus(name, spec.file_name, path, "missing",
                                          f"not found; {_manual_hint(spec, folder)}"))
            continue
        size = path.stat().st_size
        try:
            factory = (networks or {}).get(name) or (lambda s=spec: build_network(s))
            load_checkpoint(name, factory(), weights_dir)
        except WeightsError as exc:
            items.append(CheckpointStatus(name, spec.file_name, path, "bad", str(exc), size))
            continue
        digest = file_sha256(path)
        how = "published" if spec.sha256 else "recorded on first use"
        items.append(CheckpointStatus(
            name, spec.file_name, path, "ok",
            f"{size / 1e6:.1f} MB, loads into {spec.description or spec.name}, "
            f"sha256 {digest} ({how}); licence: {spec.licence or 'see its source'}",
            size, digest,
        ))
    return VerifyReport(folder, items)
