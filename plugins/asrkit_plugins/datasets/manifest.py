"""The ``manifest`` dataset: a JSON-lines manifest in NeMo's format (see :mod:`asrkit.data.manifest`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from asrkit.config import param
from asrkit.data.manifest import read_manifest
from asrkit.errors import DataError
from asrkit.interfaces import Dataset, Utterance


class Manifest(Dataset):
    """JSON-lines manifest (NeMo keys: audio_filepath, duration, text, optional offset).

    A relative ``audio_filepath`` is relative to the manifest's folder. The
    durations come from the manifest; no audio is opened to index it.
    """

    name: ClassVar[str] = "manifest"

    @dataclass(frozen=True)
    class Config:
        path: str = param(help="The .jsonl manifest (relative paths start at the current directory)")
        label: str | None = param(None, help="Name in reports; default: the manifest's file name without suffix")

    def __init__(self, config: Config) -> None:
        self.config = config
        self.path = Path(config.path).expanduser().resolve()
        self._utterances: list[Utterance] | None = None

    @property
    def label(self) -> str:
        return self.config.label or self.path.stem

    def prepare(self) -> None:
        if not self.path.is_file():
            raise DataError(f"manifest: no file {self.path}")

    def utterances(self) -> Sequence[Utterance]:
        if self._utterances is None:
            self.prepare()
            self._utterances = list(read_manifest(self.path))
        return self._utterances

    def __getstate__(self) -> dict[str, object]:
        # DataLoader workers need only the config, not a second copy of the index.
        return {**self.__dict__, "_utterances": None}
