"""A cache of utterance indexes, so that a corpus is scanned once, not on every run.

Indexing a corpus means reading every audio file's header for its duration:
28,539 files for LibriSpeech train-clean-100. :func:`cached_index` keeps the
result in ``$ASRKIT_CACHE_DIR`` (default ``~/.cache/asrkit``) under a name
derived from the folder's absolute path, together with a fingerprint of the
folder: the relative path, size and ``mtime_ns`` of every file, taken with
``os.scandir`` (a ``stat`` per file; no file is opened). When the fingerprint
matches, the cached index is returned as it is. When it does not, the index is
rebuilt, and only the audio files whose size or modification time changed (or
that are new) have their duration read again.

A file modified within :data:`RACY_SECONDS` of the cache being written might
be modified again without its ``mtime_ns`` changing (file systems update it on
a clock tick, not per write). Such a file is not trusted: its duration is not
kept and the next run rebuilds the index (git calls these entries "racily
clean").
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asrkit import audio
from asrkit.errors import AudioError
from asrkit.files import write_atomic
from asrkit.interfaces import Utterance

__all__ = ["Index", "cache_root", "cached_index", "scan_files"]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
RACY_SECONDS = 2.0

FileStats = dict[str, tuple[int, int]]
"""Relative POSIX path → ``(size, mtime_ns)`` of every file of a folder."""

DurationOf = Callable[[str], float]
"""Relative path of an audio file → duration in seconds; raises :class:`AudioError` when unreadable."""


@dataclass(frozen=True)
class Index:
    """A corpus index: the usable utterances and what was left out, as ``(path, reason)``."""

    utterances: list[Utterance]
    problems: list[tuple[str, str]]


Builder = Callable[[Path, FileStats, DurationOf], Index]
"""``build(folder, files, duration_of)``: the :class:`Index` of ``folder`` from its file listing.

It asks ``duration_of`` for the durations it needs; unchanged files are answered from the cache.
"""


def cache_root() -> Path:
    """``$ASRKIT_CACHE_DIR``, or ``~/.cache/asrkit``."""
    configured = os.environ.get("ASRKIT_CACHE_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "asrkit"


def scan_files(folder: Path, suffixes: tuple[str, ...]) -> FileStats:
    """Size and modification time of every file under ``folder`` ending in one of ``suffixes``.

    Hidden entries (starting with a dot) are skipped; so are symbolic links to
    folders, which could loop.
    """
    stats: FileStats = {}
    pending = [("", os.fspath(folder))]
    while pending:
        prefix, path = pending.pop()
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    pending.append((f"{prefix}{entry.name}/", entry.path))
                elif entry.name.endswith(suffixes):
                    stat = entry.stat()
                    stats[prefix + entry.name] = (stat.st_size, stat.st_mtime_ns)
    return stats


def cached_index(
    folder: Path, build: Builder, *, namespace: str, suffixes: tuple[str, ...], cache_dir: Path | None = None
) -> Index:
    """The index of ``folder`` made by ``build``, from the cache when the folder has not changed.

    Args:
        folder: the corpus folder; its absolute path keys the cache.
        build: makes the index from the file listing and a duration lookup,
            which answers from the cache for unchanged files.
        namespace: names the kind of index (``librispeech``), so two builders
            of one folder do not share an entry; part of the key.
        suffixes: which files the fingerprint covers (audio and transcripts).
        cache_dir: defaults to :func:`cache_root`.
    """
    with _gc_paused():
        return _cached_index(folder.resolve(), build, namespace, suffixes, cache_dir)


def _cached_index(
    folder: Path, build: Builder, namespace: str, suffixes: tuple[str, ...], cache_dir: Path | None
) -> Index:
    files = scan_files(folder, suffixes)
    fingerprint = _fingerprint(files)
    path = (cache_dir or cache_root()) / "index" / f"{namespace}-{_digest(str(folder))[:20]}.json"
    cached = _read(path, namespace, folder)
    if cached is not None and cached["fingerprint"] == fingerprint:
        try:
            return Index(
                [Utterance(*row) for row in cached["utterances"]],
                [(p, reason) for p, reason in cached["problems"]],
            )
        except (TypeError, ValueError):
            pass  # a damaged entry: rebuild
    known: dict[str, list[Any]] = cached["durations"] if cached is not None else {}
    looked_up: dict[str, list[Any]] = {}

    def duration_of(relative: str) -> float:
        size, mtime_ns = files[relative]
        entry = known.get(relative)
        if entry is None or entry[0] != size or entry[1] != mtime_ns:
            try:
                entry = [size, mtime_ns, audio.audio_duration(folder / relative), None]
            except AudioError as exc:
                entry = [size, mtime_ns, None, exc.reason]
        looked_up[relative] = entry
        if entry[3] is not None:
            raise AudioError(folder / relative, entry[3])
        return float(entry[2])

    index = build(folder, files, duration_of)
    _write(path, namespace, folder, files, fingerprint, looked_up, index)
    return index


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Suspend the cyclic garbage collector while building many small objects.

    The index is tens of thousands of tuples, lists and dataclasses, none in a
    cycle; allocating them triggers full collections that walk every object of
    the process (torch's included), which made a warm load of train-clean-100
    several times slower.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _fingerprint(files: FileStats) -> str:
    text = "".join(f"{name}\0{size}\0{mtime}\n" for name, (size, mtime) in sorted(files.items()))
    return _digest(text)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _read(path: Path, namespace: str, folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # no cache yet, or a damaged one: rebuild
    if not isinstance(data, dict):
        return None
    if (data.get("version"), data.get("namespace"), data.get("folder")) != (FORMAT_VERSION, namespace, str(folder)):
        return None
    shapes = {"fingerprint": (str, type(None)), "durations": dict, "utterances": list, "problems": list}
    if not all(isinstance(data.get(key), kind) for key, kind in shapes.items()):
        return None
    return data


def _write(
    path: Path,
    namespace: str,
    folder: Path,
    files: FileStats,
    fingerprint: str,
    durations: dict[str, list[Any]],
    index: Index,
) -> None:
    newest_trusted = time.time_ns() - int(RACY_SECONDS * 1e9)
    racy = {name for name, (_, mtime) in files.items() if mtime > newest_trusted}
    data = {
        "version": FORMAT_VERSION,
        "namespace": namespace,
        "folder": str(folder),
        "fingerprint": None if racy else fingerprint,
        "durations": {name: entry for name, entry in durations.items() if name not in racy},
        "utterances": [[u.id, u.audio_path, u.text, u.duration, u.offset] for u in index.utterances],
        "problems": [list(problem) for problem in index.problems],
    }
    try:
        write_atomic(path, json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    except OSError as exc:
        # A read-only home must not stop training; it only costs a rescan next time.
        logger.warning("cannot write the index cache %s: %s", path, exc)
