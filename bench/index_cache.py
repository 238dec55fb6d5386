"""Indexing a LibriSpeech-sized corpus: cold (every header read) vs warm (index cache hit).

Prints one JSON object. Builds a synthetic corpus with train-clean-100's shape
(``--files`` utterances, default 28,539, in chapters of ~49, with one
transcript per chapter) of tiny 0.1 s FLAC files, then times the
``librispeech`` dataset's ``utterances()``:

- ``cold``: empty cache, so every file's header is read for its duration;
- ``warm``: a new dataset object, cache hit (a ``stat`` of every file, no audio opened);
- ``after_touching``: ``--touch`` files changed, so the index is rebuilt and
  only their durations are read again.

Real LibriSpeech files are larger, so a cold index of real data (and one not
in the page cache) costs more than this; the warm path does not open audio and
costs the same.

    python bench/index_cache.py [--files N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from asrkit.data.synthetic import write_librispeech
from asrkit_plugins.datasets.librispeech import LibriSpeech

TRAIN_CLEAN_100_FILES = 28_539
PER_CHAPTER = 49  # train-clean-100: 28,539 utterances in 585 chapters


def timed_index(root: Path) -> tuple[float, int]:
    start = time.perf_counter()
    count = len(LibriSpeech(LibriSpeech.Config(root=str(root), subset="train")).utterances())
    return time.perf_counter() - start, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=TRAIN_CLEAN_100_FILES)
    parser.add_argument("--touch", type=int, default=10, help="files changed before the last measurement")
    parser.add_argument("--quick", action="store_true", help="2,000 files (CI)")
    args = parser.parse_args()
    files = 2000 if args.quick else args.files
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "corpus"
        os.environ["ASRKIT_CACHE_DIR"] = str(Path(tmp) / "cache")
        ids = [f"{1 + i // (PER_CHAPTER * 2)}-{i // PER_CHAPTER}-{i % PER_CHAPTER:04d}" for i in range(files)]
        start = time.perf_counter()
        write_librispeech(root, "train", dict.fromkeys(ids, "A FEW WORDS OF TRANSCRIPT"), seconds=0.1)
        written = time.perf_counter() - start
        cold, count = timed_index(root)
        warm = [timed_index(root)[0] for _ in range(5)]
        stamp = time.time() - 1800
        for utterance_id in ids[:: max(1, files // args.touch)][: args.touch]:
            speaker, chapter, _ = utterance_id.split("-")
            os.utime(root / "LibriSpeech" / "train" / speaker / chapter / f"{utterance_id}.flac", (stamp, stamp))
        touched, _ = timed_index(root)
        cache_bytes = sum(p.stat().st_size for p in (Path(tmp) / "cache").rglob("*.json"))
    report = {
        "benchmark": "index_cache",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "files": files,
        "utterances_indexed": count,
        "corpus_write_seconds": round(written, 2),
        "cold_seconds": round(cold, 3),
        "warm_seconds_median": round(statistics.median(warm), 3),
        "warm_seconds_all": [round(w, 3) for w in warm],
        "after_touching": {"files": args.touch, "seconds": round(touched, 3)},
        "cache_file_bytes": cache_bytes,
        "speedup": round(cold / statistics.median(warm), 1),
    }
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
