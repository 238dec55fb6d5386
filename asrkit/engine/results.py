"""Result files of a run or an evaluation, and the table printed at the end.

- ``results.json``: ``{"valid": [...], "test": [...]}``, one record per set and
  decoder: ``set``, ``decoder``, ``wer``, ``cer`` (fractions), ``utterances``,
  ``audio_seconds`` and the mean per-utterance ``loss``.
- ``<set>.<decoder>.hyp.jsonl``: one line per utterance, sorted by id:
  ``id``, ``ref`` and ``hyp`` (normalized texts), ``word_errors``, ``ref_words``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from asrkit.engine.evaluation import SetResult


def unique_labels(labels: Sequence[str]) -> list[str]:
    """Labels made safe for file names and distinct (``test``, ``test-2``...)."""
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", label) or "set"
        seen[base] = seen.get(base, 0) + 1
        unique.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return unique


def write_hypotheses(folder: Path, label: str, decoder: str, records: Iterable[dict[str, Any]]) -> Path:
    path = folder / f"{label}.{decoder}.hyp.jsonl"
    with path.open("w", encoding="utf-8") as file:
        for record in records:
            file.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def write_results(path: Path, sections: dict[str, list[SetResult]]) -> None:
    data = {section: [result.as_json() for result in results] for section, results in sections.items()}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def results_table(sections: dict[str, list[SetResult]]) -> Table:
    """Set, decoder, WER, CER, utterances and hours, one row per result."""
    table = Table(title="Results")
    for column in ("split", "set", "decoder"):
        table.add_column(column)
    for column in ("WER", "CER", "utterances", "hours"):
        table.add_column(column, justify="right")
    for section, results in sections.items():
        for r in results:
            table.add_row(
                section,
                r.set,
                r.decoder,
                _percent(r.wer),
                _percent(r.cer),
                str(r.utterances),
                f"{r.audio_seconds / 3600:.2f}",
            )
    return table


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None or not math.isfinite(rate) else f"{100 * rate:.2f}%"
