"""Inference needs only the model's plugins; a run records the distributions behind every component it used.

The outside test package (tests/outside_plugin) is installed for real with
pip into its own folder; a tiny run uses its TSV dataset and CSV logger, chosen
by command-line overrides. Transcribing the checkpoint then works in an
environment without that package: the dataset and logger are not the model's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile
import torch
import yaml

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT / "tests" / "fixtures" / "librispeech" / "LibriSpeech" / "train-clean-100"


def run(*args: str, site: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site) if site else ""}
    return subprocess.run(
        [sys.executable, "-m", "asrkit", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=400
    )


def test_a_model_trained_with_a_plugin_dataset_and_logger_transcribes_without_them(tmp_path: Path) -> None:
    site = tmp_path / "site"
    # Built from a copy: building in tests/ would leave an .egg-info there that other tests' imports would find.
    source = shutil.copytree(ROOT / "tests" / "outside_plugin", tmp_path / "outside_plugin")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(source)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    rows = ["path\tsentence\tduration"]
    for transcript in sorted(TRAIN.rglob("*.trans.txt")):
        for line in transcript.read_text().splitlines():
            utterance, text = line.split(" ", 1)
            flac = transcript.parent / f"{utterance}.flac"
            rows.append(f"{flac}\t{text}\t{soundfile.info(str(flac)).duration:.3f}")
    (tmp_path / "train.tsv").write_text("\n".join(rows) + "\n")

    trained = run(
        "run", "tests/fixtures/tiny_recipe.yaml",
        f"data.train=[{{name: tsv, path: {tmp_path / 'train.tsv'}}}]",
        "loggers=[{name: csv}]",
        "--out", str(tmp_path / "run"), "--quiet",
        site=site,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert (tmp_path / "run" / "metrics.csv").read_text().count("train/loss") >= 1

    recorded = yaml.safe_load((tmp_path / "run" / "recipe.yaml").read_text())
    assert recorded["requires"] == ["asrkit-outside>=0.2.0"]
    checkpoint = tmp_path / "run" / "checkpoints" / "last.pt"
    assert torch.load(checkpoint, weights_only=True)["recipe"]["requires"] == ["asrkit-outside>=0.2.0"]

    flac = next(TRAIN.rglob("*.flac"))
    listed = run("list-plugins", "--json")
    assert "csv" not in listed.stdout  # the plugin is really absent here
    transcribed = run("transcribe", str(checkpoint), str(flac), "--json")
    assert transcribed.returncode == 0, transcribed.stderr
    assert str(flac) in transcribed.stdout
