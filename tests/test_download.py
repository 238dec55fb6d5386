"""Downloading a LibriSpeech subset from a local HTTP server: verify, resume, extract once."""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from asrkit.data import download
from asrkit.data.download import MARKER, Checksum
from asrkit.data.synthetic import write_librispeech
from asrkit.errors import DataError
from asrkit_plugins.datasets.librispeech import LibriSpeech

TEXTS = {"84-121123-0000": "GO DO YOU HEAR", "84-121123-0001": "BUT IN LESS THAN FIVE MINUTES"}


@dataclass
class ServerState:
    """What the server sends, and what it was asked."""

    files: dict[str, bytes]
    cut_after: int = 0
    cuts_left: int = 0
    honor_range: bool = True
    errors: list[int] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)


class ArchiveHandler(BaseHTTPRequestHandler):
    """Serves ``state.files``; honors ``Range: bytes=N-``; can cut a transfer short."""

    timeout = 5
    server: ThreadingHTTPServer

    def do_GET(self) -> None:
        state: ServerState = self.server.state  # type: ignore[attr-defined]
        state.requests.append({"path": self.path, **dict(self.headers)})
        data = state.files.get(self.path)
        if data is None or state.errors:
            self.send_error(state.errors.pop(0) if state.errors else 404)
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if match and state.honor_range:
            start = int(match.group(1))
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
        if state.cuts_left > 0:
            state.cuts_left -= 1
            body = body[: state.cut_after]
            self.close_connection = True
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, ServerState]]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ArchiveHandler)
    httpd.state = ServerState({})  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/resources/12", httpd.state  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def librispeech_archive(tmp_path: Path, subset: str = "dev-clean", extra: dict[str, bytes] | None = None) -> bytes:
    """A .tar.gz laid out as OpenSLR's: LibriSpeech/<subset>/... plus top-level files."""
    staging = tmp_path / "staging"
    write_librispeech(staging, subset, TEXTS, seconds=0.5)
    (staging / "LibriSpeech" / "README.TXT").write_text("LibriSpeech ASR corpus\n")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(staging / "LibriSpeech", arcname="LibriSpeech")
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bytes:
    """The test archive, whose checksums stand in for the published ones."""
    data = librispeech_archive(tmp_path)
    checksum = Checksum(hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())
    monkeypatch.setitem(download.CHECKSUMS, "dev-clean", checksum)
    monkeypatch.setattr(download, "RETRY_WAIT_SECONDS", 0.0)
    return data


def serve(state: ServerState, data: bytes, subset: str = "dev-clean") -> None:
    state.files[f"/resources/12/{subset}.tar.gz"] = data


def fetch(root: Path, url: str, subset: str = "dev-clean") -> LibriSpeech:
    dataset = LibriSpeech(LibriSpeech.Config(root=str(root), subset=subset, download=True, url_base=url))
    dataset.prepare()
    return dataset


def test_downloads_verifies_extracts_and_never_downloads_again(
    tmp_path: Path, server: tuple[str, ServerState], archive: bytes
) -> None:
    url, state = server
    serve(state, archive)
    root = tmp_path / "data"
    dataset = fetch(root, url)
    assert [u.id for u in dataset.utterances()] == list(TEXTS)
    assert (root / "LibriSpeech" / "dev-clean" / MARKER).is_file()
    assert not (root / "dev-clean.tar.gz").exists() and not (root / "dev-clean.tar.gz.part").exists()
    assert len(state.requests) == 1 and "Range" not in state.requests[0]
    fetch(root, url)
    assert len(state.requests) == 1


def test_a_corrupted_archive_is_refused_and_deleted(
    tmp_path: Path, server: tuple[str, ServerState], archive: bytes
) -> None:
    url, state = server
    corrupted = bytearray(archive)
    corrupted[len(corrupted) // 2] ^= 0xFF
    serve(state, bytes(corrupted))
    root = tmp_path / "data"
    with pytest.raises(DataError, match=r"is corrupt: its MD5 is .*deleted, run again to download it afresh"):
        fetch(root, url)
    assert not (root / "dev-clean.tar.gz").exists()
    assert not (root / "LibriSpeech").exists()
    serve(state, archive)  # the mirror is fixed: the next run starts over and succeeds
    assert len(fetch(root, url).utterances()) == 2
    assert "Range" not in state.requests[-1]


def test_an_interrupted_transfer_resumes_with_a_range_request(
    tmp_path: Path, server: tuple[str, ServerState], archive: bytes
) -> None:
    url, state = server
    serve(state, archive)
    state.cut_after, state.cuts_left = len(archive) // 3, 1
    dataset = fetch(tmp_path, url)
    assert len(dataset.utterances()) == 2
    assert [r.get("Range") for r in state.requests] == [None, f"bytes={len(archive) // 3}-"]


def test_a_server_that_ignores_range_makes_it_start_over(
    tmp_path: Path, server: tuple[str, ServerState], archive: bytes
) -> None:
    url, state = server
    serve(state, archive)
    state.cut_after, state.cuts_left, state.honor_range = 1000, 1, False
    assert len(fetch(tmp_path, url).utterances()) == 2
    assert [r.get("Range") for r in state.requests] == [None, "bytes=1000-"]


def test_a_transfer_that_keeps_failing_keeps_the_part_for_the_next_run(
    tmp_path: Path, server: tuple[str, ServerState], archive: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = server
    serve(state, archive)
    monkeypatch.setattr(download, "RETRIES", 1)
    state.cut_after, state.cuts_left = 700, 2
    with pytest.raises(DataError, match=r"failed 2 times .*1,400 bytes are kept in .*part and the next run resumes"):
        fetch(tmp_path, url)
    assert (tmp_path / "dev-clean.tar.gz.part").stat().st_size == 1400
    assert len(fetch(tmp_path, url).utterances()) == 2
    assert state.requests[-1]["Range"] == "bytes=1400-"


def test_a_server_error_is_retried(tmp_path: Path, server: tuple[str, ServerState], archive: bytes) -> None:
    url, state = server
    serve(state, archive)
    state.errors = [503, 502]
    assert len(fetch(tmp_path, url).utterances()) == 2
    assert len(state.requests) == 3


def test_a_complete_part_file_is_recognized(tmp_path: Path, server: tuple[str, ServerState], archive: bytes) -> None:
    url, state = server
    serve(state, archive)
    (tmp_path / "dev-clean.tar.gz.part").write_bytes(archive)
    assert len(fetch(tmp_path, url).utterances()) == 2
    assert [r.get("Range") for r in state.requests] == [f"bytes={len(archive)}-"]


def test_members_outside_the_destination_are_refused(
    tmp_path: Path, server: tuple[str, ServerState], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, state = server
    evil = librispeech_archive(tmp_path, extra={"../escaped.txt": b"gotcha"})
    serve(state, evil)
    root = tmp_path / "data"
    dataset = LibriSpeech(
        LibriSpeech.Config(root=str(root), subset="dev-clean", download=True, url_base=url, verify=False)
    )
    with pytest.raises(DataError, match=r"cannot extract .*dev-clean\.tar\.gz"):
        dataset.prepare()
    assert not (tmp_path / "escaped.txt").exists()
    assert not (root / "LibriSpeech" / "dev-clean" / MARKER).exists()


def test_an_http_error_is_one_line(tmp_path: Path, server: tuple[str, ServerState], archive: bytes) -> None:
    url, _ = server
    with pytest.raises(
        DataError, match=r"downloading http://127.0.0.1:\d+/resources/12/dev-clean.tar.gz failed: HTTP 404"
    ):
        fetch(tmp_path, url)


def test_a_copy_the_user_extracted_is_used_as_it_is(
    tmp_path: Path, server: tuple[str, ServerState], archive: bytes
) -> None:
    url, state = server
    write_librispeech(tmp_path, "dev-clean", TEXTS)
    assert len(fetch(tmp_path, url).utterances()) == 2
    assert state.requests == []


def test_the_published_checksums_cover_every_known_subset() -> None:
    assert sorted(download.CHECKSUMS) == sorted(
        ["dev-clean", "dev-other", "test-clean", "test-other", "train-clean-100", "train-clean-360", "train-other-500"]
    )
    for checksum in download.CHECKSUMS.values():
        assert re.fullmatch(r"[0-9a-f]{32}", checksum.md5) and re.fullmatch(r"[0-9a-f]{64}", checksum.sha256)
    assert download.CHECKSUMS["train-clean-100"].md5 == "2a93770f6d5c6c964bc36631d331a522"
