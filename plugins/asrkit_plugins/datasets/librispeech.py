"""The ``librispeech`` dataset: a corpus in LibriSpeech's folder layout, downloadable from OpenSLR."""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from asrkit.config import param
from asrkit.data.batches import SkipReport
from asrkit.data.download import CHECKSUMS, OPENSLR_URL, fetch_subset
from asrkit.data.index import DurationOf, FileStats, Index, cached_index
from asrkit.errors import AudioError, DataError
from asrkit.interfaces import Dataset, Utterance

logger = logging.getLogger(__name__)

MISSING_AUDIO = "missing audio"
UNREADABLE = "unreadable"


class LibriSpeech(Dataset):
    """A corpus in LibriSpeech layout (FLAC + transcripts per chapter), downloadable from OpenSLR.

    Audio is ``<root>/LibriSpeech/<subset>/<speaker>/<chapter>/*.flac``; each
    chapter folder holds ``<speaker>-<chapter>.trans.txt``, one line per
    utterance: its id, a space, the transcript. The index (with every file's
    duration) is cached, see :mod:`asrkit.data.index`. With ``download: true``
    a known subset is fetched from OpenSLR, verified and extracted once.
    Utterances whose audio is missing or unreadable are left out of the index
    with a warning.
    """

    name: ClassVar[str] = "librispeech"

    @dataclass(frozen=True)
    class Config:
        root: str = param(help="Folder containing LibriSpeech/ (relative paths start at the current directory)")
        subset: str = param(help="Folder under LibriSpeech/, e.g. train-clean-100, dev-clean")
        download: bool = param(False, help="Download, verify and extract the subset from OpenSLR if missing")
        url_base: str = param(OPENSLR_URL, help="Where the <subset>.tar.gz archives are downloaded from")
        verify: bool = param(True, help="Check downloaded archives against the published MD5 and SHA-256")

    def __init__(self, config: Config) -> None:
        self.config = config
        self.root = Path(config.root).expanduser().resolve()
        self.folder = self.root / "LibriSpeech" / config.subset
        self._index: Index | None = None

    @property
    def label(self) -> str:
        return self.config.subset

    def prepare(self) -> None:
        if self.config.download:
            fetch_subset(self.root, self.config.subset, self.config.url_base, self.config.verify)
        self._check_folder()

    def utterances(self) -> Sequence[Utterance]:
        if self._index is None:
            self._check_folder()
            self._index = cached_index(
                self.folder, _build_index, namespace="librispeech", suffixes=(".flac", ".trans.txt")
            )
            if self._index.problems:
                _warn_problems(self.label, self._index.problems)
        return self._index.utterances

    def _check_folder(self) -> None:
        if self.folder.is_dir():
            return
        if self.config.subset in CHECKSUMS:
            hint = "set download: true to fetch it from OpenSLR"
        else:
            present = sorted(p.name for p in (self.root / "LibriSpeech").glob("*") if p.is_dir())
            hint = f"subsets there: {', '.join(present)}" if present else "is root right?"
        raise DataError(f"librispeech: no folder {self.folder}; {hint}")

    def __getstate__(self) -> dict[str, object]:
        # DataLoader workers need only the config, not a second copy of the index.
        return {**self.__dict__, "_index": None}


def _build_index(folder: Path, files: FileStats, duration_of: DurationOf) -> Index:
    """Utterances of every ``*.trans.txt`` line, in path then line order."""
    utterances: list[Utterance] = []
    problems: list[tuple[str, str]] = []
    for transcript in sorted(name for name in files if name.endswith(".trans.txt")):
        chapter = posixpath.dirname(transcript)
        for line in _read_transcript(folder / transcript):
            utterance_id, _, text = line.strip().partition(" ")
            if not utterance_id:
                continue
            audio = posixpath.join(chapter, f"{utterance_id}.flac")
            path = str(folder / audio)
            if audio not in files:
                problems.append((path, MISSING_AUDIO))
                continue
            try:
                seconds = duration_of(audio)
            except AudioError:
                problems.append((path, UNREADABLE))
                continue
            utterances.append(Utterance(utterance_id, path, text.strip(), seconds))
    return Index(utterances, problems)


def _read_transcript(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read transcript {path}: {exc}") from None


def _warn_problems(label: str, problems: list[tuple[str, str]]) -> None:
    report = SkipReport()
    for path, reason in problems:
        report.add(reason, path)
    logger.warning("librispeech %s: %s while indexing", label, report.summary())
