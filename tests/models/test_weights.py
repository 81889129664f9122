"""The checkpoint manager: registry, folder, download (local HTTP server), safe loading."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from models import weights
from models.errors import Cancelled, WeightsError

from tests.seeded import seeded_state_dicts


# --------------------------------------------------------------------------- small networks


class TinyFlow(nn.Module):
    """Stand-in with RAFT-like names (a conv and a batch norm with its buffers)."""

    def __init__(self) -> None:
        super().__init__()
        self.fnet = nn.Conv2d(3, 4, 3)
        self.cnet = nn.BatchNorm2d(4)


class TinyGenerator(nn.Module):
    def __init__(self, width: int = 5) -> None:
        super().__init__()
        self.encoder = nn.Linear(3, width)
        self.decoder = nn.Linear(width, 3)


def _save(sd: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(OrderedDict(sd), path)
    return path


def _prefixed(sd: dict, prefix: str = "module.") -> dict:
    return {prefix + k: v for k, v in sd.items()}


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Never touch the user's cache: the default folder points into tmp_path."""
    monkeypatch.setenv(weights.ENV_VAR, str(tmp_path / "default-cache"))


# --------------------------------------------------------------------------- registry, folders


def test_registry_describes_the_three_released_files():
    specs = {s.name: s for s in weights.registered("propainter")}
    assert [s.name for s in weights.registered("propainter")] == list(weights.PROPAINTER_CHECKPOINTS)
    assert specs["raft"].file_name == "raft-things.pth" and specs["raft"].strip_prefix == "module."
    assert specs["flow_completion"].file_name == "recurrent_flow_completion.pth"
    assert specs["propainter"].file_name == "ProPainter.pth"
    for s in specs.values():
        assert s.url == "https://github.com/sczhou/ProPainter/releases/download/v0.1.0/" + s.file_name
        assert "non-commercial" in s.licence and s.sha256 is None


def test_register_adds_and_refuses_silent_redefinition():
    spec = weights.CheckpointSpec("test_extra", "extra.pth", "http://127.0.0.1/extra.pth", group="test")
    try:
        weights.register(spec)
        assert weights.get_spec("test_extra") is spec
        assert weights.register(spec) is spec  # the same spec again is fine
        other = weights.CheckpointSpec("test_extra", "other.pth", "http://127.0.0.1/other.pth")
        with pytest.raises(ValueError, match="already registered"):
            weights.register(other)
        weights.register(other, replace=True)
        assert weights.get_spec("test_extra").file_name == "other.pth"
    finally:
        weights._REGISTRY.pop("test_extra", None)
    with pytest.raises(KeyError, match="propainter"):
        weights.get_spec("no_such_checkpoint")


def test_spec_rejects_bad_hash_and_paths():
    with pytest.raises(ValueError, match="sha256"):
        weights.CheckpointSpec("x", "x.pth", "http://h/x", sha256="abc")
    with pytest.raises(ValueError, match="bare file name"):
        weights.CheckpointSpec("x", "../x.pth", "http://h/x")


def test_folder_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv(weights.ENV_VAR, str(tmp_path / "env"))
    assert weights.where() == tmp_path / "env"
    assert weights.where(tmp_path / "explicit") == tmp_path / "explicit"
    assert weights.checkpoint_path("propainter") == tmp_path / "env" / "ProPainter.pth"
    monkeypatch.delenv(weights.ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if os.name != "nt":
        assert weights.where() == tmp_path / "xdg" / "propainter-editor" / "weights"


def test_weights_available_needs_all_three(tmp_path):
    assert not weights.weights_available(tmp_path)
    for i, name in enumerate(weights.PROPAINTER_CHECKPOINTS):
        assert not weights.weights_available(tmp_path)
        weights.checkpoint_path(name, tmp_path).write_bytes(b"x")
    assert weights.weights_available(tmp_path)


# --------------------------------------------------------------------------- loading


def test_loads_a_plain_state_dict_and_records_its_hash(tmp_path):
    src = TinyGenerator()
    path = _save(src.state_dict(), tmp_path / "ProPainter.pth")
    dst = TinyGenerator()
    assert weights.load_checkpoint("propainter", dst, tmp_path) is dst
    torch.testing.assert_close(dst.decoder.weight, src.decoder.weight)
    record = path.with_name("ProPainter.pth.sha256").read_text()
    assert record.split()[0] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert record.split()[1] == "ProPainter.pth"
    weights.load_checkpoint("propainter", TinyGenerator(), tmp_path)  # checked and accepted


def test_a_legacy_format_checkpoint_loads_too(tmp_path):
    """Checkpoints are memory-mapped when they can be; the pre-zip format cannot, and loads read."""
    src = TinyGenerator()
    torch.save(src.state_dict(), tmp_path / "ProPainter.pth", _use_new_zipfile_serialization=False)
    dst = weights.load_checkpoint("propainter", TinyGenerator(), tmp_path)
    torch.testing.assert_close(dst.decoder.weight, src.decoder.weight)


def test_module_prefix_is_stripped_for_raft(tmp_path):
    src = TinyFlow()
    src.cnet.running_mean.fill_(0.25)
    _save(_prefixed(src.state_dict()), tmp_path / "raft-things.pth")
    dst = weights.load_checkpoint("raft", TinyFlow(), tmp_path)
    assert torch.equal(dst.cnet.running_mean, torch.full((4,), 0.25))
    assert torch.equal(dst.fnet.weight, src.fnet.weight)


def test_file_changed_after_first_use_is_rejected(tmp_path):
    path = _save(TinyGenerator().state_dict(), tmp_path / "ProPainter.pth")
    weights.load_checkpoint("propainter", TinyGenerator(), tmp_path)
    _save(TinyGenerator().state_dict(), path)  # same keys and shapes, other values
    with pytest.raises(WeightsError, match=r"ProPainter\.pth in .* changed since it was verified"):
        weights.load_checkpoint("propainter", TinyGenerator(), tmp_path)
    path.with_name("ProPainter.pth.sha256").unlink()  # the user replaced it on purpose
    weights.load_checkpoint("propainter", TinyGenerator(), tmp_path)


def test_a_file_that_fails_the_checks_is_not_recorded(tmp_path):
    path = _save(TinyGenerator(width=7).state_dict(), tmp_path / "ProPainter.pth")
    with pytest.raises(WeightsError):
        weights.load_checkpoint("propainter", TinyGenerator(), tmp_path)
    assert not path.with_name("ProPainter.pth.sha256").exists()


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match=r"ProPainter\.pth is missing from .*python main\.py weights download"):
        weights.load_checkpoint("propainter", TinyGenerator(), tmp_path)


def test_truncated_file(tmp_path):
    path = _save(TinyGenerator().state_dict(), tmp_path / "ProPainter.pth")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match=r"ProPainter\.pth in .* is truncated or corrupt") as info:
        weights.load_checkpoint("propainter", TinyGenerator(), tmp_path)
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize("content, why", [
    (b"<!DOCTYPE html><html><body>Not Found</body></html>", "is a web page"),
    (b"", "is empty"),
    (b"hello, these are not weights\n", "is not a PyTorch checkpoint"),
])
def test_not_a_checkpoint(tmp_path, content, why):
    (tmp_path / "ProPainter.pth").write_bytes(content)
    with pytest.raises(WeightsError, match=why):
        weights.load_checkpoint("propainter", TinyGenerator(), tmp_path)


def test_unsafe_pickle_is_refused(tmp_path):
    torch.save({"weight": torch.zeros(1), "evil": Path("/")}, tmp_path / "ProPainter.pth")
    with pytest.raises(WeightsError, match=r"ProPainter\.pth"):
        weights.load_checkpoint("propainter", TinyGenerator(), tmp_path)


def test_not_a_state_dict(tmp_path):
    torch.save([torch.zeros(2)], tmp_path / "ProPainter.pth")
    with pytest.raises(WeightsError, match="not a state dict of tensors"):
        weights.load_checkpoint("propainter", TinyGenerator(), tmp_path)


def test_wrong_network_names_the_missing_keys(tmp_path):
    _save(TinyFlow().state_dict(), tmp_path / "ProPainter.pth")
    with pytest.raises(WeightsError) as info:
        weights.load_checkpoint("propainter", TinyGenerator(), tmp_path)
    text = str(info.value)
    assert "ProPainter.pth in" in text and "does not hold the ProPainter generator" in text
    assert "4 keys missing, e.g. encoder.weight" in text and "unexpected keys" in text
    assert "python main.py weights download" in text and "\n" not in text


def test_shape_mismatch_shows_both_shapes(tmp_path):
    _save(TinyGenerator(width=7).state_dict(), tmp_path / "ProPainter.pth")
    with pytest.raises(WeightsError, match=r"shapes differ.*encoder\.weight \(7, 3\) vs \(5, 3\)"):
        weights.load_checkpoint("propainter", TinyGenerator(), tmp_path)


def test_published_hash_is_checked(tmp_path):
    spec = weights.CheckpointSpec("test_pinned", "pinned.pth", "http://127.0.0.1/p", sha256="0" * 64)
    weights.register(spec)
    try:
        _save(TinyGenerator().state_dict(), tmp_path / "pinned.pth")
        with pytest.raises(WeightsError, match=r"pinned\.pth in .* is not the published file"):
            weights.load_checkpoint("test_pinned", TinyGenerator(), tmp_path)
    finally:
        weights._REGISTRY.pop("test_pinned", None)


def test_hash_is_computed_once_per_file_version(tmp_path, monkeypatch):
    path = _save(TinyGenerator().state_dict(), tmp_path / "ProPainter.pth")
    calls = []
    real = hashlib.sha256
    monkeypatch.setattr(weights.hashlib, "sha256", lambda *a: calls.append(1) or real(*a))
    for _ in range(3):
        weights.load_checkpoint("propainter", TinyGenerator(), tmp_path)
    assert len(calls) == 1
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    weights.load_checkpoint("propainter", TinyGenerator(), tmp_path)
    assert len(calls) == 2


def test_seeded_checkpoints_load_into_the_real_networks(seeded_weights_dir, tmp_path):
    from models.flow_completion import RecurrentFlowCompleteNet
    from models.propainter import InpaintGenerator
    from models.raft import RAFT

    folder = tmp_path / "w"
    folder.mkdir()
    for name in weights.PROPAINTER_CHECKPOINTS:
        file = weights.get_spec(name).file_name
        os.symlink(seeded_weights_dir / file, folder / file)
    raft = weights.load_checkpoint("raft", RAFT(), folder)
    expected = seeded_state_dicts()["raft-things.pth"]["module.cnet.norm1.running_var"]
    assert torch.equal(raft.state_dict()["cnet.norm1.running_var"], expected)
    weights.load_checkpoint("flow_completion", RecurrentFlowCompleteNet(), folder)
    generator = weights.load_checkpoint("propainter", InpaintGenerator(), folder)
    rolled = "transformers.transformer.0.attention.valid_ind_rolled"
    assert torch.equal(generator.state_dict()[rolled], seeded_state_dicts()["ProPainter.pth"][rolled])
    assert sorted(p.name for p in folder.glob("*.sha256")) == sorted(
        weights.get_spec(n).file_name + ".sha256" for n in weights.PROPAINTER_CHECKPOINTS)
    # The RAFT file under the flow-completion name is a valid checkpoint of another network.
    # (The swap is caught by the recorded hash; without the record, by the keys.)
    (folder / "recurrent_flow_completion.pth").unlink()
    os.symlink(seeded_weights_dir / "raft-things.pth", folder / "recurrent_flow_completion.pth")
    with pytest.raises(WeightsError, match="changed since it was verified"):
        weights.load_checkpoint("flow_completion", RecurrentFlowCompleteNet(), folder)
    (folder / "recurrent_flow_completion.pth.sha256").unlink()
    (folder / "recurrent_flow_completion.pth").unlink()
    os.symlink(seeded_weights_dir / "raft-things.pth", folder / "recurrent_flow_completion.pth")
    with pytest.raises(WeightsError, match="does not hold the recurrent flow completion network"):
        weights.load_checkpoint("flow_completion", RecurrentFlowCompleteNet(), folder)


def test_verify_reports_each_file(tmp_path):
    _save(_prefixed(TinyFlow().state_dict()), tmp_path / "raft-things.pth")
    (tmp_path / "ProPainter.pth").write_bytes(b"<html></html>")
    report = weights.verify(tmp_path, networks={"raft": TinyFlow, "propainter": TinyGenerator})
    states = {item.name: item.state for item in report.items}
    assert states == {"raft": "ok", "flow_completion": "missing", "propainter": "bad"}
    assert not report.ok
    text = str(report)
    assert str(tmp_path) in text and "web page" in text and "raft-things.pth" in text
    assert (tmp_path / "raft-things.pth.sha256").exists()


# --------------------------------------------------------------------------- download


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.payload``; ``server.mode`` makes it misbehave in one way."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802
        srv = self.server
        srv.requests.append(dict(self.headers))
        data, mode = srv.payload, srv.mode
        if mode == "404":
            self.send_error(404, "Not Found")
            return
        if mode == "html":
            body = b"<!DOCTYPE html><html>rate limited</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng and mode != "ignore_range":
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if srv.cut_after is not None and srv.cuts > 0:
            srv.cuts -= 1
            self.wfile.write(body[: srv.cut_after])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.payload = os.urandom(300_000)
    srv.mode = "ok"
    srv.requests = []
    srv.cut_after = None
    srv.cuts = 0
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/ProPainter.pth"
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def test_download_streams_with_monotonic_progress(server, tmp_path):
    seen = []
    path = weights.download("propainter", tmp_path, progress=lambda d, t: seen.append((d, t)),
                            url=server.url, block_size=16_384)
    assert path == tmp_path / "ProPainter.pth" and path.read_bytes() == server.payload
    assert not (tmp_path / "ProPainter.pth.part").exists()
    done = [d for d, _ in seen]
    assert done == sorted(done) and done[0] == 0 and done[-1] == len(server.payload)
    assert {t for _, t in seen} == {len(server.payload)} and len(seen) > 10
    assert "Range" not in server.requests[0]


def test_download_resumes_after_a_cut(server, tmp_path):
    server.cut_after, server.cuts = 100_000, 1
    with pytest.raises(WeightsError, match=r"interrupted .*run `python main\.py weights download` again"):
        weights.download("propainter", tmp_path, url=server.url, retries=0, block_size=8192)
    part = tmp_path / "ProPainter.pth.part"
    assert part.stat().st_size == 100_000
    seen = []
    path = weights.download("propainter", tmp_path, url=server.url, progress=lambda d, t: seen.append(d))
    assert path.read_bytes() == server.payload
    assert server.requests[-1]["Range"] == "bytes=100000-"
    assert seen[0] == 100_000  # progress starts where the .part ended


def test_download_retries_a_cut_by_itself(server, tmp_path):
    server.cut_after, server.cuts = 50_000, 2
    path = weights.download("propainter", tmp_path, url=server.url, block_size=8192)
    assert path.read_bytes() == server.payload
    assert [r.get("Range") for r in server.requests] == [None, "bytes=50000-", "bytes=100000-"]


def test_server_that_ignores_range_restarts_from_zero(server, tmp_path):
    (tmp_path / "ProPainter.pth.part").write_bytes(b"stale bytes that must not stay" * 100)
    server.mode = "ignore_range"
    path = weights.download("propainter", tmp_path, url=server.url)
    assert server.requests[0]["Range"] == "bytes=3000-"
    assert path.read_bytes() == server.payload


def test_complete_part_file_is_finished_without_download(server, tmp_path):
    (tmp_path / "ProPainter.pth.part").write_bytes(server.payload)
    path = weights.download("propainter", tmp_path, url=server.url)
    assert path.read_bytes() == server.payload


def test_cancel_keeps_the_part_for_resume(server, tmp_path):
    calls = []

    def cancel() -> bool:
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled, match=r"ProPainter\.pth cancelled.*resumes"):
        weights.download("propainter", tmp_path, url=server.url, cancel=cancel, block_size=10_000)
    part = tmp_path / "ProPainter.pth.part"
    assert part.stat().st_size == 30_000 and not (tmp_path / "ProPainter.pth").exists()
    weights.download("propainter", tmp_path, url=server.url)
    assert server.requests[-1]["Range"] == "bytes=30000-"
    assert (tmp_path / "ProPainter.pth").read_bytes() == server.payload


def test_hash_mismatch_deletes_the_download(server, tmp_path):
    spec = weights.CheckpointSpec("test_pinned_dl", "pinned.pth", server.url, sha256="1" * 64)
    weights.register(spec)
    try:
        with pytest.raises(WeightsError, match=r"pinned\.pth .* has sha256 .*not the published"):
            weights.download("test_pinned_dl", tmp_path)
        assert list(tmp_path.iterdir()) == []
        good = hashlib.sha256(server.payload).hexdigest()
        weights.register(weights.CheckpointSpec("test_pinned_dl", "pinned.pth", server.url, sha256=good),
                         replace=True)
        assert weights.download("test_pinned_dl", tmp_path).read_bytes() == server.payload
    finally:
        weights._REGISTRY.pop("test_pinned_dl", None)


def test_size_mismatch_is_refused(server, tmp_path):
    weights.register(weights.CheckpointSpec("test_sized", "sized.pth", server.url, size=12345))
    try:
        with pytest.raises(WeightsError, match=r"sized\.pth .* has 300000 bytes instead of 12345"):
            weights.download("test_sized", tmp_path)
        assert not (tmp_path / "sized.pth").exists()
    finally:
        weights._REGISTRY.pop("test_sized", None)


def test_http_error_names_the_url(server, tmp_path):
    server.mode = "404"
    with pytest.raises(WeightsError, match=r"HTTP 404.*by hand into"):
        weights.download("propainter", tmp_path, url=server.url)


def test_html_download_is_caught_at_load(server, tmp_path):
    server.mode = "html"
    weights.download("propainter", tmp_path, url=server.url)
    with pytest.raises(WeightsError, match="is a web page"):
        weights.load_checkpoint("propainter", TinyGenerator(), tmp_path)


def test_no_network_names_url_and_folder(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/ProPainter.pth"
    with pytest.raises(WeightsError) as info:
        weights.download("propainter", tmp_path, url=url, timeout=5)
    text = str(info.value)
    assert text.startswith(f"Cannot reach {url}") and str(tmp_path) in text and "by hand" in text


def test_new_download_replaces_file_and_drops_old_record(server, tmp_path):
    (tmp_path / "ProPainter.pth").write_bytes(b"old")
    (tmp_path / "ProPainter.pth.sha256").write_text("0" * 64 + "  ProPainter.pth\n")
    weights.download("propainter", tmp_path, url=server.url)
    assert (tmp_path / "ProPainter.pth").read_bytes() == server.payload
    assert not (tmp_path / "ProPainter.pth.sha256").exists()


def _fake_download(monkeypatch, server):
    got = []
    real = weights.download
    monkeypatch.setattr(weights, "download",
                        lambda name, d, progress=None, cancel=None: got.append(name) or real(
                            name, d, progress=progress, cancel=cancel, url=server.url))
    return got


def test_download_missing_skips_verified_files(server, tmp_path, monkeypatch):
    for name in ("raft", "flow_completion"):
        path = weights.checkpoint_path(name, tmp_path)
        path.write_bytes(b"present")
        path.with_name(path.name + ".sha256").write_text(hashlib.sha256(b"present").hexdigest())
    got = _fake_download(monkeypatch, server)
    events = []
    paths = weights.download_missing(tmp_path, progress=lambda n, d, t: events.append(n))
    assert got == ["propainter"] and set(events) == {"propainter"}
    assert [p.name for p in paths] == ["raft-things.pth", "recurrent_flow_completion.pth", "ProPainter.pth"]


def test_download_missing_replaces_bad_or_changed_files(server, tmp_path, monkeypatch):
    (tmp_path / "raft-things.pth").write_bytes(b"<html>error page</html>")  # fails to load
    changed = tmp_path / "recurrent_flow_completion.pth"
    changed.write_bytes(b"edited")
    changed.with_name(changed.name + ".sha256").write_text("0" * 64)
    got = _fake_download(monkeypatch, server)
    weights.download_missing(tmp_path)
    assert got == ["raft", "flow_completion", "propainter"]
    assert (tmp_path / "raft-things.pth").read_bytes() == server.payload


def test_download_missing_keeps_a_good_unverified_file(tmp_path, monkeypatch):
    spec = weights.CheckpointSpec("test_tiny", "tiny.pth", "http://127.0.0.1:9/tiny.pth",
                                  network=f"{__name__}:TinyGenerator", group="test")
    weights.register(spec)
    try:
        _save(TinyGenerator().state_dict(), tmp_path / "tiny.pth")
        monkeypatch.setattr(weights, "download", lambda *a, **k: pytest.fail("must not download"))
        assert weights.download_missing(tmp_path, names=["test_tiny"]) == [tmp_path / "tiny.pth"]
        assert (tmp_path / "tiny.pth.sha256").exists()  # verified on the way, now pinned
    finally:
        weights._REGISTRY.pop("test_tiny", None)


def test_part_longer_than_the_file_is_discarded(server, tmp_path):
    (tmp_path / "ProPainter.pth.part").write_bytes(b"x" * (len(server.payload) + 10))
    path = weights.download("propainter", tmp_path, url=server.url)
    assert path.read_bytes() == server.payload
    assert [r.get("Range") for r in server.requests] == [f"bytes={len(server.payload) + 10}-", None]
