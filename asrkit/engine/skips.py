"""The record of skipped utterances in the run directory: ``skipped.jsonl``, one line per skip and epoch.

The epoch's warning line can only name a few files; this file names every
one, with its reason, so that a dataset can be repaired after the run. It is
appended to at the end of each epoch (by the main process), so a resumed run
continues it.
"""

from __future__ import annotations

import json
from pathlib import Path

from asrkit.data.batches import SkipReport

__all__ = ["SKIP_LOG", "append_skips"]

SKIP_LOG = "skipped.jsonl"


def append_skips(run_dir: Path, epoch: int, report: SkipReport) -> Path:
    """Append ``{"epoch", "reason", "path"}`` for every skip of ``report`` (epochs count from 1)."""
    path = run_dir / SKIP_LOG
    with path.open("a", encoding="utf-8") as out:
        for reason in report.counts:
            for skipped in report.paths(reason):
                out.write(json.dumps({"epoch": epoch, "reason": reason, "path": skipped}, ensure_ascii=False) + "\n")
    return path
