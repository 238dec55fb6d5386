"""Fetch LibriSpeech subsets from OpenSLR: resumable, checksum-verified, extracted once.

:func:`fetch_subset` is what the ``librispeech`` dataset's ``prepare()`` calls.
The archive ``<root>/<subset>.tar.gz`` is downloaded into a ``.part`` file that
survives an interruption: the next attempt (in the same run, or the next run)
asks the server for the rest with an HTTP ``Range`` request, and starts over
when the server ignores it. The finished archive is checked against the
published checksums and unpacked member by member: :mod:`asrkit.data.archive`
refuses links, special files and paths leaving the destination before each
member is written, and ``tarfile``'s ``"data"`` filter is a second layer. A marker file
written after a complete extraction makes every later call a no-op; the
archive is deleted then, since the extracted subset is what runs read.

A checksum mismatch deletes the archive (a resumed download that appended to a
file that changed on the server can only be fixed by starting over) and says
so; the next run downloads it afresh.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import re
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from asrkit.data.archive import extract_members
from asrkit.errors import DataError

__all__ = ["CHECKSUMS", "OPENSLR_URL", "Checksum", "download_file", "extract_archive", "fetch_subset"]

logger = logging.getLogger(__name__)

OPENSLR_URL = "https://www.openslr.org/resources/12"
"""OpenSLR resource 12, the official home of LibriSpeech."""


@dataclass(frozen=True)
class Checksum:
    """Published digests of one archive (hex)."""

    md5: str
    sha256: str


# MD5: OpenSLR's own list, https://www.openslr.org/resources/12/md5sum.txt.
# SHA-256: the table torchaudio publishes for the same archives
# (torchaudio.datasets.librispeech._CHECKSUMS). Both are checked.
CHECKSUMS: dict[str, Checksum] = {
    "dev-clean": Checksum(
        "42e2234ba48799c1f50f24a7926300a1", "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3"
    ),
    "dev-other": Checksum(
        "c8d0bcc9cca99d4f8b62fcc847357931", "12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365"
    ),
    "test-clean": Checksum(
        "32fa31d27d2e1cad72775fee3f4849a9", "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23"
    ),
    "test-other": Checksum(
        "fb5a50374b501bb3bac4815ee91d3135", "d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29"
    ),
    "train-clean-100": Checksum(
        "2a93770f6d5c6c964bc36631d331a522", "d4ddd1d5a6ab303066f14971d768ee43278a5f2a0aa43dc716b0e64ecbbbf6e2"
    ),
    "train-clean-360": Checksum(
        "c0e676e450a7ff2f54aeade5171606fa", "146a56496217e96c14334a160df97fffedd6e0a04e66b9c5af0d40be3c792ecf"
    ),
    "train-other-500": Checksum(
        "d1a0fd59409feb2c614ce4d30c387708", "ddb22f27f96ec163645d53215559df6aa36515f26e01dd70798188350adcb6d2"
    ),
}

MARKER = ".asrkit-complete"
"""Written inside ``LibriSpeech/<subset>`` once a verified archive is fully extracted."""

RETRIES = 4
"""Attempts after the first when a transfer breaks off; each resumes where the last stopped."""

RETRY_WAIT_SECONDS = 1.0
"""Wait before the first retry, doubled for each further one (capped at 30 s)."""

TIMEOUT_SECONDS = 60.0
"""Socket timeout: a stalled connection fails (and is resumed) instead of hanging."""

_CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+|\*)")
_UNSATISFIABLE_RANGE = re.compile(r"bytes \*/(\d+)")


class _TransferCut(Exception):
    """The server closed the connection before sending everything it announced."""


def fetch_subset(
    root: Path, subset: str, url_base: str = OPENSLR_URL, verify: bool = True, console: Console | None = None
) -> Path:
    """Make ``<root>/LibriSpeech/<subset>`` a complete, verified copy of a known subset; return it.

    Does nothing when a previous call finished (its marker file is there). A
    folder that is present without marker or archive is taken to be the
    user's own copy and left alone.

    Raises:
        DataError: unknown subset, download failure, checksum mismatch, or a
            corrupt or unsafe archive; the message says what to do.
    """
    if subset not in CHECKSUMS:
        raise DataError(f"cannot download LibriSpeech subset '{subset}': the known subsets are {', '.join(CHECKSUMS)}")
    target = root / "LibriSpeech" / subset
    if (target / MARKER).is_file():
        return target
    archive = root / f"{subset}.tar.gz"
    if target.is_dir() and not archive.exists() and not _part_path(archive).exists():
        logger.info("using %s as it is (not downloaded by asrkit, so not verified)", target)
        return target
    console = console or Console(stderr=True, highlight=False)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the data folder {root}: {exc.strerror or exc}") from None
    if not archive.exists():
        download_file(f"{url_base.rstrip('/')}/{subset}.tar.gz", archive, console=console)
    if verify:
        _verify(archive, CHECKSUMS[subset])
    extract_archive(archive, root, console=console)
    if not target.is_dir():
        raise DataError(f"{archive} does not contain LibriSpeech/{subset}; is url_base right?")
    record = {"subset": subset, "url_base": url_base, "verified": verify, "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    (target / MARKER).write_text(json.dumps(record) + "\n", encoding="utf-8")
    archive.unlink()
    return target


def download_file(url: str, dest: Path, console: Console | None = None) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming what an earlier attempt left.

    Raises:
        DataError: the server answered with an error, or the transfer kept
            breaking off; the ``.part`` file is kept so the next run resumes.
    """
    part = _part_path(dest)
    console = console or Console(stderr=True, highlight=False)
    failures = 0
    while True:
        try:
            if _download_once(url, part, console):
                part.replace(dest)
                return dest
        except urllib.error.HTTPError as exc:
            if exc.code < 500:  # a server error may pass; a missing file or a refusal will not
                raise DataError(f"downloading {url} failed: HTTP {exc.code} {exc.reason}") from None
            failures = _retry_or_raise(url, part, failures, exc, console)
        except (urllib.error.URLError, OSError, http.client.HTTPException, _TransferCut) as exc:
            failures = _retry_or_raise(url, part, failures, exc, console)


def _retry_or_raise(url: str, part: Path, failures: int, exc: BaseException, console: Console) -> int:
    """Wait before the next attempt and return the new failure count, or give up with a DataError."""
    failures += 1
    reason = _describe(exc)
    if failures > RETRIES:
        have = part.stat().st_size if part.exists() else 0
        raise DataError(
            f"downloading {url} failed {failures} times (last: {reason}); "
            f"{have:,} bytes are kept in {part} and the next run resumes from there"
        ) from None
    wait = min(RETRY_WAIT_SECONDS * 2 ** (failures - 1), 30.0)
    console.print(f"[yellow]download interrupted ({escape(reason)}); resuming in {wait:g} s[/]")
    time.sleep(wait)
    return failures


def _download_once(url: str, part: Path, console: Console) -> bool:
    """One request for the rest of ``url`` into ``part``; True when the file is complete.

    Raises :class:`_TransferCut` (or a network error) when the transfer stops
    short, leaving what arrived in ``part``.
    """
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "asrkit", "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)
    except urllib.error.HTTPError as exc:
        if exc.code != 416 or not have:
            raise
        # Nothing left to send: either the part is already complete, or it is
        # longer than the file (the file changed), and then only a restart helps.
        match = _UNSATISFIABLE_RANGE.match(exc.headers.get("Content-Range", ""))
        if match and int(match.group(1)) == have:
            return True
        part.unlink()
        return False
    with response:
        start = 0
        if have and response.status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            start = int(match.group(1)) if match else -1
            if start != have:
                part.unlink()  # a range we did not ask for: start over
                return False
            console.print(f"resuming {escape(url)} at {have:,} bytes")
        elif have:
            console.print("[yellow]the server cannot resume downloads; starting over[/]")
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        received = _copy(response, part, append=start > 0, start=start, total=total, url=url, console=console)
    if total is not None and start + received < total:
        raise _TransferCut(f"connection closed after {start + received:,} of {total:,} bytes")
    return True


def _copy(
    response: BinaryIO, part: Path, *, append: bool, start: int, total: int | None, url: str, console: Console
) -> int:
    """Stream the response body into ``part`` with a progress bar; return the bytes written."""
    received = 0
    with _progress(console) as progress, part.open("ab" if append else "wb") as out:
        task = progress.add_task(url.rsplit("/", 1)[-1], total=total, completed=start)
        while chunk := response.read(_CHUNK):
            out.write(chunk)
            received += len(chunk)
            progress.advance(task, len(chunk))
    return received


def _verify(archive: Path, expected: Checksum) -> None:
    md5, sha256 = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with archive.open("rb") as handle:
        while block := handle.read(_CHUNK):
            md5.update(block)
            sha256.update(block)
    if md5.hexdigest() != expected.md5 or sha256.hexdigest() != expected.sha256:
        archive.unlink()
        raise DataError(
            f"{archive} is corrupt: its MD5 is {md5.hexdigest()}, the published one is {expected.md5}; "
            "the file was deleted, run again to download it afresh"
        )


def extract_archive(archive: Path, dest: Path, console: Console | None = None) -> None:
    """Unpack a ``.tar.gz`` into ``dest``, refusing members that would land outside it.

    Raises:
        DataError: the archive is corrupt or holds unsafe members.
    """
    console = console or Console(stderr=True, highlight=False)
    size = archive.stat().st_size
    try:
        with _progress(console) as progress, archive.open("rb") as raw:
            task = progress.add_task(f"extracting {archive.name}", total=size)
            reader = _ProgressReader(raw, lambda: progress.update(task, completed=raw.tell()))
            with tarfile.open(fileobj=reader, mode="r|gz") as tar:
                extract_members(tar, dest)
    except (tarfile.TarError, EOFError, OSError, DataError) as exc:
        raise DataError(f"cannot extract {archive}: {exc}") from None


class _ProgressReader:
    """A read-only file wrapper that reports progress after each read."""

    def __init__(self, raw: BinaryIO, report: Callable[[], object]) -> None:
        self._raw = raw
        self._report = report

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._report()
        return data


@contextmanager
def _progress(console: Console) -> Iterator[Progress]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        yield progress


def _describe(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or exc) or type(exc).__name__


def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")
