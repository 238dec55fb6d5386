"""Reading and writing JSON-lines manifests in NeMo's format.

Each line is an object with ``audio_filepath``, ``duration`` (seconds) and
``text``, and optionally ``offset`` (seconds into the file, for segments of a
longer recording) and ``id``. A relative ``audio_filepath`` is relative to the
manifest's folder, so a corpus folder with its manifest can be moved as a
whole. Extra keys are ignored, as NeMo does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from asrkit.errors import DataError
from asrkit.interfaces import Utterance
from asrkit.limits import quote, show

__all__ = ["read_manifest", "write_manifest"]


def read_manifest(path: Path) -> Iterator[Utterance]:
    """The utterances of a manifest file, in file order; blank lines are skipped.

    An utterance without an ``id`` key is named after its audio file (with
    ``@offset`` for a segment).

    Raises:
        DataError: the file cannot be read, or a line is not a JSON object with
            the required keys and types; the message starts with ``file:line``.
    """
    folder = path.resolve().parent
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    yield _utterance(line, folder, f"{path}:{number}")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read manifest {path}: {exc}") from None


def write_manifest(path: Path, utterances: Iterable[Utterance]) -> int:
    """Write ``utterances`` as a manifest with absolute audio paths; return how many."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for utterance in utterances:
            record: dict[str, Any] = {
                "audio_filepath": str(Path(utterance.audio_path).resolve()),
                "duration": utterance.duration,
                "text": utterance.text,
                "id": utterance.id,
            }
            if utterance.offset:
                record["offset"] = utterance.offset
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def _utterance(line: str, folder: Path, where: str) -> Utterance:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: invalid JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise DataError(f"{where}: the JSON is nested too deeply") from None
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(record).__name__}")
    audio = _field(record, "audio_filepath", str, where)
    text = _field(record, "text", str, where)
    duration = _seconds(record, "duration", where)
    offset = _seconds(record, "offset", where) if "offset" in record else 0.0
    path = folder / _expand_user(audio, where)
    utterance_id = record.get("id")
    if not isinstance(utterance_id, str) or not utterance_id:
        utterance_id = path.stem if not offset else f"{path.stem}@{offset:g}"
    return Utterance(utterance_id, str(path), text, duration, offset)


def _field(record: dict[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in record:
        raise DataError(f"{where}: missing key '{key}' (a manifest line needs audio_filepath, duration, text)")
    value = record[key]
    if not isinstance(value, kind):
        raise DataError(f"{where}: '{key}' must be a {kind.__name__}, got {show(value)}")
    return value


def _seconds(record: dict[str, Any], key: str, where: str) -> float:
    value = _field(record, key, object, where)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise DataError(f"{where}: '{key}' must be a number of seconds >= 0, got {show(value)}")
    return float(value)


def _expand_user(audio: str, where: str) -> Path:
    """``audio`` as a path with ``~`` expanded; a NUL byte or an unknown home is a :class:`DataError`."""
    if "\x00" in audio:
        raise DataError(f"{where}: 'audio_filepath' contains a NUL character")
    try:
        return Path(audio).expanduser()
    except (RuntimeError, KeyError, ValueError) as exc:  # no such user, or no home directory
        raise DataError(f"{where}: cannot expand '~' in 'audio_filepath' {quote(audio)}: {exc}") from None
