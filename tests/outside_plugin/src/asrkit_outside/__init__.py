"""A third-party asrkit plugin written from docs/plugins.md alone (a test package, not shipped).

- ``dwconv``: a depthwise-separable 1-D convolution encoder subsampling time by 2;
- ``tsv``: a Common Voice style dataset, ``path<TAB>sentence<TAB>duration`` (seconds) per line;
- ``csv``: a logger writing ``metrics.csv`` in the run directory.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from asrkit import hookimpl
from asrkit.config import param
from asrkit.errors import DataError
from asrkit.interfaces import Dataset, Encoder, Logger, RunInfo, Utterance

ASRKIT_PLUGIN_API = ">=2,<3"


class DepthwiseSeparableEncoder(Encoder):
    """Depthwise-separable 1-D convolutions; the first one halves the frame rate."""

    name = "dwconv"

    @dataclass(frozen=True)
    class Config:
        hidden: int = param(32, help="channels of every convolution")
        layers: int = param(2, help="number of depthwise-separable blocks after the subsampling one")
        kernel: int = param(5, help="odd kernel size of the depthwise convolutions")
        dropout: float = param(0.1, help="dropout after every block")

    def __init__(self, config: Config, input_dim: int) -> None:
        super().__init__()
        self.config = config
        self.subsample = nn.Conv1d(input_dim, config.hidden, kernel_size=3, stride=2, padding=1)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(
                    config.hidden, config.hidden, config.kernel, padding=config.kernel // 2, groups=config.hidden
                ),
                nn.Conv1d(config.hidden, config.hidden, 1),
                nn.ReLU(),
                nn.Dropout(config.dropout),
            )
            for _ in range(config.layers)
        )

    @property
    def output_dim(self) -> int:
        return self.config.hidden

    @property
    def subsampling(self) -> int:
        return 2

    def output_lengths(self, input_lengths: torch.Tensor) -> torch.Tensor:
        # Conv1d(kernel 3, stride 2, padding 1): floor((n + 2 - 3) / 2) + 1.
        return torch.div(input_lengths - 1, 2, rounding_mode="floor") + 1

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, T, input_dim)``, ``(B,)`` → ``(B, T', hidden)``, ``(B,)``."""
        out_lengths = self.output_lengths(lengths)
        x = self.subsample(self._zero_padding(features, lengths).transpose(1, 2))
        for block in self.blocks:
            x = block(self._zero_padding(x.transpose(1, 2), out_lengths).transpose(1, 2))
        return self._zero_padding(x.transpose(1, 2), out_lengths), out_lengths

    @staticmethod
    def _zero_padding(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Zero the frames past each row's length, so convolutions never read padding. ``(B, T, C)``."""
        valid = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
        return x * valid[..., None]


class TsvDataset(Dataset):
    """Utterances listed in a tab-separated file: path, sentence, duration in seconds."""

    name = "tsv"

    @dataclass(frozen=True)
    class Config:
        path: str = param(help="the .tsv file; audio paths are relative to its folder")
        label: str = param("tsv", help="name of the set in reports")

    def __init__(self, config: Config) -> None:
        self.config = config

    @property
    def label(self) -> str:
        return self.config.label

    def utterances(self) -> list[Utterance]:
        index = Path(self.config.path)
        if not index.is_file():
            raise DataError(f"no such file: {index}")
        with index.open(newline="") as rows:
            reader = csv.DictReader(rows, delimiter="\t")
            return [
                Utterance(
                    id=Path(row["path"]).stem,
                    audio_path=str(index.parent / row["path"]),
                    text=row["sentence"],
                    duration=self.seconds(row),
                )
                for row in reader
            ]

    @staticmethod
    def seconds(row: dict[str, str]) -> float:
        return float(row["duration"])


class CsvLogger(Logger):
    """Append every metric to ``metrics.csv`` in the run directory."""

    name = "csv"

    @dataclass(frozen=True)
    class Config:
        filename: str = param("metrics.csv", help="file name inside the run directory")

    def __init__(self, config: Config, run: RunInfo) -> None:
        self.file = (Path(run.run_dir) / config.filename).open("a", newline="")
        self.writer = csv.writer(self.file)

    def log_hyperparams(self, params: dict[str, Any]) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int, epoch: int | None = None) -> None:
        for key, value in metrics.items():
            self.writer.writerow([step, epoch if epoch is not None else "", key, "nan" if math.isnan(value) else value])

    def log_artifact(self, path: Path, name: str | None = None) -> None:
        pass

    def close(self) -> None:
        self.file.close()


@hookimpl
def asrkit_register_encoders() -> list[type]:
    return [DepthwiseSeparableEncoder]


@hookimpl
def asrkit_register_datasets() -> list[type]:
    return [TsvDataset]


@hookimpl
def asrkit_register_loggers() -> list[type]:
    return [CsvLogger]
